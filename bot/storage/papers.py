"""Papers: one row per paper, found by any of its identifiers (arXiv id, DOI, bibtex key)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final, TypeVar

from bot.papers import PaperId
from bot.storage.database import Connection, Database, RetryableTransactionError, Row
from bot.storage.dialect import Dialect

log = logging.getLogger(__name__)
T = TypeVar("T")

# The columns `Paper.from_row` reads, in order.
PAPER_COLUMNS: Final = (
    "id", "canonical_key", "arxiv_id", "doi", "bibtex_key", "title", "authors", "venue", "year",
    "abstract", "url", "pdf_url", "published", "categories", "created_at", "updated_at",
)  # fmt: skip


def paper_columns(alias: str) -> str:
    """`alias.id, alias.canonical_key, ...`: the paper's columns in a join, for `from_row`."""
    return ", ".join(f"{alias}.{column}" for column in PAPER_COLUMNS)


SELECT_PAPERS: Final = "SELECT " + ", ".join(PAPER_COLUMNS) + " FROM papers"
# Which column holds each kind of identifier, and the order in which kinds are preferred for
# a new paper's canonical key (arXiv ids are the most stable and the most useful to readers).
ID_COLUMNS: Final = {"arxiv": "arxiv_id", "doi": "doi", "bibtex": "bibtex_key"}
ID_PRIORITY: Final = ("arxiv", "doi", "bibtex")
# Fields filled in when empty, never overwritten by find_or_create or fill_missing.
DETAIL_FIELDS: Final = ("venue", "year", "abstract", "url", "pdf_url", "published", "categories")

_UNSET: Any = object()

# Which papers a server sees: THE visibility rule for papers, used by every query that shows
# or suggests a paper to a server (the /paper card and `paper:N` ids, the paper autocompletes
# of /paper, /summarize and /reading, look-ups by identifier or title). A paper is visible
# to guild G when it has
#   - a summary from a feed: feeds and `shortscience-bot import` are public, so are their
#     papers (every imported entry that names a paper stores a feed summary of it), or
#   - a community summary written in G that is not deleted, or
#   - a reading session in G (open or closed).
# So a title typed in one server, or a paper only its members summarised, stays there.
# Outside a server (:viewer_guild NULL: a DM) only the first clause can hold. An SQL
# condition on the `papers` row of the query, with the guild bound to :viewer_guild; any
# index of paper titles (search suggestions) must apply the same rule.
PAPER_VISIBLE_TO_GUILD: Final = (
    "(EXISTS (SELECT 1 FROM summaries AS visible_summary"
    " WHERE visible_summary.paper_id = papers.id AND (visible_summary.origin = 'feed'"
    " OR (visible_summary.guild_id = :viewer_guild AND visible_summary.deleted_at IS NULL)))"
    " OR EXISTS (SELECT 1 FROM reading_sessions AS visible_session"
    " WHERE visible_session.paper_id = papers.id AND visible_session.guild_id = :viewer_guild))"
)


def bulk_write_cache(db: Database) -> AbstractAsyncContextManager[None]:
    """The database's settings for a bulk import, for the duration of the block
    (`Database.bulk_writes`: SQLite's bigger page cache and rarer checkpoints)."""
    return db.bulk_writes()


