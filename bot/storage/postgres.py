"""PostgreSQL: a bounded pool of asyncpg connections, each unit of work on one of them.

Isolation is READ COMMITTED, PostgreSQL's default: every statement sees what was committed
before it started. Where a unit of work reads and then writes on what it read, it takes a
row lock first (`SELECT ... FOR UPDATE`, `Dialect.for_update`) or a transaction-scoped
advisory lock (`Database.lock`), or writes conditionally (`UPDATE ... WHERE state =
'pending'`, `INSERT ... ON CONFLICT`), so concurrent processes lose and double nothing.
Deadlocks and serialization failures roll the transaction back and raise
`RetryableTransactionError`; `Database.run_transaction` runs such units again.

SQL comes with `?` (or `:name`) placeholders and is translated to `$1, $2, ...` once per
distinct statement (string literals, quoted names and comments are left alone). Lost
connections, a server shutting down or refusing connections raise
`DatabaseUnavailableError`; the pool opens fresh connections once the server is back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from typing import Any, Final, cast
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.storage.database import (
    SQL_IDENTIFIER,
    Connection,
    Database,
    DatabaseUnavailableError,
    IntegrityError,
    Migration,
    MigrationError,
    Parameters,
    RetryableTransactionError,
    Row,
    ThreadReader,
    to_completion,
)
from bot.storage.dialect import POSTGRESQL

log = logging.getLogger(__name__)

DEFAULT_POOL_SIZE: Final = 10
# Seconds to open one connection before the server counts as unreachable.
CONNECT_TIMEOUT: Final = 10.0
# Prepared statements kept per connection (asyncpg's default is 100; the bot has more).
STATEMENT_CACHE_SIZE: Final = 1024
# Idle connections are closed after this many seconds (the pool reopens on demand).
IDLE_CONNECTION_SECONDS: Final = 300.0
# Seconds a worker thread waits for the rows of one statement.
THREAD_READ_TIMEOUT: Final = 120.0
# The key of the advisory lock that lets one process at a time migrate.
MIGRATION_LOCK_KEY: Final = 7_326_041_120_012
_STATUS_COUNT = re.compile(r"(\d+)$")

# Errors meaning the server is gone or going (class 08: connection exceptions; 57P01-57P03:
# shutdown or starting up; 53300: no connection slot free) rather than a bad statement.
_UNAVAILABLE: Final = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.TooManyConnectionsError,
    OSError,
    TimeoutError,
)


@functools.lru_cache(maxsize=4096)
def translate(sql: str) -> tuple[str, tuple[str, ...] | None]:
    """`sql` with its `?` or `:name` placeholders as `$1, $2, ...`, and the names in order
    of their numbers (None for positional placeholders). Quoted text, quoted names, `::`
    casts and comments are left as they are."""
    out: list[str] = []
    names: list[str] = []
    positional = 0
    index = 0
    length = len(sql)
    while index < length:
        char = sql[index]
        if char in "'\"":
            end = index + 1
            while end < length:
                if sql[end] == char:
                    if end + 1 < length and sql[end + 1] == char:
                        end += 2  # a doubled quote inside the literal
                        continue
                    break
                end += 1
            out.append(sql[index : end + 1])
            index = end + 1
        elif sql.startswith("--", index):
            end = sql.find("\n", index)
            end = length if end == -1 else end
            out.append(sql[index:end])
            index = end
        elif sql.startswith("/*", index):
            end = sql.find("*/", index + 2)
            end = length if end == -1 else end + 2
            out.append(sql[index:end])
            index = end
        elif sql.startswith("::", index):
            out.append("::")
            index += 2
        elif char == "?":
            positional += 1
            out.append(f"${positional}")
            index += 1
        elif (
            char == ":"
            and index + 1 < length
            and (sql[index + 1].isalpha() or sql[index + 1] == "_")
        ):
            end = index + 1
            while end < length and (sql[end].isalnum() or sql[end] == "_"):
                end += 1
            name = sql[index + 1 : end]
            if name not in names:
                names.append(name)
            out.append(f"${names.index(name) + 1}")
            index = end
        else:
            out.append(char)
            index += 1
    if positional and names:
        raise ValueError("a statement uses either ? or :name placeholders, not both")
    return "".join(out), (tuple(names) if names else None)


def _clean(value: Any) -> Any:
    # PostgreSQL text cannot hold NUL characters at all (SQLite keeps them): replaced by
    # U+FFFD, the replacement character, rather than refusing the whole write.
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd") if "\x00" in value else value
    if isinstance(value, list):
        return [_clean(item) for item in value]
    return value


def _arguments(sql: str, params: Parameters) -> tuple[str, list[Any]]:
    translated, names = translate(sql)
    if names is None:
        if isinstance(params, Mapping):
            raise TypeError("named parameters given for a statement with ? placeholders")
        return translated, [_clean(value) for value in params]
    if not isinstance(params, Mapping):
        raise TypeError("a statement with :name placeholders takes a mapping of parameters")
    return translated, [_clean(params[name]) for name in names]


def _count(status: str) -> int:
    """Rows changed, from a command status like 'UPDATE 3' or 'INSERT 0 1'."""
    match = _STATUS_COUNT.search(status or "")
    return int(match.group(1)) if match else 0


class PooledConnection(asyncpg.Connection):
    """An asyncpg connection that the pool hands on without a reset query.

    asyncpg resets a connection on every release (`pg_advisory_unlock_all(); CLOSE ALL;
    UNLISTEN *; RESET ALL;`): one more round trip, and server work, for every unit of work.
    The bot leaves no session state to reset: its advisory locks are transaction-scoped
    (`pg_advisory_xact_lock`), it opens no cursors outside a transaction, never LISTENs and
    never SETs a session setting. An open transaction is still rolled back on release."""

    def get_reset_query(self) -> str:
        return ""


class PostgresConnection(Connection):
    """An asyncpg connection behind the project's `Connection`."""

    dialect = POSTGRESQL

    def __init__(self, raw: asyncpg.Connection) -> None:
        self.raw = raw

    async def _call(self, method: str, *arguments: Any, whole: bool = False) -> Any:
        """Call one of the asyncpg connection's methods, its errors turned into this
        project's; `whole`: through a cancellation too (`to_completion`). The method is looked
        up inside the `try`: a connection the pool took back raises on the look-up itself.
        (A plain coroutine rather than a context manager: it runs for every statement.)"""
        try:
            operation = getattr(self.raw, method)(*arguments)
            return await (to_completion(operation) if whole else operation)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise IntegrityError(str(exc)) from exc
        except (
            asyncpg.exceptions.SerializationError,
            asyncpg.exceptions.DeadlockDetectedError,
        ) as exc:
            raise RetryableTransactionError(str(exc)) from exc
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailableError(describe_failure(exc)) from exc
        except asyncpg.InternalClientError as exc:
            # asyncpg lost track of the connection's state (seen when the server shuts down
            # in the middle of a statement): the connection is unusable, the pool drops it.
            if not self.lost:
                self.raw.terminate()
            raise DatabaseUnavailableError(describe_failure(exc)) from exc
        except asyncpg.InterfaceError as exc:
            if self.lost:
                raise DatabaseUnavailableError(describe_failure(exc)) from exc
            raise

    @property
    def lost(self) -> bool:
        """Whether the connection is gone (closed, or taken back by the pool when the
        server cut it: asyncpg detaches a lost connection from its unit of work)."""
        try:
            return bool(self.raw.is_closed())
        except asyncpg.InterfaceError:
            return True

    async def execute(self, sql: str, params: Parameters = ()) -> int:
        translated, arguments = _arguments(sql, params)
        return _count(await self._call("execute", translated, *arguments))

    async def executemany(self, sql: str, rows: Iterable[Parameters]) -> None:
        batch = [_arguments(sql, params)[1] for params in rows]
        if not batch:
            return
        translated, _ = translate(sql)
        await self._call("executemany", translated, batch)

    async def fetchone(self, sql: str, params: Parameters = ()) -> Row | None:
        translated, arguments = _arguments(sql, params)
        return cast(Row | None, await self._call("fetchrow", translated, *arguments))

    async def fetchall(self, sql: str, params: Parameters = ()) -> list[Row]:
        translated, arguments = _arguments(sql, params)
        return cast(list[Row], await self._call("fetch", translated, *arguments))

    async def fetchval(self, sql: str, params: Parameters = ()) -> Any:
        translated, arguments = _arguments(sql, params)
        return await self._call("fetchval", translated, *arguments)

    @property
    def in_transaction(self) -> bool:
        try:
            return not self.raw.is_closed() and bool(self.raw.is_in_transaction())
        except asyncpg.InterfaceError:  # released back to the pool: its unit of work ended
            return False


