"""The process registry (`bot_processes`, `bot_process_shards`) and the IDENTIFY slots
(`gateway_identify_slots`) the bot's processes share through the database.

Every bot process registers itself when it starts and refreshes its row (its heartbeat)
every few seconds; a process whose heartbeat is older than the registry's `expiry` counts as
dead, whatever its row says, and live processes prune the rows of dead ones. Work shared by
the processes builds on this: a lease names its owner's `process_id` (and lapses with it),
and each live process takes its share of budgets that are per bot, not per process.

Times are Unix seconds, passed in by the caller (`now`), so several processes on several
machines compare the same clock (keep their clocks in sync, as NTP does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from bot.storage.database import Database
from bot.storage.leases import EVERYTHING, WorkShare


@dataclass(frozen=True, slots=True)
class ProcessIdentity:
    """Who a process is: a random id (new at every start), where it runs, which version."""

    process_id: str
    host: str
    pid: int
    version: str
    started_at: float


@dataclass(frozen=True, slots=True)
class ShardState:
    """One shard of a process, as its last heartbeat saw it."""

    shard_id: int
    connected: bool
    # Seconds between a gateway heartbeat and its ACK; None before the first ACK.
    latency: float | None = None


@dataclass(frozen=True, slots=True)
class LiveProcess:
    """A registered process whose heartbeat is within the expiry."""

    identity: ProcessIdentity
    shard_count: int | None
    heartbeat_at: float
    shards: tuple[ShardState, ...]

    @property
    def process_id(self) -> str:
        return self.identity.process_id

    @property
    def shard_ids(self) -> tuple[int, ...]:
        return tuple(shard.shard_id for shard in self.shards)

    def heartbeat_age(self, now: float) -> float:
        return max(0.0, now - self.heartbeat_at)


class ProcessRegistry:
    """Reads and writes the process registry. `expiry`: seconds after its last heartbeat at
    which a process counts as dead (PROCESS_EXPIRY_SECONDS)."""

    def __init__(self, db: Database, *, expiry: float) -> None:
        if expiry <= 0:
            raise ValueError("the expiry must be positive")
        self.db = db
        self.expiry = expiry

    async def register(
        self,
        identity: ProcessIdentity,
        *,
        shard_count: int | None,
        shards: Sequence[ShardState],
        now: float,
    ) -> None:
        """Write (or rewrite) this process's row and its shards, with a heartbeat at `now`.

        Also the heartbeat itself: a process whose row was pruned while it could not write
        (paused, cut off from the database longer than the expiry) is registered again.
        """
        async with self.db.transaction() as conn:
            await conn.execute(
                "INSERT INTO bot_processes "
                "(process_id, host, pid, version, shard_count, started_at, heartbeat_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (process_id) DO UPDATE SET "
                "shard_count = excluded.shard_count, heartbeat_at = excluded.heartbeat_at",
                (
                    identity.process_id,
                    identity.host,
                    identity.pid,
                    identity.version,
                    shard_count,
                    identity.started_at,
                    now,
                ),
            )
            await conn.execute(
                "DELETE FROM bot_process_shards WHERE process_id = ?", (identity.process_id,)
            )
            await conn.executemany(
                "INSERT INTO bot_process_shards (process_id, shard_id, connected, latency) "
                "VALUES (?, ?, ?, ?)",
                [
                    (identity.process_id, s.shard_id, 1 if s.connected else 0, s.latency)
                    for s in shards
                ],
            )

    async def heartbeat(
        self,
        identity: ProcessIdentity,
        *,
        shard_count: int | None,
        shards: Sequence[ShardState],
        now: float,
    ) -> None:
        """Refresh this process's heartbeat and what it knows of its shards (see `register`)."""
        await self.register(identity, shard_count=shard_count, shards=shards, now=now)

    async def unregister(self, process_id: str) -> None:
        """Remove a process that stops cleanly (its shards go with it)."""
        async with self.db.transaction() as conn:
            await conn.execute("DELETE FROM bot_processes WHERE process_id = ?", (process_id,))

    async def prune(self, now: float) -> int:
        """Remove the rows of processes dead for longer than the expiry; returns how many."""
        async with self.db.transaction() as conn:
            return await conn.execute(
                "DELETE FROM bot_processes WHERE heartbeat_at < ?", (now - self.expiry,)
            )

    async def live_processes(self, now: float) -> list[LiveProcess]:
        """Every process whose heartbeat is within the expiry, oldest first, with its shards."""
        async with self.db.reading() as conn:
            processes = await conn.fetchall(
                "SELECT process_id, host, pid, version, shard_count, started_at, heartbeat_at "
                "FROM bot_processes WHERE heartbeat_at >= ? ORDER BY started_at, process_id",
                (now - self.expiry,),
            )
            shard_rows = await conn.fetchall(
                "SELECT s.process_id, s.shard_id, s.connected, s.latency "
                "FROM bot_process_shards AS s JOIN bot_processes AS p "
                "ON p.process_id = s.process_id "
                "WHERE p.heartbeat_at >= ? ORDER BY s.process_id, s.shard_id",
                (now - self.expiry,),
            )
        shards: dict[str, list[ShardState]] = {}
        for process_id, shard_id, connected, latency in shard_rows:
            shards.setdefault(process_id, []).append(
                ShardState(
                    shard_id=int(shard_id),
                    connected=bool(connected),
                    latency=None if latency is None else float(latency),
                )
            )
        return [
            LiveProcess(
                identity=ProcessIdentity(
                    process_id=row[0],
                    host=row[1],
                    pid=int(row[2]),
                    version=row[3],
                    started_at=float(row[5]),
                ),
                shard_count=None if row[4] is None else int(row[4]),
                heartbeat_at=float(row[6]),
                shards=tuple(shards.get(row[0], ())),
            )
            for row in processes
        ]

    async def is_alive(self, process_id: str, now: float) -> bool:
        """Whether `process_id` is registered with a heartbeat within the expiry (a lease
        whose owner is not alive may be taken over)."""
        value = await self.db.fetchval(
            "SELECT 1 FROM bot_processes WHERE process_id = ? AND heartbeat_at >= ?",
            (process_id, now - self.expiry),
        )
        return value is not None

    async def share_of(self, process_id: str, now: float) -> WorkShare:
        """`process_id`'s share of the work split among the live processes (ranked by start,
        as `live_processes` lists them); all of it while the process is not registered
        (a one-shot command, or before its first heartbeat)."""
        rows = await self.db.fetchall(
            "SELECT process_id FROM bot_processes WHERE heartbeat_at >= ? "
            "ORDER BY started_at, process_id",
            (now - self.expiry,),
        )
        ids = [row[0] for row in rows]
        if process_id not in ids:
            return EVERYTHING
        return WorkShare(rank=ids.index(process_id), of=len(ids))

    async def live_count(self, now: float) -> int:
        """How many processes are alive (each takes 1/n of the bot's per-bot budgets)."""
        return int(
            await self.db.fetchval(
                "SELECT count(*) FROM bot_processes WHERE heartbeat_at >= ?",
                (now - self.expiry,),
            )
        )


