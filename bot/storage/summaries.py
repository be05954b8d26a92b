"""Summaries: from feeds (visible everywhere) or written by a guild's members (visible there).

Visibility, applied by every read here: feed summaries are shown in every guild and in DMs;
a community summary only in its own guild (`guild_id` is the viewer's guild, None in DMs);
soft-deleted summaries (`deleted_at` set) are never shown.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from bot.storage.database import Connection, Database, Row
from bot.storage.papers import Paper, paper_columns

UpsertStatus = Literal["inserted", "updated", "unchanged"]
# What a row is (migration 0013): a summary someone wrote, or a feed entry that is the paper
# itself, its text the paper's abstract (an arXiv announcement).
SummaryKind = Literal["summary", "abstract"]

# Summary columns (16) then the paper's (PAPER_COLUMNS, NULL when the summary has none).
_SELECT_SUMMARIES: Final = (
    "SELECT s.id, s.paper_id, s.origin, s.guild_id, s.author_name, s.author_discord_id, s.title,"
    " s.tldr, s.body, s.url, s.external_id, s.score, s.created_at, s.edited_at, s.deleted_at, "
    "s.kind, "
    + paper_columns("p")
    + " FROM summaries AS s LEFT JOIN papers AS p ON p.id = s.paper_id"
)
_VISIBLE: Final = " s.deleted_at IS NULL AND (s.origin = 'feed' OR s.guild_id = ?)"


@dataclass(frozen=True, slots=True)
class Summary:
    id: int
    paper_id: int | None
    origin: Literal["feed", "community"]
    guild_id: int | None
    author_name: str
    author_discord_id: int | None
    title: str
    tldr: str
    body: str
    url: str | None
    external_id: str | None
    score: int
    created_at: datetime
    edited_at: datetime
    deleted_at: datetime | None
    paper: Paper | None = None
    kind: SummaryKind = "summary"

    @property
    def is_abstract(self) -> bool:
        """Whether this is a paper's abstract (an arXiv entry), not a summary of it."""
        return self.kind == "abstract"

    @property
    def display_title(self) -> str:
        """The paper's title when there is a paper, else the summary's own."""
        if self.paper is not None and self.paper.title:
            return self.paper.title
        return self.title

    @classmethod
    def from_row(cls, row: Row) -> Summary:
        deleted = row[14]
        return cls(
            id=row[0], paper_id=row[1], origin=row[2], guild_id=row[3], author_name=row[4],
            author_discord_id=row[5], title=row[6], tldr=row[7], body=row[8], url=row[9],
            external_id=row[10], score=row[11],
            created_at=datetime.fromtimestamp(row[12], UTC),
            edited_at=datetime.fromtimestamp(row[13], UTC),
            deleted_at=None if deleted is None else datetime.fromtimestamp(deleted, UTC),
            kind=row[15],
            paper=None if row[16] is None else Paper.from_row(row, 16),
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class ExternalSummary:
    """A summary as a feed gives it, keyed by `external_id` (a guid or entry identity).

    `score` is the feed's own vote count; members' votes in Discord come on top of it.
    """

    external_id: str
    body: str
    title: str = ""
    author_name: str = "Anonymous"
    paper_id: int | None = None
    url: str | None = None
    score: int = 0
    tldr: str = ""
    created_at: datetime | None = None  # first publication; defaults to now
    edited_at: datetime | None = None  # last edit; defaults to created_at
    kind: SummaryKind = "summary"


@dataclass(frozen=True, slots=True)
class UpsertResult:
    summary_id: int
    status: UpsertStatus


class SummaryRepository:
    """Reads and writes `summaries`; the full-text index follows through triggers."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(
        self, summary_id: int, *, guild_id: int | None = None, include_hidden: bool = False
    ) -> Summary | None:
        """The summary if the viewer in `guild_id` may see it (`include_hidden` skips the
        visibility rule, for moderation and tests)."""
        if include_hidden:
            row = await self.db.fetchone(_SELECT_SUMMARIES + " WHERE s.id = ?", (summary_id,))
        else:
            row = await self.db.fetchone(
                _SELECT_SUMMARIES + " WHERE s.id = ? AND" + _VISIBLE, (summary_id, guild_id)
            )
        return None if row is None else Summary.from_row(row)

    async def get_many(self, summary_ids: Sequence[int], *, guild_id: int | None) -> list[Summary]:
        """The summaries among `summary_ids` that the viewer in `guild_id` may see, in the
        order given (a list shown earlier, paged again: deleted ones drop out)."""
        if not summary_ids:
            return []
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            _SELECT_SUMMARIES + " WHERE " + dialect.in_list("s.id") + " AND" + _VISIBLE,
            (dialect.list_param(summary_ids), guild_id),
        )
        found = {summary.id: summary for summary in map(Summary.from_row, rows)}
        return [found[summary_id] for summary_id in summary_ids if summary_id in found]

    async def get_by_external_id(self, external_id: str) -> Summary | None:
        """The feed summary with this guid/identity, deleted or not."""
        row = await self.db.fetchone(_SELECT_SUMMARIES + " WHERE s.external_id = ?", (external_id,))
        return None if row is None else Summary.from_row(row)

    async def upsert_external(
        self,
        *,
        external_id: str,
        body: str,
        title: str = "",
        author_name: str = "Anonymous",
        paper_id: int | None = None,
        url: str | None = None,
        score: int = 0,
        tldr: str = "",
        created_at: datetime | None = None,
        edited_at: datetime | None = None,
        kind: SummaryKind = "summary",
        conn: Connection | None = None,
    ) -> UpsertResult:
        """Insert a feed summary, or bring the one with the same `external_id` up to date.

        An edit (new text, score, title, ...) updates the row in place. A version older than
        the stored one (by `edited_at`) changes nothing, so re-importing an old dump is
        harmless. A soft-deleted summary stays deleted.
        """
        summary = ExternalSummary(
            external_id=external_id, body=body, title=title, author_name=author_name,
            paper_id=paper_id, url=url, score=score, tldr=tldr, created_at=created_at,
            edited_at=edited_at, kind=kind,
        )  # fmt: skip
        return (await self.upsert_external_many([summary], conn=conn))[0]

    async def upsert_external_many(
        self, summaries: Sequence[ExternalSummary], *, conn: Connection | None = None
    ) -> list[UpsertResult]:
        """`upsert_external` for a batch, in four statements; one result per input, in order.

        When the batch holds the same `external_id` twice, the later edit wins and the other
        counts as unchanged.
        """
        if not summaries:
            return []
        now = int(time.time())
        latest: dict[str, tuple[int, ExternalSummary, int, int]] = {}
        for position, summary in enumerate(summaries):
            created = _unix(summary.created_at, now)
            edited = _unix(summary.edited_at, created)
            known = latest.get(summary.external_id)
            if known is None or edited >= known[2]:
                latest[summary.external_id] = (position, summary, edited, created)

        async with self.db.writing(conn) as connection:
            dialect = connection.dialect
            found = await connection.fetchall(
                "SELECT id, external_id, paper_id, title, tldr, body, author_name, url,"
                " feed_votes, edited_at, kind FROM summaries WHERE "
                + dialect.in_list("external_id"),
                (dialect.list_param(latest),),
            )
            existing = {row[1]: tuple(row) for row in found}

            statuses: dict[str, UpsertStatus] = {}
            ids: dict[str, int] = {}
            inserts: list[tuple[Any, ...]] = []
            updates: list[tuple[Any, ...]] = []
            for external_id, (_, summary, edited, created) in latest.items():
                row = existing.get(external_id)
                if row is None:
                    statuses[external_id] = "inserted"
                    inserts.append(
                        (
                            summary.paper_id,
                            summary.author_name,
                            summary.title,
                            summary.tldr,
                            summary.body,
                            summary.url,
                            external_id,
                            summary.score,
                            summary.score,
                            created,
                            edited,
                            summary.kind,
                        )
                    )
                    continue
                ids[external_id] = row[0]
                paper_id = summary.paper_id if summary.paper_id is not None else row[2]
                wanted = (
                    paper_id, summary.title, summary.tldr, summary.body, summary.author_name,
                    summary.url, summary.score, max(edited, row[9]),
                )  # fmt: skip
                # A kind learned since (the paper's abstract became known) is written even
                # when the text is the same.
                if edited < row[9] or (wanted == row[2:10] and summary.kind == row[10]):
                    statuses[external_id] = "unchanged"
                else:
                    statuses[external_id] = "updated"
                    updates.append((*wanted, summary.kind, row[0]))

            if inserts:
                ids.update(await _insert_new(connection, inserts))
            if updates:
                await _update_changed(connection, updates, existing)

        results = []
        for position, summary in enumerate(summaries):
            winner_position = latest[summary.external_id][0]
            status = statuses[summary.external_id] if position == winner_position else "unchanged"
            results.append(UpsertResult(ids[summary.external_id], status))
        return results

    async def list_for_paper(self, paper_id: int, *, guild_id: int | None) -> list[Summary]:
        """A paper's visible summaries, best first (score, then most recent edit); its
        abstract from a feed is not one of them (the paper shows its abstract itself)."""
        rows = await self.db.fetchall(
            _SELECT_SUMMARIES
            + " WHERE s.paper_id = ? AND s.kind = 'summary' AND"
            + _VISIBLE
            + " ORDER BY s.score DESC, s.edited_at DESC, s.id DESC",
            (paper_id, guild_id),
        )
        return [Summary.from_row(row) for row in rows]

    async def latest(self, limit: int = 10, *, guild_id: int | None) -> list[Summary]:
        """The most recently published visible summaries."""
        rows = await self.db.fetchall(
            _SELECT_SUMMARIES
            + " WHERE"
            + _VISIBLE
            + " ORDER BY s.created_at DESC, s.id DESC LIMIT ?",
            (guild_id, limit),
        )
        return [Summary.from_row(row) for row in rows]

    async def top(self, since: datetime, limit: int = 10, *, guild_id: int | None) -> list[Summary]:
        """The highest-scored visible summaries published since `since` (abstracts are
        papers, not summaries: they are never ranked)."""
        rows = await self.db.fetchall(
            _SELECT_SUMMARIES
            + " WHERE s.created_at >= ? AND s.kind = 'summary' AND"
            + _VISIBLE
            + " ORDER BY s.score DESC, s.created_at DESC, s.id DESC LIMIT ?",
            (int(since.timestamp()), guild_id, limit),
        )
        return [Summary.from_row(row) for row in rows]

    async def random(self, *, guild_id: int | None) -> Summary | None:
        """A random visible summary, without sorting the whole table.

        Picks a random id and takes the first visible summary at or after it (wrapping
        around); gaps make some rows a little likelier, which is fine for "surprise me".
        """
        bounds = await self.db.fetchone("SELECT min(id), max(id) FROM summaries")
        if bounds is None or bounds[0] is None:
            return None
        start = random.randint(bounds[0], bounds[1])  # not for security
        row = await self.db.fetchone(
            _SELECT_SUMMARIES + " WHERE s.id >= ? AND" + _VISIBLE + " ORDER BY s.id LIMIT 1",
            (start, guild_id),
        )
        if row is None:
            row = await self.db.fetchone(
                _SELECT_SUMMARIES + " WHERE s.id < ? AND" + _VISIBLE + " ORDER BY s.id LIMIT 1",
                (start, guild_id),
            )
        return None if row is None else Summary.from_row(row)

    async def has_visible(self, *, guild_id: int | None) -> bool:
        """Whether the viewer in `guild_id` can see any summary at all (an empty library
        gets a word on how to fill it, not "no results")."""
        found = await self.db.fetchval(
            "SELECT EXISTS (SELECT 1 FROM summaries AS s WHERE" + _VISIBLE + ")", (guild_id,)
        )
        return bool(found)


# The columns of a new feed summary, with their types (for `Dialect.bound_rows`).
_INSERT_TYPES: Final = (
    ("paper_id", "bigint"), ("author_name", "text"), ("title", "text"), ("tldr", "text"),
    ("body", "text"), ("url", "text"), ("external_id", "text"), ("score", "bigint"),
    ("feed_votes", "bigint"), ("created_at", "bigint"), ("edited_at", "bigint"),
    ("kind", "text"),
)  # fmt: skip
_INSERTED: Final = ", ".join(name for name, _ in _INSERT_TYPES)


async def _insert_new(connection: Connection, inserts: list[tuple[Any, ...]]) -> dict[str, int]:
    """Insert feed summaries (rows in `_INSERT_TYPES`' order); their ids by external id.

    A few statements for a whole batch (`Dialect.bound_rows`): far fewer round trips than a
    statement per row."""
    ids = {}
    for bound in connection.dialect.bound_rows(_INSERT_TYPES, inserts):
        rows = await connection.fetchall(
            f"INSERT INTO summaries (origin, {_INSERTED}) SELECT 'feed', {_INSERTED} FROM "
            + bound.table
            + " AS new_summary ORDER BY position RETURNING external_id, id",
            bound.params,
        )
        ids.update({row[0]: row[1] for row in rows})
    return ids


_UPDATE_TYPES: Final = (
    ("paper_id", "bigint"), ("title", "text"), ("tldr", "text"), ("body", "text"),
    ("author_name", "text"), ("url", "text"), ("votes", "bigint"), ("feed_votes", "bigint"),
    ("edited_at", "bigint"), ("kind", "text"), ("id", "bigint"),
)  # fmt: skip


async def _update_changed(
    connection: Connection,
    updates: list[tuple[Any, ...]],
    existing: dict[str, tuple[Any, ...]],
) -> None:
    """Write edits. Vote-only changes skip the text columns (a shorter statement). The score
    moves by the change in feed votes, keeping members' votes (the statement reads the old
    feed_votes)."""
    by_id = {row[0]: row for row in existing.values()}
    text_changes = []
    vote_changes = []
    for update in updates:
        # update: paper_id, title, tldr, body, author_name, url, feed_votes, edited_at, kind, id
        # old: id, external_id, paper_id, title, tldr, body, author_name, url, feed_votes,
        # edited_at, kind
        old = by_id[update[-1]]
        votes, edited, kind, summary_id = update[6], update[7], update[8], update[9]
        if update[:6] == old[2:8] and kind == old[10]:
            vote_changes.append((votes, votes, edited, summary_id))
        else:
            text_changes.append((*update[:6], votes, votes, edited, kind, summary_id))
    # A few statements for the whole batch, for the same reason as inserts.
    for bound in connection.dialect.bound_rows(_UPDATE_TYPES, text_changes):
        await connection.execute(
            "UPDATE summaries SET paper_id = change.paper_id, title = change.title,"
            " tldr = change.tldr, body = change.body, author_name = change.author_name,"
            " url = change.url, score = score - summaries.feed_votes + change.votes,"
            " feed_votes = change.feed_votes, edited_at = change.edited_at,"
            " kind = change.kind FROM " + bound.table + " AS change WHERE summaries.id = change.id",
            bound.params,
        )
    if vote_changes:
        await connection.executemany(
            "UPDATE summaries SET score = score - feed_votes + ?, feed_votes = ?, edited_at = ?"
            " WHERE id = ?",
            vote_changes,
        )


def _unix(moment: datetime | None, default: int) -> int:
    return default if moment is None else int(moment.timestamp())
