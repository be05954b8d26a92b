"""Outbox rows claimed by leases, a channel's pending rows together: claim, expiry, take-over
and release on SQLite and PostgreSQL; on PostgreSQL two processes claiming at once never get
the same row nor split a channel; and two senders (two processes) deliver every row once,
each channel in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

import pytest

from bot.announce.sender import OutboxSender
from bot.storage import Database
from bot.storage.outbox import OutboxRepository
from tests.databases import DatabaseFactory

A, B = "host-1-aaaaaa", "host-2-bbbbbb"
LEASE = 30.0
GUILD = 1


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def notices(db: Database, channel_id: int, count: int, *, start: int = 0) -> list[int]:
    outbox = OutboxRepository(db)
    return [
        await outbox.enqueue(
            kind="notice", guild_id=GUILD, channel_id=channel_id, text=f"{channel_id}:{n}", now=0
        )
        for n in range(start, start + count)
    ]


def ids(rows: list[Any]) -> list[int]:
    return [row.id for row in rows]


async def test_a_channels_rows_are_claimed_together_by_one_process(db: Database) -> None:
    outbox = OutboxRepository(db)
    first = await notices(db, 10, 3)
    second = await notices(db, 20, 2)
    claimed = await outbox.claim_sendable(A, now=1, lease_seconds=LEASE, limit=3)
    assert ids(claimed) == first  # whole channels, up to the limit (at least one)
    assert ids(await outbox.claim_sendable(B, now=2, lease_seconds=LEASE, limit=10)) == second
    # A row queued later for A's channel is not B's to send: it would overtake A's rows.
    later = await notices(db, 10, 1, start=3)
    # (B may take up its own channel again: a process claims only between its drains.)
    assert ids(await outbox.claim_sendable(B, now=3, lease_seconds=LEASE, limit=10)) == second
    # A takes it with the rest of its channel.
    assert ids(await outbox.claim_sendable(A, now=4, lease_seconds=LEASE, limit=10)) == [
        *first,
        *later,
    ]


async def test_a_dead_processes_channel_is_taken_over_at_expiry(db: Database) -> None:
    outbox = OutboxRepository(db)
    rows = await notices(db, 10, 2)
    await outbox.claim_sendable(A, now=1, lease_seconds=LEASE, limit=10)
    assert await outbox.claim_sendable(B, now=30, lease_seconds=LEASE, limit=10) == []
    assert ids(await outbox.claim_sendable(B, now=31, lease_seconds=LEASE, limit=10)) == rows
    # A comes back: it may not send (its lease is B's now).
    assert not await outbox.begin_attempt(rows[0], A, now=32, lease_seconds=LEASE)
    assert await outbox.begin_attempt(rows[0], B, now=32, lease_seconds=LEASE)
    row = await outbox.get(rows[0])
    assert row is not None and row.first_attempt_at == 32
    # A send extends the lease of the row being sent.
    assert await outbox.begin_attempt(rows[0], B, now=50, lease_seconds=LEASE)
    assert await outbox.claim_sendable(A, now=70, lease_seconds=LEASE, limit=10) == []
    assert (await outbox.get(rows[0])).first_attempt_at == 32  # type: ignore[union-attr]


async def test_release_hands_a_channel_over_and_a_retry_holds_its_channel_back(
    db: Database,
) -> None:
    outbox = OutboxRepository(db)
    rows = await notices(db, 10, 2)
    await outbox.claim_sendable(A, now=1, lease_seconds=LEASE, limit=10)
    await outbox.schedule_retry(rows[0], "429", next_attempt_at=100)
    assert await outbox.release_channel(A, 10) == 2
    # The first row waits for its retry, and holds the second back.
    assert await outbox.claim_sendable(B, now=50, lease_seconds=LEASE, limit=10) == []
    assert ids(await outbox.claim_sendable(B, now=100, lease_seconds=LEASE, limit=10)) == rows
    await outbox.mark_sent(rows[0], message_id=1, now=101)
    assert await outbox.release_all(B) == 1
    assert ids(await outbox.claim_sendable(A, now=102, lease_seconds=LEASE, limit=10)) == [rows[1]]


class Discord:
    """Channels that record what was sent, by which process, and dedupe by nonce as Discord
    does within its window."""

    def __init__(self) -> None:
        self.messages: dict[int, list[str]] = defaultdict(list)
        self.by_nonce: dict[str, SimpleNamespace] = {}
        self.senders: dict[str, int] = defaultdict(int)

    def channel_for(self, process: str) -> Any:
        def resolve(channel_id: int, guild_id: int) -> Any:
            async def send(*, nonce: str, content: str | None = None, **_: Any) -> Any:
                await asyncio.sleep(0.005)
                if nonce in self.by_nonce:
                    return self.by_nonce[nonce]
                self.messages[channel_id].append(content or "")
                self.senders[process] += 1
                message = SimpleNamespace(id=len(self.by_nonce) + 1)
                self.by_nonce[nonce] = message
                return message

            return SimpleNamespace(send=send)

        return resolve


async def test_two_senders_deliver_every_row_once_in_order_per_channel(
    postgres_databases: DatabaseFactory,
) -> None:
    url = await postgres_databases.url()
    first, second = [await postgres_databases.open_url(url) for _ in range(2)]
    for channel in range(30):
        await notices(first, 1000 + channel, 4)
    discord = Discord()
    senders = [
        OutboxSender(db, discord.channel_for(owner), sends_per_second=1e6, owner=owner)
        for db, owner in ((first, A), (second, B))
    ]
    for sender in senders:
        sender.claim_rows = 8  # a few channels per claim: the two interleave
        assert await sender.db.fetchval("SELECT 1") == 1  # connected before the race
    await asyncio.gather(*(sender.drain() for sender in senders))
    for channel in range(30):
        channel_id = 1000 + channel
        assert discord.messages[channel_id] == [f"{channel_id}:{n}" for n in range(4)]
    assert len(discord.by_nonce) == 120
    # Which process sent how many depends on scheduling (one may claim everything before the
    # other's first claim); the e2e tests show the work shared. Here: none sent twice.
    assert sum(discord.senders.values()) == 120, dict(discord.senders)
    assert await OutboxRepository(first).count("sent") == 120


async def test_two_processes_claiming_at_once_never_split_a_channel(
    postgres_databases: DatabaseFactory,
) -> None:
    url = await postgres_databases.url()
    first, second = [await postgres_databases.open_url(url) for _ in range(2)]
    for channel in range(40):
        await notices(first, 2000 + channel, 3)
    got: dict[str, list[Any]] = {A: [], B: []}

    async def claim(db: Database, owner: str) -> None:
        outbox = OutboxRepository(db)
        while claimed := await outbox.claim_sendable(owner, now=1, lease_seconds=LEASE, limit=6):
            got[owner] += claimed
            for row in claimed:  # sent, as a drain does before it claims again
                await outbox.mark_sent(row.id, message_id=row.id, now=2)

    await asyncio.gather(claim(first, A), claim(second, B))
    channels = {owner: {row.channel_id for row in rows} for owner, rows in got.items()}
    assert not channels[A] & channels[B]
    assert channels[A] | channels[B] == {2000 + n for n in range(40)}
