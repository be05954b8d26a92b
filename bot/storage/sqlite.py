"""SQLite: one writer connection and a small pool of reader connections, in WAL mode.

The embedded default: nothing to install or run beside the bot. Write transactions run one at
a time (`BEGIN IMMEDIATE` on the one writer, behind a lock), so a read-modify-write inside a
`transaction()` can never interleave with another writer's.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import tempfile
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, cast

import aiosqlite

from bot.storage.database import (
    SQL_IDENTIFIER,
    Connection,
    Database,
    IntegrityError,
    Migration,
    MigrationError,
    Parameters,
    Row,
    ThreadReader,
    split_statements,
    to_completion,
)
from bot.storage.dialect import SQLITE

log = logging.getLogger(__name__)

# After migrations, a file more than this fraction free pages is compacted (VACUUM): a
# migration that drops big tables (FTS5's index) would otherwise leave the file its old size.
VACUUM_FREE_FRACTION = 0.25
# Reader connections per Database: reads run in parallel with each other and with the
# writer (each aiosqlite connection has a thread of its own), and a few suffice for a bot.
DEFAULT_READ_CONNECTIONS = 4
BUSY_TIMEOUT_MS = 5000

# SQLite's page cache while importing, in KiB (negative PRAGMA cache_size means KiB). The
# default 2 MiB makes every batch re-read and re-write the same index pages.
BULK_CACHE_KIB: Final = 64 * 1024
# WAL pages between automatic checkpoints while importing (default 1,000, 4 MiB). A checkpoint
# syncs the WAL and the database file and copies every page changed since the last one; an
# import rewrites the same index pages over and over, so fewer checkpoints copy fewer pages
# and sync less. The WAL file grows to about this size (64 MiB).
BULK_CHECKPOINT_PAGES: Final = 16384


def _rowcount(raw: sqlite3.Connection, sql: str, params: Parameters) -> int:
    cursor = raw.execute(sql, params)
    try:
        return max(cursor.rowcount, 0)
    finally:
        cursor.close()


def _first_row(raw: sqlite3.Connection, sql: str, params: Parameters) -> Any:
    cursor = raw.execute(sql, params)
    try:
        return cursor.fetchone()
    finally:
        cursor.close()


class SqliteConnection(Connection):
    """An aiosqlite connection behind the project's `Connection`. Each call is one hand-off
    to the connection's thread (a statement and its rows together)."""

    dialect = SQLITE

    def __init__(self, raw: aiosqlite.Connection) -> None:
        self.raw = raw

    async def execute(self, sql: str, params: Parameters = ()) -> int:
        try:
            return cast(int, await self.raw._execute(_rowcount, self.raw._conn, sql, params))
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    async def executemany(self, sql: str, rows: Iterable[Parameters]) -> None:
        try:
            await self.raw.executemany(sql, rows)
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    async def fetchone(self, sql: str, params: Parameters = ()) -> Row | None:
        try:
            return cast(
                Row | None, await self.raw._execute(_first_row, self.raw._conn, sql, params)
            )
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    async def fetchall(self, sql: str, params: Parameters = ()) -> list[Row]:
        try:
            return cast(list[Row], list(await self.raw.execute_fetchall(sql, params)))
        except sqlite3.IntegrityError as exc:
            raise IntegrityError(str(exc)) from exc

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    async def close(self) -> None:
        await self.raw.close()


class SqliteThreadReader(ThreadReader):
    """A plain sqlite3 connection of a worker thread's own (read-only, autocommit)."""

    dialect = SQLITE

    def __init__(self, path: Path | str) -> None:
        self.raw = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        self.raw.execute("PRAGMA query_only = ON")

    def fetchall(self, sql: str, params: Parameters = ()) -> list[Row]:
        return cast(list[Row], self.raw.execute(sql, params).fetchall())

    def fetchone(self, sql: str, params: Parameters = ()) -> Row | None:
        return cast(Row | None, self.raw.execute(sql, params).fetchone())

    def close(self) -> None:
        self.raw.close()


async def _connect(path: Path | str, *, read_only: bool) -> SqliteConnection:
    """One connection in autocommit mode (transactions are explicit), with our pragmas."""
    connection = await aiosqlite.connect(path, isolation_level=None)
    connection.row_factory = aiosqlite.Row
    await connection.execute("PRAGMA busy_timeout = " + str(BUSY_TIMEOUT_MS))
    await connection.execute("PRAGMA foreign_keys = ON")
    if read_only:
        # A write through a reader is a bug (it would bypass the write lock): make it fail.
        await connection.execute("PRAGMA query_only = ON")
    return SqliteConnection(connection)


