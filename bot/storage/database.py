"""The SQLite database: a writer and reader connections, units of work, numbered migrations."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
import tempfile
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

log = logging.getLogger(__name__)

T = TypeVar("T")

# Called after every committed `transaction()`, outside the write lock, with `wait`: whether
# the caller wants what it wrote to be reflected in derived data (the search index) before it
# goes on. Hooks never raise into the caller's commit.
CommitHook = Callable[[bool], Awaitable[None]]
_wait_for_commit_hooks: ContextVar[bool] = ContextVar("wait_for_commit_hooks", default=True)
# After migrations, a file more than this fraction free pages is compacted (VACUUM): a
# migration that drops big tables (FTS5's index) would otherwise leave the file its old size.
VACUUM_FREE_FRACTION = 0.25

# Bound parameters: positional (`?`) or named (`:name`).
Parameters = Sequence[Any] | Mapping[str, Any]

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Savepoint and pragma names go into SQL text (neither takes parameters): identifiers only.
SQL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class DatabaseTooNewError(RuntimeError):
    """The database was written by a newer version of the bot than this one."""


class MigrationError(RuntimeError):
    """A migration failed; the database was left as it was before it."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def load_migrations(directory: Path | None = None) -> list[Migration]:
    """Read `NNNN_name.sql` files, in version order, checking the numbers run 1, 2, 3, ..."""
    if directory is None:
        files = [
            (entry.name, entry.read_text(encoding="utf-8"))
            for entry in resources.files("bot.storage").joinpath("migrations").iterdir()
            if entry.name.endswith(".sql")
        ]
    else:
        files = [(p.name, p.read_text(encoding="utf-8")) for p in directory.glob("*.sql")]
    migrations = []
    for name, sql in files:
        match = MIGRATION_NAME.match(name)
        if match is None:
            raise MigrationError(f"migration file {name!r} is not named NNNN_name.sql")
        migrations.append(Migration(int(match.group(1)), name, sql))
    migrations.sort(key=lambda m: m.version)
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise MigrationError(f"migration {migration.name} should be numbered {expected:04d}")
    return migrations


def split_statements(script: str) -> list[str]:
    """Split a SQL script into statements (trigger bodies stay whole).

    `executescript` would commit before running, which breaks atomic migrations, so each
    statement is executed on its own inside one explicit transaction.
    """
    statements: list[str] = []
    current = ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            if current.strip():
                statements.append(current.strip())
            current = ""
    if current.strip() and not _only_comments(current):
        raise MigrationError(f"incomplete SQL statement at end of script: {current.strip()[:80]}")
    return statements


def _only_comments(text: str) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in text.splitlines())


# Reader connections per Database: reads run in parallel with each other and with the
# writer (each aiosqlite connection has a thread of its own), and a few suffice for a bot.
DEFAULT_READ_CONNECTIONS = 4
BUSY_TIMEOUT_MS = 5000


async def _connect(path: Path | str, *, read_only: bool) -> aiosqlite.Connection:
    """One connection in autocommit mode (transactions are explicit), with our pragmas."""
    connection = await aiosqlite.connect(path, isolation_level=None)
    connection.row_factory = aiosqlite.Row
    await connection.execute("PRAGMA busy_timeout = " + str(BUSY_TIMEOUT_MS))
    await connection.execute("PRAGMA foreign_keys = ON")
    if read_only:
        # A write through a reader is a bug (it would bypass the write lock): make it fail.
        await connection.execute("PRAGMA query_only = ON")
    return connection


async def _to_completion(statement: Awaitable[T]) -> T:
    """Await a statement even through a cancellation, then let the cancellation go on.

    Once queued, a statement runs in the connection's thread whatever happens to the task
    awaiting it: a COMMIT the task was cancelled waiting for still commits. Only when it has
    finished does `in_transaction` say where the transaction stands, so that the clean-up
    neither rolls back what committed ("cannot rollback - no transaction is active", which
    would hide the cancellation) nor leaves a transaction open behind the write lock.
    """
    running = asyncio.ensure_future(statement)
    try:
        return await asyncio.shield(running)
    except asyncio.CancelledError:
        await asyncio.wait([running])
        if not running.cancelled():
            running.exception()  # retrieved: the cancellation is what the caller gets
        raise


class _ReaderPool:
    """At most `size` reader connections, opened on first need and reused."""

    def __init__(self, path: Path, size: int) -> None:
        if size < 1:
            raise ValueError("a database needs at least one read connection")
        self.path = path
        self.size = size
        self._idle: list[aiosqlite.Connection] = []
        self._open: set[aiosqlite.Connection] = set()
        self._slots = asyncio.Semaphore(size)
        self._closed = False

    async def acquire(self) -> aiosqlite.Connection:
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

    async def release(self, connection: aiosqlite.Connection, *, reusable: bool) -> None:
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


