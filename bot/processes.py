"""This process in the process registry: registered when it starts, a heartbeat every few
seconds (a supervised background loop), gone from the registry when it stops.

Each heartbeat also records the process's shards (connected or not, gateway latency) for
`/status`, and prunes the rows of processes dead longer than the expiry. The registry itself
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.registry = registry
        self.identity = identity
        self._shards = shards
        self._clock = clock
        self.registered = False
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
        self.registered = True
        pruned = await self.registry.prune(now)
        if pruned:
            log.info("Pruned %d dead bot process(es) from the registry", pruned)

    def beat_soon(self) -> None:
        """Heartbeat now (a shard connected or dropped) rather than at the next interval."""
        self.loop.run_soon()

    async def leave(self) -> None:
        """Unregister (a clean stop): other processes stop counting this one at once."""
        if not self.registered:
            return
        self.registered = False
        await self.registry.unregister(self.identity.process_id)
        log.info("Process %s left the registry", self.identity.process_id)