class _ReaderPool:
    """At most `size` reader connections, opened on first need and reused."""

    def __init__(self, path: Path, size: int) -> None:
        if size < 1:
            raise ValueError("a database needs at least one read connection")
        self.path = path
        self.size = size
        self._idle: list[SqliteConnection] = []
        self._open: set[SqliteConnection] = set()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def acquire(self) -> SqliteConnection:
        if self._closed:
            raise RuntimeError("the database is closed")
        await self._slots.acquire()
        try:
            if self._idle:
                return self._idle.pop()
            connection = await _connect(self.path, read_only=True)
            self._open.add(connection)
            return connection
        except BaseException:
            self._slots.release()
            raise

    async def release(self, connection: SqliteConnection, *, reusable: bool) -> None:
        try:
            if reusable and not self._closed:
                self._idle.append(connection)
                return
            self._open.discard(connection)
            await connection.close()
        finally:
            self._slots.release()

    async def close(self) -> None:
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            self._open.discard(connection)
            await connection.close()


class SqliteDatabase(Database):
    """SQLite in WAL mode: one writer connection and a small pool of reader connections.

    - `transaction()` is `BEGIN IMMEDIATE` ... `COMMIT` on the writer, one at a time (a lock
      keeps two coroutines from interleaving statements in one transaction).
    - `reading()` is a reader connection inside one read transaction.
    - WAL gives each reader only committed data: a read never sees another coroutine's
      uncommitted (and maybe later rolled-back) writes, and never waits for a writer.
    """

    engine = "sqlite"
    dialect = SQLITE

    def __init__(
        self,
        writer: SqliteConnection,
        path: Path,
        *,
        read_connections: int = DEFAULT_READ_CONNECTIONS,
        temporary_dir: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        super().__init__()
        self.writer = writer
        self.path = path
        self._readers = _ReaderPool(path, read_connections)
        self._write_lock = asyncio.Lock()
        self._temporary_dir = temporary_dir
        self._closed = False

    @classmethod
    async def open(  # type: ignore[override]
        cls, path: Path | str, *, read_connections: int | None = None
    ) -> SqliteDatabase:
        """Open (creating when missing) the database file at `path`.

        `:memory:` gives a database in a temporary file removed on close: readers need a
        file to share with the writer.
        """
        temporary_dir = None
        if str(path) == ":memory:":
            temporary_dir = tempfile.TemporaryDirectory(prefix="shortscience-db-")
            path = Path(temporary_dir.name) / "memory.sqlite3"
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        writer = await _connect(path, read_only=False)
        await writer.execute("PRAGMA journal_mode = WAL")
        await writer.execute("PRAGMA synchronous = NORMAL")
        # The WAL grows during bulk imports; let it shrink back when it is reset.
        await writer.execute("PRAGMA journal_size_limit = 8388608")
        return cls(
            writer,
            path,
            read_connections=read_connections or DEFAULT_READ_CONNECTIONS,
            temporary_dir=temporary_dir,
        )

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        await self._readers.close()
        await self.writer.close()
        if self._temporary_dir is not None:
            self._temporary_dir.cleanup()

    @property
    def description(self) -> str:
        return str(self.path)

    def thread_reader(self) -> ThreadReader:
        return SqliteThreadReader(self.path)

    # --- units of work ---------------------------------------------------------------------

    @asynccontextmanager
    async def _raw_transaction(self) -> AsyncIterator[Connection]:
        async with self._write_lock:
            writer = self.writer
            try:
                await to_completion(writer.raw.execute("BEGIN IMMEDIATE"))
                yield writer
                try:
                    await to_completion(writer.raw.execute("COMMIT"))
                except sqlite3.IntegrityError as exc:  # a deferred constraint
                    raise IntegrityError(str(exc)) from exc
            except BaseException:
                # A failed COMMIT (a deferred constraint, a full disk) can leave the
                # transaction open, and some errors end it already: roll back only what
                # is still open, so the next BEGIN works and the original error surfaces.
                if writer.in_transaction:
                    await to_completion(writer.raw.execute("ROLLBACK"))
                raise

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        """A reader connection inside one read transaction: every statement run on it sees
        the same committed snapshot. Return it promptly (an open snapshot keeps the WAL from
        being checkpointed past it)."""
        self._refuse_read_inside_own_transaction()
        connection = await self._readers.acquire()
        usable = False
        try:
            await connection.raw.execute("BEGIN")
            try:
                yield connection
            finally:
                if connection.in_transaction:
                    await connection.raw.execute("COMMIT")
            usable = True
        except Exception:
            usable = True  # an ordinary error leaves the connection as good as it was
            raise
        finally:
            # After a cancellation its state is unknown: the pool opens a fresh one.
            await self._readers.release(
                connection, reusable=usable and not connection.in_transaction
            )

    @asynccontextmanager
    async def _statement_connection(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
            return
        self._refuse_read_inside_own_transaction()
        connection = await self._readers.acquire()
        usable = False
        try:
            yield connection
            usable = True
        except Exception:
            usable = True
            raise
        finally:
            await self._readers.release(
                connection, reusable=usable and not connection.in_transaction
            )

    async def lock(self, conn: Connection, name: str, key: object) -> None:
        """Nothing to do: SQLite's write transactions run one at a time."""

    # --- SQLite's own settings ---------------------------------------------------------------

    async def writer_pragma(self, name: str, value: int | None = None) -> Any:
        """Read, or with `value` set, a connection setting of the writer (`cache_size`,
        `wal_autocheckpoint`: what bulk imports tune). `name` is a constant from the code."""
        if not SQL_IDENTIFIER.fullmatch(name):
            raise ValueError(f"pragma name {name!r} is not an identifier")
        async with self._write_lock:
            if value is not None:
                # PRAGMA takes no parameters: `value` is an int, formatted as one.
                await self.writer.execute(f"PRAGMA {name} = {int(value)}")
            return await self.writer.fetchval(f"PRAGMA {name}")

    @asynccontextmanager
    async def bulk_writes(self) -> AsyncIterator[None]:
        """A bigger page cache and rarer WAL checkpoints for the duration of a bulk import,
        then the previous settings again.

        Never shrinks a cache, nor shortens a checkpoint interval, that is already bigger.
        Connection-wide, so meant for imports (the CLI), not for the bot's routine writes.
        Durability is unchanged (synchronous stays as it is).
        """
        previous = int(await self.writer_pragma("cache_size"))
        # cache_size is pages when positive, KiB when negative; compare in KiB.
        page_size = int(await self.writer_pragma("page_size"))
        previous_kib = previous * page_size // 1024 if previous > 0 else -previous
        previous_checkpoint = int(await self.writer_pragma("wal_autocheckpoint"))
        if previous_kib < BULK_CACHE_KIB:
            await self.writer_pragma("cache_size", -BULK_CACHE_KIB)
        # 0 (or less) means no automatic checkpoints at all: leave that alone.
        if 0 < previous_checkpoint < BULK_CHECKPOINT_PAGES:
            await self.writer_pragma("wal_autocheckpoint", BULK_CHECKPOINT_PAGES)
        try:
            yield
        finally:
            await self.writer_pragma("cache_size", previous)
            await self.writer_pragma("wal_autocheckpoint", previous_checkpoint)

    # --- migrations ------------------------------------------------------------------------

    async def schema_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version"))

    async def _apply_migration(self, migration: Migration) -> bool:
        try:
            async with self.transaction() as conn:
                # Another process may have applied it since we looked (the write lock of
                # BEGIN IMMEDIATE makes this check and the migration one step).
                if int(await conn.fetchval("PRAGMA user_version")) >= migration.version:
                    return False
                for statement in split_statements(migration.sql):
                    await conn.execute(statement)
                # PRAGMA takes no parameters; the version is an int parsed from a file name.
                await conn.execute("PRAGMA user_version = " + str(int(migration.version)))
        except (sqlite3.Error, IntegrityError) as exc:
            raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
        return True

    async def _after_migrations(self) -> None:
        pages = int(await self.writer_pragma("page_count"))
        free = int(await self.writer_pragma("freelist_count"))
        if pages and free / pages > VACUUM_FREE_FRACTION:
            log.info(
                "Compacting the database: %d of %d pages are free after migrating", free, pages
            )
            async with self._write_lock:
                await self.writer.execute("VACUUM")