def describe_failure(error: BaseException) -> str:
    return " ".join(f"{type(error).__name__}: {error}".split())[:300]


def redacted(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)
    return urlunsplit(parts._replace(netloc=netloc[0].split(":", 1)[0] + ":***@" + netloc[1]))


class PostgresThreadReader(ThreadReader):
    """Reads for a worker thread through the database's pool: each statement runs on the
    event loop the pool belongs to, the thread waiting for its rows."""

    dialect = POSTGRESQL

    def __init__(self, db: PostgresDatabase, loop: asyncio.AbstractEventLoop) -> None:
        self.db = db
        self.loop = loop

    def fetchall(self, sql: str, params: Parameters = ()) -> list[Row]:
        future = asyncio.run_coroutine_threadsafe(self.db.fetchall(sql, params), self.loop)
        return future.result(timeout=THREAD_READ_TIMEOUT)

    def close(self) -> None:
        """Nothing of its own to close: the pool's connections are the database's."""


class PostgresDatabase(Database):
    """A PostgreSQL database through a pool of at most `pool_size` connections.

    - `transaction()`: a pooled connection inside `BEGIN` (READ COMMITTED) ... `COMMIT`.
      Transactions run concurrently, each on its own connection.
    - `reading()`: a pooled connection inside a `REPEATABLE READ READ ONLY` transaction:
      one snapshot for every statement.
    - one statement without `conn`: a pooled connection for that statement, retried once
      on a fresh connection when the pooled one had been cut (a server restart).
    """

    engine = "postgresql"
    dialect = POSTGRESQL

    def __init__(self, pool: asyncpg.Pool, url: str, pool_size: int) -> None:
        super().__init__()
        self.pool = pool
        self.url = url
        self.pool_size = pool_size
        self.loop = asyncio.get_running_loop()
        self._closed = False

    @classmethod
    async def open(  # type: ignore[override]
        cls, url: str, *, pool_size: int | None = None
    ) -> PostgresDatabase:
        size = pool_size or DEFAULT_POOL_SIZE
        try:
            pool = await asyncpg.create_pool(
                url.replace("postgres://", "postgresql://", 1),
                min_size=1,
                max_size=size,
                timeout=CONNECT_TIMEOUT,
                statement_cache_size=STATEMENT_CACHE_SIZE,
                max_inactive_connection_lifetime=IDLE_CONNECTION_SECONDS,
                connection_class=PooledConnection,
            )
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to PostgreSQL at {redacted(url)}: {describe_failure(exc)}"
            ) from exc
        return cls(pool, url, size)

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self.pool.close(), timeout=10.0)
        except TimeoutError:
            log.warning("PostgreSQL connections did not close in time; terminating them")
            self.pool.terminate()

    @property
    def description(self) -> str:
        return redacted(self.url)

    def thread_reader(self) -> ThreadReader:
        return PostgresThreadReader(self, self.loop)

    # --- units of work ---------------------------------------------------------------------

    @asynccontextmanager
    async def _connection(self) -> AsyncIterator[PostgresConnection]:
        try:
            raw = await self.pool.acquire()
        except _UNAVAILABLE as exc:
            raise DatabaseUnavailableError(describe_failure(exc)) from exc
        try:
            yield PostgresConnection(raw)
        finally:
            # A connection that was cut, or left mid-transaction by a cancellation, is
            # closed rather than reused (asyncpg resets or drops it).
            try:
                await self.pool.release(raw)
            except (asyncpg.InternalClientError, *_UNAVAILABLE) as exc:
                # Its reset failed (the server went away meanwhile): asyncpg closed it. The
                # unit's own outcome (committed, or its error) is what the caller gets.
                log.warning("A PostgreSQL connection was dropped: %s", describe_failure(exc))

    @asynccontextmanager
    async def _unit(self, begin: str) -> AsyncIterator[Connection]:
        async with self._connection() as conn:
            await conn._call("execute", begin, whole=True)
            try:
                yield conn
                await conn._call("execute", "COMMIT", whole=True)
            except BaseException:
                if conn.in_transaction:
                    try:
                        await to_completion(conn.raw.execute("ROLLBACK"))
                    except (asyncpg.PostgresError, *_UNAVAILABLE, asyncpg.InterfaceError):
                        # The connection is unusable: the pool drops it, and the server
                        # rolls back what it never saw committed.
                        log.warning("ROLLBACK failed; dropping the connection", exc_info=True)
                        conn.raw.terminate()
                raise

    def _raw_transaction(self) -> Any:
        return self._unit("BEGIN")

    async def write_statement(self, sql: str, params: Parameters = ()) -> list[Row]:
        self._refuse_nested_transaction()
        async with self._connection() as conn:  # autocommit: the statement commits itself
            rows = await conn.fetchall(sql, params)
        if self._commit_hooks:
            await self.run_commit_hooks()
        return rows

    @asynccontextmanager
    async def reading(self) -> AsyncIterator[Connection]:
        self._refuse_read_inside_own_transaction()
        async with self._unit("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY") as conn:
            yield conn

    @asynccontextmanager
    async def _statement_connection(self, conn: Connection | None) -> AsyncIterator[Connection]:
        if conn is not None:
            yield conn
            return
        self._refuse_read_inside_own_transaction()
        async with self._connection() as own:
            yield own

    async def _retried(self, method: str, sql: str, params: Parameters) -> Any:
        """One statement on a pooled connection; once more on another when the first was
        cut (the server restarted since it was opened). Reads only: nothing is done twice."""
        self._refuse_read_inside_own_transaction()
        for attempt in (1, 2):
            try:
                async with self._connection() as conn:
                    return await getattr(conn, method)(sql, params)
            except DatabaseUnavailableError:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetchone(
        self, sql: str, params: Parameters = (), *, conn: Connection | None = None
    ) -> Row | None:
        if conn is not None:
            return await conn.fetchone(sql, params)
        return cast(Row | None, await self._retried("fetchone", sql, params))

    async def fetchall(
        self, sql: str, params: Parameters = (), *, conn: Connection | None = None
    ) -> list[Row]:
        if conn is not None:
            return await conn.fetchall(sql, params)
        return cast(list[Row], await self._retried("fetchall", sql, params))

    async def fetchval(
        self, sql: str, params: Parameters = (), *, conn: Connection | None = None
    ) -> Any:
        if conn is not None:
            return await conn.fetchval(sql, params)
        return await self._retried("fetchval", sql, params)

    async def lock(self, conn: Connection, name: str, key: object) -> None:
        """A transaction-scoped advisory lock on `name:key` (released at COMMIT/ROLLBACK)."""
        if not SQL_IDENTIFIER.fullmatch(name):
            raise ValueError(f"lock name {name!r} is not an identifier")
        await conn.execute(
            "SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (f"{name}:{key}",)
        )

    # --- migrations ------------------------------------------------------------------------

    async def _after_migrations(self) -> None:
        """Nothing to compact: PostgreSQL's autovacuum reclaims space."""

    async def schema_version(self) -> int:
        exists = await self.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
        if not exists:
            return 0
        value = await self.fetchval("SELECT max(version) FROM schema_version")
        return 0 if value is None else int(value)

    async def _apply_migration(self, migration: Migration) -> bool:
        try:
            async with self.transaction() as conn:
                raw = cast(PostgresConnection, conn).raw
                # One process migrates at a time; the others wait, then find it done.
                await raw.execute(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")
                await raw.execute(
                    "CREATE TABLE IF NOT EXISTS schema_version ("
                    " version integer NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())"
                )
                current = await raw.fetchval("SELECT max(version) FROM schema_version")
                if current is not None and int(current) >= migration.version:
                    return False
                # No parameters: the simple protocol runs the whole script (functions too).
                await raw.execute(migration.sql)
                await raw.execute("DELETE FROM schema_version")
                await raw.execute(
                    "INSERT INTO schema_version (version) VALUES ($1)", int(migration.version)
                )
        except asyncpg.PostgresError as exc:
            raise MigrationError(f"migration {migration.name} failed: {exc}") from exc
        return True
