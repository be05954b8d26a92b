"""Worker processes for the CPU-heavy part of polling feeds: parsing bodies, matching filters.

A feed is anyone's input: a body can be slow to parse on purpose (a lenient parse of a
broken 5 MB feed takes seconds) or by accident. Parsing in a thread would share the GIL and
the small default thread pool with user-facing work (`/search` runs its queries there), and
a thread cannot be stopped. So parsing runs in a few worker processes of its own: they use
other cores, and a job over its time budget is ended by ending its worker, which is then
replaced (pebble's process pool does exactly that). Only that feed's poll fails; everything
else carries on.

Workers are forked from a server process that has the parser imported already
(`forkserver`), so starting or replacing one takes milliseconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import multiprocessing
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import pebble

from bot.feeds.models import ParsedFeed
from bot.feeds.parse import parse_feed

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_WORKERS: Final = 2
DEFAULT_TIMEOUT_SECONDS: Final = 20.0
# A worker is replaced now and then, so memory a huge feed left behind goes back to the system.
TASKS_PER_WORKER: Final = 500
# Imported once in the server process the workers are forked from.
PRELOADED_MODULES: Final = ("bot.feeds.parse",)


class FeedWorkError(Exception):
    """A job did not finish: over its time budget, or its worker died. Says which, readably."""


class FeedWorkers:
    """A pool of worker processes, each job bounded in time. Started on first use.

    `parse()` never raises for what a feed contains: a body that takes too long or kills its
    worker becomes a ParsedFeed that is not a feed, with the reason as its error.
    """

    def __init__(
        self, *, workers: int = DEFAULT_WORKERS, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        if workers < 1:
            raise ValueError("at least one worker is needed")
        self.workers = workers
        self.timeout = timeout
        self._pool: pebble.ProcessPool | None = None
        self._waiting: set[asyncio.Future[Any]] = set()

    async def parse(
        self, body: bytes, *, url: str | None = None, headers: Mapping[str, str] | None = None
    ) -> ParsedFeed:
        """`parse_feed` in a worker process, within the time budget."""
        try:
            return await self.run(parse_feed, body, url=url, headers=dict(headers or {}))
        except FeedWorkError as exc:
            return ParsedFeed(is_feed=False, format="none", error=str(exc))
        except Exception:
            # parse_feed never raises for bad input: this is a bug, and it costs one poll.
            log.exception("Parsing the feed at %s failed", url)
            return ParsedFeed(
                is_feed=False,
                format="none",
                error="the feed could not be read (an internal error was logged)",
            )

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` in a worker process; what it returns or raises.

        `function` must be importable by name (a module-level function) and its arguments
        and result picklable. Raises FeedWorkError when the job runs out of time (its
        worker is ended and replaced) or its worker dies.
        """
        future = asyncio.wrap_future(
            self._running_pool().schedule(function, args, kwargs, timeout=self.timeout)
        )
        self._waiting.add(future)
        try:
            # Cancelling this (a poll cancelled at shutdown) cancels the job and ends its worker.
            return await future
        except concurrent.futures.TimeoutError:
            raise FeedWorkError(
                f"reading it took over {self.timeout:g} s, the most one feed may take"
            ) from None
        except pebble.ProcessExpired as exc:
            log.warning("A feed worker died running %s: %s", function.__name__, exc)
            raise FeedWorkError(
                "its reader stopped unexpectedly (the feed may be too large or malformed)"
            ) from None
        finally:
            self._waiting.discard(future)

    async def close(self) -> None:
        """End the workers; jobs still waiting are cancelled."""
        for future in list(self._waiting):
            future.cancel()
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.stop()
            await asyncio.to_thread(pool.join)

    def _running_pool(self) -> pebble.ProcessPool:
        if self._pool is None or not self._pool.active:
            if self._pool is not None:
                # Pebble gives up on a pool whose bookkeeping failed; start a fresh one.
                log.warning("The feed worker pool stopped; starting a new one")
                self._pool.stop()
            self._pool = pebble.ProcessPool(
                max_workers=self.workers,
                max_tasks=TASKS_PER_WORKER,
                context=_worker_context(),
            )
        return self._pool


def _worker_context() -> Any:
    """`forkserver` where there is one (fast, and safe in a process with threads), else
    `spawn`. Never plain `fork`: the bot has threads (aiosqlite, pebble) a fork would copy
    mid-lock."""
    if "forkserver" in multiprocessing.get_all_start_methods():
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(list(PRELOADED_MODULES))
        return context
    return multiprocessing.get_context("spawn")
