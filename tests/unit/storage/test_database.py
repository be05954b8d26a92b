"""Migrations: fresh, upgrade, newer-than-code refused, failure rolls back; pragmas."""

from __future__ import annotations

import sqlite3
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
    """The search index follows the database through the change log (migration 0007):
    every write that changes what search finds adds a row, in the same transaction."""
    await db.migrate()

    async def log() -> list[tuple[str, int]]:
        rows = await db.fetchall("SELECT kind, item_id FROM search_changes ORDER BY seq")
        await db.connection.execute("DELETE FROM search_changes")
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
    await db.connection.execute("CREATE TABLE t (x INTEGER)")
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
    await db.connection.execute("CREATE TABLE t (x INTEGER)")
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
        async with db.savepoint(db.connection, "alone"):
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
    assert not db.connection.in_transaction
    async with db.transaction() as conn:
        await conn.execute("INSERT INTO parent VALUES (1)")
        await conn.execute("INSERT INTO child VALUES (1)")
    assert await db.fetchval("SELECT count(*) FROM child") == 1


async def test_commit_hooks_run_after_the_commit_and_never_undo_it(db: Database) -> None:
    await db.connection.execute("CREATE TABLE t (x INTEGER)")
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
