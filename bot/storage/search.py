"""The SQL of search: the change log, and the rows the search index is built from.

The search service reads in worker threads (the index is derived data, rebuilt and caught up
off the event loop), so these functions are synchronous, over the database's `ThreadReader`
(SQLite: a connection of the thread's own; PostgreSQL: the pool, through the event loop).
Every statement has bound parameters; nothing comes from user text.

Visibility (also the rule the papers repository applies): a summary from a feed is visible
everywhere; a community summary only in its server; a soft-deleted one nowhere. A paper is
visible everywhere when it has a summary from a feed, and in a server where it has a live
community summary or a reading session.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from bot.storage.database import Database, Row, ThreadReader

ROW_BATCH: Final = 2000

_SUMMARY_COLUMNS: Final = """
    s.id, s.paper_id, s.origin, s.guild_id, s.author_name, s.tldr, s.body, s.score,
    s.created_at, s.deleted_at, COALESCE(NULLIF(p.title, ''), s.title), COALESCE(p.authors, ''),
    p.year, COALESCE(p.venue, ''), s.kind
"""


@dataclass(frozen=True, slots=True)
class SummarySource:
    """A summary as the index sees it."""

    id: int
    paper_id: int | None
    origin: str
    guild_id: int | None
    author_name: str
    tldr: str
    body: str
    score: int
    created_at: int
    deleted: bool
    title: str
    authors: str
    year: int | None
    venue: str
    kind: str = "summary"  # 'abstract': the paper's abstract from a feed (migration 0013)


@dataclass(frozen=True, slots=True)
class PaperSource:
    """A paper as the index sees it: None guilds means visible nowhere (not indexed)."""

    id: int
    title: str
    abstract: str
    public: bool
    guilds: tuple[int, ...]
    recent: int

    @property
    def visible_anywhere(self) -> bool:
        return self.public or bool(self.guilds)


@dataclass(frozen=True, slots=True)
class ResultRow:
    summary_id: int
    paper_id: int | None
    paper_title: str
    author: str
    score: int
    url: str | None
    created_at: float
    origin: str
    guild_id: int | None
    tldr: str
    body: str
    kind: str = "summary"


def _ids(conn: ThreadReader, values: Iterable[int]) -> object:
    return conn.dialect.list_param(sorted({int(value) for value in values}))


# -- the change log --------------------------------------------------------------------------


def last_seq(conn: ThreadReader) -> int:
    """The latest change logged (pruning may have emptied the log: then where it pruned)."""
    row = conn.fetchone("SELECT seq FROM search_changes ORDER BY seq DESC LIMIT 1")
    return max(0 if row is None else int(row[0]), pruned_through(conn))


def pruned_through(conn: ThreadReader) -> int:
    row = conn.fetchone("SELECT pruned_through FROM search_log_state WHERE id = 1")
    return 0 if row is None else int(row[0])


@dataclass(frozen=True, slots=True)
class TransactionHorizon:
    """Where the server's transactions stood at one moment: each numbered below
    `oldest_running` had ended (committed or rolled back), and each that had begun writing
    was numbered below `next_id`."""

    oldest_running: int
    next_id: int

    def passed(self, earlier: TransactionHorizon) -> bool:
        """Every transaction that had begun writing at `earlier` has ended since."""
        return self.oldest_running >= earlier.next_id


def transaction_horizon(conn: ThreadReader) -> TransactionHorizon | None:
    """PostgreSQL's transaction horizon now (a read takes no transaction number, so it does
    not hold the horizon back). None on SQLite: writers take turns there, so once a change
    is seen, every change logged before it has committed or never will."""
    if not conn.dialect.is_postgresql:
        return None
    row = conn.fetchone(
        "SELECT pg_snapshot_xmin(s)::text, pg_snapshot_xmax(s)::text"
        " FROM pg_current_snapshot() AS s"
    )
    assert row is not None
    return TransactionHorizon(oldest_running=int(row[0]), next_id=int(row[1]))


def changes_after(conn: ThreadReader, seq: int, limit: int) -> list[tuple[int, str, int]]:
    """(seq, kind, item id) of the logged changes after `seq`, in order."""
    rows = conn.fetchall(
        "SELECT seq, kind, item_id FROM search_changes WHERE seq > ? ORDER BY seq LIMIT ?",
        (seq, limit),
    )
    return [(int(seq_), str(kind), int(item)) for seq_, kind, item in rows]


async def prune_changes(db: Database, *, older_than: float, keep_after: int) -> int:
    """Delete log rows logged before `older_than` (Unix time) up to `keep_after` at most;
    returns the new `pruned_through`."""
    async with db.transaction() as conn:
        # The state row is locked first: two processes pruning at once take turns.
        through = int(
            await conn.fetchval(
                "SELECT pruned_through FROM search_log_state WHERE id = 1" + conn.dialect.for_update
            )
            or 0
        )
        newest = await conn.fetchval(
            "SELECT max(seq) FROM search_changes WHERE logged_at < ? AND seq <= ?",
            (int(older_than), keep_after),
        )
        if newest is not None and int(newest) > through:
            through = int(newest)
            await conn.execute("DELETE FROM search_changes WHERE seq <= ?", (through,))
            await conn.execute(
                "UPDATE search_log_state SET pruned_through = ? WHERE id = 1", (through,)
            )
    return through


# -- what the index is built from --------------------------------------------------------------


def _summary(row: Row) -> SummarySource:
    return SummarySource(
        id=int(row[0]),
        paper_id=None if row[1] is None else int(row[1]),
        origin=str(row[2]),
        guild_id=None if row[3] is None else int(row[3]),
        author_name=str(row[4] or ""),
        tldr=str(row[5] or ""),
        body=str(row[6] or ""),
        score=int(row[7] or 0),
        created_at=int(row[8] or 0),
        deleted=row[9] is not None,
        title=str(row[10] or ""),
        authors=str(row[11] or ""),
        year=None if row[12] is None else int(row[12]),
        venue=str(row[13] or ""),
        kind=str(row[14] or "summary"),
    )


def summaries_by_id(conn: ThreadReader, ids: Iterable[int]) -> list[SummarySource]:
    rows = conn.fetchall(
        "SELECT"
        + _SUMMARY_COLUMNS
        + "FROM summaries AS s LEFT JOIN papers AS p ON p.id = s.paper_id"
        " WHERE " + conn.dialect.in_list("s.id"),
        (_ids(conn, ids),),
    )
    return [_summary(row) for row in rows]


def summaries_after(conn: ThreadReader, after_id: int, limit: int) -> list[SummarySource]:
    """Live summaries with an id above `after_id`, in id order (a full rebuild's pages)."""
    rows = conn.fetchall(
        "SELECT"
        + _SUMMARY_COLUMNS
        + "FROM summaries AS s LEFT JOIN papers AS p ON p.id = s.paper_id"
        " WHERE s.id > ? AND s.deleted_at IS NULL ORDER BY s.id LIMIT ?",
        (after_id, limit),
    )
    return [_summary(row) for row in rows]


def count_live_summaries(conn: ThreadReader) -> int:
    return int(conn.fetchval("SELECT count(*) FROM summaries WHERE deleted_at IS NULL"))


def summary_ids_of_papers(conn: ThreadReader, paper_ids: Iterable[int]) -> list[int]:
    rows = conn.fetchall(
        "SELECT id FROM summaries WHERE " + conn.dialect.in_list("paper_id"),
        (_ids(conn, paper_ids),),
    )
    return [int(row[0]) for row in rows]


def papers_by_id(conn: ThreadReader, ids: Iterable[int]) -> list[PaperSource]:
    """The papers that exist among `ids`, with where each is visible."""
    ids_param = _ids(conn, ids)
    in_ids = conn.dialect.in_list("paper_id", ":ids")
    rows = conn.fetchall(
        """SELECT p.id, p.title, COALESCE(p.abstract, ''),
                  EXISTS (SELECT 1 FROM summaries AS s
                          WHERE s.paper_id = p.id AND s.origin = 'feed'),
                  COALESCE((SELECT max(s.created_at) FROM summaries AS s
                            WHERE s.paper_id = p.id AND s.deleted_at IS NULL), p.updated_at)
           FROM papers AS p WHERE """
        + conn.dialect.in_list("p.id"),
        (ids_param,),
    )
    guilds: dict[int, set[int]] = {}
    for paper_id, guild_id in conn.fetchall(
        f"""SELECT paper_id, guild_id FROM summaries
           WHERE {in_ids} AND origin = 'community' AND deleted_at IS NULL
           UNION
           SELECT paper_id, guild_id FROM reading_sessions WHERE {in_ids}""",
        {"ids": ids_param},
    ):
        guilds.setdefault(int(paper_id), set()).add(int(guild_id))
    return [
        PaperSource(
            id=int(row[0]),
            title=str(row[1] or ""),
            abstract=str(row[2] or ""),
            public=bool(row[3]),
            guilds=tuple(sorted(guilds.get(int(row[0]), ()))),
            recent=int(row[4] or 0),
        )
        for row in rows
    ]


def paper_ids_after(conn: ThreadReader, after_id: int, limit: int) -> list[int]:
    """Papers with an id above `after_id` that have a summary or a reading session."""
    rows = conn.fetchall(
        """SELECT p.id FROM papers AS p
           WHERE p.id > ? AND (EXISTS (SELECT 1 FROM summaries AS s WHERE s.paper_id = p.id)
                               OR EXISTS (SELECT 1 FROM reading_sessions AS r
                                          WHERE r.paper_id = p.id))
           ORDER BY p.id LIMIT ?""",
        (after_id, limit),
    )
    return [int(row[0]) for row in rows]


# -- what searches show ------------------------------------------------------------------------


def result_rows(conn: ThreadReader, ids: Iterable[int]) -> dict[int, ResultRow]:
    """The rows of the summaries `ids` that are not deleted: an index that has not yet
    applied a deletion (another process's, within its poll) still never shows it."""
    rows = conn.fetchall(
        """SELECT s.id, s.paper_id, COALESCE(NULLIF(p.title, ''), s.title), s.author_name,
                  s.score, COALESCE(s.url, p.url,
                                    CASE WHEN p.arxiv_id IS NOT NULL
                                         THEN 'https://arxiv.org/abs/' || p.arxiv_id END),
                  s.created_at, s.origin, s.guild_id, s.tldr, s.body, s.kind
           FROM summaries AS s LEFT JOIN papers AS p ON p.id = s.paper_id
           WHERE s.deleted_at IS NULL AND """
        + conn.dialect.in_list("s.id"),
        (_ids(conn, ids),),
    )
    return {
        int(row[0]): ResultRow(
            summary_id=int(row[0]),
            paper_id=None if row[1] is None else int(row[1]),
            paper_title=str(row[2] or ""),
            author=str(row[3] or ""),
            score=int(row[4] or 0),
            url=row[5],
            created_at=float(row[6] or 0),
            origin=str(row[7]),
            guild_id=None if row[8] is None else int(row[8]),
            tldr=str(row[9] or ""),
            body=str(row[10] or ""),
            kind=str(row[11] or "summary"),
        )
        for row in rows
    }


def paper_texts_for_viewer(
    conn: ThreadReader, paper_id: int, guild_id: int | None, all_guilds: bool
) -> tuple[str, str, list[str], list[str]] | None:
    """(title, abstract, TL;DRs, bodies) of a paper and the summaries of it the viewer may
    see: what "similar papers" compares; None when there is no such paper."""
    paper = conn.fetchone(
        "SELECT title, COALESCE(abstract, '') FROM papers WHERE id = ?", (paper_id,)
    )
    if paper is None:
        return None
    rows = conn.fetchall(
        """SELECT tldr, body FROM summaries
           WHERE paper_id = ? AND deleted_at IS NULL
             AND (origin = 'feed' OR ? OR guild_id = ?)""",
        (paper_id, bool(all_guilds), guild_id),
    )
    return (
        str(paper[0] or ""),
        str(paper[1] or ""),
        [str(row[0]) for row in rows if row[0]],
        [str(row[1]) for row in rows if row[1]],
    )


def visible_summary_counts(
    conn: ThreadReader, paper_ids: Iterable[int], guild_id: int | None, all_guilds: bool
) -> dict[int, tuple[int, int]]:
    """For each paper with something the viewer may see: (entries, summaries), an entry
    being a summary or the paper's abstract from a feed."""
    rows = conn.fetchall(
        f"""SELECT paper_id, count(*), sum(CASE WHEN kind = 'summary' THEN 1 ELSE 0 END)
           FROM summaries
           WHERE {conn.dialect.in_list("paper_id")} AND deleted_at IS NULL
             AND (origin = 'feed' OR ? OR guild_id = ?)
           GROUP BY paper_id""",
        (_ids(conn, paper_ids), bool(all_guilds), guild_id),
    )
    return {int(row[0]): (int(row[1]), int(row[2] or 0)) for row in rows}
