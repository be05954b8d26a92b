"""The derived index stays in step with the database: crashes between the two commits,
a deleted, damaged or older index, rebuilding meanwhile, concurrent writers and searchers,
holes in the change log, several processes."""

from __future__ import annotations

import asyncio
import contextlib
import random
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Coroutine, Iterable
from pathlib import Path
from typing import Any

import pytest

from bot.search import SearchIndexRebuildingError, SearchService
from bot.search import index as index_module
from bot.search import service as service_module
from bot.search.index import Changes
from bot.storage.database import Database
from tests.databases import DatabaseFactory
from tests.unit.search.conftest import (
    Searchable,
    add_summary,
    hold_index_builds,
    open_search,
    paper_of,
)

PROJECT_ROOT = Path(__file__).resolve().parents[3]


async def ids(search: SearchService, query: str, **options: object) -> list[int]:
    page = await search.search(query, guild_id=None, limit=50, **options)  # type: ignore[arg-type]
    return [result.summary_id for result in page.results]


async def test_a_kill_between_the_database_commit_and_the_index_commit_is_caught_up(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    db_path, index_path = await databases.url(migrated=False), tmp_path / "index"
    script = textwrap.dedent(
        f"""
        import asyncio, os, signal
        from bot.search import SearchService
        from bot.search.index import TantivyIndex
        from bot.storage.database import Database

        async def main():
            db = await Database.open({str(db_path)!r})
            await db.migrate()
            search = SearchService(db, {str(index_path)!r})
            await search.start()
            await search.wait_ready()
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO summaries (origin, body) VALUES ('feed', 'before')")
            print("indexed", flush=True)

            def die(self, changes, applied_seq):
                os.kill(os.getpid(), signal.SIGKILL)  # after the database's commit, not tantivy's

            TantivyIndex.apply = die
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO summaries (origin, body) VALUES ('feed', 'quetzalcoatl')"
                )
            print("not reached", flush=True)

        asyncio.run(main())
        """
    )
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-c", script], cwd=PROJECT_ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert "indexed" in result.stdout and "not reached" not in result.stdout
    db = await databases.open_url(db_path)
    assert await db.fetchval("SELECT count(*) FROM summaries") == 2  # the database has both
    search = await open_search(db, index_path)
    try:
        assert await ids(search, "quetzalcoatl") == [2]
        assert await ids(search, "before") == [1]
    finally:
        await search.close()


WORDS = ("alpha", "beta", "gamma", "delta", "omega")


def corpus_body(number: int) -> str:
    """20 tokens: each word 0 to 3 times, the rest filler. Equal lengths (and no votes) make
    the order of a one-word query that of its counts, however the index's statistics drift
    with edits (tantivy counts deleted documents until it merges their segments)."""
    tokens: list[str] = []
    for step, word in zip((1, 2, 3, 5, 7), WORDS, strict=True):
        tokens += [word] * ((number * step) % 4)
    return " ".join(tokens + ["filler"] * (20 - len(tokens)))


async def make_corpus(db: Database, count: int = 60) -> list[int]:
    made = []
    for number in range(count):
        made.append(
            await add_summary(
                db,
                title=f"Paper number {number}",
                body=corpus_body(number),
                created_at=1_600_000_000 + number % 7,
                origin="community" if number % 5 == 0 else "feed",
                guild_id=7 if number % 5 == 0 else None,
            )
        )
    return made


QUERIES = ["alpha", "beta", "gamma", "delta", "omega", '"delta omega"', "filler"]


async def all_results(search: SearchService) -> dict[str, list[int]]:
    return {query: await ids(search, query, all_guilds=True) for query in QUERIES}


async def test_a_deleted_index_is_rebuilt_with_equal_results(
    searchable: Searchable, monkeypatch: pytest.MonkeyPatch
) -> None:
    made = await make_corpus(searchable.db)
    async with searchable.db.transaction() as conn:  # an edit and a delete first
        await conn.execute("UPDATE summaries SET body = ? WHERE id = ?", (corpus_body(3), made[1]))
        await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (made[2],))
    before = await all_results(searchable.search)
    assert all(before.values())
    await searchable.search.close()
    shutil.rmtree(searchable.index_path)
    monkeypatch.setattr(service_module, "BUILD_AT_ONCE_MAX", -1)  # in the background
    search = SearchService(searchable.db, searchable.index_path)
    await search.start()
    try:
        await search.wait_ready()
        assert await all_results(search) == before
        assert (await search.status()).documents >= len(made)
    finally:
        await search.close()


