"""Community summaries: saving (one per paper, author and guild), soft deletion, votes,
arXiv look-up state of papers, member listings, the leaderboard and export rows.

Reads of summaries for display in general (`/summary view`, `/top`, search) belong to the
summaries repository; this module holds what only community summaries need. Writes that are
part of a larger unit of work take the caller's transaction as `conn`.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass

from bot.papers import PaperId
from bot.storage.database import Connection, Database, RetryableTransactionError, Row
from bot.storage.lookups import LookupQueue
from bot.storage.papers import (
    PAPER_COLUMNS,
    Paper,
    PaperDetails,
    PaperRepository,
    holding_ids,
    ids_parameters,
    in_order_of_ids,
)

# Called inside the transaction that saved a summary (its cards and announcement, say).
SavedHook = Callable[[Connection, "SaveResult"], Awaitable[None]]
# Called inside the transaction that changed a summary's text.
UpdatedHook = Callable[[Connection], Awaitable[None]]

_SELECT_COMMUNITY = (
    "SELECT s.id, s.paper_id, s.guild_id, s.author_discord_id, s.author_name, s.title, s.tldr, "
    "s.body, s.score, s.created_at, s.edited_at, s.deleted_at, st.deleted_by, st.edited_by, "
    "p.canonical_key, p.title, p.authors, p.year, p.venue, p.url, p.pdf_url, p.arxiv_id, "
    "p.doi, p.bibtex_key, p.abstract, l.status, p.categories "
    "FROM summaries AS s "
    "LEFT JOIN community_summary_state AS st ON st.summary_id = s.id "
    "LEFT JOIN papers AS p ON p.id = s.paper_id "
    "LEFT JOIN arxiv_lookups AS l ON l.paper_id = s.paper_id "
)


@dataclass(frozen=True, slots=True)
class CommunitySummary:
    """A community summary with its paper, as the community commands need it."""

    id: int
    paper_id: int
    guild_id: int
    author_id: int
    author_name: str
    title: str
    tldr: str
    body: str
    score: int
    created_at: float
    edited_at: float
    deleted_at: float | None
    deleted_by: int | None
    edited_by: int | None
    paper_key: str
    paper_title: str
    paper_authors: str
    paper_year: int | None
    paper_venue: str | None
    paper_url: str | None
    paper_pdf_url: str | None
    arxiv_id: str | None
    doi: str | None
    bibtex_key: str | None
    abstract: str | None
    lookup_status: str | None  # 'pending' while arXiv has not been reached yet
    categories: str

    @classmethod
    def from_row(cls, row: Row) -> CommunitySummary:
        values = list(row)
        # Times as floats; NULL text columns of the paper (a LEFT JOIN) as empty strings.
        values[9], values[10] = float(values[9]), float(values[10])
        values[11] = None if values[11] is None else float(values[11])
        for index in (14, 15, 16, 26):
            values[index] = values[index] or ""
        return cls(*values)

    @property
    def display_title(self) -> str:
        return self.paper_title or self.title or self.paper_key or f"Paper {self.paper_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None

    @property
    def unresolved(self) -> bool:
        return self.lookup_status == "pending"


@dataclass(frozen=True, slots=True)
class KnownPaper:
    """A stored paper as a draft naming it needs it (`known_papers`)."""

    paper: Paper
    arxiv_status: str | None  # its arXiv look-up: 'pending' while arXiv could not tell
    own_summary_id: int | None  # the author's community summary of it (deleted ones too)


@dataclass(frozen=True, slots=True)
class SaveResult:
    summary_id: int
    created: bool  # False: an existing summary was edited
    revived: bool  # the edited summary had been deleted by its author


class RemovedByModeratorError(Exception):
    """The member's summary of this paper was deleted by a moderator; only one may restore it."""

    def __init__(self, summary_id: int) -> None:
        super().__init__(summary_id)
        self.summary_id = summary_id


@dataclass(frozen=True, slots=True)
class VotePressRequest:
    """One vote button press: the member's new vote on the summary for each vote they may
    have now (-1, 0 for none, +1)."""

    summary_id: int
    voter_id: int
    new_by_current: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class VotePress:
    """What one vote button press stored: the member's vote before and after (-1, 0 for none,
    +1) and the summary's score after it."""

    previous: int
    new: int
    score: int


@dataclass(frozen=True, slots=True)
class LeaderboardRow:
    member_id: int
    name: str
    summaries: int
    votes: int


class CommunityRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- reading ---------------------------------------------------------------------------

    async def get(
        self, summary_id: int, *, conn: Connection | None = None
    ) -> CommunitySummary | None:
        """A community summary by id, deleted or not (callers check guild and visibility)."""
        sql = _SELECT_COMMUNITY + "WHERE s.id = ? AND s.origin = 'community'"
        row = await self.db.fetchone(sql, (summary_id,), conn=conn)
        return None if row is None else CommunitySummary.from_row(row)

    async def find_by_author(
        self, *, paper_id: int, guild_id: int, author_id: int
    ) -> CommunitySummary | None:
        sql = (
            _SELECT_COMMUNITY + "WHERE s.origin = 'community' "
            "AND s.paper_id = ? AND s.guild_id = ? AND s.author_discord_id = ?"
        )
        row = await self.db.fetchone(sql, (paper_id, guild_id, author_id))
        return None if row is None else CommunitySummary.from_row(row)

    async def known_papers(
        self, ids: Sequence[PaperId], *, guild_id: int | None, author_id: int | None
    ) -> list[KnownPaper]:
        """The stored papers any of `ids` names, in the order of the first id each holds,
        each with its arXiv look-up state and the id of `author_id`'s summary of it in
        `guild_id` (None without them). One statement: what a draft naming a paper needs
        before it is previewed, each round trip counting with a database server."""
        if not ids:
            return []
        dialect = self.db.dialect
        rows = await self.db.fetchall(
            "SELECT "
            + ", ".join(f"p.{column}" for column in PAPER_COLUMNS)
            + ", l.status, s.id FROM papers AS p "
            "LEFT JOIN arxiv_lookups AS l ON l.paper_id = p.id "
            "LEFT JOIN summaries AS s ON s.paper_id = p.id AND s.origin = 'community' "
            "AND s.guild_id = ? AND s.author_discord_id = ? "
            "WHERE " + holding_ids(dialect, "p"),
            (guild_id, author_id, *ids_parameters(dialect, ids)),
        )
        width = len(PAPER_COLUMNS)
        known = [
            KnownPaper(
                Paper.from_row(row),
                None if row[width] is None else str(row[width]),
                None if row[width + 1] is None else int(row[width + 1]),
            )
            for row in rows
        ]
        return in_order_of_ids(known, ids, key=lambda item: item.paper)

    async def list_for_author(
        self, *, guild_id: int, author_id: int, limit: int = 100
    ) -> list[CommunitySummary]:
        """A member's summaries in one guild, newest edit first, deleted ones included."""
        rows = await self.db.fetchall(
            _SELECT_COMMUNITY + "WHERE s.origin = 'community' "
            "AND s.guild_id = ? AND s.author_discord_id = ? ORDER BY s.edited_at DESC, s.id DESC "
            "LIMIT ?",
            (guild_id, author_id, limit),
        )
        return [CommunitySummary.from_row(row) for row in rows]

    async def count_for_author(self, *, guild_id: int, author_id: int) -> int:
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM summaries WHERE origin = 'community' AND guild_id = ? "
                "AND author_discord_id = ?",
                (guild_id, author_id),
            )
        )

    async def for_export(self, guild_id: int) -> list[CommunitySummary]:
        """Every visible community summary of a guild, by paper then author."""
        rows = await self.db.fetchall(
            _SELECT_COMMUNITY + "WHERE s.origin = 'community' "
            "AND s.guild_id = ? AND s.deleted_at IS NULL "
            "ORDER BY lower(COALESCE(NULLIF(p.title, ''), s.title)), s.paper_id, "
            "s.created_at, s.id",
            (guild_id,),
        )
        return [CommunitySummary.from_row(row) for row in rows]

    async def leaderboard(
        self, guild_id: int, *, since: float | None, limit: int = 10
    ) -> list[LeaderboardRow]:
        """Members by votes received, then summaries written, within the period."""
        # Summaries' times are whole seconds, votes' are not.
        start_seconds = math.ceil(since) if since is not None else -(2**62)
        start = since if since is not None else float("-inf")
        async with self.db.reading() as conn:  # the names from the same snapshot
            rows = await self.db.fetchall(
                "SELECT member, sum(written) AS written, sum(received) AS received FROM ("
                "  SELECT author_discord_id AS member, 1 AS written, 0 AS received FROM summaries "
                "  WHERE origin = 'community' AND guild_id = ? AND deleted_at IS NULL "
                "  AND created_at >= ? "
                "  UNION ALL "
                "  SELECT s.author_discord_id, 0, v.value FROM summary_votes AS v "
                "  JOIN summaries AS s ON s.id = v.summary_id "
                "  WHERE s.origin = 'community' AND s.guild_id = ? AND s.deleted_at IS NULL "
                "  AND v.voted_at >= ?"
                ") AS activity GROUP BY member "
                "ORDER BY received DESC, written DESC, member LIMIT ?",
                (guild_id, start_seconds, guild_id, start, limit),
                conn=conn,
            )
            result = []
            for member, written, received in rows:
                written, received = int(written), int(received)
                name = await self.db.fetchval(
                    "SELECT author_name FROM summaries WHERE origin = 'community' "
                    "AND guild_id = ? AND author_discord_id = ? ORDER BY edited_at DESC LIMIT 1",
                    (guild_id, member),
                    conn=conn,
                )
                result.append(LeaderboardRow(int(member), str(name or member), written, received))
        return result

    # --- writing ---------------------------------------------------------------------------

    async def save(
        self,
        *,
        paper_id: int,
        guild_id: int,
        author_id: int,
        author_name: str,
        title: str,
        tldr: str,
        body: str,
        now: float,
        on_saved: SavedHook | None = None,
        conn: Connection | None = None,
    ) -> SaveResult:
        """Create the author's summary of the paper in this guild, or edit the existing one.

        A summary the author deleted comes back with the new text; one a moderator deleted
        raises `RemovedByModeratorError`. `on_saved(conn, result)` runs in the same
        transaction, so what it queues (a card, an announcement) exists exactly when the
        summary does. Pass `conn` to make it part of the caller's transaction (the paper
        stored with it, at Publish).
        """
        async with self.db.writing(conn) as conn:
            # Most saves create the summary: tried first, in one statement. One the author
            # already has (or a double submission is creating: PostgreSQL waits for it) makes
            # this an edit.
            created_id = await conn.fetchval(
                "INSERT INTO summaries (paper_id, origin, guild_id, author_name, "
                "author_discord_id, title, tldr, body, created_at, edited_at) "
                "VALUES (?, 'community', ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (paper_id, author_discord_id, guild_id) "
                "WHERE origin = 'community' DO NOTHING RETURNING id",
                (paper_id, guild_id, author_name, author_id, title, tldr, body, *[int(now)] * 2),
            )
            if created_id is not None:
                # No community_summary_state row: a summary nobody deleted or edited for its
                # author has none to hold (readers join it LEFT, writers upsert it).
                summary_id = int(created_id)
                created, revived = True, False
            else:
                summary_id, revived = await self._edit_on_save(
                    conn,
                    paper_id=paper_id,
                    guild_id=guild_id,
                    author_id=author_id,
                    fields=(author_name, title, tldr, body, int(now)),
                )
                created = False
            await _link_to_open_session(conn, guild_id, paper_id, summary_id, now)
            result = SaveResult(summary_id=summary_id, created=created, revived=revived)
            if on_saved is not None:
                await on_saved(conn, result)
        return result

    async def _edit_on_save(
        self,
        conn: Connection,
        *,
        paper_id: int,
        guild_id: int,
        author_id: int,
        fields: tuple[str, str, str, str, int],
    ) -> tuple[int, bool]:
        """A save of a summary the author has: edit it (bringing it back if the author had
        deleted it). Returns its id and whether it came back."""
        # One edit at a time per author and paper (PostgreSQL): the deletion state read
        # here is still the one when the edit is written.
        await self.db.lock(conn, "community_summary", f"{guild_id}:{author_id}:{paper_id}")
        existing = await conn.fetchone(
            "SELECT s.id, s.deleted_at, st.deleted_by FROM summaries AS s "
            "LEFT JOIN community_summary_state AS st ON st.summary_id = s.id "
            "WHERE s.origin = 'community' AND s.paper_id = ? AND s.guild_id = ? "
            "AND s.author_discord_id = ?",
            (paper_id, guild_id, author_id),
        )
        if existing is None:  # removed for good between the insert and this read
            raise RetryableTransactionError("the summary was removed while being saved")
        summary_id = int(existing[0])
        deleted_by = existing[2]
        revived = existing[1] is not None
        if revived and deleted_by is not None and deleted_by != author_id:
            raise RemovedByModeratorError(summary_id)
        await conn.execute(
            "UPDATE summaries SET author_name = ?, title = ?, tldr = ?, body = ?, "
            "edited_at = ?, deleted_at = NULL WHERE id = ?",
            (*fields, summary_id),
        )
        await conn.execute(
            "INSERT INTO community_summary_state (summary_id) VALUES (?) "
            "ON CONFLICT (summary_id) DO UPDATE SET deleted_by = NULL, edited_by = NULL",
            (summary_id,),
        )
        return summary_id, revived

    async def update_text(
        self,
        summary_id: int,
        *,
        tldr: str,
        body: str,
        editor_id: int,
        now: float,
        on_updated: UpdatedHook | None = None,
    ) -> bool:
        """Replace the text of a visible summary (`/summary edit`). False when it is gone.
        `on_updated(conn)` runs in the same transaction."""
        async with self.db.transaction() as conn:
            row = await conn.fetchone(
                "UPDATE summaries SET tldr = ?, body = ?, edited_at = ? "
                "WHERE id = ? AND origin = 'community' AND deleted_at IS NULL "
                "RETURNING guild_id, paper_id",
                (tldr, body, int(now), summary_id),
            )
            if row is None:
                return False
            await conn.execute(
                "INSERT INTO community_summary_state (summary_id, edited_by) VALUES (?, ?) "
                "ON CONFLICT (summary_id) DO UPDATE SET edited_by = excluded.edited_by",
                (summary_id, editor_id),
            )
            await _link_to_open_session(conn, int(row[0]), int(row[1]), summary_id, now)
            if on_updated is not None:
                await on_updated(conn)
        return True

    async def soft_delete(self, summary_id: int, *, deleted_by: int, now: float) -> bool:
        """Hide a summary (reversibly). False when it was already deleted or does not exist."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE summaries SET deleted_at = ? "
                "WHERE id = ? AND origin = 'community' AND deleted_at IS NULL",
                (int(now), summary_id),
            )
            if changed == 0:
                return False
            await conn.execute(
                "INSERT INTO community_summary_state (summary_id, deleted_by) VALUES (?, ?) "
                "ON CONFLICT (summary_id) DO UPDATE SET deleted_by = excluded.deleted_by",
                (summary_id, deleted_by),
            )
        return True

    async def restore(self, summary_id: int) -> bool:
        """Bring a soft-deleted summary back. False when it was not deleted."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE summaries SET deleted_at = NULL "
                "WHERE id = ? AND origin = 'community' AND deleted_at IS NOT NULL",
                (summary_id,),
            )
            if changed == 0:
                return False
            await conn.execute(
                "UPDATE community_summary_state SET deleted_by = NULL WHERE summary_id = ?",
                (summary_id,),
            )
        return True

    # --- votes -----------------------------------------------------------------------------

    async def vote_of(
        self, summary_id: int, voter_id: int, *, conn: Connection | None = None
    ) -> int:
        """The member's vote on the summary: +1, -1, or 0 for none."""
        value = await self.db.fetchval(
            "SELECT value FROM summary_votes WHERE summary_id = ? AND voter_id = ?",
            (summary_id, voter_id),
            conn=conn,
        )
        return 0 if value is None else int(value)

    async def press_votes(
        self, presses: Sequence[VotePressRequest], *, now: float
    ) -> list[VotePress | None]:
        """Apply vote button presses, in one transaction: each changes the member's vote on
        the summary to `new_by_current[their current vote]` (what a press means is decided
        above storage, `bot.community.votes.press`). Presses on one summary take turns, in
        the order given (a member's second press reads the vote the first left), and other
        members' add up. Returns, for each press, the vote before and after and the score
        after it; None where the summary does not exist.

        On PostgreSQL this is one statement (`press_summary_votes`, migration 0019): one
        round trip and one commit for the batch, and the summary's row, which every vote
        on it updates, locked only while the server works."""
        if not presses:
            return []
        for request in presses:
            for new in request.new_by_current.values():
                if new not in (-1, 0, 1):
                    raise ValueError(f"a vote is -1, 0 or +1, not {new}")
        if self.db.dialect.is_postgresql:
            return await self._press_votes_in_server(presses, now=now)
        results: list[VotePress | None] = []
        async with self.db.transaction() as conn:
            for request in presses:
                summary_id, voter_id = request.summary_id, request.voter_id
                if await conn.fetchone("SELECT 1 FROM summaries WHERE id = ?", (summary_id,)):
                    previous = await self.vote_of(summary_id, voter_id, conn=conn)
                    new = request.new_by_current[previous]
                    score = await self.set_vote(summary_id, voter_id, new, now=now, conn=conn)
                    results.append(VotePress(previous=previous, new=new, score=score))
                else:
                    results.append(None)
        return results

    async def _press_votes_in_server(
        self, presses: Sequence[VotePressRequest], *, now: float
    ) -> list[VotePress | None]:
        # By summary (a stable sort keeps one member's presses in order): batches running
        # at once lock the summaries' rows in the same order.
        order = sorted(range(len(presses)), key=lambda index: presses[index].summary_id)
        ordered = [presses[index] for index in order]
        rows = await self.db.write_statement(
            "SELECT ordinal, previous_value, new_value, new_score "
            "FROM press_summary_votes(?, ?, ?, ?, ?, ?)",
            (
                [p.summary_id for p in ordered],
                [p.voter_id for p in ordered],
                [p.new_by_current[0] for p in ordered],
                [p.new_by_current[1] for p in ordered],
                [p.new_by_current[-1] for p in ordered],
                now,
            ),
        )
        results: list[VotePress | None] = [None] * len(presses)
        for ordinal, previous, new, score in rows:
            results[order[int(ordinal) - 1]] = VotePress(
                previous=int(previous), new=int(new), score=int(score)
            )
        return results

    async def set_vote(
        self,
        summary_id: int,
        voter_id: int,
        value: int,
        *,
        now: float,
        conn: Connection | None = None,
    ) -> int:
        """Store the member's vote (+1 or -1; 0 withdraws it) and return the summary's score,
        which the score triggers keep. What a button press means is decided above storage
        (`bot.community.votes`), in the caller's transaction."""
        if value not in (-1, 0, 1):
            raise ValueError(f"a vote is -1, 0 or +1, not {value}")
        async with self.db.writing(conn) as c:
            if value == 0:
                await c.execute(
                    "DELETE FROM summary_votes WHERE summary_id = ? AND voter_id = ?",
                    (summary_id, voter_id),
                )
            else:
                await c.execute(
                    "INSERT INTO summary_votes (summary_id, voter_id, value, voted_at) "
                    "VALUES (?, ?, ?, ?) ON CONFLICT (summary_id, voter_id) DO UPDATE SET "
                    "value = excluded.value, voted_at = excluded.voted_at",
                    (summary_id, voter_id, value, now),
                )
            score = await self.db.fetchval(
                "SELECT score FROM summaries WHERE id = ?", (summary_id,), conn=c
            )
        if score is None:
            raise LookupError(f"there is no summary {summary_id}")
        return int(score)

    async def vote_counts(self, summary_id: int) -> tuple[int, int]:
        """(up votes, down votes) of a summary."""
        row = await self.db.fetchone(
            "SELECT count(*) FILTER (WHERE value > 0), count(*) FILTER (WHERE value < 0) "
            "FROM summary_votes WHERE summary_id = ?",
            (summary_id,),
        )
        assert row is not None
        return int(row[0]), int(row[1])

    # --- arXiv look-ups --------------------------------------------------------------------

    async def lookup_status(self, paper_id: int, *, conn: Connection | None = None) -> str | None:
        return await LookupQueue(self.db, "arxiv").status(paper_id, conn=conn)

    async def mark_lookup_pending(
        self,
        paper_id: int,
        arxiv_id: str,
        *,
        error: str,
        next_attempt_at: float,
        conn: Connection | None = None,
    ) -> None:
        """Remember that this paper still needs its metadata from arXiv (an attempt failed)."""
        async with self.db.writing(conn) as c:
            await c.execute(
                "INSERT INTO arxiv_lookups (paper_id, arxiv_id, status, attempts, "
                "next_attempt_at, last_error) VALUES (?, ?, 'pending', 1, ?, ?) "
                "ON CONFLICT (paper_id) DO UPDATE SET status = 'pending', "
                "attempts = arxiv_lookups.attempts + 1, last_error = excluded.last_error, "
                "next_attempt_at = excluded.next_attempt_at "
                "WHERE arxiv_lookups.status != 'resolved'",
                (paper_id, arxiv_id, next_attempt_at, error),
            )

    async def apply_arxiv_metadata(
        self,
        paper_id: int,
        arxiv_id: str,
        details: PaperDetails,
        *,
        now: float,
        conn: Connection | None = None,
    ) -> None:
        """Fill a paper's empty fields with what arXiv says of it, and mark its look-up
        resolved.

        Fields someone already set are kept (a feed or an earlier import may know better); a
        DOI another paper already holds is left out rather than failing the update.
        """
        async with self.db.writing(conn) as c:
            await PaperRepository(self.db).fill_missing(paper_id, details, conn=c)
            await LookupQueue(self.db, "arxiv").mark_resolved(paper_id, arxiv_id, now=now, conn=c)


async def _link_to_open_session(
    conn: Connection, guild_id: int, paper_id: int, summary_id: int, now: float
) -> None:
    """Count the summary towards the paper's open reading session in this guild, if any."""
    await conn.execute(
        "INSERT INTO reading_submissions (session_id, summary_id, submitted_at) "
        "SELECT id, ?, ? FROM reading_sessions "
        "WHERE guild_id = ? AND paper_id = ? AND closed_at IS NULL "
        "ON CONFLICT (session_id, summary_id) DO NOTHING",
        (summary_id, now, guild_id, paper_id),
    )
