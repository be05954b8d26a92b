"""Every SQL statement of the search package, as functions over a plain sqlite3 connection.

The search engine runs in worker threads on its own connections (see engine.py), so these
are synchronous. Filters are static SQL with parameters; nothing is built from user text.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.search.bm25 import WEIGHTS

# Which summaries a viewer may see, and the optional author/year/venue filters. Parameters:
# :origin ('feed' | 'community' | 'all'), :all_guilds (0/1), :guild (int or NULL),
# :author_pattern, :year, :venue_pattern (NULL when not filtering).
_VISIBLE_AND_FILTERED: Final = """
    s.deleted_at IS NULL
    AND (CASE :origin
            WHEN 'feed' THEN s.origin = 'feed'
            WHEN 'community' THEN s.origin = 'community' AND (:all_guilds OR s.guild_id = :guild)
            ELSE s.origin = 'feed' OR :all_guilds OR s.guild_id = :guild
         END)
    AND (:author_pattern IS NULL
         OR s.author_name LIKE :author_pattern ESCAPE '\\'
         OR p.authors LIKE :author_pattern ESCAPE '\\')
    AND (:year IS NULL OR p.year = :year)
    AND (:venue_pattern IS NULL OR p.venue LIKE :venue_pattern ESCAPE '\\')
"""

PLAIN_SEARCH_SQL: Final = (
    """
SELECT s.id, bm25(summary_fts, :w0, :w1, :w2, :w3, :w4) AS rank
FROM summary_fts
JOIN summaries AS s ON s.id = summary_fts.rowid
LEFT JOIN papers AS p ON p.id = s.paper_id
WHERE summary_fts MATCH :match AND """
    + _VISIBLE_AND_FILTERED
    + """
ORDER BY rank, s.score DESC, s.created_at DESC, s.id DESC
LIMIT :limit OFFSET :offset
"""
)

_VISIBLE_IDS_SQL: Final = (
    """
SELECT s.id, s.score, s.created_at
FROM summaries AS s
LEFT JOIN papers AS p ON p.id = s.paper_id
WHERE s.id IN (SELECT value FROM json_each(:ids)) AND """
    + _VISIBLE_AND_FILTERED
)

_FILTERED_IDS_SQL: Final = (
    """
SELECT s.id
FROM summaries AS s
LEFT JOIN papers AS p ON p.id = s.paper_id
WHERE """
    + _VISIBLE_AND_FILTERED
)


@dataclass(frozen=True, slots=True)
class Visibility:
    """Who is searching and what they filter on; turned into the SQL parameters above."""

    origin: str = "all"  # 'feed' | 'community' | 'all'
    guild_id: int | None = None
    all_guilds: bool = False
    author: str | None = None
    year: int | None = None
    venue: str | None = None

    @property
    def has_filters(self) -> bool:
        return self.author is not None or self.year is not None or self.venue is not None

    def parameters(self) -> dict[str, Any]:
        return {
            "origin": self.origin,
            "all_guilds": 1 if self.all_guilds else 0,
            "guild": self.guild_id,
            "author_pattern": _contains_pattern(self.author),
            "year": self.year,
            "venue_pattern": _contains_pattern(self.venue),
        }


def _contains_pattern(text: str | None) -> str | None:
    if text is None:
        return None
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _weights() -> dict[str, float]:
    return {f"w{index}": weight for index, weight in enumerate(WEIGHTS)}


def _json_ids(ids: Iterable[int]) -> str:
    return json.dumps([int(value) for value in ids])


# -- reading state --------------------------------------------------------------------------


def begin_read(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN")
    # A deferred transaction takes its snapshot at the first read: take it now.
    conn.execute("SELECT 1 FROM summaries LIMIT 1").fetchall()


def end_read(conn: sqlite3.Connection) -> None:
    if conn.in_transaction:
        conn.execute("COMMIT")


def fts_averages(conn: sqlite3.Connection) -> bytes | None:
    """FTS5's averages record: the row count, then the token count of each column."""
    row = conn.execute("SELECT block FROM summary_fts_data WHERE id = 1").fetchone()
    return None if row is None else bytes(row[0])


