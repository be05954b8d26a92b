"""The database, engine-neutral: units of work, one-statement reads, commit hooks and numbered
migrations, over SQLite (`bot.storage.sqlite`) or PostgreSQL (`bot.storage.postgres`).

`Database.open(target)` opens either: a `postgresql://` URL opens PostgreSQL, anything else
(a `sqlite:///` URL, a path, `:memory:`) SQLite. Repositories see only this module's
`Database` and `Connection` and write SQL once (see `bot.storage.dialect`).
"""

from __future__ import annotations

import abc
import asyncio
import logging
import re
import sqlite3
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from bot.pacing import backoff_delay
from bot.storage.dialect import Dialect, EngineName

log = logging.getLogger(__name__)

T = TypeVar("T")

# Called after every committed `transaction()`, outside the transaction, with `wait`: whether
# the caller wants what it wrote to be reflected in derived data (the search index) before it
# goes on. Hooks never raise into the caller's commit.
CommitHook = Callable[[bool], Awaitable[None]]
_wait_for_commit_hooks: ContextVar[bool] = ContextVar("wait_for_commit_hooks", default=True)

# Bound parameters: positional (`?`) or named (`:name`).
Parameters = Sequence[Any] | Mapping[str, Any]

MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
# Savepoint, lock and pragma names go into SQL text (none takes parameters): identifiers only.
SQL_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")

# A unit of work run by `run_transaction` is tried this many times in all when the engine
# asks for a retry (a deadlock, a serialization failure, a conflicting concurrent insert).
TRANSACTION_ATTEMPTS = 6
RETRY_BASE_SECONDS = 0.01  # doubling per attempt (with jitter), at most:
RETRY_CAP_SECONDS = 1.0


class Row(Protocol):
    """A result row: by column name (`row["id"]`) or position (`row[0]`), iterable.
    `sqlite3.Row` and `asyncpg.Record` both are one."""

    def __getitem__(self, key: int | str, /) -> Any: ...

    def __iter__(self) -> Iterator[Any]: ...

    def __len__(self) -> int: ...

    def keys(self) -> Iterable[str]: ...


class DatabaseError(RuntimeError):
    """Base of the storage layer's own errors (the engines' errors are turned into these)."""


class DatabaseTooNewError(DatabaseError):
    """The database was written by a newer version of the bot than this one."""


class MigrationError(DatabaseError):
    """A migration failed; the database was left as it was before it."""


class IntegrityError(DatabaseError):
    """A constraint refused a write (a unique key taken, a foreign key missing). On
    PostgreSQL the transaction can go on only from a savepoint taken before the statement."""


class DatabaseUnavailableError(DatabaseError):
    """The database server cannot be reached, or went away in the middle of the work (it is
    down, restarting, or refusing connections). Nothing of an unfinished transaction was
    committed; trying again later is the remedy."""


class RetryableTransactionError(DatabaseError):
    """The transaction lost a race with another one (a deadlock, a serialization failure, a
    row inserted concurrently) and was rolled back: running the whole unit of work again is
    correct (`Database.run_transaction` does)."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations_directory(engine: EngineName) -> str:
    """The package folder of an engine's migrations (`migrations/sqlite`, ...)."""
    return f"migrations/{engine}"


