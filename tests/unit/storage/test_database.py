"""The database on both engines: migrations (fresh, upgrade, newer-than-code refused, failure
rolls back), units of work, savepoints, snapshots, commit hooks; SQLite's own pragmas, reader
pool and cancellation; PostgreSQL's placeholders, concurrency and retries."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bot.storage import (
    Database,
    DatabaseTooNewError,
    IntegrityError,
    Migration,
    MigrationError,
    RetryableTransactionError,
    load_migrations,
)
from bot.storage.database import Connection, split_statements
from bot.storage.postgres import translate
from bot.storage.sqlite import SqliteDatabase
from tests.databases import DatabaseFactory


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    """An empty database (no migrations applied) of either engine."""
    return await databases.open(migrated=False)


@pytest.fixture
async def sqlite_db(tmp_path: Path):
    database = await Database.open(tmp_path / "test.sqlite3")
    assert isinstance(database, SqliteDatabase)
    yield database
    await database.close()


async def table_names(db: Database) -> set[str]:
    if db.engine == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type IN ('table', 'view')"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
    return {row[0] for row in await db.fetchall(sql)}


async def create_table(db: Database, sql: str = "CREATE TABLE t (x INTEGER)") -> None:
    async with db.transaction() as conn:
        await conn.execute(sql)


def test_shipped_migrations_are_numbered_in_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


def test_every_version_after_the_postgresql_baseline_exists_for_both_engines() -> None:
    sqlite = load_migrations(engine="sqlite")
    postgresql = load_migrations(engine="postgresql")
    baseline = postgresql[0]
    assert baseline.name.endswith("_baseline.sql")
    assert [m.version for m in postgresql] == [
        m.version for m in sqlite if m.version >= baseline.version
    ]


async def test_pragmas(sqlite_db: SqliteDatabase) -> None:
    db = sqlite_db
    assert (await db.fetchval("PRAGMA journal_mode")).lower() == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    assert await db.fetchval("PRAGMA busy_timeout") > 0


async def test_fresh_database_gets_every_migration(db: Database) -> None:
    migrations = load_migrations(engine=db.engine)
    latest = migrations[-1].version
    applied = await db.migrate()
    assert applied == list(range(migrations[0].version, latest + 1))
    assert await db.schema_version() == latest
    assert {"papers", "summaries", "search_changes"} <= await table_names(db)
    assert await db.migrate() == []  # a second start applies nothing


async def test_upgrade_applies_only_what_is_missing(db: Database) -> None:
    first = [Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")]
    both = [*first, Migration(2, "0002_b.sql", "CREATE TABLE b (y INTEGER);")]
    assert await db.migrate(first) == [1]
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO a VALUES (1)")
    assert await db.migrate(both) == [2]
    assert await db.fetchval("SELECT x FROM a") == 1  # data kept across the upgrade
    assert {"a", "b"} <= await table_names(db)


async def test_newer_database_is_refused(db: Database) -> None:
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    async with db.transaction() as conn:
        if db.engine == "sqlite":
            await conn.execute("PRAGMA user_version = 99")
        else:
            await conn.execute("UPDATE schema_version SET version = 99")
    with pytest.raises(DatabaseTooNewError, match="version 99"):
        await db.migrate()


async def test_failing_migration_leaves_nothing_behind(db: Database) -> None:
    good = Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")
    bad = Migration(
        2,
        "0002_bad.sql",
        "CREATE TABLE half_done (y INTEGER);\nINSERT INTO a VALUES (7);\nSELECT * FROM nowhere;",
    )
    await db.migrate([good])
    with pytest.raises(MigrationError, match=r"0002_bad\.sql"):
        await db.migrate([good, bad])
    assert await db.schema_version() == 1
    assert "half_done" not in await table_names(db)
    assert await db.fetchval("SELECT count(*) FROM a") == 0


async def test_a_postgresql_baseline_applies_to_an_empty_database_only(
    postgres_databases: DatabaseFactory,
) -> None:
    db = await postgres_databases.open(migrated=False)
    baseline = Migration(5, "0005_baseline.sql", "CREATE TABLE a (x INTEGER);")
    later = Migration(6, "0006_b.sql", "CREATE TABLE b (y INTEGER);")
    assert await db.migrate([baseline, later]) == [5, 6]
    assert await db.migrate([baseline, later]) == []
    async with db.transaction() as conn:
        await conn.execute("UPDATE schema_version SET version = 3")
    with pytest.raises(MigrationError, match="older than"):
        await db.migrate([baseline, later])


async def test_an_existing_sqlite_database_of_version_12_upgrades_in_place(
    tmp_path: Path,
) -> None:
    """The last SQLite-only version, with data, gets the versions made for both engines."""
    db = await Database.open(tmp_path / "old.sqlite3")
    try:
        await db.migrate([m for m in load_migrations() if m.version <= 12])
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO papers (canonical_key, title) VALUES ('arxiv:1', 'Attention')"
            )
        assert await db.migrate() == [m.version for m in load_migrations() if m.version > 12]
        assert await db.fetchval("SELECT title FROM papers WHERE lower(title) = 'attention'")
        indexes = {row[0] for row in await db.fetchall("SELECT name FROM sqlite_master")}
        assert "papers_title_lower" in indexes and "papers_title_nocase" not in indexes
    finally:
        await db.close()


async def test_trigger_bodies_stay_whole() -> None:
    script = """
    CREATE TABLE t (x INTEGER); -- a comment; with a semicolon
    CREATE TRIGGER t_ins AFTER INSERT ON t BEGIN
        UPDATE t SET x = x + 1 WHERE rowid = new.rowid;
        SELECT 1;
    END;
    """
    statements = split_statements(script)
    assert len(statements) == 2
    assert statements[1].startswith("CREATE TRIGGER") and statements[1].endswith("END;")


def test_badly_named_migration_file_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("SELECT 1;", encoding="utf-8")
    (tmp_path / "2-oops.sql").write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match=r"2-oops\.sql"):
        load_migrations(tmp_path)


def test_gap_in_numbers_is_refused(tmp_path: Path) -> None:
    (tmp_path / "0001_ok.sql").write_text("SELECT 1;", encoding="utf-8")
    (tmp_path / "0003_gap.sql").write_text("SELECT 1;", encoding="utf-8")
    with pytest.raises(MigrationError, match="0002"):
        load_migrations(tmp_path)


async def test_transaction_rolls_back_on_error(db: Database) -> None:
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO a VALUES (1)")
            raise RuntimeError("boom")
    assert await db.fetchval("SELECT count(*) FROM a") == 0


async def test_changes_that_affect_search_are_logged_in_their_transaction(db: Database) -> None:
    """The search index follows the database through the change log (migration 0012; on
    PostgreSQL the same triggers as plpgsql functions): every write that changes what search
    finds adds a row, in the same transaction."""
    await db.migrate()

    async def log() -> list[tuple[str, int]]:
        rows = await db.fetchall("SELECT kind, item_id FROM search_changes ORDER BY seq")
        async with db.transaction() as conn:
            await conn.execute("DELETE FROM search_changes")
        return [(row[0], row[1]) for row in rows]

    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO papers (canonical_key, title, authors) "
            "VALUES ('arxiv:1502.03167', 'Batch Normalization', 'Sergey Ioffe')"
        )
        await conn.execute(
            "INSERT INTO summaries (paper_id, origin, tldr, body) "
            "VALUES (1, 'feed', 'covariate shift', 'normalise each layer')"
        )
    assert await log() == [("summary", 1)]
    async with db.transaction() as conn:
        await conn.execute("UPDATE papers SET title = 'Layer Normalization' WHERE id = 1")
        await conn.execute("UPDATE summaries SET body = 'whitening' WHERE id = 1")
        await conn.execute("UPDATE summaries SET score = 3 WHERE id = 1")
        await conn.execute("UPDATE summaries SET edited_at = 5 WHERE id = 1")  # not searched
    assert await log() == [("paper_text", 1), ("summary", 1), ("summary", 1)]
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO reading_sessions (guild_id, paper_id, channel_id, thread_id, "
            "started_by, started_at) VALUES (7, 1, 8, 9, 10, 0)"
        )
        await conn.execute("DELETE FROM summaries WHERE id = 1")
    assert await log() == [("paper", 1), ("summary", 1), ("paper", 1)]
    with pytest.raises(RuntimeError):
        async with db.transaction() as conn:
            await conn.execute("UPDATE papers SET abstract = 'x' WHERE id = 1")
            raise RuntimeError("rolled back: nothing logged")
    assert await log() == []
    assert not {"summary_fts", "search_index_terms", "paper_title_fts"} & await table_names(db)


async def test_savepoint_undoes_only_its_block_and_the_transaction_goes_on(db: Database) -> None:
    await create_table(db)
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (1)")
        async with db.savepoint(conn, "kept"):
            await conn.execute("INSERT INTO t VALUES (2)")
        with pytest.raises(RuntimeError, match="bad feed"):
            async with db.savepoint(conn, "undone"):
                await conn.execute("INSERT INTO t VALUES (3)")
                raise RuntimeError("bad feed")
        async with db.savepoint(conn, "undone"):  # the name is free again
            await conn.execute("INSERT INTO t VALUES (4)")
        assert conn.in_transaction
    assert [row[0] for row in await db.fetchall("SELECT x FROM t ORDER BY x")] == [1, 2, 4]


async def test_a_failed_statement_in_a_savepoint_leaves_the_transaction_usable(
    db: Database,
) -> None:
    """On PostgreSQL a failed statement aborts the whole transaction unless it is rolled back
    to a savepoint taken before it: `savepoint()` does that on both engines."""
    await create_table(db, "CREATE TABLE t (x INTEGER PRIMARY KEY)")
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(IntegrityError):
            async with db.savepoint(conn, "duplicate"):
                await conn.execute("INSERT INTO t VALUES (1)")
        await conn.execute("INSERT INTO t VALUES (2)")
    assert [row[0] for row in await db.fetchall("SELECT x FROM t ORDER BY x")] == [1, 2]


async def test_savepoint_writes_go_when_the_transaction_rolls_back(db: Database) -> None:
    await create_table(db)
    with pytest.raises(RuntimeError, match="crash"):
        async with db.transaction() as conn:
            async with db.savepoint(conn, "released"):
                await conn.execute("INSERT INTO t VALUES (1)")
            raise RuntimeError("crash")
    assert await db.fetchval("SELECT count(*) FROM t") == 0


@pytest.mark.parametrize("name", ["", "1st", "a b", "x; DROP TABLE t", "sp-1", "s\u00e9"])
async def test_savepoint_names_must_be_identifiers(db: Database, name: str) -> None:
    async with db.transaction() as conn:
        with pytest.raises(ValueError, match="identifier"):
            async with db.savepoint(conn, name):
                pass


async def test_savepoint_refuses_to_run_outside_a_transaction(db: Database) -> None:
    async with db.reading() as conn:
        await conn.execute("COMMIT")  # the read transaction ended: a bare connection
        with pytest.raises(RuntimeError, match="inside transaction"):
            async with db.savepoint(conn, "alone"):
                pass


async def test_failed_commit_is_rolled_back_and_the_next_transaction_works(db: Database) -> None:
    await db.migrate(
        [
            Migration(
                1,
                "0001_a.sql",
                "CREATE TABLE parent (id INTEGER PRIMARY KEY);\n"
                "CREATE TABLE child (parent_id INTEGER REFERENCES parent (id) "
                "DEFERRABLE INITIALLY DEFERRED);",
            )
        ]
    )
    with pytest.raises(IntegrityError):
        async with db.transaction() as conn:
            # Deferred: only the COMMIT finds the missing parent.
            await conn.execute("INSERT INTO child VALUES (99)")
    assert not conn.in_transaction
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO parent VALUES (1)")
        await conn.execute("INSERT INTO child VALUES (1)")
    assert await db.fetchval("SELECT count(*) FROM child") == 1


# --- reads never see uncommitted writes (issue 8, item 16) -----------------------------------


async def test_a_read_never_sees_another_coroutines_uncommitted_write(db: Database) -> None:
    """Coroutine A writes in a transaction and rolls back; B reads in between: B must not see
    A's row (it never existed)."""
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    written, read = asyncio.Event(), asyncio.Event()

    async def writer() -> None:
        with pytest.raises(RuntimeError, match="rolled back"):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO a VALUES (1)")
                written.set()
                await read.wait()
                raise RuntimeError("rolled back")

    async def reader() -> tuple[int, int, list[int]]:
        await written.wait()
        try:
            counted = await db.fetchval("SELECT count(*) FROM a")
            row = await db.fetchone("SELECT count(*) FROM a")
            rows = [r[0] for r in await db.fetchall("SELECT x FROM a")]
        finally:
            read.set()
        assert row is not None
        return counted, row[0], rows

    _, seen = await asyncio.gather(writer(), reader())
    assert seen == (0, 0, [])
    assert await db.fetchval("SELECT count(*) FROM a") == 0


