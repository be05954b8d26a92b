"""The process registry and the IDENTIFY slots: what other processes see of each other."""

from __future__ import annotations

import asyncio

import pytest

from bot.processes import ProcessPresence, new_process_identity
from bot.rest_budget import GlobalRequestBudget
from bot.storage import Database
from bot.storage.leases import WorkShare
from bot.storage.processes import IdentifySlots, ProcessIdentity, ProcessRegistry, ShardState
from tests.databases import DatabaseFactory

EXPIRY = 30.0


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    """A migrated database on each engine in turn."""
    return await databases.open()


def identity(name: str, started_at: float = 100.0) -> ProcessIdentity:
    return ProcessIdentity(
        process_id=name, host="host-a", pid=4242, version="0.1.0", started_at=started_at
    )


async def test_a_registered_process_is_live_with_its_shards_until_it_expires(db: Database) -> None:
    registry = ProcessRegistry(db, expiry=EXPIRY)
    shards = [ShardState(0, connected=True, latency=0.042), ShardState(1, connected=False)]
    await registry.register(identity("p1"), shard_count=4, shards=shards, now=100.0)
    [process] = await registry.live_processes(now=110.0)
    assert process.process_id == "p1" and process.identity == identity("p1")
    assert process.shard_count == 4 and process.shard_ids == (0, 1)
    assert process.shards == tuple(shards)
    assert process.heartbeat_age(110.0) == 10.0
    assert await registry.is_alive("p1", now=110.0)
    assert await registry.live_count(now=110.0) == 1
    # No heartbeat for longer than the expiry: dead, whatever its row says.
    assert await registry.live_processes(now=100.0 + EXPIRY + 1) == []
    assert not await registry.is_alive("p1", now=100.0 + EXPIRY + 1)
    assert await registry.live_count(now=100.0 + EXPIRY + 1) == 0


async def test_each_live_process_has_its_share_of_the_work_by_start(db: Database) -> None:
    registry = ProcessRegistry(db, expiry=EXPIRY)
    assert await registry.share_of("p1", now=100.0) == WorkShare()  # not registered: all
    for name, started_at in [("p2", 102.0), ("p1", 101.0), ("p3", 103.0)]:
        await registry.register(identity(name, started_at), shard_count=None, shards=[], now=110)
    shares = [await registry.share_of(name, now=110.0) for name in ("p1", "p2", "p3")]
    assert shares == [WorkShare(0, 3), WorkShare(1, 3), WorkShare(2, 3)]
    # p1 stops beating: once it counts as dead, the two others split the work.
    for name, started_at in [("p2", 102.0), ("p3", 103.0)]:
        await registry.heartbeat(identity(name, started_at), shard_count=None, shards=[], now=130)
    assert await registry.share_of("p3", now=110.0 + EXPIRY + 1) == WorkShare(1, 2)


async def test_heartbeats_refresh_the_row_and_replace_the_shards(db: Database) -> None:
    registry = ProcessRegistry(db, expiry=EXPIRY)
    await registry.register(identity("p1"), shard_count=None, shards=[], now=100.0)
    [starting] = await registry.live_processes(now=100.0)
    assert starting.shard_count is None and starting.shards == ()
    await registry.heartbeat(
        identity("p1"), shard_count=2, shards=[ShardState(1, True, 0.01)], now=125.0
    )
    [process] = await registry.live_processes(now=150.0)
    assert process.heartbeat_at == 125.0 and process.shard_count == 2
    assert process.shard_ids == (1,) and process.identity.started_at == 100.0


async def test_dead_processes_are_pruned_and_a_stopped_one_unregisters(db: Database) -> None:
    registry = ProcessRegistry(db, expiry=EXPIRY)
    await registry.register(
        identity("old", 10.0), shard_count=2, shards=[ShardState(0, True)], now=10.0
    )
    await registry.register(
        identity("new", 90.0), shard_count=2, shards=[ShardState(1, True)], now=95.0
    )
    assert [p.process_id for p in await registry.live_processes(now=30.0)] == ["old", "new"]
    assert await registry.prune(now=100.0) == 1
    assert await db.fetchval("SELECT count(*) FROM bot_process_shards") == 1  # cascade
    await registry.unregister("new")
    assert await db.fetchval("SELECT count(*) FROM bot_processes") == 0
    assert await db.fetchval("SELECT count(*) FROM bot_process_shards") == 0


