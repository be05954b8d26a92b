"""Filling in papers known only by an identifier, in the background.

Papers imported from ShortScience's RSS carry a title, a year and an arXiv id or DOI, but no
authors, abstract or venue. Every paper with an arXiv id is queued for one arXiv look-up, and
every paper with a DOI for one Crossref look-up, by trigger, whenever it gets the identifier
(bot/storage/lookups.py). `PaperEnricher.run_once` works through what is due:

* arXiv: up to 50 ids a request (`id_list`), spaced by the process-wide arXiv spacer, so a
  member's own look-up (/summarize) waits at most one request behind it;
* Crossref: one DOI a request, spaced as Crossref's rate-limit headers say.

Both sources run side by side. Answers only fill fields that are still empty, through the
papers repository (so search sees new authors at once). A failure is retried later with
backoff (1 min, 2, 4, ... up to 6 h, jittered) and given up after 12 attempts; "not known"
(arXiv has no such id, Crossref answers 404) counts as a failure too, since a new id can
appear a day later. Nothing here runs on a command's path.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final

from bot.community.arxiv import MAX_IDS_PER_REQUEST, ArxivClient, ArxivLookupError
from bot.enrichment.crossref import CrossrefClient, CrossrefLookupError, CrossrefRateLimited
from bot.pacing import backoff_delay
from bot.storage.community import CommunityRepository
from bot.storage.database import Database
from bot.storage.lookups import DueLookup, LookupQueue
from bot.storage.papers import PaperRepository

log = logging.getLogger(__name__)

RETRY_BASE_SECONDS: Final = 60.0
RETRY_CAP_SECONDS: Final = 6 * 3600.0
MAX_ATTEMPTS: Final = 12
# Work done in one pass at most, so a big backlog is worked through in passes that each end
# (and log what they did): 20 arXiv requests of 50 ids, 100 Crossref look-ups.
ARXIV_REQUESTS_PER_PASS: Final = 20
CROSSREF_LOOKUPS_PER_PASS: Final = 100
CROSSREF_BATCH: Final = 20


def next_attempt_delay(attempts: int, rng: random.Random | None = None) -> float | None:
    """Seconds before trying again after the `attempts`-th failure; None: give up."""
    if attempts >= MAX_ATTEMPTS:
        return None
    return backoff_delay(
        attempts, base_seconds=RETRY_BASE_SECONDS, cap_seconds=RETRY_CAP_SECONDS, rng=rng
    )


@dataclass(slots=True)
class EnrichmentReport:
    """What one pass did (for logs and tests)."""

    arxiv_filled: int = 0
    arxiv_failed: int = 0
    crossref_filled: int = 0
    crossref_failed: int = 0
    crossref_paused: bool = False
    # A source stopped at its share of work for one pass with more due: go again at once.
    more_due: bool = False

    @property
    def filled(self) -> int:
        return self.arxiv_filled + self.crossref_filled


class PaperEnricher:
    """Looks up due papers on arXiv and Crossref and fills in what they lack."""

    def __init__(
        self,
        db: Database,
        *,
        arxiv: ArxivClient | None,
        crossref: CrossrefClient | None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.arxiv = arxiv
        self.crossref = crossref
        self.clock = clock
        self.rng = rng
        self.papers = PaperRepository(db)
        self.community = CommunityRepository(db)
        self.arxiv_queue = LookupQueue(db, "arxiv")
        self.crossref_queue = LookupQueue(db, "crossref")

    async def run_once(self) -> EnrichmentReport:
        """One pass over both sources, side by side. A source's unexpected error is logged
        (with its traceback) without stopping the other; look-up failures are rescheduled."""
        report = EnrichmentReport()
        passes: list[tuple[str, Awaitable[None]]] = []
        if self.arxiv is not None:
            passes.append(("arXiv", self._arxiv_pass(self.arxiv, report)))
        if self.crossref is not None:
            passes.append(("Crossref", self._crossref_pass(self.crossref, report)))
        results = await asyncio.gather(*(work for _, work in passes), return_exceptions=True)
        for (source, _), result in zip(passes, results, strict=True):
            if isinstance(result, Exception):
                log.error("Filling in papers from %s failed", source, exc_info=result)
            elif isinstance(result, BaseException):
                raise result
        if report.filled:
            log.info(
                "Filled in %d papers from arXiv and %d from Crossref",
                report.arxiv_filled,
                report.crossref_filled,
            )
        return report

    async def _failed(
        self, queue: LookupQueue, items: Sequence[DueLookup], error: str, now: float
    ) -> None:
        async with self.db.transaction() as conn:
            for item in items:
                delay = next_attempt_delay(item.attempts + 1, self.rng)
                await queue.record_failure(
                    item.paper_id,
                    error=error,
                    next_attempt_at=None if delay is None else now + delay,
                    conn=conn,
                )

    # --- arXiv -----------------------------------------------------------------------------

    async def _arxiv_pass(self, arxiv: ArxivClient, report: EnrichmentReport) -> None:
        for _ in range(ARXIV_REQUESTS_PER_PASS):
            now = self.clock()
            due = await self.arxiv_queue.due(now, limit=MAX_IDS_PER_REQUEST)
            if not due:
                return
            try:
                found = await arxiv.lookup_many(item.identifier for item in due)
            except ArxivLookupError as exc:
                # arXiv is failing (an outage, a timeout): the whole batch waits, and so does
                # the rest of the queue until the next pass.
                await self._failed(self.arxiv_queue, due, str(exc), now)
                report.arxiv_failed += len(due)
                log.info("arXiv look-up of %d papers failed, will retry: %s", len(due), exc)
                return
            unknown = [item for item in due if item.identifier not in found]
            async with self.db.transaction() as conn:
                for item in due:
                    paper = found.get(item.identifier)
                    if paper is not None:
                        await self.community.apply_arxiv_metadata(
                            item.paper_id, item.identifier, paper.details, now=now, conn=conn
                        )
            report.arxiv_filled += len(due) - len(unknown)
            if unknown:
                await self._failed(self.arxiv_queue, unknown, "arXiv does not know this id", now)
                report.arxiv_failed += len(unknown)
        report.more_due = True

    # --- Crossref --------------------------------------------------------------------------

    async def _crossref_pass(self, crossref: CrossrefClient, report: EnrichmentReport) -> None:
        looked_up = 0
        while looked_up < CROSSREF_LOOKUPS_PER_PASS:
            now = self.clock()
            due = await self.crossref_queue.due(now, limit=CROSSREF_BATCH)
            if not due:
                return
            for item in due:
                looked_up += 1
                try:
                    work = await crossref.lookup(item.identifier)
                except CrossrefRateLimited:
                    # Not this DOI's fault: it stays due, and Crossref rests.
                    report.crossref_paused = True
                    return
                except CrossrefLookupError as exc:
                    await self._failed(self.crossref_queue, [item], str(exc), self.clock())
                    report.crossref_failed += 1
                    log.info("Crossref look-up of %s failed, will retry: %s", item.identifier, exc)
                    if exc.service_trouble:
                        return  # Crossref is failing: the others wait for the next pass
                    continue
                if work is None:
                    await self._failed(
                        self.crossref_queue, [item], "Crossref does not know this DOI", now
                    )
                    report.crossref_failed += 1
                    continue
                async with self.db.transaction() as conn:
                    await self.papers.fill_missing(item.paper_id, work.details, conn=conn)
                    await self.crossref_queue.mark_resolved(
                        item.paper_id, item.identifier, now=self.clock(), conn=conn
                    )
                report.crossref_filled += 1
        report.more_due = True
