"""The feed poller: fetch due feeds, find new entries, and fill the outbox with them.

Each due feed is polled in its own task, at most `concurrency` at once and at most
`guild_concurrency` of them for any one server (see FetchSlots), so a slow or broken feed
never holds up the others, nor one server's feeds another server's. Bodies are parsed, and
keyword filters matched, in worker processes (`bot.feeds.workers`), never on the event loop.

A poll that finds new entries ingests them (papers and summaries, searchable at once),
records them as seen and writes one outbox row per subscribed channel that wants them. An
entry's summary, seen mark and outbox rows are committed in the same transaction, in
transactions of at most WRITE_BATCH_ENTRIES entries: a crash loses nothing (what was not
committed is still new at the next poll) and doubles nothing (what was committed is seen).

Those writes go through one `BatchWriter`, which commits the writes ready at the same time
together (each in a savepoint, so a failing poll costs only itself): one commit per batch
instead of one per feed. A poll learns its result only once its batch has committed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import aiohttp

from bot.announce.filters import KeywordFilter, select_matching
from bot.announce.messages import ANNOUNCEMENTS_PER_POLL, overflow_text, paused_notice_text
from bot.announce.schedule import (
    BACKOFF_BASE_SECONDS,
    BACKOFF_CAP_SECONDS,
    first_poll_delay,
    jittered,
    poll_interval,
)
from bot.announce.slots import FetchSlots
from bot.batching import Batcher, Failed
from bot.feeds import FeedEntry, FetchResult, ParsedFeed, fetch_feed
from bot.feeds.workers import FeedWorkError, FeedWorkers
from bot.ingest import ingest_entries
from bot.pacing import backoff_delay
from bot.rendering.text import plural
from bot.storage.database import (
    Connection,
    Database,
    DatabaseUnavailableError,
    RetryableTransactionError,
)
from bot.storage.feeds import (
    Delivery,
    Feed,
    FeedRepository,
    Subscription,
    SubscriptionRepository,
)
from bot.storage.leases import (
    DEFAULT_LEASE_SECONDS,
    EVERYTHING,
    LeaseLostError,
    WorkShare,
    new_owner_id,
)
from bot.storage.outbox import NewOutboxMessage, OutboxRepository

log = logging.getLogger(__name__)

# arXiv announces each paper as new, cross-listed or replaced; a new version is not news.
ANNOUNCED_ARXIV_TYPES = frozenset({"new", "cross"})

# "busy": another process holds the feed's lease (polls it); "lost": the lease expired and
# another process took the feed over before this poll could record anything.
PollStatus = Literal[
    "new", "unchanged", "not_modified", "initialized", "failed", "paused", "busy", "lost"
]


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """What one poll of one feed did."""

    feed_id: int
    status: PollStatus
    new_entries: int = 0
    announcements: int = 0
    error: str | None = None


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """How a feed is fetched: the issue's defaults, smaller in tests."""

    max_bytes: int = 5 * 1024 * 1024
    connect_timeout: float = 10.0
    total_timeout: float = 30.0
    max_redirects: int = 5


def body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def is_announceable(entry: FeedEntry) -> bool:
    """Everything except arXiv's replacement announcements (a new version of an old paper)."""
    return entry.announce_type is None or entry.announce_type in ANNOUNCED_ARXIV_TYPES


def chronological(entries: Sequence[FeedEntry]) -> list[FeedEntry]:
    """Oldest first: by date when every entry has one, else (and among equal dates) the
    reverse of document order, since feeds list the newest first."""
    newest_last = list(reversed(entries))
    if not all(entry.date is not None for entry in newest_last):
        return newest_last
    return sorted(newest_last, key=lambda entry: entry.date)  # type: ignore[arg-type, return-value]


def entry_texts(entry: FeedEntry) -> tuple[str | None, ...]:
    """What keyword filters look at: title, author and text."""
    return (
        entry.title,
        entry.paper_title,
        entry.author,
        entry.paper_authors,
        entry.content,
        entry.abstract,
    )


WriteJob = Callable[[Connection], Awaitable[Any]]

