"""Leases: how several bot processes on one database share work, none of it done twice and
none lost when one dies.

Each process has an owner id (`new_owner_id()`: hostname-pid-random, or the id the process
registry gives it). A process claims a piece of work by writing its owner id and when its
claim ends (`expires_at`); it renews the claim while it works and clears it when done. A
process that dies stops renewing, and once its claims have expired the others take the work
over. Feeds and outbox rows carry their own lease columns (`FeedRepository.claim_due`,
`OutboxRepository.claim_sendable`); scheduled jobs share the `job_leases` table here.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass

from bot.storage.database import Connection, Database

# A claim whose renewal the holder misses by this much is taken over: longer than any pause
# a live process makes between renewals (a third of the lease), short enough that a dead
# process's work is picked up soon. `LEASE_SECONDS`.
DEFAULT_LEASE_SECONDS = 60.0


class LeaseLostError(Exception):
    """The work's lease is no longer this process's (it expired and another process took the
    work over): nothing of it may be recorded."""


def owner_id(host: str, pid: int, unique: str) -> str:
    """An owner id: hostname-pid-unique (the unique part, a process registry's id or a
    random one, tells apart two processes that had the same pid, say before and after a
    restart in a container)."""
    return f"{host.split('.', 1)[0] or 'host'}-{pid}-{unique}"


def new_owner_id() -> str:
    """An owner id for this process, hostname-pid-random (without a process registry)."""
    return owner_id(socket.gethostname(), os.getpid(), secrets.token_hex(3))


@dataclass(frozen=True, slots=True)
class WorkShare:
    """Which part of the shared work a process takes first: the items whose id is `rank`
    modulo `of` (`of` live processes, this one `rank`-th by start). The others' items are
    left to them until they fall behind (`FeedRepository.claim_due`). Without this, the
    process that happens to look most often would take nearly everything."""

    rank: int = 0
    of: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.rank < self.of:
            raise ValueError(f"rank {self.rank} is not one of {self.of}")


EVERYTHING = WorkShare()


@dataclass(frozen=True, slots=True)
class JobLease:
    """Who runs (or last ran) a scheduled job."""

    name: str
    owner: str | None  # None: nobody runs it now
    expires_at: float | None
    started_at: float | None
    last_run_at: float | None


class JobLeaseRepository:
    """Scheduled jobs that run once across all processes.

    A job is started by the one process whose conditional upsert (`try_start`) succeeds:
    nobody holds the job (or the holder's lease expired) and its last run ended at least
    `every` seconds ago. Two processes trying at once take turns on the job's row
    (PostgreSQL's `ON CONFLICT DO UPDATE` waits for the other and then re-checks the
    condition on what it committed); on SQLite writers take turns anyway.
    """

    def __init__(self, db: Database) -> None:
        self.db = db

    async def try_start(
        self, name: str, owner: str, *, now: float, every: float, lease_seconds: float
    ) -> bool:
        """Claim job `name` for a run when it is due and free; True when this process is to
        run it now (then `renew` while running, `finish` when done)."""
        async with self.db.transaction() as conn:
            claimed = await conn.fetchval(
                "INSERT INTO job_leases (name, owner, expires_at, started_at, last_run_at) "
                "VALUES (?, ?, ?, ?, NULL) ON CONFLICT (name) DO UPDATE SET "
                "owner = excluded.owner, expires_at = excluded.expires_at, "
                "started_at = excluded.started_at "
                "WHERE (job_leases.owner IS NULL OR job_leases.owner = excluded.owner "
                "OR job_leases.expires_at <= ?) "
                "AND (job_leases.last_run_at IS NULL OR job_leases.last_run_at <= ?) "
                "RETURNING name",
                (name, owner, now + lease_seconds, now, now, now - every),
            )
        return claimed is not None

    async def renew(self, name: str, owner: str, *, now: float, lease_seconds: float) -> bool:
        """Extend this process's lease on a running job; False when it is no longer ours."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE job_leases SET expires_at = ? WHERE name = ? AND owner = ?",
                (now + lease_seconds, name, owner),
            )
        return changed > 0

    async def finish(self, name: str, owner: str, *, now: float) -> bool:
        """A run ended (well or not): the job is free, and due again `every` seconds from
        now. False when the lease was no longer ours (another process took the job over)."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE job_leases SET owner = NULL, expires_at = NULL, last_run_at = ? "
                "WHERE name = ? AND owner = ?",
                (now, name, owner),
            )
        return changed > 0

    async def release(self, name: str, owner: str) -> bool:
        """Free a job this process holds without recording a run (a run that was stopped):
        the next process to find it due runs it."""
        async with self.db.transaction() as conn:
            changed = await conn.execute(
                "UPDATE job_leases SET owner = NULL, expires_at = NULL "
                "WHERE name = ? AND owner = ?",
                (name, owner),
            )
        return changed > 0

    async def release_all(self, owner: str, *, conn: Connection | None = None) -> int:
        """Free every job this process holds without recording a run (it is stopping)."""
        async with self.db.writing(conn) as c:
            return await c.execute(
                "UPDATE job_leases SET owner = NULL, expires_at = NULL WHERE owner = ?", (owner,)
            )

    async def get(self, name: str) -> JobLease | None:
        row = await self.db.fetchone(
            "SELECT name, owner, expires_at, started_at, last_run_at FROM job_leases "
            "WHERE name = ?",
            (name,),
        )
        return None if row is None else JobLease(*tuple(row))

    async def all(self) -> list[JobLease]:
        rows = await self.db.fetchall(
            "SELECT name, owner, expires_at, started_at, last_run_at FROM job_leases ORDER BY name"
        )
        return [JobLease(*tuple(row)) for row in rows]


class LeaseHolders:
    """Every lease of every kind (feeds, outbox rows, jobs), by owner."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def owners(self) -> set[str]:
        """The owners holding a lease of any kind now (expired or not)."""
        rows = await self.db.fetchall(
            "SELECT lease_owner FROM feeds WHERE lease_owner IS NOT NULL "
            "UNION SELECT lease_owner FROM announcement_outbox "
            "WHERE lease_owner IS NOT NULL AND state = 'pending' "
            "UNION SELECT owner FROM job_leases WHERE owner IS NOT NULL"
        )
        return {str(row[0]) for row in rows}

    async def release_owner(self, owner: str) -> int:
        """Free every lease of a process known to be dead: its work is taken over at once
        rather than when its leases expire. Returns how many were freed."""
        async with self.db.transaction() as conn:
            freed = await conn.execute(
                "UPDATE feeds SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE lease_owner = ?",
                (owner,),
            )
            freed += await conn.execute(
                "UPDATE announcement_outbox SET lease_owner = NULL, lease_expires_at = NULL "
                "WHERE lease_owner = ? AND state = 'pending'",
                (owner,),
            )
            freed += await JobLeaseRepository(self.db).release_all(owner, conn=conn)
        return freed
