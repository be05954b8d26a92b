"""Leases on feeds and scheduled jobs: claim, expiry, take-over and release on SQLite and
PostgreSQL; and, on PostgreSQL, two processes (two `Database`s on one server) claiming at
once never get the same feed or job."""

from __future__ import annotations

import asyncio

import pytest

from bot.storage import Database
from bot.storage.feeds import FeedRepository, SubscriptionRepository
from bot.storage.leases import (
    JobLeaseRepository,
    LeaseLostError,
    WorkShare,
    new_owner_id,
)
from tests.databases import DatabaseFactory

A, B = "host-1-aaaaaa", "host-2-bbbbbb"
LEASE = 30.0


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def add_feeds(
    db: Database, count: int, *, next_poll_at: float = 0.0, name: str = "feeds"
) -> list[int]:
    """`count` subscribed feeds, due at `next_poll_at`, in order of their ids."""
    feeds, subscriptions = FeedRepository(db), SubscriptionRepository(db)
    ids = []
    for number in range(count):
        feed_id = await feeds.create(
            f"http://{name}/{number}", title="", site_url=None, now=0, next_poll_at=next_poll_at
        )
        await subscriptions.add(
            feed_id=feed_id, guild_id=1, channel_id=100 + number, include_terms="",
            exclude_terms="", mention_role_id=None, created_by=None, now=0,
        )  # fmt: skip
        ids.append(feed_id)
    return ids


def test_owner_ids_name_the_host_and_process_and_differ() -> None:
    import os

    first, second = new_owner_id(), new_owner_id()
    assert first != second
    assert f"-{os.getpid()}-" in first


async def test_a_claimed_feed_is_not_claimed_by_another_process_until_its_lease_expires(
    db: Database,
) -> None:
    feeds = FeedRepository(db)
    ids = await add_feeds(db, 3)
    claimed = await feeds.claim_due(A, now=10, lease_seconds=LEASE, limit=2)
    assert [f.id for f in claimed] == ids[:2]
    # B gets what is left; nothing of A's while A's lease runs.
    assert [f.id for f in await feeds.claim_due(B, now=11, lease_seconds=LEASE, limit=5)] == [
        ids[2]
    ]
    polling = [ids[2]]  # B's own feed, being polled
    assert await feeds.claim_due(B, now=39, lease_seconds=LEASE, limit=5, exclude=polling) == []
    assert await feeds.leased_count(now=39) == 3
    assert await feeds.leased_count(now=39, owner=A) == 2
    # A died: at expiry B takes its feeds over.
    taken = await feeds.claim_due(B, now=40, lease_seconds=LEASE, limit=5, exclude=polling)
    assert [f.id for f in taken] == ids[:2]
    assert await feeds.leased_count(now=40.5, owner=B) == 3


async def test_a_process_reclaims_its_own_lease_but_not_a_feed_it_is_polling(
    db: Database,
) -> None:
    feeds = FeedRepository(db)
    [feed_id] = await add_feeds(db, 1)
    assert [f.id for f in await feeds.claim_due(A, now=10, lease_seconds=LEASE, limit=1)] == [
        feed_id
    ]
    assert await feeds.claim_due(A, now=11, lease_seconds=LEASE, limit=1, exclude=[feed_id]) == []
    # A poll cut by an outage left A's lease behind: A may take it up again at once.
    again = await feeds.claim_due(A, now=12, lease_seconds=LEASE, limit=1)
    assert [f.id for f in again] == [feed_id]


async def test_renewal_keeps_a_lease_and_reports_the_ones_taken_over(db: Database) -> None:
    feeds = FeedRepository(db)
    first, second = await add_feeds(db, 2)
    await feeds.claim_due(A, now=10, lease_seconds=LEASE, limit=2)
    assert await feeds.renew_leases(A, [first, second], now=35, lease_seconds=LEASE) == {
        first,
        second,
    }
    assert await feeds.claim_due(B, now=50, lease_seconds=LEASE, limit=2) == []  # renewed
    assert await feeds.claim_due(B, now=64, lease_seconds=LEASE, limit=2) == []
    # A stalls past expiry; B takes the feeds over; A's renewal finds them lost.
    assert len(await feeds.claim_due(B, now=66, lease_seconds=LEASE, limit=2)) == 2
    assert await feeds.renew_leases(A, [first, second], now=67, lease_seconds=LEASE) == set()
    assert await feeds.taken_over(A, [first, second]) == {first, second}
    await feeds.release_leases(B, [first])
    assert await feeds.taken_over(A, [first, second]) == {second}


