"""Background loops, supervised: the one mechanism behind every loop the bot runs.

A `BackgroundLoop` runs its body again and again in a task of its own: the feed poller, the
announcement sender, outbox pruning, arXiv look-up retries, reading reminders, search index
upkeep. An unexpected exception in the body is logged with its traceback and the loop
carries on after a backoff (`bot.pacing.backoff_delay`); only stopping the loop ends it. Each
loop records when it last ran, last succeeded and last failed (and with what), which
`/status` shows. The cogs that own loops create them in `cog_load` (registering them with
the bot's `BackgroundLoops`) and stop them in `cog_unload`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from bot.pacing import backoff_delay
from bot.storage.database import DatabaseUnavailableError

log = logging.getLogger(__name__)

# After a failure a loop waits its interval, or this backoff when longer: 1 s doubling with
# each failure in a row, at most 5 minutes.
FAILURE_BACKOFF_BASE: Final = 1.0
FAILURE_BACKOFF_CAP: Final = 300.0
MAX_ERROR_LENGTH: Final = 500

LoopBody = Callable[[], Awaitable[object]]


@dataclass(frozen=True, slots=True)
class LoopStatus:
    """What a loop did lately (times are Unix seconds)."""

    name: str
    description: str
    running: bool
    interval: float
    runs: int
    last_run_at: float | None
    last_success_at: float | None
    last_error: str | None
    last_error_at: float | None
    failures_in_a_row: int
    next_run_at: float | None

    @property
    def failing(self) -> bool:
        return self.failures_in_a_row > 0


def describe_exception(exc: BaseException) -> str:
    """`TypeName: message`, one line, bounded: what a status shows of an error."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= MAX_ERROR_LENGTH else text[: MAX_ERROR_LENGTH - 1] + "…"


