"""`bot_state`: the first-start seed is decided once per database."""

from __future__ import annotations

import pytest

from bot.storage import Database
from bot.storage.state import BotStateRepository
from bot.storage.summaries import SummaryRepository
from tests.databases import DatabaseFactory


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def test_an_empty_database_is_claimed_for_seeding_until_it_is_done(db: Database) -> None:
    state = BotStateRepository(db)
    assert await state.seed_status() is None
    assert await state.claim_seed(now=1) == "pending"
    # A restart before the seed finished: still to be seeded, even with half of it imported.
    await SummaryRepository(db).upsert_external(external_id="half", body="Imported already.")
    assert await state.claim_seed(now=2) == "pending"
    await state.finish_seed(now=3)
    assert await state.claim_seed(now=4) == "done"
    assert await state.seed_status() == "done"


async def test_a_database_with_summaries_is_never_seeded(db: Database) -> None:
    await SummaryRepository(db).upsert_external(external_id="mine", body="Imported by hand.")
    state = BotStateRepository(db)
    assert await state.claim_seed(now=1) == "skipped"
    # Even when it is emptied later: the decision stands.
    await db.executemany("DELETE FROM summaries", [()])
    assert await state.claim_seed(now=2) == "skipped"
