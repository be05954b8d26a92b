"""The search API the bot and the CLI call: `/search`, autocomplete, index upkeep, JSON.

Searches run in a worker thread on the engine's own read connection to the database file,
each inside one read transaction: WAL gives it a consistent snapshot while the bot (or a
CLI process) keeps writing, the event loop is never blocked, and the shared aiosqlite
connection's transactions are never interleaved with ours.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Final, Literal

from bot.search import repository
from bot.search.bm25 import WEIGHTS_TEXT
from bot.search.excerpt import MatchFinder, fragment, render_excerpt
from bot.search.index import (
    DEFAULT_CACHE_BYTES,
    FORMAT,
    MIN_ROWS_FOR_INDEX,
    BuildReport,
    ProgressCallback,
    build_index,
    dirty_limit_for,
    fts_totals,
)
from bot.search.query import FtsQuery, build_fts_query
from bot.search.ranker import IndexState, RankedPage, rank
from bot.search.repository import Visibility
from bot.storage.database import Database

log = logging.getLogger(__name__)

Origin = Literal["feeds", "community", "all"]
MAX_LIMIT: Final = 50
MAX_OFFSET: Final = 10_000
AUTOCOMPLETE_LIMIT: Final = 25
BUSY_TIMEOUT_MS: Final = 5000
REBUILD_BUSY_TIMEOUT_MS: Final = 60_000
_ORIGINS: Final = {"feeds": "feed", "feed": "feed", "community": "community", "all": "all"}


@dataclass(frozen=True, slots=True)
class SearchResult:
    summary_id: int
    paper_id: int | None
    paper_title: str
    author: str
    score: int
    url: str | None
    created_at: float
    origin: str
    guild_id: int | None
    rank: float  # bm25(): lower is better
    excerpt: str  # Discord Markdown, one line, matches in bold, escaped
    excerpt_text: str  # the same excerpt as plain text


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str  # the query as understood ("" when there was nothing to search for)
    results: tuple[SearchResult, ...]
    offset: int
    limit: int
    has_more: bool
    nothing_to_search: bool = False
    plan: str = ""  # how it was ranked: plain, rare, frequent, filtered (for logs, benches)

    @property
    def page_number(self) -> int:
        return self.offset // self.limit + 1 if self.limit else 1


@dataclass(frozen=True, slots=True)
class TitleSuggestion:
    paper_id: int
    title: str


@dataclass(frozen=True, slots=True)
class IndexStatus:
    summaries: int
    build_id: int | None
    built_at: int | None
    changed_since_build: int
    rebuild_due: bool
    reason: str


class SearchEngine:
    """Search over one database file: a read connection, the accelerator's state, a lock."""

    def __init__(self, path: Path | str, *, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        if str(path) == ":memory:":
            raise ValueError("search needs a database file (another connection must see it)")
        self.path = Path(path)
        self.state = IndexState(cache_bytes)
        self._lock = threading.Lock()
        self._build_lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = _connect(self.path, BUSY_TIMEOUT_MS)
            repository.ensure_scratch(conn)
            self._conn = conn
        return self._conn

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        """The connection, under the lock, inside one read transaction (one consistent snapshot)."""
        with self._lock:
            conn = self._connection()
            repository.begin_read(conn)
            try:
                yield conn
            finally:
                repository.end_read(conn)

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    # -- searching ------------------------------------------------------------------------

    def search(
        self, query: FtsQuery, visibility: Visibility, *, offset: int, limit: int
    ) -> SearchPage:
        with self._reading() as conn:
            ranked = rank(conn, self.state, query, visibility, offset=offset, limit=limit)
            results = _results(conn, query, ranked)
        return SearchPage(query.display, results, offset, limit, ranked.has_more, plan=ranked.plan)

    def rank_only(
        self, query: FtsQuery, visibility: Visibility, *, offset: int, limit: int
    ) -> RankedPage:
        """The ranking without rows or excerpts (benchmarks, equivalence tests)."""
        with self._reading() as conn:
            return rank(conn, self.state, query, visibility, offset=offset, limit=limit)

    def plain_rank_only(
        self, query: FtsQuery, visibility: Visibility, *, offset: int, limit: int
    ) -> RankedPage:
        """FTS5's own ranking of every match: the reference the accelerator must equal."""
        with self._reading() as conn:
            return rank(conn, None, query, visibility, offset=offset, limit=limit)

    def autocomplete(
        self, prefix: str, *, guild_id: int | None, all_guilds: bool, limit: int
    ) -> list[TitleSuggestion]:
        prefix = " ".join(prefix.split())
        with self._reading() as conn:
            return _autocomplete(conn, prefix, guild_id, all_guilds, limit)

    # -- upkeep ---------------------------------------------------------------------------

    def status(self) -> IndexStatus:
        with self._reading() as conn:
            status = _status(conn)
            if self.state.rebuild_due and not status.rebuild_due and status.build_id is not None:
                # A search found the index unusable (e.g. it disagrees with summary_fts).
                return replace(status, rebuild_due=True, reason="a search found it unusable")
            return status

    def rebuild(
        self, *, force: bool = False, progress: ProgressCallback | None = None
    ) -> BuildReport:
        """Build a new accelerator snapshot when one is due (or always, with force).

        Runs on its own connection, so searches go on meanwhile (on the old snapshot)."""
        with self._build_lock:
            if not force:
                status = self.status()
                if not status.rebuild_due:
                    return BuildReport(False, status.reason)
            conn = _connect(self.path, REBUILD_BUSY_TIMEOUT_MS)
            try:
                report = build_index(conn, progress=progress)
            finally:
                conn.close()
            if report.built:
                self.state.rebuild_due = False
            return report


def _connect(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    # Autocommit: transactions are explicit. Used by one thread at a time (engine locks).
    # `timeout` is SQLite's busy timeout: how long to wait for another writer.
    return sqlite3.connect(
        path, timeout=busy_timeout_ms / 1000, isolation_level=None, check_same_thread=False
    )


def _results(
    conn: sqlite3.Connection, query: FtsQuery, ranked: RankedPage
) -> tuple[SearchResult, ...]:
    ids = [hit.summary_id for hit in ranked.hits]
    if not ids:
        return ()
    rows = {int(row[0]): row for row in repository.result_rows(conn, ids)}
    finder = MatchFinder(query)
    results = []
    for hit in ranked.hits:
        row = rows.get(hit.summary_id)
        if row is None:
            continue
        excerpt, excerpt_text = render_excerpt(fragment((row[9] or "", row[11] or ""), finder))
        arxiv_id = row[10]
        url = row[5] or (f"https://arxiv.org/abs/{arxiv_id}" if arxiv_id else None)
        results.append(
            SearchResult(
                summary_id=hit.summary_id,
                paper_id=row[1],
                paper_title=row[2] or "",
                author=row[3] or "",
                score=int(row[4]),
                url=url,
                created_at=float(row[6]),
                origin=row[7],
                guild_id=row[8],
                rank=hit.rank,
                excerpt=excerpt,
                excerpt_text=excerpt_text,
            )
        )
    return tuple(results)


def _autocomplete(
    conn: sqlite3.Connection, prefix: str, guild_id: int | None, all_guilds: bool, limit: int
) -> list[TitleSuggestion]:
    found: dict[int, str] = {}
    if prefix:
        for paper_id, title in repository.titles_by_prefix(
            conn, prefix, guild_id, all_guilds, limit
        ):
            found.setdefault(int(paper_id), title)
    if len(found) < limit:
        match = _word_prefix_match(prefix)
        if match is not None:
            rows = repository.titles_by_word_prefix(conn, match, guild_id, all_guilds, limit * 2)
            for paper_id, title in rows:
                if len(found) >= limit:
                    break
                found.setdefault(int(paper_id), title)
    if not prefix:
        for paper_id, title in repository.recent_titles(conn, guild_id, all_guilds, limit * 4):
            if len(found) >= limit:
                break
            found.setdefault(int(paper_id), title)
    return [TitleSuggestion(paper_id, title) for paper_id, title in list(found.items())[:limit]]


def _word_prefix_match(prefix: str) -> str | None:
    """`"word" AND "pre"*`: earlier words whole, the last one as a prefix (2+ characters)."""
    query = build_fts_query(prefix)
    if query is None:
        return None
    last = query.phrases[-1]
    if last.tokens is not None and len(last.tokens[-1]) < 2:
        return None
    return query.expression + "*"


def _status(conn: sqlite3.Connection) -> IndexStatus:
    rows, _ = fts_totals(conn)
    meta = repository.index_meta(conn)
    if meta is None:
        due = rows >= MIN_ROWS_FOR_INDEX
        reason = "no search index yet" if due else f"{rows} summaries: plain FTS5 is enough"
        return IndexStatus(rows, None, None, 0, due, reason)
    build_id, built_seq, built_at = int(meta[0]), int(meta[1]), int(meta[2])
    changed = repository.count_changes_after(conn, built_seq)
    limit = dirty_limit_for(int(meta[6]))
    stale_format = meta[3] != FORMAT or meta[4] != WEIGHTS_TEXT
    due = stale_format or changed * 2 > limit
    if stale_format:
        reason = "the search index was built by another version"
    elif due:
        reason = f"{changed} summaries changed since the search index was built"
    else:
        reason = "the search index is up to date"
    return IndexStatus(rows, build_id, built_at, changed, due, reason)


# -- the async API ----------------------------------------------------------------------------

_engines: weakref.WeakKeyDictionary[Database, SearchEngine] = weakref.WeakKeyDictionary()
_engines_lock = threading.Lock()


def engine_for(db: Database) -> SearchEngine:
    """The search engine of `db` (one per Database object, closed with it when collected)."""
    with _engines_lock:
        engine = _engines.get(db)
        if engine is None:
            engine = SearchEngine(db.path)
            _engines[db] = engine
            weakref.finalize(db, engine.close)
        return engine


def close_search_engine(db: Database) -> None:
    with _engines_lock:
        engine = _engines.pop(db, None)
    if engine is not None:
        engine.close()


async def search_summaries(
    db: Database,
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
) -> SearchPage:
    """Ranked summaries matching `query` that the viewer may see.

    Feed summaries are visible everywhere; community summaries only in their own guild
    (`guild_id`; None means a DM or the CLI: feed summaries only), unless `all_guilds`
    (CLI). Soft-deleted summaries never. Ranked by BM25 (title over TL;DR over body),
    then summary score, then newest. An empty or punctuation-only query gives a page with
    `nothing_to_search` set.
    """
    limit = max(1, min(int(limit), MAX_LIMIT))
    offset = max(0, min(int(offset), MAX_OFFSET))
    fts_query = build_fts_query(query)
    if fts_query is None:
        return SearchPage("", (), offset, limit, False, nothing_to_search=True)
    visibility = Visibility(
        origin=_origin(origin),
        guild_id=guild_id,
        all_guilds=all_guilds,
        author=_blank_is_none(author),
        year=year,
        venue=_blank_is_none(venue),
    )
    engine = engine_for(db)
    return await asyncio.to_thread(engine.search, fts_query, visibility, offset=offset, limit=limit)


async def autocomplete_titles(
    db: Database,
    prefix: str,
    *,
    guild_id: int | None = None,
    all_guilds: bool = False,
    limit: int = AUTOCOMPLETE_LIMIT,
) -> list[TitleSuggestion]:
    """Up to `limit` paper titles starting with `prefix`, then titles with a word starting
    with it (only papers with a summary the viewer may see). Empty prefix: recent papers."""
    engine = engine_for(db)
    return await asyncio.to_thread(
        engine.autocomplete, prefix[:200], guild_id=guild_id, all_guilds=all_guilds,
        limit=max(1, min(limit, AUTOCOMPLETE_LIMIT)),
    )  # fmt: skip


async def refresh_search_index(
    db: Database, *, force: bool = False, progress: ProgressCallback | None = None
) -> BuildReport:
    """Rebuild the search accelerator if due (many changes since the last build, or none
    yet). Call after a bulk import and now and then from the bot; searches stay exact
    without it, only slower."""
    engine = engine_for(db)
    return await asyncio.to_thread(engine.rebuild, force=force, progress=progress)


async def search_index_status(db: Database) -> IndexStatus:
    return await asyncio.to_thread(engine_for(db).status)


def result_to_json(result: SearchResult) -> dict[str, Any]:
    return {
        "id": result.summary_id,
        "paper_id": result.paper_id,
        "paper_title": result.paper_title,
        "author": result.author,
        "score": result.score,
        "url": result.url,
        "created_at": result.created_at,
        "origin": result.origin,
        "guild_id": result.guild_id,
        "rank": result.rank,
        "excerpt": result.excerpt_text,
        "excerpt_markdown": result.excerpt,
    }


def page_to_json(page: SearchPage) -> dict[str, Any]:
    """`search --json`: the page and its results."""
    return {
        "query": page.query,
        "offset": page.offset,
        "limit": page.limit,
        "has_more": page.has_more,
        "nothing_to_search": page.nothing_to_search,
        "results": [result_to_json(result) for result in page.results],
    }


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