async def test_reading_sees_one_snapshot_for_all_its_statements(db: Database) -> None:
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    async with db.reading() as conn:
        before = await db.fetchval("SELECT count(*) FROM a", conn=conn)
        async with db.transaction() as writer:  # another unit of work commits meanwhile
            await writer.execute("INSERT INTO a VALUES (1)")
        assert await db.fetchval("SELECT count(*) FROM a", conn=conn) == before == 0
    assert await db.fetchval("SELECT count(*) FROM a") == 1  # the next unit sees it


async def test_code_inside_a_transaction_reads_through_its_conn(db: Database) -> None:
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO a VALUES (1)")
        assert await db.fetchval("SELECT count(*) FROM a", conn=conn) == 1
        # A reader would not see the transaction's own write: refused, not silently stale.
        with pytest.raises(RuntimeError, match="read through its conn"):
            await db.fetchval("SELECT count(*) FROM a")
        with pytest.raises(RuntimeError, match="read through its conn"):
            async with db.reading():
                pass
        with pytest.raises(RuntimeError, match="pass its conn on"):
            async with db.transaction():
                pass


async def test_readers_cannot_write(db: Database) -> None:
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    with pytest.raises(Exception, match=r"(?i)read-?only"):
        async with db.reading() as conn:
            await conn.execute("INSERT INTO a VALUES (1)")
    assert await db.fetchval("SELECT count(*) FROM a") == 0


