"""The search accelerator: exact per-term statistics of frequent terms, derived from FTS5.

FTS5 stores no document frequencies and computes bm25() for every matching row, so ranking a
query with a word found in most documents costs a full pass over that word's postings
(~150 ms at 100,000 summaries). The accelerator stores, for every term in at least `min_df`
documents, its postings without positions: which documents, and the term's weighted
frequency in each (the `freq` of bm25(), see bm25.py). With those, the token counts of the
documents and FTS5's own totals, bm25() can be computed for any document without FTS5.

It is a snapshot. Triggers log every summary whose indexed text changes (search_changes);
documents logged after the build are "dirty": the snapshot is never used for them, their
current statistics are read exactly from a scratch FTS5 index of just those documents
(same tokenizer), and the snapshot's document frequencies are corrected by them. When too
many documents are dirty, `build_index` makes a new snapshot (and searches fall back to
plain FTS5 ranking, which is exact, until it exists). SQLite stays the source of truth.
"""

from __future__ import annotations

import logging
import secrets
import sqlite3
import struct
import time
import warnings
import zlib
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Final

import numpy as np
import numpy.typing as npt

from bot.search import repository
from bot.search.bm25 import (
    WEIGHTS,
    WEIGHTS_TEXT,
    decode_varints,
    idf,
    invert_single_phrase,
    length_factors,
    term_parts,
)

log = logging.getLogger(__name__)

FORMAT: Final = 1
# Below this many summaries plain FTS5 ranking is fast enough; no accelerator is built.
MIN_ROWS_FOR_INDEX: Final = 1000
# A term gets postings when in at least max(MIN_DF_FLOOR, rows / MIN_DF_DIVISOR) documents.
# Rarer terms are ranked by FTS5 directly: their few rows are cheap to score.
MIN_DF_FLOOR: Final = 32
MIN_DF_DIVISOR: Final = 500
# Terms with this many hits per document are read through bm25() (per row) rather than
# through fts5vocab (per hit), whichever costs less.
HITS_PER_DOC_FOR_BM25: Final = 8
# Postings kept decoded in memory, per engine.
DEFAULT_CACHE_BYTES: Final = 256 * 1024 * 1024

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]
ProgressCallback = Callable[[int, int], None]

_POSTINGS_HEADER: Final = struct.Struct("<BBI")  # format, frequency width, count
_DOCUMENTS_HEADER: Final = struct.Struct("<BI")  # format, count


