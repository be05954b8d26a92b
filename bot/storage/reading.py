"""Reading sessions: a thread about one paper, its due date, reminder and digest."""

from __future__ import annotations

from dataclasses import dataclass, fields

from bot.storage.database import Connection, Database, IntegrityError, Row

REMINDER_LEAD_SECONDS = 24 * 3600.0
_SELECT_OPEN_FOR_PAPER = (
    "SELECT * FROM reading_sessions WHERE guild_id = ? AND paper_id = ? AND closed_at IS NULL"
)


class SessionAlreadyOpenError(Exception):
    """The paper already has an open reading session in this guild."""

    def __init__(self, session_id: int | None) -> None:
        super().__init__(session_id)
        self.session_id = session_id


@dataclass(frozen=True, slots=True)
class ReadingSession:
    id: int
    guild_id: int
    paper_id: int
    channel_id: int
    thread_id: int
    card_message_id: int | None
    started_by: int
    started_at: float
    due_at: float | None
    reminder_sent_at: float | None
    reminder_message_id: int | None
    closed_at: float | None
    closed_by: int | None
    digest_message_id: int | None
    mention_role_id: int | None = None  # mentioned by the card and the reminder

    @classmethod
    def from_row(cls, row: Row) -> ReadingSession:
        return cls(**{field.name: row[field.name] for field in fields(cls)})

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    @property
    def reminder_at(self) -> float | None:
        return None if self.due_at is None else self.due_at - REMINDER_LEAD_SECONDS


@dataclass(frozen=True, slots=True)
class Submission:
    """A summary written for the session's paper while the session was open."""

    summary_id: int
    author_id: int
    author_name: str
    tldr: str
    score: int
    submitted_at: float


class ReadingRepository:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def create(
        self,
        *,
        guild_id: int,
        paper_id: int,
        channel_id: int,
        thread_id: int,
        started_by: int,
        started_at: float,
        due_at: float | None,
        mention_role_id: int | None = None,
        conn: Connection | None = None,
    ) -> ReadingSession:
        """Open a session. Raises `SessionAlreadyOpenError` when the paper has one here.

        Summaries of the paper already written in this guild are not counted: only what is
        written (or rewritten) while the session is open. Pass `conn` to make it part of the
        caller's transaction (the paper stored with it).
        """
        async with self.db.writing(conn) as c:
            try:
                # In a savepoint: on PostgreSQL a failed statement ends the transaction
                # unless rolled back to one, and the open session is looked up after.
                async with self.db.savepoint(c, "reading_session_insert"):
                    row = await c.fetchone(
                        "INSERT INTO reading_sessions (guild_id, paper_id, channel_id, "
                        "thread_id, started_by, started_at, due_at, mention_role_id) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                        (
                            guild_id,
                            paper_id,
                            channel_id,
                            thread_id,
                            started_by,
                            started_at,
                            due_at,
                            mention_role_id,
                        ),
                    )
            except IntegrityError as exc:
                existing = await self.db.fetchone(
                    _SELECT_OPEN_FOR_PAPER, (guild_id, paper_id), conn=c
                )
                raise SessionAlreadyOpenError(
                    None if existing is None else int(existing["id"])
                ) from exc
        assert row is not None
        return ReadingSession.from_row(row)

    async def get(self, session_id: int) -> ReadingSession | None:
        row = await self.db.fetchone("SELECT * FROM reading_sessions WHERE id = ?", (session_id,))
        return None if row is None else ReadingSession.from_row(row)

    async def by_thread(self, thread_id: int) -> ReadingSession | None:
        row = await self.db.fetchone(
            "SELECT * FROM reading_sessions WHERE thread_id = ?", (thread_id,)
        )
        return None if row is None else ReadingSession.from_row(row)

    async def open_for_paper(self, guild_id: int, paper_id: int) -> ReadingSession | None:
        row = await self.db.fetchone(_SELECT_OPEN_FOR_PAPER, (guild_id, paper_id))
        return None if row is None else ReadingSession.from_row(row)

    async def open_in_guild(self, guild_id: int) -> list[ReadingSession]:
        rows = await self.db.fetchall(
            "SELECT * FROM reading_sessions WHERE guild_id = ? AND closed_at IS NULL "
            "ORDER BY due_at IS NULL, due_at, id",
            (guild_id,),
        )
        return [ReadingSession.from_row(row) for row in rows]

    async def set_card_message(self, session_id: int, message_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE reading_sessions SET card_message_id = ? WHERE id = ?",
                (message_id, session_id),
            )

    async def delete(self, session_id: int) -> None:
        """Forget a session whose thread could not be set up."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM reading_sessions WHERE id = ?", (session_id,))

    async def due_reminders(self, now: float) -> list[ReadingSession]:
        """Open sessions whose reminder time has come and whose due date has not passed.

        A session started less than a day before its due date gets no reminder: the card
        it opened with already says when it is due.
        """
        rows = await self.db.fetchall(
            "SELECT * FROM reading_sessions WHERE closed_at IS NULL AND reminder_sent_at IS NULL "
            "AND due_at IS NOT NULL AND due_at - ? <= ? AND due_at > ? "
            "AND due_at - ? >= started_at ORDER BY due_at, id",
            (REMINDER_LEAD_SECONDS, now, now, REMINDER_LEAD_SECONDS),
        )
        return [ReadingSession.from_row(row) for row in rows]

    async def next_reminder_at(self) -> float | None:
        value = await self.db.fetchval(
            "SELECT min(due_at - ?) FROM reading_sessions WHERE closed_at IS NULL "
            "AND reminder_sent_at IS NULL AND due_at IS NOT NULL AND due_at - ? >= started_at",
            (REMINDER_LEAD_SECONDS, REMINDER_LEAD_SECONDS),
        )
        return None if value is None else float(value)

    async def mark_reminded(self, session_id: int, *, message_id: int | None, now: float) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE reading_sessions SET reminder_sent_at = ?, reminder_message_id = ? "
                "WHERE id = ? AND reminder_sent_at IS NULL",
                (now, message_id, session_id),
            )

    async def close(self, session_id: int, *, closed_by: int, now: float) -> bool:
        """Mark a session closed. False when it already was (someone closed it first)."""
        async with self.db.transaction() as conn:
            closed = await conn.execute(
                "UPDATE reading_sessions SET closed_at = ?, closed_by = ? "
                "WHERE id = ? AND closed_at IS NULL",
                (now, closed_by, session_id),
            )
            return closed == 1

    async def set_digest_message(self, session_id: int, message_id: int) -> None:
        async with self.db.transaction() as conn:
            await conn.execute(
                "UPDATE reading_sessions SET digest_message_id = ? WHERE id = ?",
                (message_id, session_id),
            )

    async def submissions(self, session_id: int) -> list[Submission]:
        """Visible summaries written for the session, best score first."""
        rows = await self.db.fetchall(
            "SELECT s.id, s.author_discord_id, s.author_name, s.tldr, s.score, r.submitted_at "
            "FROM reading_submissions AS r JOIN summaries AS s ON s.id = r.summary_id "
            "WHERE r.session_id = ? AND s.deleted_at IS NULL "
            "ORDER BY s.score DESC, r.submitted_at, s.id",
            (session_id,),
        )
        return [
            Submission(int(r[0]), int(r[1]), str(r[2]), str(r[3]), int(r[4]), float(r[5]))
            for r in rows
        ]