def index_meta(conn: sqlite3.Connection) -> sqlite3.Row | None:
    return conn.execute(
        """SELECT build_id, built_seq, built_at, format, weights, min_df, row_count,
                  total_tokens
           FROM search_index_meta WHERE id = 1"""
    ).fetchone()


def index_documents(conn: sqlite3.Connection) -> bytes:
    return bytes(conn.execute("SELECT documents FROM search_index_meta WHERE id = 1").fetchone()[0])


def index_terms(conn: sqlite3.Connection) -> list[tuple[str, int]]:
    return conn.execute("SELECT term, df FROM search_index_terms").fetchall()


def term_postings(conn: sqlite3.Connection, term: str) -> bytes | None:
    row = conn.execute("SELECT postings FROM search_index_terms WHERE term = ?", (term,)).fetchone()
    return None if row is None else bytes(row[0])


def last_change_seq(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT coalesce(max(seq), 0) FROM search_changes").fetchone()[0])


def changes_after(conn: sqlite3.Connection, seq: int) -> list[tuple[int, int]]:
    """(summary id, latest seq) of every summary changed after `seq`."""
    return conn.execute(
        "SELECT summary_id, max(seq) FROM search_changes WHERE seq > ? GROUP BY summary_id",
        (seq,),
    ).fetchall()


def count_changes_after(conn: sqlite3.Connection, seq: int) -> int:
    return int(
        conn.execute(
            "SELECT count(DISTINCT summary_id) FROM search_changes WHERE seq > ?", (seq,)
        ).fetchone()[0]
    )


def doc_sizes(conn: sqlite3.Connection, ids: Sequence[int]) -> list[tuple[int, bytes]]:
    return conn.execute(
        "SELECT id, sz FROM summary_fts_docsize WHERE id IN (SELECT value FROM json_each(?))",
        (_json_ids(ids),),
    ).fetchall()


# -- searching ------------------------------------------------------------------------------


def plain_search(
    conn: sqlite3.Connection, match: str, visibility: Visibility, *, offset: int, limit: int
) -> list[tuple[int, float]]:
    """The reference: FTS5 ranks every match with bm25(). Exact, and slow for common words."""
    parameters = {"match": match, "limit": limit, "offset": offset, **_weights()}
    parameters.update(visibility.parameters())
    return conn.execute(PLAIN_SEARCH_SQL, parameters).fetchall()


def phrase_rows(conn: sqlite3.Connection, match: str) -> list[tuple[int, float]]:
    """Every row matching `match`, with its bm25()."""
    return conn.execute(
        """SELECT rowid, bm25(summary_fts, :w0, :w1, :w2, :w3, :w4)
           FROM summary_fts WHERE summary_fts MATCH :match""",
        {"match": match, **_weights()},
    ).fetchall()


def visible_ids(
    conn: sqlite3.Connection, ids: Sequence[int], visibility: Visibility
) -> list[tuple[int, int, float]]:
    """(id, score, created_at) of those of `ids` the viewer may see and the filters keep."""
    parameters = {"ids": _json_ids(ids), **visibility.parameters()}
    return conn.execute(_VISIBLE_IDS_SQL, parameters).fetchall()


def filtered_ids(conn: sqlite3.Connection, visibility: Visibility) -> list[int]:
    """Every summary the viewer may see and the filters keep (a scan of all summaries)."""
    return [row[0] for row in conn.execute(_FILTERED_IDS_SQL, visibility.parameters())]


def community_ids(conn: sqlite3.Connection, guild_id: int | None, all_guilds: bool) -> list[int]:
    """Live community summaries of the guild (of every guild with all_guilds), by index."""
    if all_guilds:
        rows = conn.execute(
            "SELECT id FROM summaries WHERE guild_id IS NOT NULL AND deleted_at IS NULL"
        )
    else:
        rows = conn.execute(
            "SELECT id FROM summaries WHERE guild_id = ? AND deleted_at IS NULL", (guild_id,)
        )
    return [row[0] for row in rows]


def result_rows(conn: sqlite3.Connection, ids: Sequence[int]) -> list[sqlite3.Row]:
    return conn.execute(
        """SELECT s.id, s.paper_id, COALESCE(NULLIF(p.title, ''), s.title) AS paper_title,
                  s.author_name, s.score, COALESCE(s.url, p.url) AS url, s.created_at,
                  s.origin, s.guild_id, s.tldr, p.arxiv_id, s.body
           FROM summaries AS s LEFT JOIN papers AS p ON p.id = s.paper_id
           WHERE s.id IN (SELECT value FROM json_each(?))""",
        (_json_ids(ids),),
    ).fetchall()


# -- the scratch index: exact term statistics of documents changed since the build ------------


def ensure_scratch(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_scratch USING fts5 (
               paper_title, paper_authors, author_name, tldr, body,
               tokenize = 'unicode61 remove_diacritics 2')"""
    )
    conn.execute(
        """CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_scratch_instances
           USING fts5vocab(temp, search_scratch, instance)"""
    )


def fill_scratch(conn: sqlite3.Connection, ids: Sequence[int]) -> None:
    """Copy the current text of `ids` (those still existing) into the scratch index."""
    conn.execute("DELETE FROM temp.search_scratch")
    conn.execute(
        """INSERT INTO temp.search_scratch
               (rowid, paper_title, paper_authors, author_name, tldr, body)
           SELECT id, paper_title, paper_authors, author_name, tldr, body
           FROM main.summary_documents WHERE id IN (SELECT value FROM json_each(?))""",
        (_json_ids(ids),),
    )


def scratch_instances(conn: sqlite3.Connection) -> list[tuple[str, int, int, int]]:
    """(term, document, column index, hits) over the scratch index."""
    return conn.execute(
        """SELECT term, doc,
                  CASE col WHEN 'paper_title' THEN 0 WHEN 'paper_authors' THEN 1
                           WHEN 'author_name' THEN 2 WHEN 'tldr' THEN 3 ELSE 4 END,
                  count(*)
           FROM temp.search_scratch_instances GROUP BY term, doc, col"""
    ).fetchall()


def clear_scratch(conn: sqlite3.Connection) -> None:
    conn.execute("DELETE FROM temp.search_scratch")


# -- building the accelerator ---------------------------------------------------------------


def ensure_vocab_tables(conn: sqlite3.Connection) -> None:
    conn.execute(
        """CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_vocab_rows
           USING fts5vocab(main, summary_fts, row)"""
    )
    conn.execute(
        """CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_vocab_instances
           USING fts5vocab(main, summary_fts, instance)"""
    )


def frequent_terms(conn: sqlite3.Connection, min_df: int) -> list[tuple[str, int, int]]:
    """(term, documents, hits) of every term in at least `min_df` documents."""
    return conn.execute(
        "SELECT term, doc, cnt FROM temp.search_vocab_rows WHERE doc >= ?", (min_df,)
    ).fetchall()


def term_hits_encoded(conn: sqlite3.Connection, term: str) -> str | None:
    """Every hit of `term` as `document * 8 + column index`, comma-separated, in order.

    One string instead of millions of rows: the rows are what would cost, not the scan.
    """
    return conn.execute(
        """SELECT group_concat(doc * 8 + CASE col WHEN 'paper_title' THEN 0
                                                  WHEN 'paper_authors' THEN 1
                                                  WHEN 'author_name' THEN 2
                                                  WHEN 'tldr' THEN 3 ELSE 4 END)
           FROM temp.search_vocab_instances WHERE term = ?""",
        (term,),
    ).fetchone()[0]


def all_doc_sizes(conn: sqlite3.Connection) -> list[tuple[int, bytes]]:
    return conn.execute("SELECT id, sz FROM summary_fts_docsize ORDER BY id").fetchall()


def replace_index(
    conn: sqlite3.Connection,
    *,
    expected_build_id: int | None,
    meta: dict[str, Any],
    terms: Iterable[tuple[str, int, bytes]],
) -> bool:
    """Swap in a new accelerator, atomically; False if another build got there first."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        row = conn.execute("SELECT build_id FROM search_index_meta WHERE id = 1").fetchone()
        current = None if row is None else int(row[0])
        if current != expected_build_id:
            conn.execute("ROLLBACK")
            return False
        conn.execute("DELETE FROM search_index_terms")
        conn.executemany(
            "INSERT INTO search_index_terms (term, df, postings) VALUES (?, ?, ?)", terms
        )
        conn.execute(
            """INSERT OR REPLACE INTO search_index_meta
                   (id, build_id, built_seq, built_at, format, weights, min_df, row_count,
                    total_tokens, documents)
               VALUES (1, :build_id, :built_seq, :built_at, :format, :weights, :min_df,
                       :row_count, :total_tokens, :documents)""",
            meta,
        )
        conn.execute("DELETE FROM search_changes WHERE seq <= ?", (meta["built_seq"],))
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")
    return True


def drop_index(conn: sqlite3.Connection) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.execute("DELETE FROM search_index_terms")
        conn.execute("DELETE FROM search_index_meta")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def index_size_bytes(conn: sqlite3.Connection) -> dict[str, int]:
    """Bytes on disk of the search tables (dbstat when compiled in, else payload sizes)."""
    sizes: dict[str, int] = {}
    try:
        for name, size in conn.execute(
            "SELECT name, sum(pgsize) FROM dbstat GROUP BY name"
        ).fetchall():
            sizes[name] = int(size)
    except sqlite3.OperationalError:
        sizes["search_index_terms"] = int(
            conn.execute(
                "SELECT coalesce(sum(length(postings)), 0) FROM search_index_terms"
            ).fetchone()[0]
        )
    return sizes


# -- autocomplete ---------------------------------------------------------------------------


def titles_by_prefix(
    conn: sqlite3.Connection, prefix: str, guild_id: int | None, all_guilds: bool, limit: int
) -> list[tuple[int, str]]:
    """Papers whose title starts with `prefix` (case-insensitive), with a visible summary."""
    return conn.execute(
        """SELECT p.id, p.title FROM papers AS p
           WHERE p.title >= :low COLLATE NOCASE AND p.title < :high COLLATE NOCASE
             AND EXISTS (SELECT 1 FROM summaries AS s
                         WHERE s.paper_id = p.id AND s.deleted_at IS NULL
                           AND (s.origin = 'feed' OR :all_guilds OR s.guild_id = :guild))
           ORDER BY p.title COLLATE NOCASE LIMIT :limit""",
        {
            "low": prefix,
            "high": prefix + "\U0010ffff",
            "guild": guild_id,
            "all_guilds": 1 if all_guilds else 0,
            "limit": limit,
        },
    ).fetchall()


def titles_by_word_prefix(
    conn: sqlite3.Connection, match: str, guild_id: int | None, all_guilds: bool, limit: int
) -> list[tuple[int, str]]:
    return conn.execute(
        """SELECT p.id, p.title FROM paper_title_fts AS t JOIN papers AS p ON p.id = t.rowid
           WHERE paper_title_fts MATCH :match
             AND EXISTS (SELECT 1 FROM summaries AS s
                         WHERE s.paper_id = p.id AND s.deleted_at IS NULL
                           AND (s.origin = 'feed' OR :all_guilds OR s.guild_id = :guild))
           ORDER BY t.rank LIMIT :limit""",
        {"match": match, "guild": guild_id, "all_guilds": 1 if all_guilds else 0, "limit": limit},
    ).fetchall()


def recent_titles(
    conn: sqlite3.Connection, guild_id: int | None, all_guilds: bool, scan: int
) -> list[tuple[int, str]]:
    """Titles of the papers of the `scan` newest visible summaries, newest first."""
    return conn.execute(
        """SELECT p.id, p.title FROM summaries AS s JOIN papers AS p ON p.id = s.paper_id
           WHERE s.deleted_at IS NULL AND p.title <> ''
             AND (s.origin = 'feed' OR :all_guilds OR s.guild_id = :guild)
           ORDER BY s.created_at DESC LIMIT :scan""",
        {"guild": guild_id, "all_guilds": 1 if all_guilds else 0, "scan": scan},
    ).fetchall()