async def test_recording_a_poll_needs_the_lease_frees_the_feed_and_logs_who_polled(
    db: Database,
) -> None:
    feeds = FeedRepository(db)
    feed_id, other = await add_feeds(db, 2)
    await feeds.claim_due(A, now=10, lease_seconds=LEASE, limit=2)
    async with db.transaction() as conn:
        await feeds.hold_lease(feed_id, A, conn=conn)
        await feeds.end_lease(feed_id, A, outcome="unchanged", now=12, conn=conn)
        await feeds.record_unchanged(feed_id, now=12, next_poll_at=100, conn=conn)
    assert await feeds.leased_count(now=13) == 1
    assert await feeds.poll_counts() == {A: 1}
    # B took the other feed over after A's lease expired: A records nothing of its poll.
    assert len(await feeds.claim_due(B, now=41, lease_seconds=LEASE, limit=2)) == 1
    with pytest.raises(LeaseLostError):
        async with db.transaction() as conn:
            await feeds.record_unchanged(other, now=42, next_poll_at=500, conn=conn)
            await feeds.end_lease(other, A, outcome="unchanged", now=42, conn=conn)
    with pytest.raises(LeaseLostError):
        async with db.transaction() as conn:
            await feeds.hold_lease(other, A, conn=conn)
    feed = await feeds.get(other)
    assert feed is not None and feed.next_poll_at == 0 and feed.last_polled_at is None
    assert await feeds.poll_counts() == {A: 1}
    assert await feeds.prune_poll_log(older_than=13) == 1


async def test_release_hands_the_feeds_over_at_once(db: Database) -> None:
    feeds = FeedRepository(db)
    ids = await add_feeds(db, 3)
    await feeds.claim_due(A, now=10, lease_seconds=LEASE, limit=3)
    assert await feeds.release_leases(A, [ids[0]]) == 1
    assert [f.id for f in await feeds.claim_due(B, now=11, lease_seconds=LEASE, limit=3)] == [
        ids[0]
    ]
    assert await feeds.release_leases(A) == 2
    claimed = await feeds.claim_due(B, now=12, lease_seconds=LEASE, limit=3, exclude=[ids[0]])
    assert [f.id for f in claimed] == ids[1:]
    # One feed by hand (a poll asked for): not while another process holds it.
    assert not await feeds.claim(ids[0], A, now=13, lease_seconds=LEASE)
    assert await feeds.release_leases(B) == 3
    assert await feeds.claim(ids[0], A, now=13, lease_seconds=LEASE)


async def test_only_due_subscribed_unpaused_feeds_are_claimed(db: Database) -> None:
    feeds = FeedRepository(db)
    due, paused = await add_feeds(db, 2)
    await add_feeds(db, 1, next_poll_at=1000, name="later")  # not due yet
    await feeds.create("http://lonely", title="", site_url=None, now=0, next_poll_at=0)
    await feeds.pause(paused, "gone")
    assert await feeds.count_due(10) == 1
    assert [f.id for f in await feeds.claim_due(A, now=10, lease_seconds=LEASE, limit=9)] == [due]


async def test_each_process_claims_its_share_and_the_others_feeds_once_they_fall_behind(
    db: Database,
) -> None:
    feeds = FeedRepository(db)
    ids = await add_feeds(db, 9)  # due at 0
    second_of_three = WorkShare(rank=1, of=3)
    claimed = await feeds.claim_due(
        A, now=10, lease_seconds=LEASE, limit=9, share=second_of_three, behind_after=30
    )
    assert [f.id for f in claimed] == [i for i in ids if i % 3 == 1]
    # Thirty seconds after they fell due the others' feeds are anyone's: their process is
    # dead, stalled or behind.
    later = await feeds.claim_due(
        A, now=31, lease_seconds=LEASE, limit=9, share=second_of_three, behind_after=30,
        exclude=[f.id for f in claimed],
    )  # fmt: skip
    assert sorted(f.id for f in later) == [i for i in ids if i % 3 != 1]