# Savepoint per job in a batch: a constant, never data (it goes into the SQL text).
JOB_SAVEPOINT = "poll_write"

# Polls written per transaction at most: enough to spread a commit's cost thin, small
# enough that other writers (the sender marking rows sent) never wait long for the lock.
WRITE_BATCH_SIZE = 16
# Feed entries written per transaction at most (a poll's entries, summaries, seen marks and
# outbox rows): a 50,000-entry feed is written in many short transactions, each letting the
# writers waiting meanwhile (votes, the sender) in, instead of holding the lock for seconds.
WRITE_BATCH_ENTRIES = 500


@dataclass(frozen=True, slots=True)
class _WriteJob:
    write: WriteJob
    weight: int  # entries it writes


class BatchWriter:
    """Runs write jobs, grouping the ones waiting at the same time into one transaction
    (a `Batcher` of jobs).

    A batch holds at most `batch_size` jobs and, past its first job, at most `max_weight` in
    all (a job's weight is the number of entries it writes). Each job of a batch runs inside
    its own savepoint: when it raises, only its writes are undone and its caller gets the
    exception; the others in the batch go on. Every caller gets its result (or exception)
    only after its batch committed, so nothing is reported done that a crash could still take
    back. If the commit itself fails, every job of the batch gets that error (nothing of
    theirs was written).
    """

    def __init__(
        self,
        db: Database,
        *,
        batch_size: int = WRITE_BATCH_SIZE,
        max_weight: int = WRITE_BATCH_ENTRIES,
    ) -> None:
        self.db = db
        self._batcher: Batcher[_WriteJob, Any] = Batcher(
            "poll writes",
            self._write_batch,
            max_batch=batch_size,
            max_weight=max_weight,
            weigh=lambda job: job.weight,
        )

    async def run(self, job: WriteJob, *, weight: int = 1) -> Any:
        """Run `job(conn)` in a transaction, maybe alongside others; return what it returned."""
        return await self._batcher.submit(_WriteJob(job, weight))

    async def close(self) -> None:
        """Stop writing; a batch in progress rolls back and its callers are cancelled."""
        await self._batcher.close()

    async def _write_batch(self, jobs: Sequence[_WriteJob]) -> list[Any]:
        outcomes: list[Any] = []
        while jobs:
            written, jobs = await self._write_in_one_transaction(jobs)
            outcomes.extend(written)
        return outcomes

    async def _write_in_one_transaction(
        self, jobs: Sequence[_WriteJob]
    ) -> tuple[list[Any], Sequence[_WriteJob]]:
        """The outcomes of the jobs run in one transaction, and the jobs left to run in the
        next: those after a job whose error ended the whole transaction."""
        outcomes: list[Any] = []
        left: list[_WriteJob] = []
        # A job alone needs no savepoint (two statements fewer): the transaction is its own.
        isolate = len(jobs) > 1

        async def write(conn: Connection) -> None:
            # Run again from the start when the transaction lost a race with another one
            # (PostgreSQL's deadlocks, papers stored concurrently): jobs only write.
            outcomes.clear()
            for index, job in enumerate(jobs):
                try:
                    if isolate:
                        async with self.db.savepoint(conn, JOB_SAVEPOINT):
                            result = await job.write(conn)
                    else:
                        result = await job.write(conn)
                except RetryableTransactionError:
                    raise
                except Exception as exc:
                    outcomes.append(Failed(exc))
                    if not isolate or not conn.in_transaction:
                        # Alone, or the error ended the whole transaction (a full disk):
                        # roll back; the jobs not yet run go in a new transaction rather
                        # than run outside one.
                        left[:] = jobs[index + 1 :]
                        raise
                else:
                    outcomes.append(result)

        try:
            await self.db.run_transaction(write)
        except Exception as exc:
            # The transaction failed (its commit, or a job ended it): nothing of the jobs
            # run in it was written.
            return [Failed(exc)] * (len(jobs) - len(left)), left
        return outcomes, ()


