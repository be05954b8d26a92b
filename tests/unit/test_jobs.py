"""Scheduled jobs run once across processes (`bot.jobs.SharedJob`), and the leases of a
process that died on this host are freed at once by the next to start."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys

import pytest

from bot.jobs import SharedJob, free_leases_of_dead_local_processes, owner_is_dead_here
from bot.storage import Database
from bot.storage.feeds import FeedRepository, SubscriptionRepository
from bot.storage.leases import JobLeaseRepository, new_owner_id
from tests.databases import DatabaseFactory


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_of_two_processes_one_runs_the_job_each_interval(db: Database) -> None:
    clock = Clock()
    ran: list[str] = []

    def job(owner: str) -> SharedJob:
        async def body() -> None:
            ran.append(owner)

        return SharedJob(
            db, "reminders", body, owner=owner, every=60, lease_seconds=30, clock=clock
        )

    first, second = job("h-1-a"), job("h-2-b")
    assert await first.run_once() and not await second.run_once()
    clock.now += 30
    assert not await first.run_once() and not await second.run_once()
    clock.now += 31
    assert await second.run_once() and not await first.run_once()
    assert ran == ["h-1-a", "h-2-b"]
    assert first.tick_seconds == 15


async def test_a_failed_run_counts_and_a_stopped_run_frees_the_job(db: Database) -> None:
    clock = Clock()

    async def fail() -> None:
        raise RuntimeError("boom")

    failing = SharedJob(db, "job", fail, owner="h-1-a", every=60, lease_seconds=30, clock=clock)
    with pytest.raises(RuntimeError):
        await failing.run_once()
    lease = await JobLeaseRepository(db).get("job")
    assert lease is not None and lease.owner is None and lease.last_run_at == 1000

    started = asyncio.Event()

    async def long_run() -> None:
        started.set()
        await asyncio.sleep(60)

    clock.now += 60
    stopping = SharedJob(
        db, "job", long_run, owner="h-1-a", every=60, lease_seconds=30, clock=clock
    )
    task = asyncio.create_task(stopping.run_once())
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    lease = await JobLeaseRepository(db).get("job")
    assert lease is not None and lease.owner is None and lease.last_run_at == 1000  # not a run


async def test_a_run_that_loses_its_lease_is_stopped(db: Database) -> None:
    started = asyncio.Event()

    async def stalled() -> None:
        started.set()
        await asyncio.sleep(60)

    job = SharedJob(db, "job", stalled, owner="h-1-a", every=1, lease_seconds=0.3)
    task = asyncio.create_task(job.run_once())
    await started.wait()
    async with db.transaction() as conn:  # another process took it over
        await conn.execute("UPDATE job_leases SET owner = 'h-2-b' WHERE name = 'job'")
    assert await asyncio.wait_for(task, 5) is True
    lease = await JobLeaseRepository(db).get("job")
    assert lease is not None and lease.owner == "h-2-b"


def test_only_a_gone_process_of_this_host_is_dead() -> None:
    host = socket.gethostname().split(".", 1)[0]
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    assert owner_is_dead_here(f"{host}-{gone.pid}-abcdef")
    assert not owner_is_dead_here(new_owner_id())  # this process
    assert not owner_is_dead_here(f"{host}-{os.getppid()}-abcdef")  # alive
    assert not owner_is_dead_here(f"elsewhere-{gone.pid}-abcdef")  # another host: unknown
    assert not owner_is_dead_here("not an owner id")


async def test_a_restart_frees_the_leases_of_a_killed_predecessor(db: Database) -> None:
    host = socket.gethostname().split(".", 1)[0]
    gone = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await gone.wait()
    dead, alive = f"{host}-{gone.pid}-abcdef", new_owner_id()
    feeds = FeedRepository(db)
    for number in range(2):
        feed_id = await feeds.create(
            f"http://f/{number}", title="", site_url=None, now=0, next_poll_at=0
        )
        await SubscriptionRepository(db).add(
            feed_id=feed_id, guild_id=1, channel_id=number, include_terms="",
            exclude_terms="", mention_role_id=None, created_by=None, now=0,
        )  # fmt: skip
    await feeds.claim_due(dead, now=10, lease_seconds=60, limit=1)
    await feeds.claim_due(alive, now=10, lease_seconds=60, limit=1)
    await JobLeaseRepository(db).try_start("job", dead, now=10, every=1, lease_seconds=60)
    assert await free_leases_of_dead_local_processes(db) == [dead]
    assert await feeds.leased_count(now=11) == 1
    assert await feeds.leased_count(now=11, owner=alive) == 1
    assert await JobLeaseRepository(db).try_start("job", alive, now=11, every=0, lease_seconds=60)
