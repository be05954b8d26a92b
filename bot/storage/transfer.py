"""Copying a whole database to another one, of either engine (`shortscience-bot migrate-data`):
SQLite to PostgreSQL when a bot outgrows its file, or back.

Every table is copied with its ids, in one read snapshot of the source and one transaction on
the target (all or nothing), parents before children so foreign keys hold. The target's own
triggers are off while copying: the rows come with what the triggers made on the source (the
search change log, the look-up queues, vote totals) and must not be made twice. Afterwards
PostgreSQL's id sequences continue after the highest id copied. The target must be empty: a
database that has anything of its own is refused, never merged into.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from bot.storage.database import Connection, Database, DatabaseError

log = logging.getLogger(__name__)

ProgressCallback = Callable[[int, int], None]

# Every table, parents before the tables that refer to them, with the columns ordering a copy.
TABLES: Final[tuple[tuple[str, tuple[str, ...]], ...]] = (
    ("papers", ("id",)),
    ("summaries", ("id",)),
    ("feeds", ("id",)),
    ("feed_subscriptions", ("id",)),
    ("feed_entries", ("feed_id", "identity")),
    ("community_announce_channels", ("guild_id",)),
    ("announcement_outbox", ("id",)),
    ("community_summary_state", ("summary_id",)),
    ("summary_votes", ("summary_id", "voter_id")),
    ("arxiv_lookups", ("paper_id",)),
    ("crossref_lookups", ("paper_id",)),
    ("reading_sessions", ("id",)),
    ("reading_submissions", ("session_id", "summary_id")),
    ("summary_posts", ("summary_id", "message_id")),
    ("bot_state", ("key",)),
    ("search_changes", ("seq",)),
    ("search_log_state", ("id",)),
    ("interaction_states", ("id",)),
    ("submission_events", ("token",)),
    ("feed_poll_log", ("id",)),
    ("job_leases", ("name",)),
)
# What running processes keep about themselves (the process registry, IDENTIFY slots): not
# data to move. The bot's processes register with the new database when they start on it.
RUNTIME_TABLES: Final = frozenset({"bot_processes", "bot_process_shards", "gateway_identify_slots"})
# Rows the migrations themselves write into a new database; replaced by the source's.
MIGRATION_ROWS: Final = frozenset({"bot_state", "search_log_state"})
COPY_BATCH: Final = 2000
_INTEGER_TYPES: Final = frozenset({"integer", "bigint", "smallint"})
_FLOAT_TYPES: Final = frozenset({"double precision", "real", "numeric"})


class TransferError(DatabaseError):
    """The copy cannot be made (the target is not empty, the schemas differ); nothing was
    written."""


@dataclass(frozen=True, slots=True)
class TransferReport:
    rows: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.rows.values())


async def table_names(db: Database) -> set[str]:
    if db.engine == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
    return {str(row[0]) for row in await db.fetchall(sql)} - {"schema_version"}


async def _columns(db: Database, table: str) -> dict[str, str]:
    """Column name -> declared type (lower case), in the table's order."""
    if db.engine == "sqlite":
        # PRAGMA takes no parameters; `table` is one of TABLES, a constant of the code.
        rows = await db.fetchall(f"PRAGMA table_info({table})")
        return {str(row[1]): str(row[2]).lower() for row in rows}
    rows = await db.fetchall(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return {str(row[0]): str(row[1]).lower() for row in rows}


async def _check_schemas(source: Database, target: Database) -> None:
    known = {name for name, _ in TABLES}
    for db in (source, target):
        unknown = await table_names(db) - known - RUNTIME_TABLES
        if unknown:
            raise TransferError(
                f"{db.description} has tables migrate-data does not know: {sorted(unknown)}"
            )


async def _refuse_non_empty(target: Database) -> None:
    for table, _ in TABLES:
        if table in MIGRATION_ROWS:
            continue
        # `table` is a constant of the code.
        if await target.fetchval(f"SELECT EXISTS (SELECT 1 FROM {table})"):
            raise TransferError(
                f"the target database {target.description} is not empty (table {table} has "
                "rows): migrate-data only copies into a new, empty database"
            )
    keys = await target.fetchall("SELECT key FROM bot_state")
    if {str(row[0]) for row in keys} - {"outbox_nonce_salt"}:
        raise TransferError(
            f"the target database {target.description} is not empty (bot_state has rows): "
            "migrate-data only copies into a new, empty database"
        )


def _coerce(value: Any, declared: str, *, table: str, column: str) -> Any:
    """A value as the target's column type wants it (SQLite lets a column hold any type)."""
    if value is None:
        return None
    if declared in _INTEGER_TYPES:
        if isinstance(value, float):
            if not value.is_integer():
                raise TransferError(f"{table}.{column} holds {value!r}, not a whole number")
            return int(value)
        return int(value)
    if declared in _FLOAT_TYPES:
        return float(value)
    if declared == "text" and not isinstance(value, str):
        return str(value)
    return value


async def copy_database(
    source: Database,
    target: Database,
    *,
    progress: ProgressCallback | None = None,
    batch_size: int = COPY_BATCH,
) -> TransferReport:
    """Copy every row of `source` into the empty `target` (both migrated to the same, latest
    version first). Returns the rows copied per table."""
    if source.engine == target.engine and source.description == target.description:
        raise TransferError("the source and the target are the same database")
    await source.migrate()
    await target.migrate()
    await _check_schemas(source, target)
    await _refuse_non_empty(target)
    columns = {
        table: (await _columns(source, table), await _columns(target, table)) for table, _ in TABLES
    }
    for table, (source_columns, target_columns) in columns.items():
        if set(source_columns) != set(target_columns):
            raise TransferError(
                f"table {table} differs: {sorted(source_columns)} in the source, "
                f"{sorted(target_columns)} in the target"
            )
    copied: dict[str, int] = {}
    async with source.reading() as reader:
        counts = {
            table: int(await reader.fetchval(f"SELECT count(*) FROM {table}"))
            for table, _ in TABLES
        }
        total = sum(counts.values())
        done = 0
        if progress is not None:
            progress(0, total)
        async with target.transaction() as writer:
            triggers = await _disable_triggers(target, writer)
            for table, order in TABLES:
                target_columns = columns[table][1]
                names = list(target_columns)
                if table in MIGRATION_ROWS:
                    await writer.execute(f"DELETE FROM {table}")
                select = (
                    f"SELECT {', '.join(names)} FROM {table} ORDER BY {', '.join(order)} "
                    "LIMIT ? OFFSET ?"
                )
                insert = (
                    f"INSERT INTO {table} ({', '.join(names)}) "
                    f"VALUES ({', '.join('?' for _ in names)})"
                )
                offset = 0
                while True:
                    rows = await reader.fetchall(select, (batch_size, offset))
                    if not rows:
                        break
                    await writer.executemany(
                        insert,
                        [
                            tuple(
                                _coerce(row[i], target_columns[name], table=table, column=name)
                                for i, name in enumerate(names)
                            )
                            for row in rows
                        ],
                    )
                    offset += len(rows)
                    done += len(rows)
                    if progress is not None:
                        progress(done, total)
                copied[table] = offset
                log.debug("Copied %d rows of %s", offset, table)
            await _restore_triggers(target, writer, triggers)
            await _continue_sequences(target, writer)
    return TransferReport(copied)


async def _disable_triggers(db: Database, conn: Connection) -> Sequence[str]:
    """Turn the target's triggers off inside the copy's transaction; returns what restores
    them. PostgreSQL: DISABLE TRIGGER USER (foreign keys stay on). SQLite, which cannot
    disable one: dropped, and made again from their own SQL before the commit."""
    if db.engine == "postgresql":
        for table, _ in TABLES:
            await conn.execute(f"ALTER TABLE {table} DISABLE TRIGGER USER")
        return [f"ALTER TABLE {table} ENABLE TRIGGER USER" for table, _ in TABLES]
    rows = await conn.fetchall("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'")
    for row in rows:
        # Trigger names come from the database's own schema (our migrations).
        await conn.execute(f'DROP TRIGGER "{row[0]}"')
    return [str(row[1]) for row in rows]


async def _restore_triggers(db: Database, conn: Connection, statements: Sequence[str]) -> None:
    for statement in statements:
        await conn.execute(statement)


async def _continue_sequences(db: Database, conn: Connection) -> None:
    """PostgreSQL: each identity sequence continues after the highest id copied (SQLite's
    AUTOINCREMENT follows explicit ids by itself)."""
    if db.engine != "postgresql":
        return
    rows = await conn.fetchall(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    )
    for table, column in rows:
        # Names from the database's own catalogue.
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
            f"COALESCE((SELECT max({column}) FROM {table}), 0) + 1, false)"
        )
