"""Scheduled jobs that run once across every bot process on the database.

Every process runs the same background loops (`bot.background`); a loop whose work must not
be done twice (reading reminders, paper enrichment, pruning, the seed import) runs it
through a `SharedJob`: each tick tries to claim the job's run in `job_leases`
(`JobLeaseRepository.try_start`), and only the process that claims it runs the body. The
claim is renewed while the body runs (a third of the lease at most between renewals) and
freed when it ends, recording when; a process that dies mid-run stops renewing, and once its
lease has expired the next process to tick runs the job again. A body that finds it lost
its lease (it was stalled longer than the lease) is cancelled: another process runs it now.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.storage.database import Database, DatabaseUnavailableError
from bot.storage.leases import JobLeaseRepository, LeaseHolders

log = logging.getLogger(__name__)

# How often a process looks whether a job is due: at least this often, so that a job whose
# holder died is taken over soon after its lease expired.
MIN_TICK_SECONDS = 0.05


class SharedJob:
    """Runs `body` at most once every `every` seconds across all processes sharing `db`."""

    def __init__(
        self,
        db: Database,
        name: str,
        body: Callable[[], Awaitable[Any]],
        *,
        owner: str,
        every: float,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.body = body
        self.owner = owner
        self.every = every
        self.lease_seconds = lease_seconds
        self.clock = clock
        self.leases = JobLeaseRepository(db)
        self.runs_here = 0

    @property
    def tick_seconds(self) -> float:
        """How often the loop driving this job should call `run_once`: the job's interval,
        or half a lease when shorter (a dead holder's job is taken over soon)."""
        return max(min(self.every, self.lease_seconds / 2), MIN_TICK_SECONDS)

    async def run_once(self) -> bool:
        """Run the body when this process claims the job's run; True when it ran here."""
        if not await self.leases.try_start(
            self.name,
            self.owner,
            now=self.clock(),
            every=self.every,
            lease_seconds=self.lease_seconds,
        ):
            return False
        self.runs_here += 1
        body = asyncio.ensure_future(self.body())
        renewer = asyncio.ensure_future(self._renew_while(body))
        try:
            await asyncio.shield(body)
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if body.cancelled() and (task is None or task.cancelling() == 0):
                # Cancelled by the renewer: the lease is another process's now.
                log.warning(
                    "Job %r lost its lease while running; another process has it", self.name
                )
                return True
            # This process is stopping: the run is abandoned and the job left to the others.
            body.cancel()
            await asyncio.gather(body, return_exceptions=True)
            await self._release()
            raise
        except Exception:
            await self._finish()  # a failed run counts as a run: due again `every` from now
            raise
        finally:
            renewer.cancel()
            await asyncio.gather(renewer, return_exceptions=True)
        await self._finish()
        return True

    async def _renew_while(self, body: asyncio.Future[Any]) -> None:
        """Renew the lease every third of it until `body` ends; cancel `body` when the lease
        turns out to be lost. An outage is retried at the next turn (the lease may expire
        meanwhile: then another process may run the job too, which the jobs tolerate)."""
        while not body.done():
            await asyncio.sleep(self.lease_seconds / 3)
            try:
                ours = await self.leases.renew(
                    self.name, self.owner, now=self.clock(), lease_seconds=self.lease_seconds
                )
            except DatabaseUnavailableError as exc:
                log.warning("Job %r: could not renew its lease (%s)", self.name, exc)
                continue
            if not ours:
                body.cancel()
                return

    async def _finish(self) -> None:
        try:
            if not await self.leases.finish(self.name, self.owner, now=self.clock()):
                log.warning("Job %r finished after another process took it over", self.name)
        except DatabaseUnavailableError as exc:
            # The lease expires by itself; the job is then due for whoever comes first.
            log.warning("Job %r: could not record its run (%s)", self.name, exc)

    async def _release(self) -> None:
        try:
            await self.leases.release(self.name, self.owner)
        except DatabaseUnavailableError as exc:
            log.warning("Job %r: could not free its lease (%s)", self.name, exc)


def owner_is_dead_here(owner: str) -> bool:
    """Whether `owner` (hostname-pid-random) names a process of this host that no longer
    runs. Only a process of this host can be known dead this way; a process of another
    host, or one that cannot be told (another user's), is left to its leases' expiry."""
    host, _, rest = owner.rpartition("-")
    host, _, pid_text = host.rpartition("-")
    if not rest or not pid_text.isdigit() or host != socket.gethostname().split(".", 1)[0]:
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False  # this very process (pid namespaces restart at low numbers)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # alive, another user's
    return False


async def free_leases_of_dead_local_processes(db: Database) -> list[str]:
    """At start-up: free the leases of this host's processes that are gone (a bot killed
    and restarted), so their feeds, announcements and jobs are taken over at once instead of
    when the leases expire. Returns the owners whose leases were freed.

    Were a pid taken for a dead one's by mistake (two hosts of one name), nothing is done
    twice all the same: every poll and send checks its lease where it records its result.
    """
    freed = []
    for owner in sorted(await LeaseHolders(db).owners()):
        if owner_is_dead_here(owner):
            count = await LeaseHolders(db).release_owner(owner)
            log.info("Freed %d leases of %s, a process of this host that is gone", count, owner)
            freed.append(owner)
    return freed