class BackgroundLoop:
    """Runs `body` every `interval` seconds (from the end of one run to the start of the
    next) until stopped, surviving whatever the body raises.

    `before_first_run` is awaited once before the first run (waiting for the gateway, say).
    """

    def __init__(
        self,
        name: str,
        body: LoopBody,
        *,
        interval: float,
        description: str = "",
        before_first_run: LoopBody | None = None,
        backoff_base: float = FAILURE_BACKOFF_BASE,
        backoff_cap: float = FAILURE_BACKOFF_CAP,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        if interval < 0:
            raise ValueError("a loop's interval cannot be negative")
        self.name = name
        self.description = description
        self.interval = interval
        self._body = body
        self._before_first_run = before_first_run
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._clock = clock
        self._rng = rng or random.Random()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._wake = asyncio.Event()
        self._runs = 0
        self._failures = 0
        self._last_run_at: float | None = None
        self._last_success_at: float | None = None
        self._last_error: str | None = None
        self._last_error_at: float | None = None
        self._next_run_at: float | None = None

    # --- control ---------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        if self.running:
            raise RuntimeError(f"the {self.name} loop is already running")
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"loop: {self.name}")
        self._task.add_done_callback(self._ended)

    async def stop(self) -> None:
        """Cancel the loop and wait until it has stopped (a run in progress is cancelled)."""
        task, self._task = self._task, None
        if task is None:
            return
        # Also checked between runs: a body that turns its cancellation into an ordinary
        # error must not keep the loop going (stop() would wait forever).
        self._stopping = True
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        self._next_run_at = None

    def change_interval(self, seconds: float) -> None:
        """Use a new interval from the next wait on (the current one is cut short)."""
        if seconds < 0:
            raise ValueError("a loop's interval cannot be negative")
        self.interval = seconds
        self.run_soon()

    def run_soon(self) -> None:
        """Run the body now rather than at the end of the current wait (or, during a run,
        again as soon as it ends)."""
        self._wake.set()

    def status(self) -> LoopStatus:
        return LoopStatus(
            name=self.name,
            description=self.description,
            running=self.running,
            interval=self.interval,
            runs=self._runs,
            last_run_at=self._last_run_at,
            last_success_at=self._last_success_at,
            last_error=self._last_error,
            last_error_at=self._last_error_at,
            failures_in_a_row=self._failures,
            next_run_at=self._next_run_at if self.running else None,
        )

    # --- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        if self._before_first_run is not None:
            while True:
                try:
                    await self._before_first_run()
                    break
                except Exception as exc:  # logged by _failed; tried again after a backoff
                    delay = self._failed(exc, at_least=0.0)
                    if self._stopping:
                        return
                    await asyncio.sleep(delay)
        while True:
            # Cleared before the run, not after: a run_soon() while the body runs (work that
            # came in meanwhile) makes the next run start at once instead of being lost.
            self._wake.clear()
            delay = await self.run_once()
            if self._stopping:
                return
            self._next_run_at = self._clock() + delay
            # Woken early by run_soon(), or the interval passed: run again.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=delay)

    async def run_once(self) -> float:
        """Run the body once, recording how it went. Returns the seconds to wait after it."""
        self._runs += 1
        self._last_run_at = self._clock()
        try:
            await self._body()
        except Exception as exc:  # anything but cancellation: logged, backed off, carried on
            return self._failed(exc, at_least=self.interval)
        self._failures = 0
        self._last_success_at = self._clock()
        return self.interval

    def _failed(self, exc: Exception, *, at_least: float) -> float:
        """Record and log (with its traceback) a failure; return how long to wait now: the
        backoff, or `at_least` when longer."""
        self._failures += 1
        self._last_error = describe_exception(exc)
        self._last_error_at = self._clock()
        backoff = backoff_delay(
            self._failures,
            base_seconds=self._backoff_base,
            cap_seconds=self._backoff_cap,
            rng=self._rng,
        )
        delay = max(at_least, backoff)
        if isinstance(exc, DatabaseUnavailableError):
            # An outage, not a bug: one line per try, no traceback.
            log.warning(
                "Background loop %r: the database is unavailable (%s; %d in a row); next try "
                "in %.1f s",
                self.name,
                exc,
                self._failures,
                delay,
            )
            return delay
        log.error(
            "Background loop %r failed (%d in a row); next try in %.1f s",
            self.name,
            self._failures,
            delay,
            exc_info=exc,
        )
        return delay

    def _ended(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        error = task.exception()
        if error is not None:
            # Only what is not an Exception (SystemExit, KeyboardInterrupt) gets here.
            self._last_error = describe_exception(error)
            self._last_error_at = self._clock()
            log.critical("Background loop %r stopped", self.name, exc_info=error)


class BackgroundLoops:
    """The bot's background loops by name, in the order they were added: started by the
    cogs that own them, listed by `/status`."""

    def __init__(self) -> None:
        self._loops: dict[str, BackgroundLoop] = {}

    def start(self, loop: BackgroundLoop) -> BackgroundLoop:
        """Register `loop` (replacing a stopped loop of the same name) and start it."""
        current = self._loops.get(loop.name)
        if current is not None and current is not loop and current.running:
            raise RuntimeError(f"a {loop.name} loop is already running")
        self._loops[loop.name] = loop
        loop.start()
        return loop

    def track(self, loop: BackgroundLoop) -> None:
        """List a loop that its owner starts and stops (the search indexer runs with the
        search service, also outside the bot)."""
        self._loops[loop.name] = loop

    async def stop(self, loop: BackgroundLoop) -> None:
        """Stop `loop` and forget it."""
        await loop.stop()
        if self._loops.get(loop.name) is loop:
            del self._loops[loop.name]

    async def stop_all(self) -> None:
        for loop in list(self._loops.values()):
            await self.stop(loop)

    def get(self, name: str) -> BackgroundLoop | None:
        return self._loops.get(name)

    def statuses(self) -> list[LoopStatus]:
        return [loop.status() for loop in self._loops.values()]
