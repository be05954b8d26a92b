"""The search service: keeps this process's tantivy index in step with the database and
answers searches, title autocomplete and similar papers.

* Every change that affects search is logged by triggers in the same database transaction
  (`search_changes`, migration 0012; SQLite or PostgreSQL). The indexer applies the log in
  order and commits the last sequence it applied inside the index itself, with the documents
  (schema.py), so a crash between the database commit and the index commit is caught up at
  the next start.
* After each commit of this process, `Database` calls `after_commit`: the indexer is nudged
  and the writer waits (bounded) until the index covers what it wrote, so what a command
  changed is searchable before the command answers. Other processes' writes are picked up by
  polling the log (`poll_seconds`).
* A missing, damaged or older-schema index is rebuilt from the database in the background;
  meanwhile searches raise `SearchIndexRebuildingError` (the cog says so). `rebuild()` does
  it on demand (`shortscience-bot reindex`).
* All index writes happen on one thread (one IndexWriter); searches run on a small pool of
  reader threads, each reading the database through a `ThreadReader` of its own (SQLite: a
  connection; PostgreSQL: the pool, via the event loop). Nothing blocks the event loop.

Sequence numbers and concurrent writers: SQLite serialises writers, so sequence numbers
commit in order and the log has no holes. On a server database (PostgreSQL) a transaction
can take seq 10, another seq 11 and commit first; an indexer that saw 11 must not skip 10.
So the indexer keeps a watermark, the highest seq below which everything is applied, and
remembers what it applied above it; a hole stops the watermark until the row appears or every
transaction that was writing when the hole was first seen has ended (then the one that took
the seq rolled back, and the hole is permanent), however long that takes. A rebuild likewise
waits for the transactions writing when it starts before it reads. The watermark is what the
index records, and re-applying a change is harmless (documents are rebuilt from the current
rows), so after a restart nothing is skipped.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal, TypeVar

from bot.background import BackgroundLoop
from bot.errors import UserFacingError
from bot.jobs import SharedJob
from bot.search import engine
from bot.search.engine import (
    SearchPage,
    SimilarPaper,
    TitleSuggestion,
    Visibility,
)
from bot.search.index import (
    Changes,
    IndexBuilder,
    IndexUnusableError,
    IndexWriterBusyError,
    TantivyIndex,
    current_generation,
    paper_document,
    summary_document,
)
from bot.search.query import ParsedQuery, parse_query
from bot.storage import search as source
from bot.storage.database import Database, ThreadReader
from bot.storage.leases import DEFAULT_LEASE_SECONDS, new_owner_id

log = logging.getLogger(__name__)

T = TypeVar("T")
Origin = Literal["feeds", "community", "all"]
ProgressCallback = Callable[[int, int], None]

MAX_LIMIT: Final = 50
MAX_OFFSET: Final = 10_000
AUTOCOMPLETE_LIMIT: Final = 25
SIMILAR_LIMIT: Final = 5
MAX_TITLE_CHARS: Final = 400  # a typed title compared for similar titles
CHANGES_PER_COMMIT: Final = 10_000
# Changes read from the database at a time within a commit: tantivy indexes one part while
# the next is read.
CHANGES_PER_PART: Final = 1_000
READER_THREADS: Final = 4
INDEXER_LOOP: Final = "search indexer"
PRUNE_EVERY_SECONDS: Final = 3600.0
# How often a process looks whether the change log is due for pruning (one process does it).
PRUNE_TRY_SECONDS: Final = 60.0
PRUNING_JOB: Final = "search log pruning"
BUILD_AT_ONCE_MAX: Final = 2000  # summaries; more are indexed in the background
_ORIGINS: Final = {"feeds": "feed", "feed": "feed", "community": "community", "all": "all"}


class SearchIndexRebuildingError(UserFacingError):
    """The index is being rebuilt: no results until it is done (never wrong or empty ones)."""

    def __init__(self, done: int, total: int) -> None:
        percent = int(100 * done / total) if total else 0
        super().__init__(
            f"The search index is being rebuilt ({percent}% done), so search, title "
            "suggestions and similar papers are back in a minute or two. `/latest`, `/top`, "
            "`/random` and `/paper` with an id work meanwhile."
        )
        self.done = done
        self.total = total


@dataclass(frozen=True, slots=True)
class RebuildReport:
    summaries: int
    documents: int
    seconds: float
    applied_seq: int


@dataclass(frozen=True, slots=True)
class IndexStatus:
    state: str  # 'ready' | 'rebuilding' | 'read-only' | 'stopped'
    applied_seq: int
    last_seq: int
    documents: int
    size_bytes: int
    path: Path


class SearchService:
    def __init__(
        self,
        db: Database,
        index_path: Path | str,
        *,
        poll_seconds: float = 1.0,
        sync_timeout: float = 3.0,
        retention_seconds: float = 7 * 24 * 3600.0,
        lease_owner: str | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        self.db = db
        self.index_path = Path(index_path)
        self.poll_seconds = poll_seconds
        self.sync_timeout = sync_timeout
        self.retention_seconds = retention_seconds
        self._writer_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="search-writer")
        self._reader_pool = ThreadPoolExecutor(
            max_workers=READER_THREADS, thread_name_prefix="search-reader"
        )
        self._local = threading.local()
        self._connections: list[ThreadReader] = []
        self._connections_lock = threading.Lock()
        self._index: TantivyIndex | None = None
        self._state = "stopped"
        self._progress = (0, 0)
        self._seen: set[int] = set()  # applied seqs above the watermark
        # A missing seq -> the transaction horizon when it was first noticed.
        self._gaps: dict[int, source.TransactionHorizon] = {}
        self._cycles_started = 0
        self._cycles_done = 0
        self._cycle = asyncio.Condition()
        # One supervised loop (bot/background.py, listed by /status): each run applies what
        # the change log holds; a commit of this process runs it at once (`run_soon`), and
        # without one it polls anyway, since other processes write too.
        self.indexer = BackgroundLoop(
            INDEXER_LOOP,
            self._index_cycle,
            interval=poll_seconds,
            description="applies the change log to the search index",
        )
        self._rebuild_task: asyncio.Task[RebuildReport] | None = None
        self._last_prune = 0.0
        # The change log is shared by every process's index: pruning it is a job run once
        # across the processes (`bot.jobs`), by whichever finds it due first.
        self._pruning = SharedJob(
            db,
            PRUNING_JOB,
            self._prune_changes,
            owner=lease_owner or new_owner_id(),
            every=PRUNE_EVERY_SECONDS,
            lease_seconds=lease_seconds,
        )
        self._following = False
        self._closed = False

    # -- life cycle ---------------------------------------------------------------------------

    async def start(
        self, *, follow_commits: bool = True, background: bool = True, rebuild: bool = True
    ) -> None:
        """Open the index (rebuilding it in the background when unusable, unless not
        `rebuild`), with `follow_commits` catch up after each commit of this process's
        database, and with `background` run the indexer loop until `close()`."""
        if follow_commits:
            self._following = True
            self.db.add_commit_hook(self.after_commit)
        reason = await self._in_writer(self._open)
        if reason is None and self._state == "ready":
            # What was committed while no process of ours was indexing (a crash between the
            # SQLite commit and the index commit, or writes by other processes).
            await self._in_writer(self._catch_up)
        elif reason is not None and not rebuild:
            self._state = "rebuilding"
        elif reason is not None and await self._in_writer(self._small_database):
            # A new or small database is indexed in well under a second: at once, so a
            # fresh start never answers "being rebuilt".
            # Quiet: a first start or a new database does this every time, in a blink.
            log.debug("Search index at %s: %s; building it now", self.index_path, reason)
            self._state = "rebuilding"
            await self._in_writer(self._rebuild, None)
        elif reason is not None:
            self._schedule_rebuild(f"{self.index_path}: {reason}")
        if background:
            self.indexer.start()

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._following:
            self.db.remove_commit_hook(self.after_commit)
            self._following = False
        await self.indexer.stop()
        for task in (self._rebuild_task,):
            if task is not None and not task.done():
                task.cancel()
                try:
                    await task
                except asyncio.CancelledError:
                    pass  # cancelled on purpose: the service is closing
                except Exception:
                    log.exception("Search task failed while closing")
        self._rebuild_task = None
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._writer_pool, self._close_index)
        # Waited for off the event loop: a reader thread may be waiting for rows from it
        # (PostgreSQL's readers run their statements on the loop).
        for pool in (self._writer_pool, self._reader_pool):
            await loop.run_in_executor(None, functools.partial(pool.shutdown, wait=True))
        with self._connections_lock:
            for conn in self._connections:
                conn.close()
            self._connections.clear()
        self._state = "stopped"

    async def wait_ready(self) -> None:
        """Until a rebuild in progress has finished (the CLI waits; the bot never does)."""
        if self._rebuild_task is not None:
            await asyncio.shield(self._rebuild_task)

    # -- keeping up with the database ---------------------------------------------------------

    async def after_commit(self, wait: bool) -> None:
        """A `Database` commit hook: nudge the indexer; with `wait`, until it has caught up."""
        self.indexer.run_soon()
        if wait and self._state == "ready" and self.indexer.running:
            await self.sync()

    async def sync(self, within: float | None = None) -> bool:
        """Wait until the index covers every change committed before this call (at most
        `within` seconds, default `sync_timeout`); False when it did not in time."""
        if self._state != "ready" or self._index is None or self._index.read_only:
            return False
        if not self.indexer.running:
            await self._in_writer(self._catch_up)
            return True
        target = self._cycles_started + 1
        self.indexer.run_soon()
        try:
            async with self._cycle:
                await asyncio.wait_for(
                    self._cycle.wait_for(lambda: self._cycles_done >= target),
                    within if within is not None else self.sync_timeout,
                )
        except TimeoutError:
            log.warning("The search index did not catch up within %.1f s", self.sync_timeout)
            return False
        return True

    async def _index_cycle(self) -> None:
        """One run of the indexer loop. A failure propagates: the loop logs it with its
        traceback and tries again after a backoff (waiting writers are not told this cycle is
        done: they time out instead)."""
        self._cycles_started += 1
        cycle = self._cycles_started
        try:
            if self._state in ("ready", "read-only"):
                await self._in_writer(self._cycle_work)
                await self._prune_if_due()
        except _RebuildNeededError as exc:
            self._schedule_rebuild(str(exc))
        async with self._cycle:
            self._cycles_done = cycle
            self._cycle.notify_all()

    def _schedule_rebuild(self, reason: str) -> None:
        if self._rebuild_task is not None and not self._rebuild_task.done():
            return
        log.warning("Search index: %s; rebuilding it from the database", reason)
        self._state = "rebuilding"
        self._rebuild_task = asyncio.create_task(self._background_rebuild(), name="search-rebuild")

    async def _background_rebuild(self) -> RebuildReport:
        started = time.monotonic()
        last_logged = [0.0]

        def progress(done: int, total: int) -> None:
            if time.monotonic() - last_logged[0] >= 5.0 or done == total:
                last_logged[0] = time.monotonic()
                log.info("Rebuilding the search index: %d of %d summaries", done, total)

        while True:
            try:
                report = await self._in_writer(self._rebuild, progress)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("Rebuilding the search index failed; trying again in a minute")
                await asyncio.sleep(60.0)
                continue
            log.info(
                "Search index rebuilt: %d summaries in %.1f s",
                report.summaries,
                time.monotonic() - started,
            )
            return report

    async def rebuild(self, progress: ProgressCallback | None = None) -> RebuildReport:
        """Build a new index from the database and switch to it (searches go on with the old
        one meanwhile, when there is one)."""
        if self._rebuild_task is not None and not self._rebuild_task.done():
            return await asyncio.shield(self._rebuild_task)
        self._rebuild_task = asyncio.create_task(
            self._in_writer(self._rebuild, progress), name="search-rebuild"
        )
        return await asyncio.shield(self._rebuild_task)

    # -- the writer thread --------------------------------------------------------------------

    async def _in_writer(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._writer_pool, function, *args)

    async def _prune_if_due(self) -> None:
        """Forget change log rows older than the retention that this index has applied,
        when no process did it within the hour (a process whose own index lags further
        behind than that finds the log pruned past it, and rebuilds its index)."""
        if time.monotonic() - self._last_prune < PRUNE_TRY_SECONDS:
            return
        self._last_prune = time.monotonic()
        # Inside the indexer's own cycle: its commits (the job's lease, the pruning) must not
        # wait for the indexer.
        with self.db.commit_hooks_not_awaited():
            await self._pruning.run_once()

    async def _prune_changes(self) -> None:
        index = self._index
        if index is None or index.read_only:
            return
        await source.prune_changes(
            self.db,
            older_than=time.time() - self.retention_seconds,
            keep_after=index.applied_seq,
        )

    def _writer_connection(self) -> ThreadReader:
        conn: ThreadReader | None = getattr(self._local, "writer_conn", None)
        if conn is None:
            conn = self._connection()
            self._local.writer_conn = conn
        return conn

    def _open(self) -> str | None:
        """Open the current generation; the reason it is unusable, or None."""
        self.index_path.mkdir(parents=True, exist_ok=True)
        try:
            index = TantivyIndex.open(self.index_path)
        except IndexUnusableError as exc:
            return exc.reason
        self._use(index)
        if self._state != "ready":
            return None
        conn = self._writer_connection()
        if index.applied_seq < source.pruned_through(conn):
            self._close_index()
            return "the change log no longer reaches back to this index"
        if index.applied_seq > source.last_seq(conn):
            # Sequence numbers only grow, so this index was built from another database (or
            # from this one before it was restored from a backup).
            self._close_index()
            return "the index is ahead of the database's change log"
        return None

    def _use(self, index: TantivyIndex) -> None:
        if self._index is not None and self._index is not index:
            self._index.close()
        self._index = index
        self._seen.clear()
        self._gaps.clear()
        try:
            index.writer()
            self._state = "ready"
        except IndexWriterBusyError:
            log.warning(
                "Another process writes the search index at %s: this one only reads it "
                "(give each process its own SEARCH_INDEX_PATH)",
                self.index_path,
            )
            self._state = "read-only"

    def _small_database(self) -> bool:
        return source.count_live_summaries(self._writer_connection()) <= BUILD_AT_ONCE_MAX

    def _close_index(self) -> None:
        if self._index is not None:
            self._index.close()
            self._index = None

    def _cycle_work(self) -> None:
        index = self._index
        if index is None:
            return
        generation = current_generation(self.index_path)
        if generation is not None and generation != index.directory:
            # Another process (`shortscience-bot reindex`) switched generations: follow it.
            log.info("Search index switched to %s", generation.name)
            reason = self._open()
            if reason is not None:
                raise _RebuildNeededError(reason)
            index = self._index
            assert index is not None
        if index.read_only:
            # The process that held the writer (a `reindex`, say) may have finished.
            try:
                index.writer()
            except IndexWriterBusyError:
                return
            index.read_only = False
            self._state = "ready"
        self._catch_up()

    def _catch_up(self) -> None:
        """Apply the change log from the watermark on, a commit per batch."""
        index = self._index
        if index is None or index.read_only:
            return
        conn = self._writer_connection()
        if index.applied_seq < source.pruned_through(conn):
            raise _RebuildNeededError("the change log no longer reaches back to this index")
        after = index.applied_seq
        while True:
            watermark = index.applied_seq
            rows = source.changes_after(conn, after, CHANGES_PER_COMMIT)
            fresh = [row for row in rows if row[0] not in self._seen]
            new_watermark = self._advance(conn, watermark, {row[0] for row in rows}, rows)
            if fresh or new_watermark != watermark:
                index.apply(self._change_parts(conn, fresh), new_watermark)
                self._seen = {
                    seq for seq in self._seen | {row[0] for row in fresh} if seq > new_watermark
                }
            if len(rows) < CHANGES_PER_COMMIT:
                return
            # Past a hole that still waits for its transaction, the log goes on.
            after = rows[-1][0]

    def _advance(
        self,
        conn: ThreadReader,
        watermark: int,
        present: set[int],
        rows: list[tuple[int, str, int]],
    ) -> int:
        """The new watermark: past every seq applied, or missing for good (its transaction
        has ended without it: it rolled back)."""
        if not rows:
            return watermark
        applied = present | self._seen
        seq = watermark
        # Read at the first hole only (none, mostly), and after the rows: a transaction
        # that logged a seq below one of them had begun writing by then.
        horizon: source.TransactionHorizon | None = None
        for candidate in range(watermark + 1, rows[-1][0] + 1):
            if candidate in applied:
                seq = candidate
                continue
            if horizon is None:
                horizon = source.transaction_horizon(conn)
            if horizon is not None:
                first_noticed = self._gaps.setdefault(candidate, horizon)
                if not horizon.passed(first_noticed):
                    break  # its transaction may still be running
                del self._gaps[candidate]
            seq = candidate
        return seq

    def _change_parts(
        self, conn: ThreadReader, rows: list[tuple[int, str, int]]
    ) -> Iterator[Changes]:
        """The changes of `rows`, read from the database a part at a time."""
        for start in range(0, len(rows), CHANGES_PER_PART):
            yield self._changes(conn, rows[start : start + CHANGES_PER_PART])

    def _changes(self, conn: ThreadReader, rows: list[tuple[int, str, int]]) -> Changes:
        summary_ids = {item for _, kind, item in rows if kind == "summary"}
        paper_ids = {item for _, kind, item in rows if kind in ("paper", "paper_text")}
        retitled = {item for _, kind, item in rows if kind == "paper_text"}
        if retitled:
            summary_ids.update(source.summary_ids_of_papers(conn, retitled))
        summaries = source.summaries_by_id(conn, summary_ids)
        paper_ids.update(s.paper_id for s in summaries if s.paper_id is not None)
        papers = source.papers_by_id(conn, paper_ids)
        documents = [summary_document(s) for s in summaries] + [paper_document(p) for p in papers]
        return Changes(
            summary_ids=frozenset(summary_ids),
            paper_ids=frozenset(paper_ids),
            documents=tuple(d for d in documents if d is not None),
        )

    def _rebuild(self, progress: ProgressCallback | None) -> RebuildReport:
        started = time.perf_counter()
        conn = self._writer_connection()
        # Changes logged from here on are applied after the build (again, harmlessly).
        start_seq = source.last_seq(conn)
        # A transaction still running may hold a seq below start_seq: what it commits must
        # be in the rows read, since the log is followed only from start_seq.
        self._wait_for_transactions_writing_now(conn)
        total = source.count_live_summaries(conn)
        self._progress = (0, total)
        builder = IndexBuilder(self.index_path)
        try:
            after = 0
            done = 0
            while rows := source.summaries_after(conn, after, source.ROW_BATCH):
                if self._closed:
                    raise _ClosingError("the search service is closing")
                builder.add(summary_document(row) for row in rows)
                after = rows[-1].id
                done += len(rows)
                self._progress = (done, total)
                if progress is not None:
                    progress(done, total)
            after = 0
            while ids := source.paper_ids_after(conn, after, source.ROW_BATCH):
                builder.add(paper_document(paper) for paper in source.papers_by_id(conn, ids))
                after = ids[-1]
            index = builder.finish(start_seq)
        except BaseException:
            builder.abandon()
            raise
        self._use(index)
        self._catch_up()
        return RebuildReport(
            summaries=done,
            documents=builder.documents,
            seconds=time.perf_counter() - started,
            applied_seq=index.applied_seq,
        )

    def _wait_for_transactions_writing_now(self, conn: ThreadReader) -> None:
        """Until every transaction that has begun writing by now has ended (on SQLite there
        is none to wait for: writers take turns, so none holds a seq below those seen)."""
        started = source.transaction_horizon(conn)
        waited_since = time.monotonic()
        next_log = waited_since + 5.0
        while started is not None:
            horizon = source.transaction_horizon(conn)
            if horizon is None or horizon.passed(started):
                return
            if self._closed:
                raise _ClosingError("the search service is closing")
            if time.monotonic() >= next_log:
                next_log += 30.0
                log.info(
                    "Search index rebuild: waiting %.0f s for transactions begun before it to end",
                    time.monotonic() - waited_since,
                )
            time.sleep(0.05)

    # -- reading -------------------------------------------------------------------------------

    def _connection(self) -> ThreadReader:
        conn = self.db.thread_reader()
        with self._connections_lock:
            self._connections.append(conn)
        return conn

    def _reader_connection(self) -> ThreadReader:
        conn: ThreadReader | None = getattr(self._local, "reader_conn", None)
        if conn is None:
            conn = self._connection()
            self._local.reader_conn = conn
        return conn

    def _ready_index(self) -> TantivyIndex:
        index = self._index
        if self._state == "rebuilding" or index is None:
            done, total = self._progress
            raise SearchIndexRebuildingError(done, total)
        return index

    def raise_if_rebuilding(self) -> None:
        """`SearchIndexRebuildingError` while the index is being rebuilt: for an answer that
        would otherwise say that nothing was found."""
        self._ready_index()

    async def _in_reader(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._reader_pool, function, *args)

    async def search(
        self,
        query: str,
        *,
        guild_id: int | None,
        author: str | None = None,
        year: int | None = None,
        venue: str | None = None,
        origin: Origin | str = "all",
        all_guilds: bool = False,
        offset: int = 0,
        limit: int = 5,
        typo_tolerant: bool = True,
    ) -> SearchPage:
        """Ranked summaries matching `query` that the viewer may see.

        Feed summaries are visible everywhere; community summaries only in their own guild
        (`guild_id`; None means a DM or the CLI: feed summaries only), unless `all_guilds`
        (CLI). Soft-deleted summaries never. An empty or punctuation-only query gives a page
        with `nothing_to_search` set; a query nothing matches is retried with typos
        corrected (`SearchPage.corrected`)."""
        limit = max(1, min(int(limit), MAX_LIMIT))
        offset = max(0, min(int(offset), MAX_OFFSET))
        parsed = parse_query(query)
        if parsed is None:
            return SearchPage("", (), offset, limit, False, nothing_to_search=True)
        visibility = Visibility(
            origin=_origin(origin),
            guild_id=guild_id,
            all_guilds=all_guilds,
            author=_blank_is_none(author),
            year=year,
            venue=_blank_is_none(venue),
        )
        index = self._ready_index()
        return await self._in_reader(
            self._search, index, parsed, visibility, offset, limit, typo_tolerant
        )

    def _search(
        self,
        index: TantivyIndex,
        parsed: ParsedQuery,
        visibility: Visibility,
        offset: int,
        limit: int,
        typo_tolerant: bool,
    ) -> SearchPage:
        return engine.search_page(
            index, self._reader_connection(), parsed, visibility, offset=offset, limit=limit,
            typo_tolerant=typo_tolerant,
        )  # fmt: skip

    async def autocomplete(
        self,
        prefix: str,
        *,
        guild_id: int | None = None,
        all_guilds: bool = False,
        limit: int = AUTOCOMPLETE_LIMIT,
    ) -> list[TitleSuggestion]:
        """Up to `limit` titles of papers visible to the viewer starting with `prefix`, then
        titles with a word starting with it; recent papers when nothing is typed. Nothing
        while the index is being rebuilt."""
        try:
            index = self._ready_index()
        except SearchIndexRebuildingError:
            return []
        return await self._in_reader(
            lambda: engine.autocomplete(
                index, prefix[:200], guild_id=guild_id, all_guilds=all_guilds,
                limit=max(1, min(limit, AUTOCOMPLETE_LIMIT)),
            )
        )  # fmt: skip

    async def similar_titles(
        self,
        title: str,
        *,
        guild_id: int | None = None,
        all_guilds: bool = False,
        limit: int = AUTOCOMPLETE_LIMIT,
    ) -> list[TitleSuggestion]:
        """Up to `limit` papers visible to the viewer whose titles share words with `title`,
        best first (see `engine.similar_titles`). Nothing while the index is being rebuilt."""
        try:
            index = self._ready_index()
        except SearchIndexRebuildingError:
            return []
        return await self._in_reader(
            lambda: engine.similar_titles(
                index, title[:MAX_TITLE_CHARS], guild_id=guild_id, all_guilds=all_guilds,
                limit=max(1, min(limit, AUTOCOMPLETE_LIMIT)),
            )
        )  # fmt: skip

    async def similar(
        self,
        paper_id: int,
        *,
        guild_id: int | None,
        all_guilds: bool = False,
        limit: int = SIMILAR_LIMIT,
    ) -> list[SimilarPaper]:
        """The papers most like this one, for this viewer (see `engine.similar_papers`)."""
        index = self._ready_index()
        return await self._in_reader(
            lambda: engine.similar_papers(
                index, self._reader_connection(), paper_id, guild_id=guild_id,
                all_guilds=all_guilds, limit=limit,
            )
        )  # fmt: skip

    async def status(self) -> IndexStatus:
        def read() -> IndexStatus:
            index = self._index
            last = source.last_seq(self._reader_connection())
            if index is None:
                return IndexStatus(self._state, 0, last, 0, 0, self.index_path)
            return IndexStatus(
                self._state, index.applied_seq, last, index.searcher().num_docs,
                index.size_bytes(), self.index_path,
            )  # fmt: skip

        return await self._in_reader(read)


class _RebuildNeededError(Exception):
    """The index cannot catch up from the log: rebuild it."""


class _ClosingError(Exception):
    """The service closes: a rebuild in progress is abandoned."""


def _origin(origin: str) -> str:
    try:
        return _ORIGINS[origin.lower()]
    except KeyError:
        raise ValueError(f"origin must be feeds, community or all, not {origin!r}") from None


def _blank_is_none(text: str | None) -> str | None:
    if text is None:
        return None
    text = " ".join(text.split())
    return text or None


def default_index_path(database_path: Path) -> Path:
    """Beside the database: `data/shortscience.sqlite3` -> `data/shortscience.search`."""
    return database_path.parent / f"{database_path.stem}.search"