class IdentifySlots:
    """When each IDENTIFY bucket may next identify, shared by every process of the bot.

    Discord lets a bot start `max_concurrency` sessions per 5 seconds: a shard's bucket is
    `shard_id % max_concurrency`, and each bucket may IDENTIFY once per window, whichever
    process sends it.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def claim(self, bucket: int, *, now: float, window: float) -> float:
        """Take `bucket`'s slot if it is free at `now` (it is then held for `window`
        seconds) and return 0; otherwise return the seconds until it frees up."""
        async with self.db.transaction() as conn:
            # Two processes claiming at once: the second waits for the first's row lock
            # (PostgreSQL) or write lock (SQLite), then finds the slot taken.
            claimed = await conn.fetchone(
                "INSERT INTO gateway_identify_slots (bucket, next_identify_at) VALUES (?, ?) "
                "ON CONFLICT (bucket) DO UPDATE SET next_identify_at = excluded.next_identify_at "
                "WHERE gateway_identify_slots.next_identify_at <= ? "
                "RETURNING bucket",
                (bucket, now + window, now),
            )
            if claimed is not None:
                return 0.0
            row = await conn.fetchone(
                "SELECT next_identify_at FROM gateway_identify_slots WHERE bucket = ?", (bucket,)
            )
        # Never 0 when not claimed: the caller must try again.
        return max(float(row[0]) - now, 0.001) if row is not None else 0.001