async def test_the_reader_pool_is_bounded_and_reused(tmp_path: Path) -> None:
    db = await Database.open(tmp_path / "pool.sqlite3", read_connections=1)
    try:
        first_in, release = asyncio.Event(), asyncio.Event()
        order: list[str] = []

        async def long_read() -> None:
            async with db.reading():
                order.append("first")
                first_in.set()
                await release.wait()

        async def second_read() -> None:
            await first_in.wait()
            async with db.reading():
                order.append("second")

        first, second = asyncio.create_task(long_read()), asyncio.create_task(second_read())
        await first_in.wait()
        await asyncio.sleep(0.05)
        assert order == ["first"]  # the one reader is busy: the second read waits its turn
        release.set()
        await asyncio.gather(first, second)
        assert order == ["first", "second"]
        # An ordinary error keeps the connection; a cancelled read gives it up for a new one.
        with pytest.raises(sqlite3.OperationalError):
            await db.fetchval("SELECT * FROM no_such_table")
        assert await db.fetchval("SELECT 1") == 1
        first_in.clear()
        release.clear()
        cancelled = asyncio.create_task(long_read())
        await first_in.wait()
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert await asyncio.wait_for(db.fetchval("SELECT 2"), 5) == 2
    finally:
        await db.close()


async def test_memory_database_is_a_temporary_file_shared_by_its_connections() -> None:
    db = await Database.open(":memory:")
    assert isinstance(db, SqliteDatabase)
    path = db.path
    try:
        await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO a VALUES (7)")
        assert await db.fetchval("SELECT x FROM a") == 7
        assert path.exists()
    finally:
        await db.close()
    assert not path.exists()