class Database:
    """SQLite in WAL mode: one writer connection and a small pool of reader connections.

    Every unit of work runs on a connection of its own, the shape a server database's
    connection pool has too:

    - `transaction()` is a write: `BEGIN IMMEDIATE` ... `COMMIT` on the writer, one at a time
      (a lock keeps two coroutines from interleaving statements in one transaction). Code
      inside it reads through the `conn` it was given, so it sees its own writes.
    - `reading()` is a multi-statement read: a reader connection inside one read
      transaction, so every statement sees the same snapshot of committed data.
    - `fetchone` / `fetchall` / `fetchval` run one statement: on `conn` when given (inside
      either unit), else on a reader of their own.

    WAL gives each reader only committed data: a read never sees another coroutine's
    uncommitted (and maybe later rolled-back) writes, and never waits for a writer.
    """

    def __init__(
        self,
        writer: aiosqlite.Connection,
        path: Path,
        *,
        read_connections: int = DEFAULT_READ_CONNECTIONS,
        temporary_dir: tempfile.TemporaryDirectory[str] | None = None,
    ) -> None:
        self.writer = writer
        self.path = path
        self._readers = _ReaderPool(path, read_connections)
        self._write_lock = asyncio.Lock()
        # The task inside transaction(), to catch reads that would bypass its own writes.
        self._writing_task: asyncio.Task[Any] | None = None
        self._temporary_dir = temporary_dir
        self._commit_hooks: list[CommitHook] = []

    @classmethod
    async def open(
        cls, path: Path | str, *, read_connections: int = DEFAULT_READ_CONNECTIONS
    ) -> Database:
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
        return cls(writer, path, read_connections=read_connections, temporary_dir=temporary_dir)

    async def close(self) -> None:
        await self._readers.close()
        await self.writer.close()
        if self._temporary_dir is not None:
            self._temporary_dir.cleanup()

    # --- commit hooks ----------------------------------------------------------------------

    def add_commit_hook(self, hook: CommitHook) -> None:
        """Run `hook` after every committed `transaction()` (the search index follows)."""
        self._commit_hooks.append(hook)

    def remove_commit_hook(self, hook: CommitHook) -> None:
        if hook in self._commit_hooks:
            self._commit_hooks.remove(hook)

    @staticmethod
    @contextmanager
    def commit_hooks_not_awaited() -> Iterator[None]:
        """Inside this block (of the current task), commits only nudge derived data instead of
        waiting for it: a bulk import lets the search index work alongside, then waits once."""
        token = _wait_for_commit_hooks.set(False)
        try:
            yield
        finally:
            _wait_for_commit_hooks.reset(token)

    async def run_commit_hooks(self, *, wait: bool | None = None) -> None:
        if wait is None:
            wait = _wait_for_commit_hooks.get()
        for hook in list(self._commit_hooks):
            try:
                await hook(wait)
            except Exception:
                # The commit stands: derived data catches up by itself later.
                log.exception("A commit hook failed after a successful commit")

    # --- units of work ---------------------------------------------------------------------

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """`BEGIN IMMEDIATE` ... `COMMIT`, or `ROLLBACK` when the block raises; after a
        commit, the commit hooks (outside the write lock, so other writers go on)."""
        async with self._raw_transaction() as conn:
            yield conn
        if self._commit_hooks:
            await self.run_commit_hooks()

    @asynccontextmanager
    async def _raw_transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        task = asyncio.current_task()
        if task is not None and task is self._writing_task:
            raise RuntimeError(
                "transaction() inside the same task's transaction(): pass its conn on "
                "(db.writing(conn)) instead"
            )
        async with self._write_lock:
            self._writing_task = task
            try:
                try:
                    await _to_completion(self.writer.execute("BEGIN IMMEDIATE"))
                    yield self.writer
                    await _to_completion(self.writer.execute("COMMIT"))
                except BaseException:
                    # A failed COMMIT (a deferred constraint, a full disk) can leave the
                    # transaction open, and some errors end it already: roll back only what
                    # is still open, so the next BEGIN works and the original error surfaces.
                    if self.writer.in_transaction:
                        await _to_completion(self.writer.execute("ROLLBACK"))
                    raise
            finally:
                self._writing_task = None

    @asynccontextmanager
    async def writing(
        self, conn: aiosqlite.Connection | None
    ) -> AsyncIterator[aiosqlite.Connection]:
        """The caller's connection (inside its transaction) or a new transaction of our own.

        Repository writes take an optional connection so that several can share one
        transaction (a poll's entries and their outbox rows, a summary and its announcement).
        """
        if conn is not None:
            yield conn
        else:
            async with self.transaction() as own:
                yield own

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[aiosqlite.Connection]:
        """A reader connection inside one read transaction: every statement run on it sees
        the same committed snapshot. Return it promptly (an open snapshot keeps the WAL from
        being checkpointed past it)."""
        self._refuse_read_inside_own_transaction()
        connection = await self._readers.acquire()
        usable = False
        try:
            await connection.execute("BEGIN")
            try:
                yield connection
            finally:
                if connection.in_transaction:
                    await connection.execute("COMMIT")
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
    async def _statement_connection(
        self, conn: aiosqlite.Connection | None
    ) -> AsyncIterator[aiosqlite.Connection]:
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

    def _refuse_read_inside_own_transaction(self) -> None:
        task = asyncio.current_task()
        if task is not None and task is self._writing_task:
            raise RuntimeError(
                "a read on a reader connection inside this task's own transaction() would not "
                "see the transaction's writes: read through its conn (conn=...)"
            )

    @asynccontextmanager
    async def savepoint(
        self, conn: aiosqlite.Connection, name: str
    ) -> AsyncIterator[aiosqlite.Connection]:
        """`SAVEPOINT name` ... `RELEASE name` inside a `transaction()`; when the block raises,
        `ROLLBACK TO name` undoes only the block's writes and the transaction goes on.

        `name` must be an identifier constant from the code, never user data.
        """
        if not SQL_IDENTIFIER.fullmatch(name):
            raise ValueError(f"savepoint name {name!r} is not an identifier")
        if not conn.in_transaction:
            # Outside a transaction SAVEPOINT would begin one and RELEASE would commit it.
            raise RuntimeError("savepoint() belongs inside transaction()")
        await conn.execute("SAVEPOINT " + name)
        try:
            yield conn
        except BaseException:
            # Some errors (a full disk, an I/O error) end the whole transaction: nothing to
            # roll back to then, and the caller's transaction() reports it.
            if conn.in_transaction:
                await conn.execute("ROLLBACK TO " + name)
                await conn.execute("RELEASE " + name)
            raise
        else:
            await conn.execute("RELEASE " + name)

    # --- one statement -----------------------------------------------------------------------

    async def fetchone(
        self, sql: str, params: Parameters = (), *, conn: aiosqlite.Connection | None = None
    ) -> aiosqlite.Row | None:
        """The first row of one query, on `conn` or on a reader (committed data only)."""
        async with self._statement_connection(conn) as c, c.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(
        self, sql: str, params: Parameters = (), *, conn: aiosqlite.Connection | None = None
    ) -> list[aiosqlite.Row]:
        """Every row of one query, on `conn` or on a reader (committed data only)."""
        async with self._statement_connection(conn) as c:
            # One hand-off to the connection's thread instead of three (execute, fetch, close).
            return list(await c.execute_fetchall(sql, params))

    async def fetchval(
        self, sql: str, params: Parameters = (), *, conn: aiosqlite.Connection | None = None
    ) -> Any:
        row = await self.fetchone(sql, params, conn=conn)
        return None if row is None else row[0]

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    async def writer_pragma(self, name: str, value: int | None = None) -> Any:
        """Read, or with `value` set, a connection setting of the writer (`cache_size`,
        `wal_autocheckpoint`: what bulk imports tune). `name` is a constant from the code."""
        if not SQL_IDENTIFIER.fullmatch(name):
            raise ValueError(f"pragma name {name!r} is not an identifier")
        async with self._write_lock:
            if value is not None:
                # PRAGMA takes no parameters: `value` is an int, formatted as one.
                await self.writer.execute(f"PRAGMA {name} = {int(value)}")
            async with self.writer.execute(f"PRAGMA {name}") as cursor:
                row = await cursor.fetchone()
        return None if row is None else row[0]

    async def user_version(self) -> int:
        return int(await self.fetchval("PRAGMA user_version"))

    async def migrate(self, migrations: list[Migration] | None = None) -> list[int]:
        """Apply pending migrations in order, each atomically. Returns the versions applied."""
        if migrations is None:
            migrations = load_migrations()
        latest = migrations[-1].version if migrations else 0
        current = await self.user_version()
        if current > latest:
            raise DatabaseTooNewError(
                f"the database {self.path} is at schema version {current}, but this version of "
                f"shortscience-bot only knows up to {latest}: upgrade the bot, or point "
                "DATABASE_PATH at another file"
            )
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            try:
                async with self.transaction() as conn:
                    for statement in split_statements(migration.sql):
                        await conn.execute(statement)
                    # PRAGMA takes no parameters; the version is an int parsed from a file name.
                    await conn.execute("PRAGMA user_version = " + str(int(migration.version)))
            except sqlite3.Error as exc:
                raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
            log.debug("Applied migration %s", migration.name)
            applied.append(migration.version)
        if applied:
            await self._compact_if_mostly_free()
        return applied

    async def _compact_if_mostly_free(self) -> None:
        pages = int(await self.writer_pragma("page_count"))
        free = int(await self.writer_pragma("freelist_count"))
        if pages and free / pages > VACUUM_FREE_FRACTION:
            log.info(
                "Compacting the database: %d of %d pages are free after migrating", free, pages
            )
            async with self._write_lock:
                await self.writer.execute("VACUUM")
