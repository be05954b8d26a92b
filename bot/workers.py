"""Worker processes for CPU-heavy work on untrusted input: the one mechanism behind parsing
feeds and typesetting formulas.

Anyone's input can be slow on purpose or by accident (a lenient parse of a broken 5 MB feed,
a formula that is quadratic to lay out). A thread would share the GIL and the default thread
pool with user-facing work and cannot be stopped, so such jobs run in processes of their
own: they use other cores, and a job over its time budget is ended by ending its worker,
which is then replaced (pebble's process pool does exactly that). Each worker may also be
capped in memory (an address-space limit, so a library that allocates without end fails in
the worker, never in the bot) and, on Linux, dies with the bot even mid-job.

Workers are forked from a server process that has the pools' modules imported already
(`forkserver`, `preload`), so starting or replacing one takes milliseconds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import ctypes
import ctypes.util
import logging
import multiprocessing
import resource
import signal
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal, TypeVar

import pebble

log = logging.getLogger(__name__)

T = TypeVar("T")

# A worker is replaced now and then, so memory a huge job left behind goes back to the system.
DEFAULT_TASKS_PER_WORKER: Final = 500
PR_SET_PDEATHSIG: Final = 1
# Modules every pool asked to have imported in the fork server (before it starts).
_preloaded: set[str] = set()


FailureReason = Literal["timeout", "died", "closed"]


class WorkerJobFailed(Exception):
    """A job that got no answer: it ran over its time budget ("timeout"), its worker died
    while on it ("died"), or no worker could take it ("closed")."""

    def __init__(self, message: str, *, reason: FailureReason) -> None:
        super().__init__(message)
        self.reason = reason

    @property
    def job_fault(self) -> bool:
        """Whether the job itself is to blame (its input), not the pool."""
        return self.reason != "closed"


class WorkerPool:
    """`workers` processes; `await run(function, *args)` runs a job in one within `timeout`
    seconds. Workers start on first use (or `start()`).

    `function` must be importable by name (a module-level function) and its arguments and
    result picklable; what it raises comes back as it is.
    """

    def __init__(
        self,
        name: str,
        *,
        workers: int,
        timeout: float,
        memory_bytes: int | None = None,
        preload: Sequence[str] = (),
        tasks_per_worker: int = DEFAULT_TASKS_PER_WORKER,
    ) -> None:
        if workers < 1:
            raise ValueError("a pool needs at least one worker")
        self.name = name
        self.workers = workers
        self.timeout = timeout
        self.memory_bytes = memory_bytes
        self.tasks_per_worker = tasks_per_worker
        self._preload = tuple(preload)
        self._pool: pebble.ProcessPool | None = None
        self._waiting: set[asyncio.Future[Any]] = set()
        self._closed = False

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`function(*args, **kwargs)` in a worker; raises WorkerJobFailed when the job runs
        out of time (its worker is ended and replaced) or its worker dies."""
        if self._closed:
            raise WorkerJobFailed(f"the {self.name} workers are closed", reason="closed")
        future = asyncio.wrap_future(
            self._running_pool().schedule(function, args, kwargs, timeout=self.timeout)
        )
        self._waiting.add(future)
        try:
            # Cancelling this (at shutdown) cancels the job and ends its worker.
            return await future
        except concurrent.futures.TimeoutError:
            raise WorkerJobFailed(
                f"no answer within {self.timeout:g} s", reason="timeout"
            ) from None
        except pebble.ProcessExpired as exc:
            log.warning("A %s worker died running %s: %s", self.name, function.__name__, exc)
            raise WorkerJobFailed("its worker stopped unexpectedly", reason="died") from None
        finally:
            self._waiting.discard(future)

    async def start(self) -> None:
        """Start the workers now, so the first job does not wait for them."""
        await asyncio.gather(*(self.run(_ready) for _ in range(self.workers)))

    async def close(self) -> None:
        """End the workers; jobs still waiting are cancelled."""
        self._closed = True
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
                log.warning("The %s worker pool stopped; starting a new one", self.name)
                self._pool.stop()
            self._pool = pebble.ProcessPool(
                max_workers=self.workers,
                max_tasks=self.tasks_per_worker,
                initializer=_prepare_worker,
                initargs=(self.memory_bytes,),
                context=_worker_context(self._preload),
            )
        return self._pool


def _ready() -> bool:
    return True


def _prepare_worker(memory_bytes: int | None) -> None:
    """In each new worker: cap its address space, and (Linux) have it killed when its parent
    (the fork server, which ends with the bot) is gone."""
    if memory_bytes is not None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        limit = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    if sys.platform == "linux":
        libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            log.warning("A worker could not ask to die with its parent (prctl failed)")


def _worker_context(preload: Sequence[str]) -> Any:
    """`forkserver` where there is one (fast, and safe in a process with threads), else
    `spawn`. Never plain `fork`: the bot has threads (aiosqlite, tantivy, pebble) a fork
    would copy mid-lock.

    The fork server is one per process: it imports every module any pool asked for before
    it started (a pool made after it started gets its modules imported in each worker)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    context = multiprocessing.get_context("forkserver")
    _preloaded.update(preload)
    context.set_forkserver_preload(sorted(_preloaded))
    return context
