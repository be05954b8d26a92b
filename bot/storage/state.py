"""Facts about the database itself (`bot_state`): whether the first-start seed was done."""

from __future__ import annotations

from typing import Final, Literal, cast

from bot.storage.database import Connection, Database

SeedStatus = Literal["pending", "done", "skipped"]

_SEED_KEY: Final = "seed"


class BotStateRepository:
    """Reads and writes `bot_state`."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def seed_status(self) -> SeedStatus | None:
        """Where the first-start import stands; None when it was never considered."""
        value = await self.db.fetchval("SELECT value FROM bot_state WHERE key = ?", (_SEED_KEY,))
        return None if value is None else cast(SeedStatus, value)

    async def claim_seed(self, now: float) -> SeedStatus:
        """Decide, once per database, whether it is to be seeded, and return the decision.

        The first time: 'pending' when the database has no summaries at all (it is to be
        seeded; the caller imports, then calls `finish_seed`), else 'skipped'. Later calls
        return what was decided, so a seed interrupted by a restart is resumed and a
        database that was filled by other means is never seeded. One transaction, so two
        processes on one database cannot both decide.
        """
        async with self.db.transaction() as conn:
            # Decided and stored in one statement: of two processes deciding at once, the
            # second waits for the first's row and keeps it (PostgreSQL; SQLite's writers
            # take turns anyway).
            await conn.execute(
                "INSERT INTO bot_state (key, value, updated_at) SELECT ?, CASE WHEN EXISTS "
                "(SELECT 1 FROM summaries) THEN 'skipped' ELSE 'pending' END, ? "
                "ON CONFLICT (key) DO NOTHING",
                (_SEED_KEY, now),
            )
            decided = await _value(conn, _SEED_KEY)
        assert decided is not None
        return cast(SeedStatus, decided)

    async def finish_seed(self, now: float) -> None:
        """Record that the seed import finished: it is never run again on this database."""
        async with self.db.transaction() as conn:
            await _set(conn, _SEED_KEY, "done", now)


async def _value(conn: Connection, key: str) -> str | None:
    value = await conn.fetchval("SELECT value FROM bot_state WHERE key = ?", (key,))
    return None if value is None else str(value)


async def _set(conn: Connection, key: str, value: str, now: float) -> None:
    await conn.execute(
        "INSERT INTO bot_state (key, value, updated_at) VALUES (?, ?, ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        (key, value, now),
    )
