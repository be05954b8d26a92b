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
import time
from collections.abc import Awaitable, Callable
from typing import Any

from bot.storage.database import Database, DatabaseUnavailableError
from bot.storage.leases import JobLeaseRepository

log = logging.getLogger(__name__)

# How often a process looks whether a job is due: at least this often, so that a job whose
# holder died is taken over soon after its lease expired.
MIN_TICK_SECONDS = 1.0


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
