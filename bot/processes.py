"""This process in the process registry: registered when it starts, a heartbeat every few
seconds (a supervised background loop), gone from the registry when it stops.

Each heartbeat also records the process's shards (connected or not, gateway latency) for
`/status`, prunes the rows of processes dead longer than the expiry, and counts the live
processes, so that this one takes its share of the bot's global REST budget. The registry itself
(and what other parts build on) is `bot.storage.processes.ProcessRegistry`.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import time
from collections.abc import Callable, Sequence
from typing import Final

from bot.background import BackgroundLoop
from bot.rest_budget import GlobalRequestBudget
from bot.storage.processes import ProcessIdentity, ProcessRegistry, ShardState

log = logging.getLogger(__name__)

HEARTBEAT_LOOP: Final = "process heartbeat"

# (shard count or None while unknown, the shards this process runs)
ShardReport = Callable[[], tuple[int | None, Sequence[ShardState]]]


def new_process_identity(version: str, *, now: float | None = None) -> ProcessIdentity:
    """A fresh identity for this process: a random id (a restarted process is a new one),
    the host name and the pid (for operators), the bot's version."""
    return ProcessIdentity(
        process_id=secrets.token_hex(8),
        host=socket.gethostname(),
        pid=os.getpid(),
        version=version,
        started_at=time.time() if now is None else now,
    )


class ProcessPresence:
    """Keeps `identity` registered while the process runs."""

    def __init__(
        self,
        registry: ProcessRegistry,
        identity: ProcessIdentity,
        shards: ShardReport,
        *,
        interval: float,
        budget: GlobalRequestBudget | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.identity = identity
        self._shards = shards
        self._clock = clock
        self.budget = budget
        self.registered = False
        # When this process's last heartbeat was written (None before the first).
        self.last_beat_at: float | None = None
        # The live processes counted at the last heartbeat, this one included.
        self.live_processes = 0
        self.loop = BackgroundLoop(
            HEARTBEAT_LOOP,
            self.beat,
            interval=interval,
            description="keeps this process in the process registry and prunes dead ones",
        )

    async def beat(self) -> None:
        """Write the heartbeat (registering again if the row was pruned meanwhile) and
        remove the rows of processes dead longer than the expiry."""
        shard_count, shards = self._shards()
        now = self._clock()
        await self.registry.heartbeat(
            self.identity, shard_count=shard_count, shards=shards, now=now
        )
        # Joining: the first heartbeat, or one after the others counted this process dead.
        joining = self.last_beat_at is None or now - self.last_beat_at > self.registry.expiry
        self.registered = True
        self.last_beat_at = now
        pruned = await self.registry.prune(now)
        if pruned:
            log.info("Pruned %d dead bot process(es) from the registry", pruned)
        live = await self.registry.live_count(now)
        if live != self.live_processes:
            log.info("%d live bot process(es), this one included", live)
        self.live_processes = live
        if self.budget is not None:
            # The others count this process at their next heartbeat: within one interval
            # (a second one as margin for a heartbeat that was slow to commit).
            self.budget.share_among(live, joined_for=2 * self.loop.interval if joining else None)

    def beat_soon(self) -> None:
        """Heartbeat now (a shard connected or dropped) rather than at the next interval."""
        self.loop.run_soon()

    async def leave(self) -> None:
        """Unregister (a clean stop): other processes stop counting this one at once."""
        if not self.registered:
            return
        self.registered = False
        self.last_beat_at = None
        await self.registry.unregister(self.identity.process_id)
        log.info("Process %s left the registry", self.identity.process_id)
