"""The SQLite connection, its pragmas, transactions and numbered migrations."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

# Called after every committed `transaction()`, outside the write lock, with `wait`: whether
# the caller wants what it wrote to be reflected in derived data (the search index) before it
# goes on. Hooks never raise into the caller's commit.
CommitHook = Callable[[bool], Awaitable[None]]
_wait_for_commit_hooks: ContextVar[bool] = ContextVar("wait_for_commit_hooks", default=True)
# After migrations, a file more than this fraction free pages is compacted (VACUUM): a
# migration that drops big tables (FTS5's index) would otherwise leave the file its old size.
VACUUM_FREE_FRACTION = 0.25

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Savepoint names go into SQL text (SAVEPOINT takes no parameters): identifiers only.
SAVEPOINT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


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


class Database:
    """One aiosqlite connection in autocommit mode, with explicit, serialised transactions.

    Every write goes through `transaction()`; a lock keeps two coroutines from interleaving
    statements inside one transaction on the shared connection.
    """

    def __init__(self, connection: aiosqlite.Connection, path: Path) -> None:
        self.connection = connection
        self.path = path
        self._write_lock = asyncio.Lock()
        self._commit_hooks: list[CommitHook] = []

    @classmethod
    async def open(cls, path: Path | str) -> Database:
        path = Path(path)
        if str(path) != ":memory:":
            path.parent.mkdir(parents=True, exist_ok=True)
        connection = await aiosqlite.connect(path, isolation_level=None)
        connection.row_factory = aiosqlite.Row
        await connection.execute("PRAGMA busy_timeout = 5000")
        await connection.execute("PRAGMA journal_mode = WAL")
        await connection.execute("PRAGMA synchronous = NORMAL")
        # The WAL grows during bulk imports; let it shrink back when it is reset.
        await connection.execute("PRAGMA journal_size_limit = 8388608")
        await connection.execute("PRAGMA foreign_keys = ON")
        return cls(connection, path)

    async def close(self) -> None:
        await self.connection.close()

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
        async with self._write_lock:
            await self.connection.execute("BEGIN IMMEDIATE")
            try:
                yield self.connection
                await self.connection.execute("COMMIT")
            except BaseException:
                # A failed COMMIT (a deferred constraint, a full disk) can leave the
                # transaction open, and some errors end it already: roll back only what is
                # still open, so the next BEGIN works and the original error is what surfaces.
                if self.connection.in_transaction:
                    await self.connection.execute("ROLLBACK")
                raise

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
    async def savepoint(
        self, conn: aiosqlite.Connection, name: str
    ) -> AsyncIterator[aiosqlite.Connection]:
        """`SAVEPOINT name` ... `RELEASE name` inside a `transaction()`; when the block raises,
        `ROLLBACK TO name` undoes only the block's writes and the transaction goes on.

        `name` must be an identifier constant from the code, never user data.
        """
        if not SAVEPOINT_NAME.fullmatch(name):
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

    async def fetchone(self, sql: str, params: Sequence[Any] = ()) -> aiosqlite.Row | None:
        async with self.connection.execute(sql, params) as cursor:
            return await cursor.fetchone()

    async def fetchall(self, sql: str, params: Sequence[Any] = ()) -> list[aiosqlite.Row]:
        async with self.connection.execute(sql, params) as cursor:
            return list(await cursor.fetchall())

    async def fetchval(self, sql: str, params: Sequence[Any] = ()) -> Any:
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    async def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

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
            log.info("Applied migration %s", migration.name)
            applied.append(migration.version)
        if applied:
            await self._compact_if_mostly_free()
        return applied

    async def _compact_if_mostly_free(self) -> None:
        if str(self.path) == ":memory:":
            return
        pages = int(await self.fetchval("PRAGMA page_count"))
        free = int(await self.fetchval("PRAGMA freelist_count"))
        if pages and free / pages > VACUUM_FREE_FRACTION:
            log.info(
                "Compacting the database: %d of %d pages are free after migrating", free, pages
            )
            async with self._write_lock:
                await self.connection.execute("VACUUM")