async def test_presence_registers_again_after_being_pruned(db: Database) -> None:
    registry = ProcessRegistry(db, expiry=EXPIRY)
    clock = [1000.0]
    me = new_process_identity("9.9.9", now=clock[0])
    presence = ProcessPresence(
        registry,
        me,
        lambda: (1, [ShardState(0, connected=True, latency=0.02)]),
        interval=5.0,
        clock=lambda: clock[0],
    )
    await presence.beat()
    assert presence.registered and await registry.is_alive(me.process_id, now=clock[0])
    # Cut off longer than the expiry: another process pruned the row.
    await registry.prune(now=clock[0] + EXPIRY + 1)
    assert not await registry.is_alive(me.process_id, now=clock[0])
    clock[0] += EXPIRY + 2
    await presence.beat()
    [process] = await registry.live_processes(now=clock[0])
    assert process.identity == me and process.shards[0].latency == 0.02
    await presence.leave()
    assert await registry.live_processes(now=clock[0]) == []
    await presence.leave()  # twice is harmless


def test_process_identities_are_new_at_every_start() -> None:
    first, second = new_process_identity("1.0"), new_process_identity("1.0")
    assert first.process_id != second.process_id and len(first.process_id) == 16
    assert first.pid == second.pid and first.host == second.host


async def test_an_identify_slot_is_held_for_its_window_per_bucket(db: Database) -> None:
    slots = IdentifySlots(db)
    assert await slots.claim(0, now=100.0, window=5.0) == 0
    assert await slots.claim(0, now=101.0, window=5.0) == pytest.approx(4.0)
    assert await slots.claim(1, now=101.0, window=5.0) == 0  # another bucket
    assert await slots.claim(0, now=105.0, window=5.0) == 0  # the window passed
    assert await slots.claim(0, now=105.0, window=5.0) == pytest.approx(5.0)


async def test_concurrent_claims_of_one_bucket_give_it_to_one(
    databases: DatabaseFactory,
) -> None:
    """Two processes' connections claiming the same slot at once: exactly one gets it."""
    url = await databases.url()
    first, second = await databases.open_url(url), await databases.open_url(url)
    waits = await asyncio.gather(
        *(IdentifySlots(db).claim(0, now=100.0, window=5.0) for db in (first, second) * 3)
    )
    assert sorted(waits)[0] == 0 and sorted(waits)[1] > 0
    assert waits.count(0) == 1


async def test_each_heartbeat_shares_the_global_budget_among_the_live_processes(
    db: Database,
) -> None:
    registry = ProcessRegistry(db, expiry=EXPIRY)
    clock = [1000.0]
    budgets = [GlobalRequestBudget(50.0, clock=lambda: clock[0]) for _ in range(2)]
    first, second = (
        ProcessPresence(
            registry,
            new_process_identity("1.0", now=clock[0]),
            lambda: (2, []),
            interval=5.0,
            budget=budget,
            clock=lambda: clock[0],
        )
        for budget in budgets
    )
    # Alone at its first heartbeat: the whole share at once.
    await first.beat()
    assert first.live_processes == 1 and budgets[0].rate == pytest.approx(45.0)
    # A second process joins: it takes little until the first has counted it...
    clock[0] += 1.0
    await second.beat()
    assert second.live_processes == 2 and budgets[1].joining
    assert budgets[0].rate + budgets[1].rate <= 50.0
    # ...which the first does at its next heartbeat; two intervals on, both take half.
    clock[0] += 5.0
    await first.beat()
    assert budgets[0].rate == pytest.approx(22.5)
    clock[0] += 5.0
    await second.beat()
    assert not budgets[1].joining and budgets[1].rate == pytest.approx(22.5)
    # The second stops cleanly: the first takes the whole share at its next heartbeat.
    await second.leave()
    clock[0] += 5.0
    await first.beat()
    assert first.live_processes == 1 and budgets[0].rate == pytest.approx(45.0)
    # Cut off longer than the expiry, the first joins again when it comes back, with
    # another process now running: the joining share until that one counted it.
    await second.beat()
    clock[0] += EXPIRY + 1
    await second.beat()
    await first.beat()
    assert budgets[0].joining and budgets[0].rate == pytest.approx(2.5)