class FeedPoller:
    """Polls feeds and turns new entries into outbox rows. Owned by the feeds cog."""

    def __init__(
        self,
        db: Database,
        session: aiohttp.ClientSession,
        *,
        poll_seconds: float,
        concurrency: int,
        max_failures: int,
        guild_concurrency: int | None = None,
        limits: FetchLimits | None = None,
        workers: FeedWorkers | None = None,
        backoff_base: float = BACKOFF_BASE_SECONDS,
        on_enqueued: Callable[[], None] = lambda: None,
        on_polled: Callable[[PollOutcome, float], None] = lambda outcome, seconds: None,
        owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        on_capacity: Callable[[], None] = lambda: None,
        share: Callable[[], Awaitable[WorkShare]] | None = None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.db = db
        self.session = session
        self.poll_seconds = poll_seconds
        self.max_failures = max_failures
        self.limits = limits or FetchLimits()
        # Parsing (and filtering) runs in worker processes; the bot passes its pool in.
        self.workers = workers or FeedWorkers()
        self._owns_workers = workers is None
        self.backoff_base = backoff_base
        self.on_enqueued = on_enqueued
        # Told each poll's outcome and how long it took (the bot's metrics).
        self.on_polled = on_polled
        self.clock = clock
        self.rng = rng or random.Random()
        self.feeds = FeedRepository(db)
        self.subscriptions = SubscriptionRepository(db)
        self.outbox = OutboxRepository(db)
        # A quarter of the slots per server unless told otherwise (the bot's setting).
        self.slots = FetchSlots(concurrency, guild_concurrency or max(1, concurrency // 4))
        self.concurrency = concurrency
        self.writer = BatchWriter(db)
        # Feeds are polled under leases (bot.storage.leases), so that processes sharing the
        # database never poll one feed at once; `owner` is this process's id.
        self.owner = owner or new_owner_id()
        self.lease_seconds = lease_seconds
        # Called when polls finished and more feeds may be claimed (the bot's poller loop
        # runs again at once instead of at its next tick).
        self.on_capacity = on_capacity
        # This process's share of the feeds among the live processes (the process registry);
        # without one it claims any due feed.
        self.share = share
        self._in_flight: dict[int, asyncio.Task[PollOutcome]] = {}
        self._leased: set[int] = set()  # feeds this process holds a lease on and polls
        self._renewed_at = 0.0
        self._claiming = asyncio.Lock()

    # --- scheduling -------------------------------------------------------------------

    @property
    def claim_limit(self) -> int:
        """How many more feeds this process claims now: enough to keep its fetch slots busy
        with as many waiting (twice its concurrency in all), and no more, so that the other
        processes get their share of the due feeds."""
        return max(0, 2 * self.concurrency - len(self._in_flight))

    async def start_due(self) -> list[asyncio.Task[PollOutcome]]:
        """Claim due feeds (up to `claim_limit`) and start a poll task for each; do not wait.
        Also renews the leases of the polls in flight when a third of the lease has passed."""
        async with self._claiming:
            await self.renew_leases_if_due()
            if self.claim_limit <= 0:
                return []
            due = await self.feeds.claim_due(
                self.owner,
                now=self.clock(),
                lease_seconds=self.lease_seconds,
                limit=self.claim_limit,
                exclude=list(self._in_flight),
                share=EVERYTHING if self.share is None else await self.share(),
                # Another process's feed still unclaimed a lease after it fell due: that
                # process is dead, stalled or behind (as long as a lease left unrenewed).
                behind_after=self.lease_seconds,
            )
            if not due:
                return []
            self._leased.update(feed.id for feed in due)
            guilds = await self.feeds.subscriber_guilds([feed.id for feed in due])
            started = []
            for feed in due:
                if feed.id in self._in_flight:
                    continue  # started by a concurrent caller while we were claiming
                task = asyncio.create_task(
                    self.poll(feed, guilds.get(feed.id, ())), name=f"poll-feed-{feed.id}"
                )
                self._in_flight[feed.id] = task
                task.add_done_callback(functools.partial(self._forget_in_flight, feed.id))
                started.append(task)
            return started

    async def renew_leases_if_due(self) -> None:
        """Renew the leases of the feeds being polled when a third of the lease has passed
        since the last renewal; a feed whose lease was lost is logged (its poll will record
        nothing: `FeedRepository.hold_lease`)."""
        now = self.clock()
        if not self._leased or now - self._renewed_at < self.lease_seconds / 3:
            return
        self._renewed_at = now
        held = list(self._leased)
        kept = await self.feeds.renew_leases(
            self.owner, held, now=now, lease_seconds=self.lease_seconds
        )
        missing = [feed_id for feed_id in held if feed_id not in kept]
        # Not renewed: recorded (and freed) just now by its poll, or taken over.
        lost = sorted(await self.feeds.taken_over(self.owner, missing)) if missing else []
        if lost:
            log.warning(
                "Lost the lease on %s while polling (another process took them over): %s",
                plural(len(lost), "feed"),
                ", ".join(map(str, lost)),
            )

    @property
    def feeds_leased(self) -> int:
        """How many feeds this process holds a lease on (being polled, or about to be)."""
        return len(self._leased)

    def _forget_in_flight(self, feed_id: int, _task: asyncio.Task[PollOutcome]) -> None:
        self._in_flight.pop(feed_id, None)
        if len(self._in_flight) <= self.concurrency:
            self.on_capacity()

    async def poll_due(self) -> list[PollOutcome]:
        """Poll due feeds until none is left to claim and wait for all of them (tests,
        `poll now`, benchmarks)."""
        started: list[asyncio.Task[PollOutcome]] = []
        claiming = True
        while True:
            if claiming:
                try:
                    started += await self.start_due()
                except DatabaseUnavailableError:
                    if not started and not self._in_flight:
                        raise
                    # The polls started end by themselves (and say so); none is claimed
                    # until the database is back.
                    claiming = False
            running = list(self._in_flight.values())
            if not running:
                return [task.result() for task in started]
            # Until a poll ends (room to claim more) or a third of the lease passed (renew).
            await asyncio.wait(
                running, timeout=self.lease_seconds / 3, return_when=asyncio.FIRST_COMPLETED
            )

    async def wait_idle(self) -> None:
        """Wait for the polls in flight to finish."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight.values()), return_exceptions=True)

    async def close(self) -> None:
        """Cancel the polls in flight; their transactions roll back and are redone later
        (by any process: this one's leases are freed at once, when the database answers)."""
        tasks = list(self._in_flight.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.writer.close()
        try:
            await self.feeds.release_leases(self.owner)
        except DatabaseUnavailableError as exc:
            log.warning("Could not free this process's feed leases (%s); they expire", exc)
        self._leased.clear()
        if self._owns_workers:
            await self.workers.close()

    # --- one feed ---------------------------------------------------------------------

    async def fetch(
        self, url: str, *, etag: str | None = None, last_modified: str | None = None
    ) -> FetchResult:
        """Fetch a feed with the poller's limits; never raises for network or HTTP trouble."""
        return await fetch_feed(
            self.session,
            url,
            etag=etag,
            last_modified=last_modified,
            max_bytes=self.limits.max_bytes,
            connect_timeout=self.limits.connect_timeout,
            total_timeout=self.limits.total_timeout,
            max_redirects=self.limits.max_redirects,
        )

    async def parse(self, result: FetchResult) -> ParsedFeed:
        """Parse a fetched body in a worker process; never raises for what the body holds."""
        return await self.workers.parse(result.body, url=result.final_url, headers=result.headers)

    async def poll(self, feed: Feed, guild_ids: Sequence[int] | None = None) -> PollOutcome:
        """Poll one feed. Never raises (except cancellation): failures are recorded.

        `guild_ids` are the servers subscribed to it (looked up when not given): the poll
        waits for a fetch slot one of them may use. A feed not claimed by `start_due` is
        claimed first ("busy" when another process polls it).
        """
        started = time.monotonic()
        outcome = await self._poll(feed, guild_ids)
        self.on_polled(outcome, time.monotonic() - started)
        return outcome

    async def _poll(self, feed: Feed, guild_ids: Sequence[int] | None) -> PollOutcome:
        try:
            if feed.id not in self._leased and not await self._claim(feed.id):
                return PollOutcome(feed.id, "busy")
            if guild_ids is None:
                guild_ids = (await self.feeds.subscriber_guilds([feed.id])).get(feed.id, ())
            async with self.slots.slot(guild_ids):
                result = await self.fetch(
                    feed.url, etag=feed.etag, last_modified=feed.last_modified
                )
                return await self.apply(feed, result)
        except asyncio.CancelledError:
            raise
        except LeaseLostError as exc:
            return self._lost(feed, exc)
        except DatabaseUnavailableError as exc:
            # Nothing can be recorded now: the feed stays due, and is polled again once the
            # database is back (what this poll committed before stays; the rest is redone).
            log.warning("Polling feed %d stopped: the database is unavailable (%s)", feed.id, exc)
            return PollOutcome(feed.id, "failed", error="the database is unavailable")
        except FeedWorkError as exc:
            return await self._failed(feed, str(exc))
        except Exception as exc:
            # A bug must cost one feed one poll, never the poller.
            log.exception("Polling feed %d (%s) failed unexpectedly", feed.id, feed.url)
            return await self._failed(feed, f"internal error ({type(exc).__name__})")
        finally:
            self._leased.discard(feed.id)

    async def initialize(self, feed: Feed, result: FetchResult, parsed: ParsedFeed) -> bool:
        """Record a new feed's current entries as seen from a fetch made already (`/feed
        add`), under the feed's lease; False when another process is polling it (its poll
        records them)."""
        if not await self._claim(feed.id):
            return False
        try:
            outcome = await self.apply(feed, result, parsed)
        except LeaseLostError:
            return False
        finally:
            self._leased.discard(feed.id)
        return outcome.status != "lost"

    async def _claim(self, feed_id: int) -> bool:
        claimed = await self.feeds.claim(
            feed_id, self.owner, now=self.clock(), lease_seconds=self.lease_seconds
        )
        if claimed:
            self._leased.add(feed_id)
        return claimed

    def _lost(self, feed: Feed, exc: LeaseLostError) -> PollOutcome:
        log.warning("Poll of feed %d not recorded: its lease was lost (%s)", feed.id, exc)
        return PollOutcome(feed.id, "lost", error=str(exc))

    async def apply(
        self, feed: Feed, result: FetchResult, parsed: ParsedFeed | None = None
    ) -> PollOutcome:
        """Act on a fetch of `feed`: follow moves, record failures, find and announce news.

        `parsed` may be given when the caller parsed the body already (`/feed add`). The
        feed must be leased by this process (`poll` and `initialize` see to it): each
        transaction recording the poll checks the lease first (`LeaseLostError` when it was
        lost, and nothing of the poll is recorded).
        """
        moved_to = result.permanent_redirect_url
        if moved_to and moved_to != feed.url and await self.feeds.move_url(feed.id, moved_to):
            log.info("Feed %d moved to %s", feed.id, moved_to)
        if result.gone:
            return await self._pause(feed, "the server says the feed is gone for good (HTTP 410)")
        if not result.ok and not result.not_modified:
            message = result.error_message or f"HTTP {result.status}"
            return await self._failed(feed, message, retry_after=result.retry_after)
        now = self.clock()
        next_poll_at = now + jittered(self._interval(feed, result, None), self.rng)
        if result.not_modified:
            return await self._unchanged(feed, "not_modified", now=now, next_poll_at=next_poll_at)
        digest = result.sha256 or body_hash(result.body)
        if feed.initialized and digest == feed.body_hash:
            return await self._unchanged(
                feed,
                "unchanged",
                now=now,
                next_poll_at=next_poll_at,
                etag=result.etag,
                last_modified=result.last_modified,
            )
        if parsed is None:
            parsed = await self.parse(result)
        if not parsed.is_feed:
            return await self._failed(
                feed, parsed.error or "the response is not an RSS or Atom feed"
            )
        return await self._record_entries(feed, result, parsed, digest)

    async def _unchanged(
        self,
        feed: Feed,
        status: Literal["not_modified", "unchanged"],
        *,
        now: float,
        next_poll_at: float,
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> PollOutcome:
        """Record a poll that found nothing new (and free the feed), if still ours."""
        async with self.db.transaction() as conn:
            await self.feeds.end_lease(feed.id, self.owner, outcome=status, now=now, conn=conn)
            await self.feeds.record_unchanged(
                feed.id,
                now=now,
                next_poll_at=next_poll_at,
                etag=etag,
                last_modified=last_modified,
                conn=conn,
            )
        return PollOutcome(feed.id, status)

    def _interval(self, feed: Feed, result: FetchResult, parsed: ParsedFeed | None) -> float:
        ttl = parsed.ttl if parsed is not None else None
        interval = poll_interval(self.poll_seconds, ttl_minutes=ttl, max_age_seconds=result.max_age)
        if parsed is None and feed.interval_seconds:
            # A 304 carries no <ttl>: keep the one the last full body gave.
            interval = max(interval, feed.interval_seconds)
        return interval

    async def _record_entries(
        self, feed: Feed, result: FetchResult, parsed: ParsedFeed, digest: str
    ) -> PollOutcome:
        """Store the entries, mark them seen and enqueue announcements of the new ones.

        Oldest first, in transactions of at most WRITE_BATCH_ENTRIES entries: each commits
        its entries' summaries, seen marks and announcement rows together, so a crash
        between two loses or doubles nothing (the next poll finds the rest still new), and
        other writers get the lock between them. The feed's new validators and body hash
        are recorded with the last one, so an interrupted poll is redone.
        """
        now = self.clock()
        interval = self._interval(feed, result, parsed)
        if feed.initialized:
            next_poll_at = now + jittered(interval, self.rng)
        else:
            next_poll_at = now + first_poll_delay(interval, self.rng)
        entries = chronological(_unique_by_identity(parsed.entries))
        plan = await self._plan_announcements(feed, parsed, entries) if feed.initialized else None

        async def record_success(conn: Connection) -> None:
            outcome = "new" if feed.initialized else "initialized"
            await self.feeds.end_lease(feed.id, self.owner, outcome=outcome, now=now, conn=conn)
            await self.feeds.record_success(
                feed.id,
                now=now,
                next_poll_at=next_poll_at,
                interval_seconds=interval if interval > self.poll_seconds else None,
                etag=result.etag,
                last_modified=result.last_modified,
                body_hash=digest,
                title=parsed.title,
                site_url=parsed.link,
                conn=conn,
            )

        new_entries = announcements = 0
        batches = [
            entries[start : start + WRITE_BATCH_ENTRIES]
            for start in range(0, len(entries), WRITE_BATCH_ENTRIES)
        ] or [[]]
        for number, batch in enumerate(batches, start=1):
            last = number == len(batches)

            async def write(
                conn: Connection, batch: list[FeedEntry] = batch, last: bool = last
            ) -> tuple[int, int]:
                """One batch of the poll, atomically. Returns (new entries, announcements)."""
                counts = await self._write_entries(
                    feed, parsed, batch, plan, now=now, last=last, conn=conn
                )
                if last:
                    await record_success(conn)
                return counts

            # Returns once committed, maybe with other polls' writes (see BatchWriter).
            batch_new, batch_announcements = await self.writer.run(write, weight=len(batch) or 1)
            new_entries += batch_new
            announcements += batch_announcements
            if batch_announcements:
                self.on_enqueued()
        if not feed.initialized:
            log.info("Feed %d initialised: %d entries recorded as seen", feed.id, len(entries))
            return PollOutcome(feed.id, "initialized", new_entries=new_entries)
        return PollOutcome(feed.id, "new", new_entries=new_entries, announcements=announcements)

    async def _write_entries(
        self,
        feed: Feed,
        parsed: ParsedFeed,
        entries: list[FeedEntry],
        plan: _AnnouncementPlan | None,
        *,
        now: float,
        last: bool,
        conn: Connection,
    ) -> tuple[int, int]:
        """Ingest, mark seen and announce one batch of entries inside the caller's transaction.

        Every entry is ingested, not just the new ones: an edited summary is updated in place
        (and never announced again, since its identity was seen). Whether an entry is new is
        decided here, in the transaction that marks it seen: that is what makes its
        announcement happen once.
        """
        # Nothing is written unless the feed is still this poll's (a process whose lease
        # expired while it stalled must not record what the process that took the feed over
        # records too); and another process writing this feed's entries at once waits here
        # (PostgreSQL), so what it marked seen is seen here: an entry is announced once.
        await self.feeds.hold_lease(feed.id, self.owner, conn=conn)
        seen = await self.feeds.seen_identities(
            feed.id, [entry.identity for entry in entries], conn=conn
        )
        ingested = await ingest_entries(self.db, entries, origin_feed_title=parsed.title, conn=conn)
        summary_ids = {item.entry.identity: item.summary_id for item in ingested.results}
        await self.feeds.mark_seen(
            feed.id,
            [(entry.identity, summary_ids.get(entry.identity)) for entry in entries],
            now=now,
            conn=conn,
        )
        new = [entry for entry in entries if entry.identity not in seen]
        if plan is None or not (new or last):
            return len(new), 0
        # Subscriptions paused or removed since the plan was made get nothing.
        delivering = {
            subscription.id
            for subscription in await self.subscriptions.for_feed(feed.id, conn=conn)
            if subscription.delivers
        }
        rows = [
            plan.summary_row(subscription, summary_ids[entry.identity])
            for entry in new
            if entry.identity in summary_ids
            for subscription in plan.shown.get(entry.identity, ())
            if subscription.id in delivering
        ]
        if last:
            rows += [
                plan.overflow_row(subscription, hidden)
                for subscription, hidden in plan.overflow
                if subscription.id in delivering
            ]
        # One statement for them all: in order, so each channel's rows keep their order.
        return len(new), await self.outbox.enqueue_many(rows, now=now, conn=conn)

    async def _plan_announcements(
        self, feed: Feed, parsed: ParsedFeed, entries: list[FeedEntry]
    ) -> _AnnouncementPlan | None:
        """Which new entries go to which subscribed channel: at most ANNOUNCEMENTS_PER_POLL
        per channel (the newest it wants), plus one "and N more" row for the rest.

        Keyword filters are matched in the feed workers: a feed of 25,000 entries and a dozen
        filtered subscriptions is seconds of CPU that must not block the event loop.
        """
        seen = await self.feeds.seen_identities(feed.id, [entry.identity for entry in entries])
        candidates = [e for e in entries if e.identity not in seen and is_announceable(e)]
        if not candidates:
            return None
        subscriptions = [s for s in await self.subscriptions.for_feed(feed.id) if s.delivers]
        filtered = [
            s
            for s in subscriptions
            if not KeywordFilter.parse(s.include_terms, s.exclude_terms).is_empty
        ]
        matching: dict[int, list[int]] = {}
        if filtered:
            selections = await self.workers.run(
                select_matching,
                [entry_texts(entry) for entry in candidates],
                [(s.include_terms, s.exclude_terms) for s in filtered],
            )
            matching = {s.id: indexes for s, indexes in zip(filtered, selections, strict=True)}
        everything = list(range(len(candidates)))
        plan = _AnnouncementPlan(feed_id=feed.id, feed_name=parsed.title or feed.display_name)
        for subscription in subscriptions:
            wanted = matching.get(subscription.id, everything)
            shown = wanted[-ANNOUNCEMENTS_PER_POLL:]
            for index in shown:
                plan.shown.setdefault(candidates[index].identity, []).append(subscription)
            if len(wanted) > len(shown):
                plan.overflow.append((subscription, len(wanted) - len(shown)))
        return plan

    async def _failed(
        self, feed: Feed, error: str, *, retry_after: float | None = None
    ) -> PollOutcome:
        failures = feed.consecutive_failures + 1
        if failures >= self.max_failures:
            return await self._pause(
                feed,
                f"{plural(failures, 'poll')} in a row failed, the last with: {error}",
                error=error,
            )
        now = self.clock()
        delay = backoff_delay(
            failures, base_seconds=self.backoff_base, cap_seconds=BACKOFF_CAP_SECONDS, rng=self.rng
        )
        if retry_after is not None:
            # The server said when to come back (429/503); a day at most, as for backoff.
            delay = max(delay, min(retry_after, BACKOFF_CAP_SECONDS))
        try:
            async with self.db.transaction() as conn:
                await self.feeds.end_lease(
                    feed.id, self.owner, outcome="failed", now=now, conn=conn
                )
                await self.feeds.record_failure(
                    feed.id, error, now=now, next_poll_at=now + delay, conn=conn
                )
        except LeaseLostError as exc:
            return self._lost(feed, exc)
        log.info("Feed %d (%s) failed (%d in a row): %s", feed.id, feed.url, failures, error)
        return PollOutcome(feed.id, "failed", error=error)

    async def _pause(self, feed: Feed, reason: str, *, error: str | None = None) -> PollOutcome:
        """Stop polling a feed and tell each subscribed channel once, in one transaction."""
        now = self.clock()
        notice = paused_notice_text(feed.display_name, feed.url, reason)
        try:
            notified = await self._record_pause(feed, reason, notice, error=error, now=now)
        except LeaseLostError as exc:
            return self._lost(feed, exc)
        log.warning("Paused feed %d (%s): %s", feed.id, feed.url, reason)
        if notified:
            self.on_enqueued()
        return PollOutcome(feed.id, "paused", error=error or reason)

    async def _record_pause(
        self, feed: Feed, reason: str, notice: str, *, error: str | None, now: float
    ) -> set[int]:
        """Pause the feed and enqueue one notice per channel, in one transaction (only while
        the feed is this process's). Returns the channels notified."""
        async with self.db.transaction() as conn:
            await self.feeds.end_lease(feed.id, self.owner, outcome="paused", now=now, conn=conn)
            await self.feeds.record_failure(
                feed.id, error or reason, now=now, next_poll_at=now, conn=conn
            )
            await self.feeds.pause(feed.id, reason, conn=conn)
            notified: set[int] = set()
            for subscription in await self.subscriptions.for_feed(feed.id, conn=conn):
                if subscription.disabled_reason is not None:
                    continue
                if subscription.channel_id in notified:
                    continue
                notified.add(subscription.channel_id)
                await self.outbox.enqueue(
                    kind="notice",
                    guild_id=subscription.guild_id,
                    channel_id=subscription.channel_id,
                    subscription_id=subscription.id,
                    feed_id=feed.id,
                    text=notice,
                    delivery=text_delivery(subscription),
                    now=now,
                    conn=conn,
                )
        return notified


@dataclass(slots=True)
class _AnnouncementPlan:
    """The announcements a poll makes, decided before its entries are written."""

    feed_id: int
    feed_name: str
    shown: dict[str, list[Subscription]] = field(default_factory=dict)  # by entry identity
    overflow: list[tuple[Subscription, int]] = field(default_factory=list)  # (who, how many)

    def summary_row(self, subscription: Subscription, summary_id: int) -> NewOutboxMessage:
        return self._row(
            subscription,
            kind="summary",
            summary_id=summary_id,
            mention_role_id=subscription.mention_role_id,
            delivery=subscription.delivery,
        )

    def overflow_row(self, subscription: Subscription, hidden: int) -> NewOutboxMessage:
        return self._row(
            subscription,
            kind="overflow",
            text=overflow_text(hidden, self.feed_name),
            delivery=text_delivery(subscription),
        )

    def _row(self, subscription: Subscription, **message: Any) -> NewOutboxMessage:
        """A row to the subscription's channel, on behalf of this feed."""
        return NewOutboxMessage(
            guild_id=subscription.guild_id,
            channel_id=subscription.channel_id,
            subscription_id=subscription.id,
            feed_id=self.feed_id,
            **message,
        )


def text_delivery(subscription: Subscription) -> Delivery:
    """How a line (an overflow line, a paused-feed notice) reaches a subscription's channel:
    a post of its own in a forum (which holds nothing else), else a plain message (a thread
    is for discussing a paper)."""
    return "forum" if subscription.delivery == "forum" else "message"


def _unique_by_identity(entries: Sequence[FeedEntry]) -> list[FeedEntry]:
    """The first entry of each identity (a feed that repeats an item lists it twice)."""
    seen: set[str] = set()
    unique = []
    for entry in entries:
        if entry.identity not in seen:
            seen.add(entry.identity)
            unique.append(entry)
    return unique