def min_df_for(row_count: int) -> int:
    return max(MIN_DF_FLOOR, row_count // MIN_DF_DIVISOR)


def dirty_limit_for(row_count: int) -> int:
    """How many changed documents searches handle exactly before a rebuild is due."""
    return max(500, min(2000, row_count // 100))


# -- encoding ---------------------------------------------------------------------------------


def _shuffle(values: npt.NDArray[np.generic]) -> bytes:
    # Byte planes: small deltas leave the high planes all zero, which zlib all but erases.
    width = values.dtype.itemsize
    return values.view(np.uint8).reshape(-1, width).T.tobytes()


def _unshuffle(data: bytes, dtype: type[np.generic], count: int) -> npt.NDArray[np.generic]:
    width = np.dtype(dtype).itemsize
    planes = np.frombuffer(data, dtype=np.uint8, count=count * width).reshape(width, count)
    return np.ascontiguousarray(planes.T).view(dtype).reshape(count)


def encode_postings(positions: IntArray, freqs: IntArray) -> bytes:
    width = 2 if int(freqs.max(initial=0)) < 1 << 16 else 4
    deltas = np.diff(positions, prepend=0).astype(np.uint32)
    freq_values = freqs.astype(np.uint16 if width == 2 else np.uint32)
    payload = zlib.compress(_shuffle(deltas) + _shuffle(freq_values), 1)
    return _POSTINGS_HEADER.pack(FORMAT, width, len(positions)) + payload


def decode_postings(blob: bytes) -> tuple[IntArray, FloatArray]:
    version, width, count = _POSTINGS_HEADER.unpack_from(blob)
    if version != FORMAT:
        raise ValueError(f"postings format {version}, expected {FORMAT}")
    data = zlib.decompress(blob[_POSTINGS_HEADER.size :])
    deltas = _unshuffle(data[: 4 * count], np.uint32, count)
    positions = np.cumsum(deltas, dtype=np.int64)
    freq_type = np.uint16 if width == 2 else np.uint32
    freqs = _unshuffle(data[4 * count :], freq_type, count).astype(np.float64)
    return positions, freqs


def encode_documents(doc_ids: IntArray, doc_lengths: IntArray) -> bytes:
    deltas = np.diff(doc_ids, prepend=0).astype(np.uint64)
    payload = zlib.compress(_shuffle(deltas) + _shuffle(doc_lengths.astype(np.uint32)), 1)
    return _DOCUMENTS_HEADER.pack(FORMAT, len(doc_ids)) + payload


def decode_documents(blob: bytes) -> tuple[IntArray, FloatArray]:
    version, count = _DOCUMENTS_HEADER.unpack_from(blob)
    if version != FORMAT:
        raise ValueError(f"documents format {version}, expected {FORMAT}")
    data = zlib.decompress(blob[_DOCUMENTS_HEADER.size :])
    deltas = _unshuffle(data[: 8 * count], np.uint64, count)
    doc_ids = np.cumsum(deltas.astype(np.int64), dtype=np.int64)
    lengths = _unshuffle(data[8 * count :], np.uint32, count).astype(np.float64)
    return doc_ids, lengths


def fts_totals(conn: sqlite3.Connection) -> tuple[int, int]:
    """FTS5's row count and total token count, as bm25() reads them."""
    blob = repository.fts_averages(conn)
    if blob is None:
        return 0, 0
    values = decode_varints(blob)
    if not values:  # a table that never had a row
        return 0, 0
    return values[0], sum(values[1:])


# -- building ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuildReport:
    built: bool
    reason: str
    build_id: int | None = None
    rows: int = 0
    terms: int = 0
    postings: int = 0
    bytes: int = 0
    seconds: float = 0.0


def build_index(
    conn: sqlite3.Connection,
    *,
    progress: ProgressCallback | None = None,
    min_df: int | None = None,
    min_rows: int | None = None,
) -> BuildReport:
    """Build a new accelerator snapshot from summary_fts and swap it in atomically.

    Reads happen in one read transaction (a consistent view, writers keep going); the
    swap is one short write transaction that also drops the change log it covers.
    `min_df` and `min_rows` override the defaults (tests use small corpora).
    """
    started = time.monotonic()
    repository.ensure_vocab_tables(conn)
    repository.begin_read(conn)
    try:
        meta = repository.index_meta(conn)
        expected_build_id = None if meta is None else int(meta[0])
        built_seq = repository.last_change_seq(conn)
        row_count, total_tokens = fts_totals(conn)
        if row_count < max(MIN_ROWS_FOR_INDEX if min_rows is None else min_rows, 1):
            repository.end_read(conn)
            if meta is not None:
                repository.drop_index(conn)
            return BuildReport(False, f"only {row_count} summaries: plain FTS5 is fast enough")
        sizes = repository.all_doc_sizes(conn)
        doc_ids = np.fromiter((row[0] for row in sizes), dtype=np.int64, count=len(sizes))
        doc_lengths = np.fromiter(
            (sum(decode_varints(row[1])) for row in sizes), dtype=np.int64, count=len(sizes)
        )
        avgdl = float(total_tokens) / float(row_count)
        min_df = min_df if min_df is not None else min_df_for(row_count)
        terms = repository.frequent_terms(conn, min_df)
        encoded: list[tuple[str, int, bytes]] = []
        postings_total = 0
        for done, (term, df, hits) in enumerate(terms, start=1):
            positions, freqs = _term_postings(
                conn, term, df, hits, doc_ids, doc_lengths, row_count, avgdl
            )
            encoded.append((term, df, encode_postings(positions, freqs)))
            postings_total += df
            if progress is not None and (done % 500 == 0 or done == len(terms)):
                progress(done, len(terms))
    finally:
        repository.end_read(conn)

    # Random, never reused: an engine holding an older snapshot must see that it changed,
    # even when an index was dropped and built again in between.
    build_id = secrets.randbits(62) or 1
    documents = encode_documents(doc_ids, doc_lengths)
    new_meta = {
        "build_id": build_id,
        "built_seq": built_seq,
        "built_at": int(time.time()),
        "format": FORMAT,
        "weights": WEIGHTS_TEXT,
        "min_df": min_df,
        "row_count": row_count,
        "total_tokens": total_tokens,
        "documents": documents,
    }
    swapped = repository.replace_index(
        conn, expected_build_id=expected_build_id, meta=new_meta, terms=encoded
    )
    elapsed = time.monotonic() - started
    if not swapped:
        return BuildReport(False, "another build finished first", seconds=elapsed)
    size = len(documents) + sum(len(blob) for _, _, blob in encoded)
    log.info(
        "Search index %d built: %d summaries, %d terms, %d postings, %.1f MB in %.1f s",
        build_id, row_count, len(encoded), postings_total, size / 1e6, elapsed,
    )  # fmt: skip
    return BuildReport(
        True, "built", build_id, row_count, len(encoded), postings_total, size, elapsed
    )


def _term_postings(
    conn: sqlite3.Connection,
    term: str,
    df: int,
    hits: int,
    doc_ids: IntArray,
    doc_lengths: IntArray,
    row_count: int,
    avgdl: float,
) -> tuple[IntArray, IntArray]:
    """(positions in doc_ids, weighted frequencies) of every document containing `term`."""
    if hits >= HITS_PER_DOC_FOR_BM25 * df:
        inverted = _postings_from_bm25(conn, term, df, doc_ids, doc_lengths, row_count, avgdl)
        if inverted is not None:
            return inverted
    encoded = repository.term_hits_encoded(conn, term) or ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        values = np.fromstring(encoded, dtype=np.int64, sep=",")  # C speed; still supported
    docs = values >> 3
    weights = np.asarray(WEIGHTS, dtype=np.float64)[values & 7]
    starts = np.flatnonzero(np.r_[True, docs[1:] != docs[:-1]])
    freqs = np.add.reduceat(weights, starts).astype(np.int64)
    positions = np.searchsorted(doc_ids, docs[starts])
    if len(positions) != df or not np.array_equal(doc_ids[positions], docs[starts]):
        raise RuntimeError(f"fts5vocab and summary_fts_docsize disagree on {term!r}")
    return positions.astype(np.int64), freqs


def _postings_from_bm25(
    conn: sqlite3.Connection,
    term: str,
    df: int,
    doc_ids: IntArray,
    doc_lengths: IntArray,
    row_count: int,
    avgdl: float,
) -> tuple[IntArray, IntArray] | None:
    rows = repository.phrase_rows(conn, '"' + term.replace('"', '""') + '"')
    if len(rows) != df:
        return None
    rows.sort()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    scores = np.fromiter((row[1] for row in rows), dtype=np.float64, count=len(rows))
    positions = np.searchsorted(doc_ids, ids)
    if np.any(positions >= len(doc_ids)) or not np.array_equal(doc_ids[positions], ids):
        return None
    lengths = length_factors(doc_lengths[positions].astype(np.float64), avgdl)
    freqs = invert_single_phrase(scores, idf(row_count, df), lengths)
    if freqs is None:
        return None
    return positions.astype(np.int64), freqs


# -- loading ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The accelerator as built: its documents and which terms have postings."""

    build_id: int
    built_seq: int
    built_at: int
    min_df: int
    row_count: int
    total_tokens: int
    doc_ids: IntArray
    doc_lengths: FloatArray
    terms: dict[str, int]

    @property
    def avgdl(self) -> float:
        return float(self.total_tokens) / float(self.row_count)

    def positions_of(self, ids: IntArray) -> tuple[IntArray, npt.NDArray[np.bool_]]:
        """Positions of `ids` in the snapshot, and which of them it holds at all."""
        positions = np.searchsorted(self.doc_ids, ids)
        inside = positions < len(self.doc_ids)
        found = np.zeros(len(ids), dtype=bool)
        found[inside] = self.doc_ids[positions[inside]] == ids[inside]
        return np.minimum(positions, max(len(self.doc_ids) - 1, 0)), found


def load_snapshot(conn: sqlite3.Connection) -> Snapshot | None:
    """The current snapshot's metadata and documents, or None (none built, or unusable)."""
    meta = repository.index_meta(conn)
    if meta is None:
        return None
    build_id, built_seq, built_at, version, weights, min_df, row_count, total_tokens = meta
    if version != FORMAT or weights != WEIGHTS_TEXT or row_count <= 0:
        return None
    doc_ids, doc_lengths = decode_documents(repository.index_documents(conn))
    terms = dict(repository.index_terms(conn))
    return Snapshot(
        int(build_id), int(built_seq), int(built_at), int(min_df), int(row_count),
        int(total_tokens), doc_ids, doc_lengths, terms,
    )  # fmt: skip


class TermPostings:
    """One term's postings, decoded, with what the ranker derives from them lazily."""

    def __init__(self, term: str, positions: IntArray, freqs: FloatArray, row_count: int) -> None:
        self.term = term
        self.positions = positions  # sorted positions in Snapshot.doc_ids
        self.freqs = freqs  # weighted frequency, aligned with positions
        self._row_count = row_count
        self._dense: npt.NDArray[np.float32] | None = None
        self._impact_order: IntArray | None = None
        self._impact: FloatArray | None = None

    @property
    def df(self) -> int:
        return len(self.positions)

    @property
    def nbytes(self) -> int:
        total = self.positions.nbytes + self.freqs.nbytes
        for extra in (self._dense, self._impact_order, self._impact):
            if extra is not None:
                total += extra.nbytes
        return total

    def freqs_at(self, positions: IntArray) -> FloatArray:
        """The term's weighted frequency at each snapshot position (0.0 where absent)."""
        if self.df * 16 >= self._row_count:
            if self._dense is None:
                dense = np.zeros(self._row_count, dtype=np.float32)  # integers, exact
                dense[self.positions] = self.freqs
                self._dense = dense
            return self._dense[positions].astype(np.float64)
        index = np.searchsorted(self.positions, positions)
        index = np.minimum(index, self.df - 1)
        hit = self.positions[index] == positions
        return np.where(hit, self.freqs[index], 0.0)

    def impact_prefix(
        self, depth: int, doc_lengths: FloatArray, avgdl: float
    ) -> tuple[IntArray, float]:
        """The `depth` postings with the highest bm25 term part (at the snapshot's avgdl),
        best first, as snapshot positions; and the highest term part among all the others."""
        if self._impact is None:
            self._impact = term_parts(
                self.freqs, length_factors(doc_lengths[self.positions], avgdl)
            )
        parts = self._impact
        if self._impact_order is None or len(self._impact_order) < min(depth + 1, self.df):
            wanted = max(depth + 1, 64)
            if wanted * 4 >= self.df:
                self._impact_order = np.argsort(-parts, kind="stable")
            else:
                # Only the head of the order is read by most queries: select it, sort it.
                chosen = np.argpartition(-parts, wanted - 1)[:wanted]
                self._impact_order = chosen[np.argsort(-parts[chosen], kind="stable")]
        order = self._impact_order
        bound = float(parts[order[depth]]) if depth < len(order) else 0.0
        return self.positions[order[:depth]], bound


class PostingsCache:
    """Decoded postings by term, least recently used first out, within a byte budget."""

    def __init__(self, budget_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.budget_bytes = budget_bytes
        self._entries: OrderedDict[str, TermPostings] = OrderedDict()
        self.build_id: int | None = None

    def get(self, conn: sqlite3.Connection, snapshot: Snapshot, term: str) -> TermPostings | None:
        if self.build_id != snapshot.build_id:
            self._entries.clear()
            self.build_id = snapshot.build_id
        entry = self._entries.get(term)
        if entry is not None:
            self._entries.move_to_end(term)
            return entry
        blob = repository.term_postings(conn, term)
        if blob is None:
            return None
        positions, freqs = decode_postings(blob)
        entry = TermPostings(term, positions, freqs, len(snapshot.doc_ids))
        self._entries[term] = entry
        self._trim()
        return entry

    def _trim(self) -> None:
        total = sum(entry.nbytes for entry in self._entries.values())
        while total > self.budget_bytes and len(self._entries) > 1:
            _, evicted = self._entries.popitem(last=False)
            total -= evicted.nbytes

    def clear(self) -> None:
        self._entries.clear()


# -- documents changed since the build ---------------------------------------------------------


@dataclass
class DirtyDocs:
    """Exact statistics of the documents changed since the snapshot was built."""

    build_id: int
    seq: int
    ids: set[int] = field(default_factory=set)
    # Current token count of each dirty document still in summary_fts.
    lengths: dict[int, float] = field(default_factory=dict)
    # Weighted frequency of each snapshot term in each live dirty document.
    term_freqs: dict[str, dict[int, float]] = field(default_factory=dict)
    doc_terms: dict[int, list[str]] = field(default_factory=dict)
    # Snapshot positions of dirty documents the snapshot holds, and a mask over all.
    snapshot_positions: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    snapshot_mask: npt.NDArray[np.bool_] | None = None

    def refresh(self, conn: sqlite3.Connection, snapshot: Snapshot, limit: int) -> bool:
        """Catch up with the change log; False when more than `limit` documents are dirty."""
        latest = repository.last_change_seq(conn)
        if latest == self.seq:
            return len(self.ids) <= limit
        if repository.count_changes_after(conn, max(self.seq, snapshot.built_seq)) > limit:
            return False
        changed = [summary_id for summary_id, _ in repository.changes_after(conn, self.seq)]
        self._forget(changed)
        self.ids.update(changed)
        if len(self.ids) > limit:
            return False
        self._read_current(conn, snapshot, changed)
        ids = np.fromiter(sorted(self.ids), dtype=np.int64, count=len(self.ids))
        positions, found = snapshot.positions_of(ids)
        self.snapshot_positions = positions[found]
        mask = np.zeros(len(snapshot.doc_ids), dtype=bool)
        mask[self.snapshot_positions] = True
        self.snapshot_mask = mask
        self.seq = latest
        return True

    def _forget(self, ids: Sequence[int]) -> None:
        for summary_id in ids:
            self.lengths.pop(summary_id, None)
            for term in self.doc_terms.pop(summary_id, ()):
                freqs = self.term_freqs.get(term)
                if freqs is not None:
                    freqs.pop(summary_id, None)

    def _read_current(
        self, conn: sqlite3.Connection, snapshot: Snapshot, ids: Sequence[int]
    ) -> None:
        for start in range(0, len(ids), 500):
            batch = ids[start : start + 500]
            for summary_id, size in repository.doc_sizes(conn, batch):
                self.lengths[int(summary_id)] = float(sum(decode_varints(size)))
            repository.ensure_scratch(conn)
            repository.fill_scratch(conn, batch)
            sums: dict[tuple[str, int], float] = {}
            for term, doc, column, hits in repository.scratch_instances(conn):
                if term in snapshot.terms:
                    key = (term, int(doc))
                    sums[key] = sums.get(key, 0.0) + WEIGHTS[column] * hits
            repository.clear_scratch(conn)
            for (term, doc), freq in sums.items():
                self.term_freqs.setdefault(term, {})[doc] = freq
                self.doc_terms.setdefault(doc, []).append(term)

    def freqs_of(self, term: str) -> dict[int, float]:
        return self.term_freqs.get(term, {})

    def live_count(self) -> int:
        return len(self.lengths)


def corrected_df(postings: TermPostings, dirty: DirtyDocs) -> int:
    """The term's document frequency now: the snapshot's, minus dirty documents it
    counted, plus live dirty documents containing it."""
    if len(dirty.snapshot_positions):
        counted = int(np.count_nonzero(postings.freqs_at(dirty.snapshot_positions)))
    else:
        counted = 0
    return postings.df - counted + len(dirty.freqs_of(postings.term))


def check_consistent(
    snapshot: Snapshot, dirty: DirtyDocs, row_count: int, total_tokens: int
) -> bool:
    """Do FTS5's totals equal the snapshot's plus the dirty documents' changes? If not, the
    change log missed something and the snapshot must not be used."""
    removed = snapshot.doc_lengths[dirty.snapshot_positions]
    expected_rows = snapshot.row_count - len(removed) + dirty.live_count()
    expected_tokens = snapshot.total_tokens - int(removed.sum()) + int(sum(dirty.lengths.values()))
    return expected_rows == row_count and expected_tokens == total_tokens
