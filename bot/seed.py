"""The first start: an empty database is filled from SEED_FEEDS in the background.

The decision is taken once per database (`BotStateRepository.claim_seed`): a database with
no summaries is marked 'pending' and imported into; one that already has summaries is never
seeded. The import goes through `import_source`, the path of `shortscience-bot import`, so it
is idempotent: a restart while seeding simply imports again. A failing feed is logged and
tried again with backoff; nothing here holds up the bot's start-up or its commands.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Final

import aiohttp

from bot.ingest import FeedImportError, import_source
from bot.jobs import SharedJob
from bot.pacing import backoff_delay
from bot.rendering.text import plural
from bot.storage.database import Database, DatabaseUnavailableError
from bot.storage.state import BotStateRepository, SeedStatus

log = logging.getLogger(__name__)

MAX_RETRY_SECONDS: Final = 3600.0
SEED_JOB: Final = "seed import"

Sleep = Callable[[float], Awaitable[None]]


class FeedSeeder:
    """Seeds an empty database from `sources` (feed URLs or files); `run()` is the job."""

    def __init__(
        self,
        db: Database,
        session: aiohttp.ClientSession | None,
        sources: Sequence[str],
        *,
        retry_seconds: float,
        max_retry_seconds: float = MAX_RETRY_SECONDS,
        clock: Callable[[], float] = time.time,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.db = db
        self.session = session
        self.sources = list(sources)
        self.retry_seconds = retry_seconds
        self.max_retry_seconds = max(max_retry_seconds, retry_seconds)
        self.state = BotStateRepository(db)
        self.clock = clock
        self.sleep = sleep
        self.failures = 0
        self.last_error: str | None = None

    def retry_delay(self, failures: int) -> float:
        """Seconds before the next attempt after `failures` failed ones: doubling, capped."""
        return backoff_delay(
            failures,
            base_seconds=self.retry_seconds,
            cap_seconds=self.max_retry_seconds,
            jitter=False,
        )

    async def run(self) -> SeedStatus | None:
        """Seed if this database is to be seeded, retrying until every source is imported.

        Returns the seed's final status ('done', or 'skipped' for a database that already
        had summaries), or None when no sources are configured.
        """
        if not self.sources:
            log.debug("SEED_FEEDS is empty: the database is not seeded")
            return None
        remaining: list[str] | None = None
        while True:
            try:
                if remaining is None:
                    status = await self.state.claim_seed(self.clock())
                    if status != "pending":
                        log.debug("No seed import: it is %s for this database", status)
                        return status
                    log.info(
                        "The database has no summaries yet: importing %s in the background",
                        ", ".join(self.sources),
                    )
                    remaining = list(self.sources)
                remaining = await self._import(remaining)
                if not remaining:
                    await self.state.finish_seed(self.clock())
                    log.info("Seed import finished: the library is ready")
                    return "done"
            except Exception as exc:  # logged; a later attempt may work (a locked database)
                log.exception("The seed import failed")
                self.last_error = str(exc) or type(exc).__name__
            self.failures += 1
            delay = self.retry_delay(self.failures)
            pending = plural(len(remaining or self.sources), "seed feed")
            log.warning("%s not imported yet; trying again in %.1f s", pending, delay)
            await self.sleep(delay)

    async def run_shared(self, *, owner: str, lease_seconds: float) -> SeedStatus | None:
        """`run()` by one of the processes sharing the database (a job lease, `bot.jobs`):
        the others wait, and take the import over if its process dies before it is done."""
        if not self.sources:
            return await self.run()
        job = SharedJob(
            self.db, SEED_JOB, self.run, owner=owner, every=0.0, lease_seconds=lease_seconds
        )
        while True:
            try:
                status = await self.state.seed_status()
                if status in ("done", "skipped"):
                    log.debug("No seed import: it is %s for this database", status)
                    return status
                if await job.run_once():
                    return await self.state.seed_status()
            except DatabaseUnavailableError as exc:
                log.warning("The seed import waits for the database (%s)", exc)
            # Another process is seeding (or the database is away): look again later.
            await self.sleep(min(self.retry_seconds, lease_seconds))

    async def _import(self, sources: list[str]) -> list[str]:
        """Import each source; return those that failed (each failure logged)."""
        failed = []
        for source in sources:
            started = time.monotonic()
            try:
                stats = await import_source(self.db, self.session, source)
            except FeedImportError as exc:
                # The message names the source and says why (unreachable, not a feed, ...).
                log.warning("Seed import failed: %s", exc)
                self.last_error = str(exc)
                failed.append(source)
                continue
            log.info(
                "Seeded from %s: %s (%d new), %s, in %.1f s",
                source,
                plural(stats.total, "summary"),
                stats.inserted,
                plural(stats.papers_created, "new paper"),
                time.monotonic() - started,
            )
        return failed