@dataclass(frozen=True, slots=True)
class Paper:
    id: int
    canonical_key: str
    arxiv_id: str | None
    doi: str | None
    bibtex_key: str | None
    title: str
    authors: str
    venue: str | None
    year: int | None
    abstract: str | None
    url: str | None
    pdf_url: str | None
    created_at: datetime
    updated_at: datetime
    # First publication, ISO 8601 as precise as known: '2015-02-11', '2015-05' or '2015'.
    published: str | None = None
    categories: tuple[str, ...] = ()  # arXiv categories, primary first

    @classmethod
    def from_row(cls, row: Row, offset: int = 0) -> Paper:
        """From the columns of PAPER_COLUMNS in a row, starting at `offset`."""
        v = [row[offset + index] for index in range(len(PAPER_COLUMNS))]
        return cls(
            id=v[0], canonical_key=v[1], arxiv_id=v[2], doi=v[3], bibtex_key=v[4], title=v[5],
            authors=v[6], venue=v[7], year=v[8], abstract=v[9], url=v[10], pdf_url=v[11],
            published=v[12], categories=tuple((v[13] or "").split()),
            created_at=datetime.fromtimestamp(v[14], UTC),
            updated_at=datetime.fromtimestamp(v[15], UTC),
        )  # fmt: skip

    @property
    def ids(self) -> list[PaperId]:
        """The identifiers known for this paper, most preferred first."""
        found = []
        if self.arxiv_id:
            found.append(PaperId(kind="arxiv", value=self.arxiv_id, version=None))
        if self.doi:
            found.append(PaperId(kind="doi", value=self.doi, version=None))
        if self.bibtex_key:
            found.append(PaperId(kind="bibtex", value=self.bibtex_key, version=None))
        return found


@dataclass(frozen=True, slots=True)
class PaperDetails:
    """What an item says about a paper: its identifiers and whatever metadata it carries."""

    ids: tuple[PaperId, ...]
    title: str = ""
    authors: str = ""
    venue: str | None = None
    year: int | None = None
    abstract: str | None = None
    url: str | None = None
    pdf_url: str | None = None
    published: str | None = None  # ISO 8601 date, as precise as known
    categories: str = ""  # space-separated, primary first


@dataclass(slots=True, eq=False)  # compared by identity: one object per row
class _PaperState:
    """A paper row being resolved in a batch: its values, and what must be written."""

    id: int | None
    values: dict[str, Any]
    is_new: bool = False
    changed: set[str] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class ResolvedPapers:
    """`resolve_many`'s answer: one paper id per request, and how many rows were created;
    `abstracts` has each requested paper's abstract as it now is (None when unknown)."""

    paper_ids: list[int]
    created: int
    updated: int
    abstracts: list[str | None] = field(default_factory=list)


