"""`interaction_states`: what buttons and forms need, claimed one action at a time across
processes (two `Database` objects on one database stand for two bot processes), on both
engines."""

from __future__ import annotations

import asyncio
import re

import pytest

from bot.storage import Database
from bot.storage.interactions import STATE_ID_PATTERN, InteractionStateRepository
from tests.databases import DatabaseFactory


@pytest.fixture
async def url(databases: DatabaseFactory) -> str:
    return await databases.url()


@pytest.fixture
async def db(databases: DatabaseFactory, url: str) -> Database:
    return await databases.open_url(url)


async def test_a_state_is_found_by_its_random_id(db: Database) -> None:
    repo = InteractionStateRepository(db)
    payload = {"text": "é" * 50_000, "ids": [1, 2], "nested": {"a": None}}
    state = await repo.create(
        "draft", owner_id=7, guild_id=9, payload=payload, now=100, lifetime=60
    )
    assert re.fullmatch(STATE_ID_PATTERN, state.id)
    found = await repo.get(state.id)
    assert found == state and found.payload == payload
    assert found.expires_at == 160 and not found.expired(159.9) and found.expired(160)
    other = await repo.create("draft", owner_id=7, guild_id=None, payload={}, now=100, lifetime=60)
    assert other.id != state.id and (await repo.get(other.id)).guild_id is None  # type: ignore[union-attr]
    assert await repo.get("A" * 16) is None


async def test_one_action_at_a_time_until_it_is_finished(db: Database) -> None:
    repo = InteractionStateRepository(db)
    state = await repo.create("draft", owner_id=1, guild_id=1, payload={}, now=0, lifetime=600)
    claimed = await repo.claim(state.id, now=10, lease=30)
    assert claimed is not None and claimed.busy(10)
    assert await repo.claim(state.id, now=20, lease=30) is None  # busy
    await repo.release(state.id, expires_at=700)
    released = await repo.get(state.id)
    assert released is not None and released.busy_until is None and released.expires_at == 700
    assert await repo.claim(state.id, now=21, lease=30) is not None
    # A process that died mid-action: its lease passes and the state can be claimed again.
    assert await repo.claim(state.id, now=52, lease=30) is not None
    assert await repo.finish(state.id, "published")
    assert not await repo.finish(state.id, "cancelled")  # the first outcome stands
    assert await repo.claim(state.id, now=100, lease=30) is None
    done = await repo.get(state.id)
    assert done is not None and done.outcome == "published" and done.busy_until is None


async def test_two_processes_claiming_at_once_get_it_once(
    db: Database, databases: DatabaseFactory, url: str
) -> None:
    other = await databases.open_url(url)
    state = await InteractionStateRepository(db).create(
        "draft", owner_id=1, guild_id=1, payload={}, now=0, lifetime=600
    )
    repos = [InteractionStateRepository(db), InteractionStateRepository(other)]
    claims = await asyncio.gather(
        *(repo.claim(state.id, now=1, lease=60) for _ in range(10) for repo in repos)
    )
    assert sum(claim is not None for claim in claims) == 1


async def test_expiry_touch_replace_and_prune(db: Database) -> None:
    repo = InteractionStateRepository(db)
    state = await repo.create("list", owner_id=1, guild_id=1, payload={"n": 1}, now=0, lifetime=60)
    assert not await repo.expire(state.id, now=30)  # not yet
    await repo.touch(state.id, expires_at=120)
    await repo.touch(state.id, expires_at=90)  # never shortened
    assert (await repo.get(state.id)).expires_at == 120  # type: ignore[union-attr]
    claimed = await repo.claim(state.id, now=119, lease=30)
    assert claimed is not None
    assert not await repo.expire(state.id, now=125)  # an action holds it
    await repo.replace_payload(state.id, {"n": 2}, expires_at=200)
    assert not await repo.expire(state.id, now=199)
    assert await repo.expire(state.id, now=199, slack=2)  # a timer a little early
    expired = await repo.get(state.id)
    assert expired is not None and expired.outcome == "expired" and expired.payload == {"n": 2}
    assert not await repo.expire(state.id, now=300)
    await repo.touch(state.id, expires_at=900)  # a finished state stays finished
    assert (await repo.get(state.id)).expires_at == 200  # type: ignore[union-attr]
    kept = await repo.create("list", owner_id=1, guild_id=1, payload={}, now=250, lifetime=60)
    assert await repo.prune(expired_before=250) == 1
    assert await repo.get(state.id) is None and await repo.get(kept.id) is not None