async def test_a_transaction_cancelled_while_committing_stays_cancelled(
    sqlite_db: SqliteDatabase,
) -> None:
    """Cancelled while its COMMIT waits in the connection's queue: the COMMIT still runs (it
    cannot be taken back), so no ROLLBACK may follow it; the caller sees the cancellation,
    not "cannot rollback - no transaction is active", and the next transaction works."""
    db = sqlite_db
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    await db.writer.raw.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000))
    committing = asyncio.Event()

    async def write() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO a VALUES (1)")
            # Keep the connection's thread busy, so the COMMIT waits in its queue.
            busy = asyncio.ensure_future(conn.execute("SELECT sleep_ms(300)"))
            await asyncio.sleep(0.01)  # queued on the thread, before the COMMIT
            committing.set()
        await busy

    task = asyncio.create_task(write())
    await committing.wait()
    await asyncio.sleep(0.05)  # now awaiting the COMMIT
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not db.writer.in_transaction
    assert await db.fetchval("SELECT count(*) FROM a") == 1  # the COMMIT had been sent
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO a VALUES (2)")
    assert await db.fetchval("SELECT count(*) FROM a") == 2


async def test_commit_hooks_run_after_the_commit_and_never_undo_it(db: Database) -> None:
    await create_table(db)
    calls: list[tuple[bool, int]] = []

    async def hook(wait: bool) -> None:
        # Runs after COMMIT, outside the transaction: the row is there for every reader,
        # and the write lock is free.
        assert asyncio.current_task() not in db._writing_tasks
        if isinstance(db, SqliteDatabase):
            assert not db._write_lock.locked()
        calls.append((wait, int(await db.fetchval("SELECT count(*) FROM t"))))
        if len(calls) == 1:
            raise RuntimeError("a failing hook")

    db.add_commit_hook(hook)
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (1)")
    db.remove_commit_hook(hook)
    assert calls[0] == (True, 1)
    assert await db.fetchval("SELECT count(*) FROM t WHERE x = 1") == 1  # the commit stands
    db.add_commit_hook(hook)
    with db.commit_hooks_not_awaited():
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (2)")
    assert calls[-1][0] is False
    db.remove_commit_hook(hook)


