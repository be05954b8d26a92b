"""Exact BM25 top-k: the same order as FTS5's `ORDER BY bm25(...)`, without scoring every match.

A plan is chosen per query from the accelerator (index.py):

* plain: no usable accelerator, or no phrase is a frequent term. FTS5 ranks every match;
  with only rare words (or phrases) that is few rows, so it is cheap.
* rare: some phrase is not a frequent term. FTS5 lists that phrase's rows with their
  bm25(), which (one phrase, known idf) gives each row's exact frequency; the frequent
  terms' frequencies come from their postings; bm25 is computed for these few candidates.
* frequent: every phrase is a frequent term. A threshold algorithm over the postings in
  impact order (highest bm25 term part first): read each list to a depth, score every
  document seen exactly, and stop once the results needed all score above what any unseen
  document could reach (the sum of each list's next term part, scaled for avgdl drift).
  Reading a whole list ends it too: every match has then been seen.

Scores are computed exactly as FTS5 does (bm25.py), so ties, filters and paging work the
same as in the plain query; visibility and filters come from SQL for the candidates only.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from bot.search import repository
from bot.search.bm25 import bm25_scores, idf, invert_single_phrase, length_factors
from bot.search.index import (
    DEFAULT_CACHE_BYTES,
    MIN_ROWS_FOR_INDEX,
    DirtyDocs,
    FloatArray,
    IntArray,
    PostingsCache,
    Snapshot,
    TermPostings,
    check_consistent,
    corrected_df,
    dirty_limit_for,
    fts_totals,
    load_snapshot,
)
from bot.search.query import FtsQuery, Phrase
from bot.search.repository import Visibility

log = logging.getLogger(__name__)

# Relative slack on the stopping bound: FTS5 and we round differently when summing bounds.
BOUND_SLACK: Final = 1e-9
FIRST_DEPTH: Final = 64
# A rare phrase leaving more candidates than this is narrowed by the filters first.
FEW_CANDIDATES: Final = 2000


@dataclass(frozen=True, slots=True)
class RankedHit:
    summary_id: int
    rank: float  # bm25(): lower is better
    score: int
    created_at: float


@dataclass(frozen=True, slots=True)
class RankedPage:
    hits: tuple[RankedHit, ...]
    has_more: bool
    plan: str


@dataclass(frozen=True, slots=True)
class IndexView:
    """The accelerator and FTS5's totals as of the current read transaction."""

    snapshot: Snapshot
    dirty: DirtyDocs
    row_count: int
    avgdl: float


class _Fallback(Exception):
    """The accelerator cannot answer this query exactly; FTS5 ranks it instead."""