class PaperRepository:
    """Reads and writes `papers`. Writes take an optional connection so that they can join a
    transaction the caller holds (`async with db.transaction() as conn`)."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, paper_id: int) -> Paper | None:
        """Any paper by row id, visible or not: for the bot's own bookkeeping. What a server
        is shown goes through `get_visible`."""
        row = await self.db.fetchone(SELECT_PAPERS + " WHERE id = ?", (paper_id,))
        return None if row is None else Paper.from_row(row)

    async def get_many(self, paper_ids: Iterable[int]) -> dict[int, Paper]:
        """`get` for several row ids in one statement (ids not found are left out)."""
        wanted = list(dict.fromkeys(paper_ids))
        if not wanted:
            return {}
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            SELECT_PAPERS + " WHERE " + dialect.in_list("id"), (dialect.list_param(wanted),)
        )
        papers = (Paper.from_row(row) for row in rows)
        return {paper.id: paper for paper in papers}

    async def get_visible(self, paper_id: int, *, guild_id: int | None) -> Paper | None:
        """The paper with this row id if the guild may see it (PAPER_VISIBLE_TO_GUILD)."""
        row = await self.db.fetchone(
            SELECT_PAPERS + " WHERE id = :id AND " + PAPER_VISIBLE_TO_GUILD,
            {"id": paper_id, "viewer_guild": guild_id},
        )
        return None if row is None else Paper.from_row(row)

    async def find_visible_by_ids(
        self, ids: Iterable[PaperId], *, guild_id: int | None
    ) -> list[Paper]:
        """`find_by_ids`, keeping only papers the guild may see (PAPER_VISIBLE_TO_GUILD)."""
        found = await self.find_by_ids(ids)
        if not found:
            return []
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            "SELECT id FROM papers WHERE "
            + dialect.in_list("id", ":ids")
            + " AND "
            + PAPER_VISIBLE_TO_GUILD,
            {"ids": dialect.list_param([paper.id for paper in found]), "viewer_guild": guild_id},
        )
        visible = {row[0] for row in rows}
        return [paper for paper in found if paper.id in visible]

    async def find_visible_by_title(self, title: str, *, guild_id: int | None) -> Paper | None:
        """The oldest paper the guild may see with exactly this title, ignoring ASCII case."""
        row = await self.db.fetchone(
            SELECT_PAPERS
            + " WHERE lower(title) = lower(:title) AND "
            + PAPER_VISIBLE_TO_GUILD
            + " ORDER BY id LIMIT 1",
            {"title": title, "viewer_guild": guild_id},
        )
        return None if row is None else Paper.from_row(row)

    async def find(self, paper_id: PaperId) -> Paper | None:
        """The paper with this identifier (arXiv id without version, DOI, or bibtex key)."""
        found = await self.find_by_ids([paper_id])
        return found[0] if found else None

    async def find_by_ids(self, ids: Iterable[PaperId]) -> list[Paper]:
        """Every distinct paper matching any of `ids`, in the order of the first id matching."""
        ids = list(ids)
        if not ids:
            return []
        rows = await self.db.fetchall(
            _select_by_ids(self.db.dialect), ids_parameters(self.db.dialect, ids)
        )
        return in_order_of_ids([Paper.from_row(row) for row in rows], ids, key=lambda p: p)

    async def find_or_create(
        self,
        ids: Sequence[PaperId],
        *,
        title: str = "",
        authors: str = "",
        venue: str | None = None,
        year: int | None = None,
        abstract: str | None = None,
        url: str | None = None,
        pdf_url: str | None = None,
        published: str | None = None,
        conn: Connection | None = None,
    ) -> Paper:
        """The paper any of `ids` names, created when none does.

        Identifiers found together on one item are merged onto one row when free (an
        identifier already on another row stays there: rows are never merged, because other
        tables may refer to them). Empty fields are filled in; present ones are kept.
        """
        if not ids:
            raise ValueError("find_or_create needs at least one identifier")
        details = PaperDetails(
            ids=tuple(ids), title=title, authors=authors, venue=venue, year=year,
            abstract=abstract, url=url, pdf_url=pdf_url, published=published,
        )  # fmt: skip
        async with self.db.writing(conn) as connection:
            resolved = await self.resolve_many([details], conn=connection)
            row = await connection.fetchone(
                SELECT_PAPERS + " WHERE id = ?", (resolved.paper_ids[0],)
            )
        assert row is not None
        return Paper.from_row(row)

    async def resolve_many(
        self, items: Sequence[PaperDetails], *, conn: Connection | None = None
    ) -> ResolvedPapers:
        """`find_or_create` for a whole batch in a handful of statements (the import path).

        Items naming the same paper (by any identifier) resolve to the same row, whether it
        existed before or is created by an earlier item of the batch.
        """
        if not items:
            return ResolvedPapers([], 0, 0)
        for item in items:
            if not item.ids:
                raise ValueError("every item needs at least one identifier")
        async with self.db.writing(conn) as connection:
            all_ids = [paper_id for item in items for paper_id in item.ids]
            dialect = connection.dialect
            rows = await connection.fetchall(
                _select_by_ids(dialect), ids_parameters(dialect, all_ids)
            )
            by_key: dict[tuple[str, str], _PaperState] = {}
            for row in rows:
                state = _PaperState(id=row["id"], values=dict(zip(row.keys(), row, strict=True)))
                _index(by_key, state)

            chosen: list[_PaperState] = []
            new_by_identity: dict[int, _PaperState] = {}
            for item in items:
                state = self._merge_item(by_key, item)
                if state.is_new:
                    new_by_identity.setdefault(id(state), state)
                chosen.append(state)
            new_states = list(new_by_identity.values())

            now = int(time.time())
            if new_states:
                # A few statements for the batch: fewer round trips than one per row.
                new_rows = [(*_values(s, _INSERT_COLUMNS), now, now) for s in new_states]
                for bound in dialect.bound_rows(_INSERT_TYPES, new_rows):
                    await connection.execute(_insert_new(bound.table), bound.params)
                keys = [s.values["canonical_key"] for s in new_states]
                found = await connection.fetchall(
                    "SELECT id, canonical_key FROM papers WHERE "
                    + dialect.in_list("canonical_key"),
                    (dialect.list_param(keys),),
                )
                ids_by_key = {row[1]: row[0] for row in found}
                if len(ids_by_key) < len(keys):
                    # Another transaction stored one of these papers since we looked
                    # (PostgreSQL; its identifiers then stopped our insert): decide again.
                    raise RetryableTransactionError("papers were inserted concurrently")
                for state in new_states:
                    state.id = ids_by_key[state.values["canonical_key"]]

            updated = [s for s in {id(s): s for s in chosen}.values() if not s.is_new and s.changed]
            if updated:
                await self._write_changes(connection, updated, now)
        return ResolvedPapers(
            paper_ids=[state.id for state in chosen],  # type: ignore[misc]
            created=len(new_states),
            updated=len(updated),
            abstracts=[state.values.get("abstract") for state in chosen],
        )

    @staticmethod
    def _merge_item(by_key: dict[tuple[str, str], _PaperState], item: PaperDetails) -> _PaperState:
        matches: list[_PaperState] = []
        for paper_id in sorted(item.ids, key=lambda p: ID_PRIORITY.index(p.kind)):
            state = by_key.get((paper_id.kind, paper_id.value))
            if state is not None and state not in matches:
                matches.append(state)
        if matches:
            state = matches[0]
            if len(matches) > 1:
                log.info(
                    "Identifiers %s name %d different papers; keeping them apart",
                    [p.canonical_key for p in item.ids],
                    len(matches),
                )
        else:
            primary = min(item.ids, key=lambda p: ID_PRIORITY.index(p.kind))
            state = _PaperState(
                id=None,
                values={
                    "canonical_key": primary.canonical_key, "arxiv_id": None, "doi": None,
                    "bibtex_key": None, "title": "", "authors": "", "venue": None, "year": None,
                    "abstract": None, "url": None, "pdf_url": None, "published": None,
                    "categories": "",
                },
                is_new=True,
            )  # fmt: skip
        _fill(by_key, state, item)
        return state

    async def fill_missing(
        self, paper_id: int, details: PaperDetails, *, conn: Connection | None = None
    ) -> Paper | None:
        """Fill this paper's empty fields from `details` (what arXiv or Crossref says of it),
        keeping every field that is already set, and add its identifiers where free.

        The write path of `resolve_many`, so search sees new titles and authors the same way.
        Returns the paper as it now is, or None when there is no such paper.
        """
        async with self.db.writing(conn) as connection:
            current = await connection.fetchone(SELECT_PAPERS + " WHERE id = ?", (paper_id,))
            if current is None:
                return None
            state = _PaperState(id=paper_id, values=dict(zip(current.keys(), current, strict=True)))
            by_key: dict[tuple[str, str], _PaperState] = {}
            owners = await connection.fetchall(
                _select_by_ids(connection.dialect), ids_parameters(connection.dialect, details.ids)
            )
            for owner in owners:
                if owner["id"] != paper_id:
                    values = dict(zip(owner.keys(), owner, strict=True))
                    _index(by_key, _PaperState(id=owner["id"], values=values))
            _index(by_key, state)
            _fill(by_key, state, details)
            if state.changed:
                await self._write_changes(connection, [state], int(time.time()))
            row = await connection.fetchone(SELECT_PAPERS + " WHERE id = ?", (paper_id,))
        return None if row is None else Paper.from_row(row)

    @staticmethod
    async def _write_changes(connection: Connection, states: list[_PaperState], now: int) -> None:
        await connection.executemany(
            "UPDATE papers SET arxiv_id = ?, doi = ?, bibtex_key = ?, venue = ?, year = ?,"
            " abstract = ?, url = ?, pdf_url = ?, published = ?, categories = ?, updated_at = ?"
            " WHERE id = ?",
            [(*_values(s, _UPDATE_COLUMNS), now, s.id) for s in states],
        )
        # A separate statement, only when needed: a new title or authors re-indexes every
        # summary of the paper in search (the change log's 'paper_text').
        retitled = [s for s in states if s.changed & {"title", "authors"}]
        if retitled:
            await connection.executemany(
                "UPDATE papers SET title = ?, authors = ? WHERE id = ?",
                [(s.values["title"], s.values["authors"], s.id) for s in retitled],
            )

    async def find_or_create_titled(
        self,
        title: str,
        *,
        guild_id: int | None,
        now: float,
        conn: Connection | None = None,
    ) -> int:
        """The paper a title typed in `guild_id` names: one the guild may see with exactly
        this title (ignoring case), else a paper known only by it, created when missing.
        Returns its row id.

        Papers without any identifier get the canonical key 'title:<lower-cased title>'.
        """
        async with self.db.writing(conn) as c:
            row = await self.db.fetchone(
                "SELECT id FROM papers WHERE lower(title) = lower(:title) AND "
                + PAPER_VISIBLE_TO_GUILD
                + " ORDER BY id LIMIT 1",
                {"title": title, "viewer_guild": guild_id},
                conn=c,
            )
            if row is not None:
                return int(row[0])
            key = "title:" + title.lower()
            await c.execute(
                "INSERT INTO papers (canonical_key, title, created_at, updated_at) "
                "VALUES (?, ?, ?, ?) ON CONFLICT (canonical_key) DO NOTHING",
                (key, title, int(now), int(now)),
            )
            found = await self.db.fetchval(
                "SELECT id FROM papers WHERE canonical_key = ?", (key,), conn=c
            )
        assert found is not None
        return int(found)

    async def update(
        self,
        paper_id: int,
        *,
        title: str = _UNSET,
        authors: str = _UNSET,
        venue: str | None = _UNSET,
        year: int | None = _UNSET,
        abstract: str | None = _UNSET,
        url: str | None = _UNSET,
        pdf_url: str | None = _UNSET,
        conn: Connection | None = None,
    ) -> Paper | None:
        """Overwrite the given fields (unlike find_or_create, which only fills empty ones).

        Returns the updated paper, or None when there is no such paper.
        """
        details = {
            "venue": venue, "year": year, "abstract": abstract, "url": url, "pdf_url": pdf_url,
        }  # fmt: skip
        async with self.db.writing(conn) as connection:
            flags: list[Any] = []
            for value in details.values():
                flags += [value is not _UNSET, None if value is _UNSET else value]
            await connection.execute(
                "UPDATE papers SET"
                " venue = CASE WHEN ? THEN ? ELSE venue END,"
                " year = CASE WHEN ? THEN ? ELSE year END,"
                " abstract = CASE WHEN ? THEN ? ELSE abstract END,"
                " url = CASE WHEN ? THEN ? ELSE url END,"
                " pdf_url = CASE WHEN ? THEN ? ELSE pdf_url END,"
                " updated_at = " + connection.dialect.unix_now + " WHERE id = ?",
                (*flags, paper_id),
            )
            if title is not _UNSET or authors is not _UNSET:
                await connection.execute(
                    "UPDATE papers SET title = CASE WHEN ? THEN ? ELSE title END,"
                    " authors = CASE WHEN ? THEN ? ELSE authors END WHERE id = ?",
                    (
                        title is not _UNSET,
                        "" if title is _UNSET else title,
                        authors is not _UNSET,
                        "" if authors is _UNSET else authors,
                        paper_id,
                    ),
                )
            row = await connection.fetchone(SELECT_PAPERS + " WHERE id = ?", (paper_id,))
        return None if row is None else Paper.from_row(row)


def _select_by_ids(dialect: Dialect) -> str:
    """Papers holding any of three lists of identifiers (`ids_parameters`)."""
    return SELECT_PAPERS + " WHERE " + holding_ids(dialect)


def holding_ids(dialect: Dialect, table: str = "") -> str:
    """The condition that a paper row (of the alias `table`, when given) holds any of three
    lists of identifiers, bound with `ids_parameters`."""
    prefix = f"{table}." if table else ""
    return " OR ".join(
        dialect.in_list(prefix + column) for column in ("arxiv_id", "doi", "bibtex_key")
    )


def ids_parameters(dialect: Dialect, ids: Iterable[PaperId]) -> tuple[Any, Any, Any]:
    """Three lists (arXiv ids, DOIs, bibtex keys) for `holding_ids`."""
    grouped: dict[str, list[str]] = {"arxiv": [], "doi": [], "bibtex": []}
    for paper_id in ids:
        grouped[paper_id.kind].append(paper_id.value)
    return (
        dialect.list_param(grouped["arxiv"]),
        dialect.list_param(grouped["doi"]),
        dialect.list_param(grouped["bibtex"]),
    )


# The columns of a new paper row, with their types (for `Dialect.bound_rows`).
_INSERT_TYPES: Final = (
    ("canonical_key", "text"), ("arxiv_id", "text"), ("doi", "text"), ("bibtex_key", "text"),
    ("title", "text"), ("authors", "text"), ("venue", "text"), ("year", "bigint"),
    ("abstract", "text"), ("url", "text"), ("pdf_url", "text"), ("published", "text"),
    ("categories", "text"), ("created_at", "bigint"), ("updated_at", "bigint"),
)  # fmt: skip
_INSERTED: Final = ", ".join(name for name, _ in _INSERT_TYPES)


def _insert_new(rows_table: str) -> str:
    """The statement inserting the new papers of `rows_table` (from `Dialect.bound_rows`):
    a few for a whole batch, far fewer round trips than a statement per row."""
    return (
        f"INSERT INTO papers ({_INSERTED}) SELECT {_INSERTED} FROM "
        + rows_table
        + " AS new_paper WHERE true ORDER BY position"
        # A row may already own the key without the identifier (edited by hand): then this
        # paper is that row.
        " ON CONFLICT DO NOTHING"
    )


_INSERT_COLUMNS: Final = (
    "canonical_key", "arxiv_id", "doi", "bibtex_key", "title", "authors", "venue", "year",
    "abstract", "url", "pdf_url", "published", "categories",
)  # fmt: skip
_UPDATE_COLUMNS: Final = (
    "arxiv_id", "doi", "bibtex_key", "venue", "year", "abstract", "url", "pdf_url", "published",
    "categories",
)  # fmt: skip


def _values(state: _PaperState, columns: Sequence[str]) -> tuple[Any, ...]:
    return tuple(state.values[column] for column in columns)


def _holds(paper: Paper, paper_id: PaperId) -> bool:
    return getattr(paper, ID_COLUMNS[paper_id.kind]) == paper_id.value


def in_order_of_ids(
    found: Iterable[T], ids: Sequence[PaperId], key: Callable[[T], Paper]
) -> list[T]:
    """Each distinct item of `found` (a paper, or what holds one: `key`) in the order of
    the first of `ids` its paper holds."""
    items = list(found)
    ordered: list[T] = []
    for paper_id in ids:
        for item in items:
            if _holds(key(item), paper_id) and item not in ordered:
                ordered.append(item)
    return ordered


def _index(by_key: dict[tuple[str, str], _PaperState], state: _PaperState) -> None:
    for kind, column in ID_COLUMNS.items():
        value = state.values.get(column)
        if value:
            by_key[(kind, value)] = state


def _fill(
    by_key: dict[tuple[str, str], _PaperState], state: _PaperState, item: PaperDetails
) -> None:
    """Give `state` the identifiers of `item` that no other paper holds, and its details
    where `state` has none."""
    for paper_id in item.ids:
        column = ID_COLUMNS[paper_id.kind]
        owner = by_key.get((paper_id.kind, paper_id.value))
        if owner is None and not state.values[column]:
            state.values[column] = paper_id.value
            state.changed.add(column)
            by_key[(paper_id.kind, paper_id.value)] = state
    for name, value in (("title", item.title), ("authors", item.authors)):
        if value and not state.values[name]:
            state.values[name] = value
            state.changed.add(name)
    for name in DETAIL_FIELDS:
        value = getattr(item, name)
        if value not in (None, "") and state.values[name] in (None, ""):
            state.values[name] = value
            state.changed.add(name)