# --- PostgreSQL: placeholders, concurrency, retries --------------------------------------------


@pytest.mark.parametrize(
    ("sql", "expected", "names"),
    [
        ("SELECT ? + ?", "SELECT $1 + $2", None),
        ("SELECT :a, :b, :a", "SELECT $1, $2, $1", ("a", "b")),
        ("SELECT '?', \"a?b\", ? -- what?\n", "SELECT '?', \"a?b\", $1 -- what?\n", None),
        ("SELECT 'it''s ?', ?", "SELECT 'it''s ?', $1", None),
        (
            "SELECT CAST(? AS bigint), x::text /* :not */",
            "SELECT CAST($1 AS bigint), x::text /* :not */",
            None,
        ),
        (
            "SELECT value ->> 0 FROM t WHERE id = ANY(?)",
            "SELECT value ->> 0 FROM t WHERE id = ANY($1)",
            None,
        ),
    ],
)
def test_placeholders_become_postgresqls(sql: str, expected: str, names: object) -> None:
    assert translate(sql) == (expected, names)


def test_a_statement_mixing_placeholder_styles_is_refused() -> None:
    with pytest.raises(ValueError, match="either"):
        translate("SELECT ?, :a")


async def test_postgresql_transactions_run_side_by_side(
    postgres_databases: DatabaseFactory,
) -> None:
    """Unlike SQLite's one writer, each transaction has a pooled connection of its own."""
    db = await postgres_databases.open(migrated=False)
    await create_table(db)
    first_in, second_done = asyncio.Event(), asyncio.Event()

    async def first() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (1)")
            first_in.set()
            await asyncio.wait_for(second_done.wait(), 5)

    async def second() -> None:
        await first_in.wait()
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (2)")
        second_done.set()

    await asyncio.gather(first(), second())
    assert await db.fetchval("SELECT count(*) FROM t") == 2