class IndexState:
    """What an engine keeps between searches: snapshot, decoded postings, dirty documents."""

    def __init__(self, cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.snapshot: Snapshot | None = None
        self.cache = PostingsCache(cache_bytes)
        self.dirty: DirtyDocs | None = None
        self.rebuild_due = False

    def view(self, conn: sqlite3.Connection) -> IndexView | None:
        """Catch up with the database (inside a read transaction); None: use plain FTS5."""
        row_count, total_tokens = fts_totals(conn)
        meta = repository.index_meta(conn)
        build_id = None if meta is None else int(meta[0])
        if build_id is None:
            self.snapshot = self.dirty = None
            self.rebuild_due = row_count >= MIN_ROWS_FOR_INDEX
            return None
        if self.snapshot is None or self.snapshot.build_id != build_id:
            self.snapshot = load_snapshot(conn)
            self.dirty = None
            self.cache.clear()
            if self.snapshot is None:
                self.rebuild_due = True  # an older format or other weights
                return None
        snapshot = self.snapshot
        if self.dirty is None or self.dirty.build_id != snapshot.build_id:
            self.dirty = DirtyDocs(snapshot.build_id, snapshot.built_seq)
        limit = dirty_limit_for(snapshot.row_count)
        if not self.dirty.refresh(conn, snapshot, limit):
            self.dirty = None
            self.rebuild_due = True
            return None
        if row_count == 0 or not check_consistent(snapshot, self.dirty, row_count, total_tokens):
            log.warning("Search index %d disagrees with summary_fts; rebuild due", build_id)
            self.dirty = None
            self.rebuild_due = True
            return None
        self.rebuild_due = len(self.dirty.ids) * 2 > limit
        return IndexView(snapshot, self.dirty, row_count, float(total_tokens) / float(row_count))


def rank(
    conn: sqlite3.Connection,
    state: IndexState | None,
    query: FtsQuery,
    visibility: Visibility,
    *,
    offset: int,
    limit: int,
) -> RankedPage:
    """The page [offset, offset + limit) of the exact bm25 ranking, inside a read transaction."""
    view = state.view(conn) if state is not None else None
    if view is None or state is None:
        return plain_rank(conn, query, visibility, offset=offset, limit=limit)
    try:
        return _accelerated(conn, state, view, query, visibility, offset=offset, limit=limit)
    except _Fallback as reason:
        log.debug("Search falls back to plain FTS5: %s", reason)
        return plain_rank(conn, query, visibility, offset=offset, limit=limit)


def plain_rank(
    conn: sqlite3.Connection, query: FtsQuery, visibility: Visibility, *, offset: int, limit: int
) -> RankedPage:
    rows = repository.plain_search(
        conn, query.expression, visibility, offset=offset, limit=limit + 1
    )
    hits = tuple(RankedHit(int(row[0]), float(row[1]), 0, 0.0) for row in rows[:limit])
    return RankedPage(hits, len(rows) > limit, "plain")


# -- the accelerated plans --------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Term:
    """A query phrase that is a frequent term."""

    index: int  # position in the query (bm25 sums phrases in query order)
    postings: TermPostings
    idf: float


def _accelerated(
    conn: sqlite3.Connection,
    state: IndexState,
    view: IndexView,
    query: FtsQuery,
    visibility: Visibility,
    *,
    offset: int,
    limit: int,
) -> RankedPage:
    snapshot, dirty = view.snapshot, view.dirty
    frequent: list[_Term] = []
    others: list[tuple[int, Phrase]] = []
    for index, phrase in enumerate(query.phrases):
        token = phrase.single_token
        postings = state.cache.get(conn, snapshot, token) if token in snapshot.terms else None
        if postings is None or token is None:
            others.append((index, phrase))
            continue
        df = corrected_df(postings, dirty)
        if df == 0:
            return RankedPage((), False, "frequent")
        frequent.append(_Term(index, postings, idf(view.row_count, df)))
    if not frequent:
        return plain_rank(conn, query, visibility, offset=offset, limit=limit)
    need = offset + limit + 1
    if others or visibility.has_filters or visibility.origin == "community":
        ids, ranks = _rank_candidates(conn, view, query, frequent, others, visibility)
        hits, _ = _first_visible(conn, ids, ranks, visibility, need, {})
        return _page(hits, offset, limit, "rare" if others else "filtered")
    return _threshold(conn, view, query, frequent, visibility, offset=offset, limit=limit)


def _rank_candidates(
    conn: sqlite3.Connection,
    view: IndexView,
    query: FtsQuery,
    frequent: Sequence[_Term],
    others: Sequence[tuple[int, Phrase]],
    visibility: Visibility,
) -> tuple[IntArray, FloatArray]:
    """Exact bm25 of every match, when something keeps the matches few: a rare phrase (FTS5
    lists its rows), filters or a guild's community summaries (SQL lists the summaries)."""
    freqs: list[FloatArray | None] = [None] * len(query.phrases)
    idfs: list[float] = [0.0] * len(query.phrases)
    candidates: IntArray | None = None
    per_phrase: list[tuple[int, IntArray, FloatArray]] = []
    for index, phrase in others:
        rows = repository.phrase_rows(conn, phrase.expression)
        if not rows:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        rows.sort()
        ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
        scores = np.fromiter((row[1] for row in rows), dtype=np.float64, count=len(rows))
        idfs[index] = idf(view.row_count, len(rows))
        per_phrase.append((index, ids, scores))
        candidates = ids if candidates is None else np.intersect1d(candidates, ids)
    if candidates is None or len(candidates) > FEW_CANDIDATES:
        # Few summaries pass the filters, or only the viewer's guild's: rank just those.
        if visibility.has_filters:
            allowed_ids = repository.filtered_ids(conn, visibility)
        elif visibility.origin == "community":
            allowed_ids = repository.community_ids(conn, visibility.guild_id, visibility.all_guilds)
        else:
            allowed_ids = None
        if allowed_ids is not None:
            allowed = np.array(sorted(allowed_ids), dtype=np.int64)
            candidates = allowed if candidates is None else np.intersect1d(candidates, allowed)
    if candidates is None:  # unreachable: called with a rare phrase, a filter or a guild
        raise _Fallback("no candidate source")

    positions, clean = _clean_positions(view, candidates)
    lengths = _lengths(view, candidates, positions, clean)
    length_parts = length_factors(lengths, view.avgdl)
    for index, ids, scores in per_phrase:
        # bm25() of a one-phrase query over the phrase's rows gives each row's frequency.
        at = np.searchsorted(ids, candidates)
        phrase_freqs = invert_single_phrase(scores[at], idfs[index], length_parts)
        if phrase_freqs is None:
            raise _Fallback(f"bm25() of {query.phrases[index].expression} did not invert")
        freqs[index] = phrase_freqs.astype(np.float64)
    keep = np.ones(len(candidates), dtype=bool)
    for term in frequent:
        term_freqs = _term_freqs(view, term, candidates, positions, clean)
        freqs[term.index] = term_freqs
        idfs[term.index] = term.idf
        keep &= term_freqs > 0
    phrase_freqs_all = [f[keep] for f in freqs if f is not None]
    ranks = bm25_scores(idfs, phrase_freqs_all, length_parts[keep])
    return _sorted(candidates[keep], ranks)


def _threshold(
    conn: sqlite3.Connection,
    view: IndexView,
    query: FtsQuery,
    frequent: Sequence[_Term],
    visibility: Visibility,
    *,
    offset: int,
    limit: int,
) -> RankedPage:
    snapshot, dirty = view.snapshot, view.dirty
    need = offset + limit + 1
    idfs = [term.idf for term in frequent]
    # Term parts grow when avgdl grows (longer average, shorter relative length): scale the
    # snapshot's impact bounds by the worst case.
    drift = min(1.0, snapshot.avgdl / view.avgdl)
    dirty_ids, dirty_ranks = _dirty_matches(view, frequent)
    smallest = min(frequent, key=lambda term: term.postings.df)
    visible_cache: dict[int, tuple[int, float] | None] = {}
    depth = max(FIRST_DEPTH, need * 4)
    while True:
        complete = depth * 4 >= smallest.postings.df
        if complete:
            positions = smallest.postings.positions
            threshold = float("inf")
        else:
            tops = []
            bound = 0.0
            for term in frequent:
                top, term_bound = term.postings.impact_prefix(
                    depth, snapshot.doc_lengths, snapshot.avgdl
                )
                tops.append(top)
                bound += term.idf * (term_bound / drift)
            # Union of the lists' heads; a mask over all documents is cheaper than sorting.
            seen = np.zeros(len(snapshot.doc_ids), dtype=bool)
            for top in tops:
                seen[top] = True
            positions = np.flatnonzero(seen)
            threshold = -bound * (1.0 + BOUND_SLACK)  # ranks are negated sums
        if len(dirty.snapshot_positions):
            positions = positions[~_dirty_mask(view)[positions]]
        term_freqs = [term.postings.freqs_at(positions) for term in frequent]
        matched = np.logical_and.reduce([freqs > 0 for freqs in term_freqs])
        positions = positions[matched]
        length_parts = length_factors(snapshot.doc_lengths[positions], view.avgdl)
        ranks = bm25_scores(idfs, [freqs[matched] for freqs in term_freqs], length_parts)
        ids = np.concatenate([snapshot.doc_ids[positions], dirty_ids])
        ranks = np.concatenate([ranks, dirty_ranks])
        certified = ranks < threshold
        ids, ranks = _sorted(ids[certified], ranks[certified])
        hits, _ = _first_visible(conn, ids, ranks, visibility, need, visible_cache)
        if complete or len(hits) >= need:
            return _page(hits, offset, limit, "frequent")
        depth *= 4


# -- helpers ----------------------------------------------------------------------------------


def _dirty_mask(view: IndexView) -> np.ndarray:
    mask = view.dirty.snapshot_mask
    assert mask is not None
    return mask


def _clean_positions(view: IndexView, ids: IntArray) -> tuple[IntArray, np.ndarray]:
    """Snapshot positions of `ids`, and which of them the snapshot knows and are unchanged."""
    positions, found = view.snapshot.positions_of(ids)
    clean = found
    if len(view.dirty.snapshot_positions):
        clean = found & ~_dirty_mask(view)[positions]
    return positions, clean


def _lengths(view: IndexView, ids: IntArray, positions: IntArray, clean: np.ndarray) -> FloatArray:
    lengths = np.where(clean, view.snapshot.doc_lengths[positions], 0.0)
    for at in np.flatnonzero(~clean):
        length = view.dirty.lengths.get(int(ids[at]))
        if length is None:
            raise _Fallback(f"summary {int(ids[at])} is in FTS5 but not in the accelerator")
        lengths[at] = length
    return lengths


def _term_freqs(
    view: IndexView, term: _Term, ids: IntArray, positions: IntArray, clean: np.ndarray
) -> FloatArray:
    freqs = np.zeros(len(ids), dtype=np.float64)
    if clean.any():
        freqs[clean] = term.postings.freqs_at(positions[clean])
    if not clean.all():
        dirty_freqs = view.dirty.freqs_of(term.postings.term)
        for at in np.flatnonzero(~clean):
            freqs[at] = dirty_freqs.get(int(ids[at]), 0.0)
    return freqs


def _dirty_matches(view: IndexView, frequent: Sequence[_Term]) -> tuple[IntArray, FloatArray]:
    """Exact bm25 of the changed documents that contain every term."""
    maps = [view.dirty.freqs_of(term.postings.term) for term in frequent]
    smallest = min(maps, key=len)
    common = set(smallest)
    for freq_map in maps:
        common &= freq_map.keys()
    if not common:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    ids = np.array(sorted(common), dtype=np.int64)
    lengths = np.array([view.dirty.lengths[int(i)] for i in ids], dtype=np.float64)
    freqs = [np.array([freq_map[int(i)] for i in ids], dtype=np.float64) for freq_map in maps]
    ranks = bm25_scores([term.idf for term in frequent], freqs, length_factors(lengths, view.avgdl))
    return ids, ranks


def _sorted(ids: IntArray, ranks: FloatArray) -> tuple[IntArray, FloatArray]:
    order = np.lexsort((ids, ranks))
    return ids[order], ranks[order]


def _first_visible(
    conn: sqlite3.Connection,
    ids: IntArray,
    ranks: FloatArray,
    visibility: Visibility,
    need: int,
    cache: dict[int, tuple[int, float] | None],
) -> tuple[list[RankedHit], bool]:
    """The first `need` of the ranked candidates the viewer may see (whole tie groups, so
    the tie-breakers can order them), and whether the candidates ran out."""
    hits: list[RankedHit] = []
    start = 0
    batch = max(2 * need, 16)
    count = len(ids)
    while start < count and len(hits) < need:
        end = min(count, start + batch)
        while end < count and ranks[end] == ranks[end - 1]:
            end += 1
        unknown = [int(i) for i in ids[start:end] if int(i) not in cache]
        if unknown:
            for summary_id in unknown:
                cache[summary_id] = None
            for summary_id, score, created_at in repository.visible_ids(conn, unknown, visibility):
                cache[int(summary_id)] = (int(score), float(created_at))
        for at in range(start, end):
            seen = cache[int(ids[at])]
            if seen is not None:
                hits.append(RankedHit(int(ids[at]), float(ranks[at]), seen[0], seen[1]))
        start = end
        batch *= 2
    return hits, start >= count


def _page(hits: list[RankedHit], offset: int, limit: int, plan: str) -> RankedPage:
    hits.sort(key=lambda hit: (hit.rank, -hit.score, -hit.created_at, -hit.summary_id))
    return RankedPage(tuple(hits[offset : offset + limit]), len(hits) > offset + limit, plan)
