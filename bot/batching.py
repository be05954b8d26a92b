"""Calls that arrive while one is being handled are handled together, as one batch.

A database write that many members make at the same moment (200 vote presses on one summary)
costs one transaction, one commit and, on PostgreSQL, one round trip per batch instead of per
call: the first call is handled at once, alone; those arriving meanwhile wait for it and go
together in the next batch. No call waits for a timer, so a lone call is as fast as before.
The feed poller's writes (`bot.announce.poller.BatchWriter`) are batched the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

log = logging.getLogger(__name__)

Request = TypeVar("Request")
Result = TypeVar("Result")

# How many of the last batches' sizes are kept (tests and benchmarks look at them).
KEPT_BATCH_SIZES: Final = 1000


@dataclass(frozen=True, slots=True)
class Failed:
    """A handler's outcome for one request that failed on its own: its caller gets `error`,
    the other requests of the batch their results."""

    error: Exception


@dataclass(slots=True)
class _Waiting(Generic[Request, Result]):
    request: Request
    future: asyncio.Future[Result]
    weight: int


class Batcher(Generic[Request, Result]):
    """Hands the requests waiting at the same time to `handle`, in order, and gives each
    caller its own outcome.

    A batch holds at most `max_batch` requests and, past its first, at most `max_weight` in
    all, a request weighing what `weigh` says (1 by default). `handle` returns one outcome per
    request, in order: a result, or `Failed(error)` for a request that failed alone. When
    `handle` raises, every caller of the batch gets that error."""

    def __init__(
        self,
        name: str,
        handle: Callable[[Sequence[Request]], Awaitable[Sequence[Result | Failed]]],
        *,
        max_batch: int = 500,
        max_weight: int | None = None,
        weigh: Callable[[Request], int] | None = None,
    ) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one request")
        self.name = name
        self.handle = handle
        self.max_batch = max_batch
        self.max_weight = max_weight
        self.weigh = weigh
        self._waiting: deque[_Waiting[Request, Result]] = deque()
        self._task: asyncio.Task[None] | None = None
        self.batch_sizes: deque[int] = deque(maxlen=KEPT_BATCH_SIZES)

    async def submit(self, request: Request) -> Result:
        """`request`'s result, once the batch it went into was handled."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        weight = 1 if self.weigh is None else self.weigh(request)
        self._waiting.append(_Waiting(request, future, weight))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=f"batch-{self.name}")
        return await future

    async def close(self) -> None:
        """Stop: a batch being handled is cancelled, and so are the callers still waiting."""
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        while self._waiting:
            self._waiting.popleft().future.cancel()

    def _next_batch(self) -> list[_Waiting[Request, Result]]:
        batch: list[_Waiting[Request, Result]] = []
        weight = 0
        while self._waiting and len(batch) < self.max_batch:
            waiting = self._waiting[0]
            if batch and self.max_weight is not None and weight + waiting.weight > self.max_weight:
                break
            self._waiting.popleft()
            # A caller that gave up while waiting is left out (nothing of it was done).
            if not waiting.future.done():
                batch.append(waiting)
                weight += waiting.weight
        return batch

    async def _drain(self) -> None:
        while self._waiting:
            batch = self._next_batch()
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            try:
                outcomes = await self.handle([waiting.request for waiting in batch])
                if len(outcomes) != len(batch):
                    raise RuntimeError(f"{len(outcomes)} results for {len(batch)} requests")
            except asyncio.CancelledError:
                for waiting in (*batch, *self._waiting):
                    waiting.future.cancel()
                self._waiting.clear()
                raise
            except Exception as exc:  # each caller gets it and reports it (the batch is lost)
                log.warning("A batch of %d %s failed: %s", len(batch), self.name, exc)
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            for waiting, outcome in zip(batch, outcomes, strict=True):
                if waiting.future.done():
                    continue  # its caller gave up meanwhile; what was done stands
                if isinstance(outcome, Failed):
                    waiting.future.set_exception(outcome.error)
                else:
                    waiting.future.set_result(outcome)