async def test_a_new_small_database_is_indexed_before_start_returns(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    db = await databases.open()
    await add_summary(db, title="Early", body="firstword")  # before any index exists
    search = SearchService(db, tmp_path / "index")
    await search.start()
    try:
        assert (await search.status()).state == "ready"
        assert len(await ids(search, "firstword")) == 1  # never "being rebuilt"
    finally:
        await search.close()


async def test_a_damaged_index_is_rebuilt(searchable: Searchable) -> None:
    await make_corpus(searchable.db, count=20)
    before = await all_results(searchable.search)
    await searchable.search.close()
    generation = index_module.current_generation(searchable.index_path)
    assert generation is not None
    for file in generation.iterdir():
        if file.suffix in (".term", ".idx", ".store"):
            file.write_bytes(b"garbage")
    search = await open_search(searchable.db, searchable.index_path)
    try:
        assert await all_results(search) == before
    finally:
        await search.close()


async def test_an_older_schema_is_rebuilt(
    searchable: Searchable, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_corpus(searchable.db, count=10)
    before = await all_results(searchable.search)
    await searchable.search.close()
    old = index_module.current_generation(searchable.index_path)
    monkeypatch.setattr(index_module, "SCHEMA_VERSION", index_module.SCHEMA_VERSION + 1)
    search = await open_search(searchable.db, searchable.index_path)
    try:
        assert index_module.current_generation(searchable.index_path) != old
        assert await all_results(search) == before
    finally:
        await search.close()


async def test_searches_say_the_index_is_being_rebuilt(
    searchable: Searchable, monkeypatch: pytest.MonkeyPatch
) -> None:
    await make_corpus(searchable.db, count=10)
    await searchable.search.close()
    shutil.rmtree(searchable.index_path)
    release = hold_index_builds(monkeypatch)
    search = SearchService(searchable.db, searchable.index_path)
    await search.start()
    try:
        with pytest.raises(SearchIndexRebuildingError, match="being rebuilt"):
            await search.search("alpha", guild_id=None)
        with pytest.raises(SearchIndexRebuildingError):
            await search.similar(1, guild_id=None)
        assert await search.autocomplete("alp") == []
        assert await search.similar_titles("alpha") == []
        # Writes go on meanwhile, and do not wait for the index.
        summary = await add_summary(searchable.db, title="During", body="rebuildword")
        release.set()
        await search.wait_ready()
        await search.sync()
        assert await ids(search, "rebuildword") == [summary]
    finally:
        release.set()
        await search.close()


async def test_concurrent_publishes_edits_deletes_and_searches(searchable: Searchable) -> None:
    db, search = searchable.db, searchable.search
    deleted: set[int] = set()
    stale: list[tuple[int, list[int]]] = []

    async def publish(number: int) -> int:
        return await add_summary(db, title=f"Paper {number}", body=f"common word{number}a")

    created = await asyncio.gather(*(publish(n) for n in range(40)))

    async def edit(summary_id: int, number: int) -> None:
        async with db.transaction() as conn:
            await conn.execute(
                "UPDATE summaries SET body = ? WHERE id = ?", (f"common word{number}b", summary_id)
            )

    async def delete(summary_id: int) -> None:
        async with db.transaction() as conn:
            await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (summary_id,))
        deleted.add(summary_id)
        # A search that starts after the delete returned never shows it.
        found = await ids(search, "common")
        if summary_id in found:
            stale.append((summary_id, found))

    async def searcher() -> None:
        for _ in range(30):
            snapshot = set(deleted)
            found = await ids(search, "common")
            assert not snapshot & set(found), "a deleted summary was found"
            await asyncio.sleep(0)

    work: list[Coroutine[Any, Any, object]] = [
        edit(summary_id, number) for number, summary_id in enumerate(created)
    ]
    work += [delete(summary_id) for summary_id in created[::4]]
    work += [searcher() for _ in range(4)]
    work += [publish(n) for n in range(40, 60)]
    random.Random(5).shuffle(work)
    await asyncio.gather(*work)
    assert not stale
    # No lost update: every edit is what the index has.
    for number, summary_id in enumerate(created):
        expected = [] if summary_id in deleted else [summary_id]
        assert await ids(search, f"word{number}b", typo_tolerant=False) == expected
        assert await ids(search, f"word{number}a", typo_tolerant=False) == []
    status = await search.status()
    assert status.applied_seq == status.last_seq


async def test_a_commit_read_in_parts_indexes_everything_as_it_last_was(
    searchable: Searchable, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The indexer reads a commit's changes a part at a time (tantivy indexes one while the
    next is read): a summary changed in two parts is found once, as last written."""
    db, search = searchable.db, searchable.search
    monkeypatch.setattr(service_module, "CHANGES_PER_PART", 2)
    parts_per_commit: list[int] = []
    original_apply = index_module.TantivyIndex.apply

    def counting_apply(
        self: index_module.TantivyIndex, parts: Iterable[Changes], applied_seq: int
    ) -> None:
        taken = list(parts)
        parts_per_commit.append(len(taken))
        original_apply(self, taken, applied_seq)

    monkeypatch.setattr(index_module.TantivyIndex, "apply", counting_apply)
    doomed = await add_summary(db, title="Doomed paper", body="vanishing words")
    doomed_paper = await paper_of(db, doomed)
    async with db.transaction() as conn:
        kept = await conn.fetchval(
            "INSERT INTO summaries (origin, body) VALUES ('feed', 'first draft') RETURNING id"
        )
        for number in range(3):
            await conn.execute(
                "INSERT INTO summaries (origin, body) VALUES ('feed', ?)", (f"filler{number}",)
            )
        await conn.execute("UPDATE summaries SET body = 'final text' WHERE id = ?", (kept,))
        await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (doomed,))
        await conn.execute(
            "UPDATE papers SET title = 'Renamed paper' WHERE id = ?", (doomed_paper,)
        )
    assert parts_per_commit[-1] >= 3
    assert await ids(search, "final") == [kept]
    assert await ids(search, "draft", typo_tolerant=False) == []
    assert await ids(search, "vanishing", typo_tolerant=False) == []
    # A feed's paper stays public; its entry is replaced, not doubled.
    suggestions = await search.autocomplete("Renamed")
    assert [(s.paper_id, s.title) for s in suggestions] == [(doomed_paper, "Renamed paper")]
    assert await search.autocomplete("Doomed") == []
    status = await search.status()
    assert status.applied_seq == status.last_seq


async def test_a_hole_in_the_log_waits_for_its_transaction_however_long(
    postgres_databases: DatabaseFactory, tmp_path: Path
) -> None:
    """PostgreSQL can commit seq 11 before seq 10: the watermark must not pass 10 while the
    transaction that took it runs, however long that is. (SQLite cannot: writers take
    turns.)"""
    url = await postgres_databases.url()
    db = await postgres_databases.open_url(url)
    search = await open_search(db, tmp_path / "index", poll_seconds=0.02)
    searchable = Searchable(db, search, url, tmp_path / "index")
    try:
        first = await add_summary(db, title="First", body="ordinary")
        seq = int(await db.fetchval("SELECT max(seq) FROM search_changes"))
        await concurrent_transactions_commit_out_of_order(searchable, seq)
        assert await ids(search, "ordinary") == [first]
    finally:
        await search.close()


async def concurrent_transactions_commit_out_of_order(searchable: Searchable, seq: int) -> None:
    """Two real transactions on PostgreSQL: the first takes seq + 1 and waits, the second
    takes seq + 2 and commits; then the first commits."""
    db, search = searchable.db, searchable.search
    late_logged, early_committed = asyncio.Event(), asyncio.Event()
    summary_ids: dict[str, int] = {}

    async def late() -> None:
        async with db.transaction() as conn:
            summary_ids["late"] = await conn.fetchval(
                "INSERT INTO summaries (origin, body) VALUES ('feed', 'late arrival') RETURNING id"
            )
            late_logged.set()
            await asyncio.wait_for(early_committed.wait(), 10)
            # The hole is there while this transaction is open, cycle after cycle.
            for _ in range(3):
                await asyncio.sleep(0.2)
                await search.sync()
                assert await ids(search, "early") == [summary_ids["early"]]  # applied already
                assert (await search.status()).applied_seq == seq  # the watermark waits
                assert await ids(search, "late") == []

    async def early() -> None:
        await late_logged.wait()
        with db.commit_hooks_not_awaited():
            async with db.transaction() as conn:
                summary_ids["early"] = await conn.fetchval(
                    "INSERT INTO summaries (origin, body) VALUES ('feed', 'early bird') "
                    "RETURNING id"
                )
        await search.sync()
        early_committed.set()

    await asyncio.gather(late(), early())
    logged = await db.fetchall(
        "SELECT seq, item_id FROM search_changes WHERE seq > ? ORDER BY seq", (seq,)
    )
    assert [tuple(row) for row in logged] == [
        (seq + 1, summary_ids["late"]),
        (seq + 2, summary_ids["early"]),
    ]
    await search.sync()
    assert await ids(search, "late") == [summary_ids["late"]]
    assert (await search.status()).applied_seq == seq + 2


async def test_changes_past_a_waiting_hole_are_applied_however_many(
    postgres_databases: DatabaseFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More changes than one read of the log holds, behind a hole that waits: all applied."""
    monkeypatch.setattr(service_module, "CHANGES_PER_COMMIT", 3)
    db = await postgres_databases.open()
    search = await open_search(db, tmp_path / "index")
    try:
        async with transaction_held_open(db, "slowpoke") as release:
            later = []
            for number in range(8):
                async with db.transaction() as conn:
                    later.append(
                        await conn.fetchval(
                            "INSERT INTO summaries (origin, body) VALUES ('feed', ?) RETURNING id",
                            (f"busy{number} busy",),
                        )
                    )
            assert sorted(await ids(search, "busy")) == sorted(later)
            release.set()
        assert len(await ids(search, "slowpoke")) == 1
        status = await search.status()
        assert status.applied_seq == status.last_seq
    finally:
        await search.close()


@contextlib.asynccontextmanager
async def transaction_held_open(db: Database, body: str) -> AsyncIterator[asyncio.Event]:
    """A transaction (another task's) that has logged a new summary with `body` and stays
    open until the yielded event is set; it has committed when the block ends."""
    logged, release = asyncio.Event(), asyncio.Event()

    async def hold() -> None:
        async with db.transaction() as conn:
            await conn.execute("INSERT INTO summaries (origin, body) VALUES ('feed', ?)", (body,))
            logged.set()
            await asyncio.wait_for(release.wait(), 30)

    holder = asyncio.create_task(hold())
    await asyncio.wait_for(logged.wait(), 10)
    try:
        yield release
    finally:
        release.set()
        await holder


async def test_a_hole_whose_transaction_has_ended_is_passed_at_once(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    db = await databases.open()
    search = await open_search(db, tmp_path / "index")
    try:
        async with db.transaction() as conn:
            await conn.execute(
                "INSERT INTO search_changes (seq, kind, item_id) VALUES (5, 'summary', 999)"
            )
        status = await search.status()
        assert status.applied_seq == 5  # seqs 1-4 (a rolled-back transaction) never come
    finally:
        await search.close()


async def test_a_rebuild_waits_for_a_transaction_holding_an_earlier_seq(
    postgres_databases: DatabaseFactory, tmp_path: Path
) -> None:
    """A transaction took a seq, a later one committed, then a rebuild starts: what the first
    commits is in the new index (the log is followed only after the rebuild's start)."""
    db = await postgres_databases.open()
    search = await open_search(db, tmp_path / "index")
    try:
        async with transaction_held_open(db, "straggler") as release:
            await add_summary(db, title="Later", body="punctual")
            rebuilding = asyncio.create_task(search.rebuild())
            await asyncio.sleep(0.5)
            assert not rebuilding.done()  # it waits for the transaction held open
            release.set()
        await rebuilding
        assert len(await ids(search, "straggler")) == 1
        assert len(await ids(search, "punctual")) == 1
    finally:
        await search.close()


async def test_an_index_of_another_database_is_rebuilt(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """An index ahead of the database's change log (the database was replaced, or restored
    from a backup) is not followed from where it was: its sequence numbers are not this
    database's."""
    index_path = tmp_path / "index"
    old_db = await databases.open()
    search = await open_search(old_db, index_path)
    for number in range(5):
        await add_summary(old_db, title=f"Old {number}", body="bygone")
    await search.close()
    db = await databases.open()
    newer = await add_summary(db, title="New", body="fresh")
    search = await open_search(db, index_path)
    try:
        assert await ids(search, "fresh") == [newer]
        assert await ids(search, "bygone") == []
        status = await search.status()
        assert status.applied_seq == status.last_seq
    finally:
        await search.close()


async def test_a_deletion_the_index_has_not_applied_yet_is_never_shown(
    searchable: Searchable, tmp_path: Path
) -> None:
    """Another process deleted a summary; this process's index has not polled the log yet."""
    doomed = await add_summary(searchable.db, title="Doomed", body="ephemeral mayfly")
    lagging = await open_search(
        searchable.db, tmp_path / "lagging-index", follow_commits=False, poll_seconds=3600
    )
    other_db = await Database.open(searchable.url)
    try:
        assert await ids(lagging, "ephemeral") == [doomed]
        await lagging.sync()  # its first poll is done: the next is an hour away
        async with other_db.transaction() as conn:
            await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (doomed,))
        assert (await lagging.status()).applied_seq < (await lagging.status()).last_seq
        assert await ids(lagging, "ephemeral") == []
        assert await ids(lagging, "mayfly", typo_tolerant=False) == []
    finally:
        await other_db.close()
        await lagging.close()


async def test_two_processes_keep_their_own_indexes_in_step(searchable: Searchable) -> None:
    """Another process (its own Database and index) sees this one's writes through the log."""
    other_db = await Database.open(searchable.url)
    other = await open_search(
        other_db, searchable.index_path.parent / "other-index", poll_seconds=0.05
    )
    try:
        summary = await add_summary(searchable.db, title="Shared", body="crosstalk")
        for _ in range(200):
            if await ids(other, "crosstalk"):
                break
            await asyncio.sleep(0.05)
        assert await ids(other, "crosstalk") == [summary]
        # And the other way round.
        async with other_db.transaction() as conn:
            await conn.execute("UPDATE summaries SET deleted_at = 1 WHERE id = ?", (summary,))
        assert await ids(other, "crosstalk") == []
        for _ in range(200):
            if not await ids(searchable.search, "crosstalk"):
                break
            await asyncio.sleep(0.05)
        assert await ids(searchable.search, "crosstalk") == []
    finally:
        await other.close()
        await other_db.close()


async def test_a_second_process_on_the_same_index_only_reads_it(searchable: Searchable) -> None:
    summary = await add_summary(searchable.db, title="Owner", body="readable")
    reader = await open_search(searchable.db, searchable.index_path, follow_commits=False)
    try:
        assert (await reader.status()).state == "read-only"
        assert await ids(reader, "readable") == [summary]
    finally:
        await reader.close()


async def test_an_index_behind_the_pruned_log_is_rebuilt(searchable: Searchable) -> None:
    summary = await add_summary(searchable.db, title="Pruned", body="oldtimer")
    await searchable.search.close()
    # Another process added a summary and pruned the log past what this index has applied.
    async with searchable.db.transaction() as conn:
        newer = await conn.fetchval(
            "INSERT INTO summaries (origin, body) VALUES ('feed', 'newer') RETURNING id"
        )
    last = int(await searchable.db.fetchval("SELECT max(seq) FROM search_changes"))
    from bot.storage.search import prune_changes

    assert await prune_changes(searchable.db, older_than=10**10, keep_after=last) == last
    search = await open_search(searchable.db, searchable.index_path)
    try:
        assert await ids(search, "oldtimer") == [summary]
        assert await ids(search, "newer") == [newer]
    finally:
        await search.close()


async def test_reindex_while_searching(searchable: Searchable) -> None:
    await make_corpus(searchable.db, count=30)
    before = await all_results(searchable.search)
    rebuild = asyncio.create_task(searchable.search.rebuild())
    during = [await all_results(searchable.search) for _ in range(3)]
    report = await rebuild
    assert report.summaries == 30
    assert all(results == before for results in during)
    assert await all_results(searchable.search) == before
    generations = [p for p in searchable.index_path.iterdir() if p.name.startswith("gen-")]
    assert len(generations) == 1


async def test_a_reindex_by_another_process_is_followed(
    databases: DatabaseFactory, tmp_path: Path
) -> None:
    """`shortscience-bot reindex` next to a running bot on the same index folder: the bot
    switches to the new generation and keeps indexing."""
    url = await databases.url()
    db = await databases.open_url(url)
    bot = await open_search(db, tmp_path / "index", poll_seconds=0.05)
    cli = SearchService(await databases.open_url(url), tmp_path / "index")
    try:
        first = await add_summary(db, title="Before", body="reindexed")
        await cli.start(follow_commits=False, rebuild=False)
        assert (await cli.status()).state == "read-only"
        report = await cli.rebuild()
        assert report.summaries == 1
        await cli.close()
        new_generation = index_module.current_generation(tmp_path / "index")
        for _ in range(200):
            status = await bot.status()
            if (
                status.state == "ready"
                and bot._index is not None
                and (bot._index.directory == new_generation)
            ):
                break
            await asyncio.sleep(0.05)
        assert bot._index is not None and bot._index.directory == new_generation
        second = await add_summary(db, title="After", body="reindexed")
        assert sorted(await ids(bot, "reindexed")) == [first, second]
    finally:
        await cli.close()
        await bot.close()