def test_a_share_is_one_of_the_live_processes() -> None:
    assert WorkShare() == WorkShare(rank=0, of=1)
    with pytest.raises(ValueError):
        WorkShare(rank=3, of=3)


async def test_a_job_runs_once_per_interval_whoever_runs_it(db: Database) -> None:
    jobs = JobLeaseRepository(db)
    assert await jobs.try_start("prune", A, now=100, every=60, lease_seconds=LEASE)
    assert not await jobs.try_start("prune", B, now=101, every=60, lease_seconds=LEASE)
    assert await jobs.finish("prune", A, now=105)
    # Free, but ran 5 seconds ago: due again 60 seconds after its run ended.
    assert not await jobs.try_start("prune", B, now=150, every=60, lease_seconds=LEASE)
    assert await jobs.try_start("prune", B, now=165, every=60, lease_seconds=LEASE)
    lease = await jobs.get("prune")
    assert lease is not None and lease.owner == B and lease.last_run_at == 105
    # Other jobs are their own.
    assert await jobs.try_start("reminders", A, now=165, every=60, lease_seconds=LEASE)
    assert [job.name for job in await jobs.all()] == ["prune", "reminders"]


async def test_a_job_whose_runner_died_is_taken_over_at_expiry(db: Database) -> None:
    jobs = JobLeaseRepository(db)
    assert await jobs.try_start("enrich", A, now=100, every=10, lease_seconds=LEASE)
    assert await jobs.renew("enrich", A, now=120, lease_seconds=LEASE)
    assert not await jobs.try_start("enrich", B, now=149, every=10, lease_seconds=LEASE)
    assert await jobs.try_start("enrich", B, now=150, every=10, lease_seconds=LEASE)
    # A comes back: its lease is gone, and its run is not recorded.
    assert not await jobs.renew("enrich", A, now=151, lease_seconds=LEASE)
    assert not await jobs.finish("enrich", A, now=151)
    assert await jobs.release("enrich", B)
    assert await jobs.try_start("enrich", A, now=152, every=10, lease_seconds=LEASE)
    assert await jobs.release_all(A) == 1


# --- two processes at once (PostgreSQL) -------------------------------------------------------


async def test_two_processes_claiming_at_once_never_get_the_same_feed(
    postgres_databases: DatabaseFactory,
) -> None:
    url = await postgres_databases.url()
    first = await postgres_databases.open_url(url)
    second = await postgres_databases.open_url(url)
    ids = await add_feeds(first, 120)
    repos = {A: FeedRepository(first), B: FeedRepository(second)}
    got: dict[str, list[int]] = {A: [], B: []}
    for db in (first, second):  # both connected before the race starts
        assert await db.fetchval("SELECT 1") == 1

    async def claim_all(owner: str) -> None:
        while True:
            claimed = await repos[owner].claim_due(
                owner, now=10, lease_seconds=LEASE, limit=7, exclude=got[owner]
            )
            if not claimed:
                return
            got[owner] += [feed.id for feed in claimed]
            await asyncio.sleep(0.002)  # polling them, while the other claims

    await asyncio.gather(claim_all(A), claim_all(B))
    assert not set(got[A]) & set(got[B])
    assert sorted(got[A] + got[B]) == ids
    assert got[A] and got[B]  # neither waited for the other to finish


async def test_two_processes_starting_a_job_at_once_run_it_once(
    postgres_databases: DatabaseFactory,
) -> None:
    url = await postgres_databases.url()
    processes = [await postgres_databases.open_url(url) for _ in range(4)]
    owners = [f"host-{n}-x" for n in range(4)]
    for round_number in range(5):
        now = 1000.0 * (round_number + 1)
        started = await asyncio.gather(
            *(
                JobLeaseRepository(db).try_start(
                    "reminders", owner, now=now, every=60, lease_seconds=LEASE
                )
                for db, owner in zip(processes, owners, strict=True)
            )
        )
        assert sum(started) == 1, started
        winner = owners[started.index(True)]
        assert await JobLeaseRepository(processes[0]).finish("reminders", winner, now=now + 1)
