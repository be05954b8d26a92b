"""The first-start seed job: imports an empty database's feeds, retries with backoff."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.seed import FeedSeeder
from bot.storage import Database
from bot.storage.state import BotStateRepository
from bot.storage.summaries import SummaryRepository

FEEDS = Path(__file__).resolve().parents[1] / "fixtures" / "feeds"


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = await Database.open(tmp_path / "seed.sqlite3")
    await database.migrate()
    yield database
    await database.close()


class FakeSleep:
    """Records the delays asked for; after each, runs `between` (to repair a source)."""

    def __init__(self) -> None:
        self.delays: list[float] = []
        self.between: list[object] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)
        if self.between:
            action = self.between.pop(0)
            if callable(action):
                action()


async def count(db: Database) -> int:
    return int(await db.fetchval("SELECT count(*) FROM summaries"))


def test_the_retry_delay_doubles_up_to_the_cap(db: Database) -> None:
    seeder = FeedSeeder(db, None, ["x"], retry_seconds=60, max_retry_seconds=3600)
    assert [seeder.retry_delay(n) for n in range(1, 9)] == [
        60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip


async def test_an_empty_database_is_seeded_from_every_source(db: Database) -> None:
    sources = [str(FEEDS / "shortscience.xml"), str(FEEDS / "arxiv_rss.xml")]
    sleep = FakeSleep()
    seeder = FeedSeeder(db, None, sources, retry_seconds=1, sleep=sleep)
    assert await seeder.run() == "done"
    assert sleep.delays == []
    assert await count(db) > 0
    assert await BotStateRepository(db).seed_status() == "done"
    # Never again on this database, even after it was emptied.
    await db.executemany("DELETE FROM summaries", [()])
    assert await FeedSeeder(db, None, sources, retry_seconds=1).run() == "done"
    assert await count(db) == 0


async def test_a_failing_source_is_logged_and_retried_with_backoff(
    db: Database, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    late = tmp_path / "late.xml"
    good = str(FEEDS / "shortscience.xml")
    sleep = FakeSleep()
    # The file appears after the second failure.
    sleep.between = [None, lambda: late.write_bytes((FEEDS / "rss20.xml").read_bytes())]
    seeder = FeedSeeder(db, None, [good, str(late)], retry_seconds=5, sleep=sleep)
    with caplog.at_level(logging.INFO, logger="bot.seed"):
        assert await seeder.run() == "done"
    assert sleep.delays == [5, 10]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("late.xml: no such file" in message for message in warnings)
    assert "1 seed feed not imported yet; trying again in 5.0 s" in warnings
    assert seeder.last_error is not None and "late.xml" in seeder.last_error
    assert await BotStateRepository(db).seed_status() == "done"
    assert await count(db) > 0


async def test_a_filled_database_is_left_alone(db: Database) -> None:
    await SummaryRepository(db).upsert_external(external_id="mine", body="Already here.")
    seeder = FeedSeeder(db, None, [str(FEEDS / "shortscience.xml")], retry_seconds=1)
    assert await seeder.run() == "skipped"
    assert await count(db) == 1


async def test_no_sources_means_no_seed_and_no_decision(db: Database) -> None:
    assert await FeedSeeder(db, None, [], retry_seconds=1).run() is None
    assert await BotStateRepository(db).seed_status() is None
