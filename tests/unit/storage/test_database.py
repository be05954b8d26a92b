"""Migrations: fresh, upgrade, newer-than-code refused, failure rolls back; pragmas."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest

from bot.storage import Database, DatabaseTooNewError, Migration, MigrationError, load_migrations
from bot.storage.database import split_statements


@pytest.fixture
async def db(tmp_path: Path):
    database = await Database.open(tmp_path / "test.sqlite3")
    yield database
    await database.close()


async def table_names(db: Database) -> set[str]:
    rows = await db.fetchall("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
    return {row[0] for row in rows}


def test_shipped_migrations_are_numbered_in_order() -> None:
    migrations = load_migrations()
    assert [m.version for m in migrations] == list(range(1, len(migrations) + 1))


async def test_pragmas(db: Database) -> None:
    assert (await db.fetchval("PRAGMA journal_mode")).lower() == "wal"
    assert await db.fetchval("PRAGMA foreign_keys") == 1
    assert await db.fetchval("PRAGMA busy_timeout") > 0


async def test_fresh_database_gets_every_migration(db: Database) -> None:
    latest = load_migrations()[-1].version
    applied = await db.migrate()
    assert applied == list(range(1, latest + 1))
    assert await db.user_version() == latest
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
        await conn.execute("PRAGMA user_version = 99")
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
    assert await db.user_version() == 1
    assert "half_done" not in await table_names(db)
    assert await db.fetchval("SELECT count(*) FROM a") == 0


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
    """The search index follows the database through the change log (migration 0012):
    every write that changes what search finds adds a row, in the same transaction."""
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
    await db.writer.execute("CREATE TABLE t (x INTEGER)")
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


async def test_savepoint_writes_go_when_the_transaction_rolls_back(db: Database) -> None:
    await db.writer.execute("CREATE TABLE t (x INTEGER)")
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
    with pytest.raises(RuntimeError, match="inside transaction"):
        async with db.savepoint(db.writer, "alone"):
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
    with pytest.raises(sqlite3.IntegrityError):
        async with db.transaction() as conn:
            # Deferred: only the COMMIT finds the missing parent.
            await conn.execute("INSERT INTO child VALUES (99)")
    assert not db.writer.in_transaction
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
    async with db.reading() as conn:
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
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


async def test_a_transaction_cancelled_while_committing_stays_cancelled(db: Database) -> None:
    """Cancelled while its COMMIT waits in the connection's queue: the COMMIT still runs (it
    cannot be taken back), so no ROLLBACK may follow it; the caller sees the cancellation,
    not "cannot rollback - no transaction is active", and the next transaction works."""
    await db.migrate([Migration(1, "0001_a.sql", "CREATE TABLE a (x INTEGER);")])
    await db.writer.create_function("sleep_ms", 1, lambda ms: time.sleep(ms / 1000))
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
    async with db.transaction() as conn:
        await conn.execute("CREATE TABLE t (x INTEGER)")
    calls: list[tuple[bool, int]] = []

    async def hook(wait: bool) -> None:
        # Runs after COMMIT, outside the write lock: the row is there, the lock is free.
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