def load_migrations(
    directory: Path | None = None, *, engine: EngineName = "sqlite"
) -> list[Migration]:
    """Read `NNNN_name.sql` files, in version order, checking the numbers have no gaps.

    An engine's first migration may start above 1: it is a baseline, the whole schema at that
    version, applied only to an empty database (PostgreSQL's starts at the version SQLite
    had when PostgreSQL support came; every later version exists for both engines).
    """
    if directory is None:
        folder = resources.files("bot.storage").joinpath(migrations_directory(engine))
        files = [
            (entry.name, entry.read_text(encoding="utf-8"))
            for entry in folder.iterdir()
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
    first = migrations[0].version if migrations and engine != "sqlite" else 1
    for expected, migration in enumerate(migrations, start=first):
        if migration.version != expected:
            raise MigrationError(f"migration {migration.name} should be numbered {expected:04d}")
    return migrations


def split_statements(script: str) -> list[str]:
    """Split an SQLite script into statements (trigger bodies stay whole).

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


async def to_completion(statement: Awaitable[T]) -> T:
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


class Connection(abc.ABC):
    """One database connection inside a unit of work (`transaction()` or `reading()`).

    The same on both engines: SQL with `?` (or `:name`) placeholders, rows readable by name
    and by position, the engines' errors turned into this module's (`IntegrityError`,
    `DatabaseUnavailableError`, `RetryableTransactionError`).
    """

    dialect: Dialect

    @abc.abstractmethod
    async def execute(self, sql: str, params: Parameters = ()) -> int:
        """Run one statement; returns how many rows it changed (0 for other statements)."""

    @abc.abstractmethod
    async def executemany(self, sql: str, rows: Iterable[Parameters]) -> None:
        """Run one statement once per parameter row."""

    @abc.abstractmethod
    async def fetchone(self, sql: str, params: Parameters = ()) -> Row | None:
        """The first row of one query, or None."""

    @abc.abstractmethod
    async def fetchall(self, sql: str, params: Parameters = ()) -> list[Row]:
        """Every row of one query."""

    async def fetchval(self, sql: str, params: Parameters = ()) -> Any:
        """The first column of the first row of one query, or None."""
        row = await self.fetchone(sql, params)
        return None if row is None else row[0]

    @property
    @abc.abstractmethod
    def in_transaction(self) -> bool:
        """Whether a transaction is open on the connection (an error may have ended it)."""


class ThreadReader(abc.ABC):
    """Synchronous reads for a worker thread (the search index is built and caught up off
    the event loop). Each thread uses its own; committed data only. Same SQL as `Connection`.
    """

    dialect: Dialect

    @abc.abstractmethod
    def fetchall(self, sql: str, params: Parameters = ()) -> list[Row]: ...

    def fetchone(self, sql: str, params: Parameters = ()) -> Row | None:
        rows = self.fetchall(sql, params)
        return rows[0] if rows else None

    def fetchval(self, sql: str, params: Parameters = ()) -> Any:
        row = self.fetchone(sql, params)
        return None if row is None else row[0]

    @abc.abstractmethod
    def close(self) -> None: ...


class Database(abc.ABC):
    """Every unit of work runs on a connection of its own:

    - `transaction()` is a write: the block's statements commit together, or none does when
      it raises. Code inside reads through the `conn` it was given, so it sees its own
      writes. `run_transaction(fn)` is the same for work that must be retried when it lost a
      race with a concurrent transaction (PostgreSQL; see there).
    - `reading()` is a multi-statement read: one snapshot of committed data for every
      statement run on it.
    - `fetchone` / `fetchall` / `fetchval` run one statement: on `conn` when given (inside
      either unit), else on a connection of their own, seeing committed data only.
    """

    engine: EngineName
    dialect: Dialect

    def __init__(self) -> None:
        self._commit_hooks: list[CommitHook] = []
        # The tasks inside transaction(), to catch reads that would bypass their own writes.
        self._writing_tasks: set[asyncio.Task[Any]] = set()

    @staticmethod
    async def open(target: Path | str, **options: Any) -> Database:
        """Open (creating an SQLite file when missing) the database `target` names: a
        `postgresql://` URL, a `sqlite:///` URL, a file path or `:memory:`.

        Options: `read_connections` (SQLite's reader pool), `pool_size` (PostgreSQL's pool).
        """
        text = str(target)
        if is_postgresql_url(text):
            from bot.storage.postgres import PostgresDatabase

            return await PostgresDatabase.open(text, pool_size=options.get("pool_size"))
        from bot.storage.sqlite import SqliteDatabase

        return await SqliteDatabase.open(
            sqlite_path(text), read_connections=options.get("read_connections")
        )

    @abc.abstractmethod
    async def close(self) -> None: ...

    @abc.abstractmethod
    def thread_reader(self) -> ThreadReader:
        """A reader for one worker thread (callable from any thread); close it when done."""

    @property
    @abc.abstractmethod
    def description(self) -> str:
        """Which database this is, for logs and errors (never a password)."""

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
    async def transaction(self) -> AsyncIterator[Connection]:
        """A write transaction: committed when the block ends, rolled back when it raises;
        after a commit, the commit hooks (outside the transaction, so other writers go on)."""
        task = self._refuse_nested_transaction()
        if task is not None:
            self._writing_tasks.add(task)
        try:
            async with self._raw_transaction() as conn:
                yield conn
        finally:
            if task is not None:
                self._writing_tasks.discard(task)
        if self._commit_hooks:
            await self.run_commit_hooks()

    def _refuse_nested_transaction(self) -> asyncio.Task[Any] | None:
        task = asyncio.current_task()
        if task is not None and task in self._writing_tasks:
            raise RuntimeError(
                "transaction() inside the same task's transaction(): pass its conn on "
                "(db.writing(conn)) instead"
            )
        return task

    @abc.abstractmethod
    def _raw_transaction(self) -> AbstractAsyncContextManager[Connection]: ...

    async def write_statement(self, sql: str, params: Parameters = ()) -> list[Row]:
        """One write statement in a transaction of its own, and the rows it returns.
        PostgreSQL runs it without BEGIN and COMMIT (a statement alone is its own
        transaction): one round trip, its locks held only while the server works. Never
        retried: a connection cut before the answer may have committed it."""
        async with self.transaction() as conn:
            return await conn.fetchall(sql, params)

    async def run_transaction(
        self, work: Callable[[Connection], Awaitable[T]], *, attempts: int = TRANSACTION_ATTEMPTS
    ) -> T:
        """`work(conn)` inside `transaction()`, run again from the start (in a new
        transaction) when the engine asks for a retry: a deadlock or serialization failure
        on PostgreSQL, or a repository noticing a concurrent insert. So `work` must be
        re-runnable: database work only, deciding from what it reads, with no effect outside
        the database. Other errors propagate at once."""

        async def in_transaction() -> T:
            async with self.transaction() as conn:
                return await work(conn)

        return await self.run_retried(in_transaction, attempts=attempts)

    async def run_retried(
        self, work: Callable[[], Awaitable[T]], *, attempts: int = TRANSACTION_ATTEMPTS
    ) -> T:
        """`work()`, a unit of work that opens its own transaction (or is one statement,
        `write_statement`), run again from the start when the engine asks for a retry, as
        `run_transaction` does; the same rules for `work` apply."""
        for attempt in range(1, attempts + 1):
            try:
                return await work()
            except RetryableTransactionError as exc:
                if attempt == attempts:
                    raise
                delay = backoff_delay(
                    attempt, base_seconds=RETRY_BASE_SECONDS, cap_seconds=RETRY_CAP_SECONDS
                )
                log.info("Transaction retried (%s), attempt %d of %d", exc, attempt + 1, attempts)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")  # pragma: no cover

    @asynccontextmanager
    async def writing(self, conn: Connection | None) -> AsyncIterator[Connection]:
        """The caller's connection (inside its transaction) or a new transaction of our own.

        Repository writes take an optional connection so that several can share one
        transaction (a poll's entries and their outbox rows, a summary and its announcement).
        """
        if conn is not None:
            yield conn
        else:
            async with self.transaction() as own:
                yield own

    @abc.abstractmethod
    def reading(self) -> AbstractAsyncContextManager[Connection]:
        """A connection inside one read-only snapshot: every statement run on it sees the
        same committed data. Return it promptly."""

    @abc.abstractmethod
    def _statement_connection(
        self, conn: Connection | None
    ) -> AbstractAsyncContextManager[Connection]:
        """`conn`, or a connection of our own for one statement (committed data only)."""

    def _refuse_read_inside_own_transaction(self) -> None:
        task = asyncio.current_task()
        if task is not None and task in self._writing_tasks:
            raise RuntimeError(
                "a read on another connection inside this task's own transaction() would not "
                "see the transaction's writes: read through its conn (conn=...)"
            )

    @asynccontextmanager
    async def savepoint(self, conn: Connection, name: str) -> AsyncIterator[Connection]:
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
            # Some errors (a full disk, a lost connection) end the whole transaction: nothing
            # to roll back to then, and the caller's transaction() reports it.
            if conn.in_transaction:
                await conn.execute("ROLLBACK TO SAVEPOINT " + name)
                await conn.execute("RELEASE SAVEPOINT " + name)
            raise
        else:
            await conn.execute("RELEASE SAVEPOINT " + name)

    @abc.abstractmethod
    async def lock(self, conn: Connection, name: str, key: object) -> None:
        """Hold a lock named `name`/`key` until `conn`'s transaction ends, so that two
        transactions deciding from the same rows (a count before an insert) take turns. On
        SQLite write transactions already run one at a time: nothing to do."""

    # --- one statement -----------------------------------------------------------------------

    async def fetchone(
        self, sql: str, params: Parameters = (), *, conn: Connection | None = None
    ) -> Row | None:
        """The first row of one query, on `conn` or on a connection of its own."""
        async with self._statement_connection(conn) as c:
            return await c.fetchone(sql, params)

    async def fetchall(
        self, sql: str, params: Parameters = (), *, conn: Connection | None = None
    ) -> list[Row]:
        """Every row of one query, on `conn` or on a connection of its own."""
        async with self._statement_connection(conn) as c:
            return await c.fetchall(sql, params)

    async def fetchval(
        self, sql: str, params: Parameters = (), *, conn: Connection | None = None
    ) -> Any:
        row = await self.fetchone(sql, params, conn=conn)
        return None if row is None else row[0]

    async def executemany(self, sql: str, rows: Iterable[Parameters]) -> None:
        async with self.transaction() as conn:
            await conn.executemany(sql, rows)

    @asynccontextmanager
    async def bulk_writes(self) -> AsyncIterator[None]:
        """Settings for the duration of a bulk import (SQLite: a bigger page cache, rarer
        checkpoints), then the previous ones again. Nothing to tune on PostgreSQL."""
        yield

    # --- migrations ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def schema_version(self) -> int:
        """The version of the last migration applied (0: an empty database)."""

    async def user_version(self) -> int:
        """`schema_version()` (SQLite's name for it)."""
        return await self.schema_version()

    @abc.abstractmethod
    async def _apply_migration(self, migration: Migration) -> bool:
        """Apply one migration atomically, with the new version; False when another process
        applied it first."""

    async def migrate(self, migrations: list[Migration] | None = None) -> list[int]:
        """Apply pending migrations in order, each atomically. Returns the versions applied.

        Refuses a database newer than the code (`DatabaseTooNewError`).
        """
        if migrations is None:
            migrations = load_migrations(engine=self.engine)
        latest = migrations[-1].version if migrations else 0
        current = await self.schema_version()
        if current > latest:
            raise DatabaseTooNewError(
                f"the database {self.description} is at schema version {current}, but this "
                f"version of shortscience-bot only knows up to {latest}: upgrade the bot, or "
                "point DATABASE_URL at another database"
            )
        if migrations and 0 < current < migrations[0].version:
            raise MigrationError(
                f"the database {self.description} is at schema version {current}, older than "
                f"this engine's first migration ({migrations[0].name})"
            )
        applied = []
        for migration in migrations:
            if migration.version <= current:
                continue
            if await self._apply_migration(migration):
                log.debug("Applied migration %s", migration.name)
                applied.append(migration.version)
        if applied:
            await self._after_migrations()
        return applied

    @abc.abstractmethod
    async def _after_migrations(self) -> None:
        """Upkeep after migrations were applied (SQLite compacts a mostly free file)."""


def is_postgresql_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def sqlite_path(target: str) -> str:
    """The file a `sqlite:///relative/path`, `sqlite:////absolute/path` URL, or a plain
    path names (`:memory:` stays as it is)."""
    if target.startswith("sqlite://"):
        rest = target[len("sqlite://") :]
        if not rest.startswith("/"):
            raise ValueError(f"a SQLite URL is sqlite:///path/to/file, not {target!r}")
        return rest[1:] or ":memory:"
    return target
