"""Test databases on either engine: fresh SQLite files, or fresh PostgreSQL databases on the
session's server (copied from a migrated template: a few milliseconds instead of migrating).

Suites that run on both engines ask for `databases` (or a `db` fixture built on it): the
`engine` fixture parametrizes them over SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import secrets
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final, TypeVar

import asyncpg

from bot.storage import Database
from tests.pgserver import PostgresServer

ENGINES: Final = ("sqlite", "postgresql")
TEMPLATE: Final = "shortscience_template"

T = TypeVar("T")


def run_in_thread(coroutine: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to completion on a loop of its own (from sync fixtures, whatever
    loop the caller's thread may have)."""
    result: list[Any] = []

    def target() -> None:
        result.append(asyncio.run(coroutine()))  # type: ignore[arg-type]

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if not result:
        raise RuntimeError("the coroutine failed (see the traceback above)")
    return result[0]


def make_template(server: PostgresServer) -> str:
    """A migrated database to copy test databases from; returns its name."""

    async def build() -> str:
        url = await server.create_database(TEMPLATE)
        db = await Database.open(url)
        try:
            await db.migrate()
            rows = await db.fetchall("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
            _TEMPLATE_TABLES.update(row[0] for row in rows)
        finally:
            await db.close()
        return TEMPLATE

    return run_in_thread(build)


class DatabaseFactory:
    """Opens fresh databases of one engine for one test, and closes (and drops) them after."""

    def __init__(
        self, engine: str, tmp_path: Path, server: Callable[[], PostgresServer] | None
    ) -> None:
        self.engine = engine
        self.tmp_path = tmp_path
        self._server = server
        self._opened: list[Database] = []
        self._created: list[str] = []
        self._reused: list[str] = []
        self._files = 0

    @property
    def server(self) -> PostgresServer:
        assert self._server is not None, "no PostgreSQL server for this test"
        return self._server()

    async def url(self, *, migrated: bool = True, name: str | None = None) -> str:
        """Where a new database is: an SQLite file path, or a PostgreSQL URL."""
        if self.engine == "sqlite":
            self._files += 1
            path = self.tmp_path / f"{name or 'test'}-{self._files}.sqlite3"
            if migrated:
                db = await Database.open(path)
                await db.migrate()
                await db.close()
            return str(path)
        server = self.server
        if not migrated:
            database = server.new_name()
            url = await server.create_database(database)
            self._created.append(database)
            return url
        # Migrated databases are reused: emptied after each test (much faster than copying
        # the template for each: 1 ms against 250).
        free = _FREE.setdefault(id(server), [])
        if free:
            database = free.pop()
        else:
            database = server.new_name()
            await server.create_database(database, template=TEMPLATE)
        self._reused.append(database)
        url = server.url(database)
        connection = await asyncpg.connect(url)
        try:
            # Each database makes its own outbox nonce salt when migrated: a copy must too.
            await connection.execute(
                "UPDATE bot_state SET value = $1 WHERE key = 'outbox_nonce_salt'",
                secrets.token_hex(5),
            )
        finally:
            await connection.close()
        return url

    async def open(self, *, migrated: bool = True, **options: Any) -> Database:
        return await self.open_url(await self.url(migrated=migrated), **options)

    async def open_url(self, url: str, **options: Any) -> Database:
        """Another connection to a database of this test (another process's, say)."""
        db = await Database.open(url, **options)
        self._opened.append(db)
        return db

    async def close(self) -> None:
        for db in self._opened:
            await db.close()
        for name in self._created:
            await self.server.drop_database(name)
        for name in self._reused:
            await empty_database(self.server, name)
            _FREE.setdefault(id(self.server), []).append(name)


# Emptied migrated databases, ready for the next test, per server.
_FREE: dict[int, list[str]] = {}
# The tables of the migrated template.
_TEMPLATE_TABLES: set[str] = set()


async def empty_database(server: PostgresServer, name: str) -> None:
    """Back to a freshly migrated state: no rows but the migrations' own, ids from 1."""
    connection = await asyncpg.connect(server.url(name))
    try:
        # Whatever a test left open is gone (a killed bot's connections, say).
        await connection.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        present = [
            row[0]
            for row in await connection.fetch(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
            )
        ]
        # Tables a test made of its own go; the schema's are emptied.
        for table in present:
            if table not in _TEMPLATE_TABLES:
                await connection.execute(f'DROP TABLE "{table}" CASCADE')
        tables = [t for t in present if t in _TEMPLATE_TABLES and t != "schema_version"]
        sequences = [
            row[0]
            for row in await connection.fetch(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'"
            )
        ]
        async with connection.transaction():
            # Neither triggers nor foreign keys while emptying: every table goes anyway.
            await connection.execute("SET LOCAL session_replication_role = replica")
            await connection.execute("; ".join(f'DELETE FROM "{table}"' for table in tables))
            for sequence in sequences:
                await connection.execute(f"SELECT setval('\"{sequence}\"', 1, false)")
            await connection.execute(
                "INSERT INTO search_log_state (id, pruned_through) VALUES (1, 0);"
                "INSERT INTO bot_state (key, value, updated_at) "
                "VALUES ('outbox_nonce_salt', 'unset', 0)"
            )
    finally:
        await connection.close()
