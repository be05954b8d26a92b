"""Calls that arrive while one is being handled are handled together, as one batch.

A database write that many members make at the same moment (200 vote presses on one summary)
costs one transaction, one commit and, on PostgreSQL, one round trip per batch instead of per
call: the first call is handled at once, alone; those arriving meanwhile wait for it and go
together in the next batch. No call waits for a timer, so a lone call is as fast as before.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

log = logging.getLogger(__name__)

Request = TypeVar("Request")
Result = TypeVar("Result")


@dataclass(slots=True)
class _Waiting(Generic[Request, Result]):
    request: Request
    future: asyncio.Future[Result]


class Batcher(Generic[Request, Result]):
    """Hands the requests waiting at the same time to `handle`, at most `max_batch` at once,
    and gives each caller its own result (or the batch's error). `handle` returns one result
    per request, in order."""

    def __init__(
        self,
        name: str,
        handle: Callable[[Sequence[Request]], Awaitable[Sequence[Result]]],
        *,
        max_batch: int = 500,
    ) -> None:
        if max_batch < 1:
            raise ValueError("a batch holds at least one request")
        self.name = name
        self.handle = handle
        self.max_batch = max_batch
        self._waiting: list[_Waiting[Request, Result]] = []
        self._task: asyncio.Task[None] | None = None
        # How many requests each batch held (tests and benchmarks look at it).
        self.batch_sizes: list[int] = []

    async def submit(self, request: Request) -> Result:
        """`request`'s result, once the batch it went into was handled."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(request, future))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain(), name=f"batch-{self.name}")
        return await future

    async def _drain(self) -> None:
        while self._waiting:
            taken = self._waiting[: self.max_batch]
            del self._waiting[: self.max_batch]
            # A caller that gave up while waiting is left out (nothing of it was done).
            batch = [waiting for waiting in taken if not waiting.future.done()]
            if not batch:
                continue
            self.batch_sizes.append(len(batch))
            try:
                results = await self.handle([waiting.request for waiting in batch])
                if len(results) != len(batch):
                    raise RuntimeError(f"{len(results)} results for {len(batch)} requests")
            except asyncio.CancelledError:
                for waiting in batch + self._waiting:
                    waiting.future.cancel()
                self._waiting.clear()
                raise
            except Exception as exc:  # each caller gets it and reports it (the batch is lost)
                log.warning("A batch of %d %s failed: %s", len(batch), self.name, exc)
                for waiting in batch:
                    if not waiting.future.done():
                        waiting.future.set_exception(exc)
                continue
            for waiting, result in zip(batch, results, strict=True):
                if not waiting.future.done():
                    waiting.future.set_result(result)