async def test_a_deadlock_is_retried_by_run_transaction(
    postgres_databases: DatabaseFactory,
) -> None:
    """Two units of work lock two rows in opposite orders: PostgreSQL ends one with a
    deadlock error, and `run_transaction` runs it again; both take effect once."""
    db = await postgres_databases.open(migrated=False)
    await create_table(db, "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)")
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO t VALUES (1, 0), (2, 0)")
    both_locked_one = asyncio.Barrier(2)
    attempts: list[int] = []

    def work(first: int, second: int):
        async def run(conn: Connection) -> None:
            attempts.append(first)
            await conn.execute("UPDATE t SET n = n + 1 WHERE id = ?", (first,))
            if len(attempts) <= 2:
                await asyncio.wait_for(both_locked_one.wait(), 5)
            await conn.execute("UPDATE t SET n = n + 1 WHERE id = ?", (second,))

        return run

    await asyncio.gather(db.run_transaction(work(1, 2)), db.run_transaction(work(2, 1)))
    assert len(attempts) == 3  # one of them ran twice
    assert [row[0] for row in await db.fetchall("SELECT n FROM t ORDER BY id")] == [2, 2]


async def test_retries_give_up_after_the_last_attempt(databases: DatabaseFactory) -> None:
    db = await databases.open(migrated=False)
    tries: list[int] = []

    async def always_losing(conn: Connection) -> None:
        tries.append(1)
        raise RetryableTransactionError("lost again")

    with pytest.raises(RetryableTransactionError):
        await db.run_transaction(always_losing, attempts=3)
    assert len(tries) == 3


async def test_a_pooled_connection_is_handed_on_without_a_reset_and_without_leftovers(
    postgres_databases: DatabaseFactory,
) -> None:
    """The pool hands connections on without asyncpg's reset query (a round trip per unit
    of work): what the bot does leaves nothing to reset. A unit's advisory lock ends with
    it, and a transaction left open (a cancelled unit) is rolled back, not handed on."""
    url = await postgres_databases.url()
    db = await postgres_databases.open_url(url)
    await create_table(db)
    one = await postgres_databases.open_url(url, pool_size=1)
    async with one.transaction() as conn:
        await one.lock(conn, "test", "key")
        await conn.execute("INSERT INTO t VALUES (1)")
    # The same (only) connection again: no lock held from the unit before.
    assert await one.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory'") == 0

    async def cancelled_unit() -> None:
        async with one.transaction() as conn:
            await conn.execute("INSERT INTO t VALUES (2)")
            await asyncio.sleep(10)

    task = asyncio.create_task(cancelled_unit())
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await one.fetchval("SELECT count(*) FROM t") == 1
    async with one.transaction() as conn:  # a fresh transaction, not the cancelled one's
        await conn.execute("INSERT INTO t VALUES (3)")
    assert await db.fetchval("SELECT sum(x) FROM t") == 4
