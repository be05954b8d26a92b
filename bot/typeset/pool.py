"""Typesetting worker processes, each job bounded in time.

Threads cannot be stopped, so formulas are typeset in separate processes
(`python -m bot.typeset.worker`, capped in memory) and a job that does not answer within
`job_timeout` seconds gets its worker killed; the next job starts a fresh one. Workers start
when first needed (a start takes about half a second: importing the typesetter and loading
its font) and serve one job at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from typing import Any, Final

from bot.typeset.protocol import ProtocolError, encode_frame, read_frame_async

log = logging.getLogger(__name__)

STARTUP_TIMEOUT: Final = 60.0
_PASSED_ON: Final = ("PATH", "PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "HOME", "LANG", "LC_ALL",
                     "TMPDIR", "SYSTEMROOT")  # fmt: skip


class WorkerFailed(Exception):
    """A job that got no answer: the worker timed out, died or could not start.

    `formula_fault` is True when the job itself is to blame (it ran out of time, or its
    worker died while on it), False when no worker could take it.
    """

    def __init__(self, message: str, *, formula_fault: bool) -> None:
        super().__init__(message)
        self.formula_fault = formula_fault


class _Worker:
    def __init__(self, number: int, memory_bytes: int) -> None:
        self.number = number
        self.memory_bytes = memory_bytes
        self.process: asyncio.subprocess.Process | None = None
        self.started = 0  # how many processes this slot has started, for logs and tests

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        # Only what Python needs: the bot's token and settings stay out of the workers.
        environment = {name: os.environ[name] for name in _PASSED_ON if name in os.environ}
        environment["MATH_WORKER_MEMORY_BYTES"] = str(self.memory_bytes)
        environment["MATH_WORKER_PARENT"] = str(os.getpid())
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot.typeset.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=environment,
        )
        self.started += 1
        try:
            ready, _ = await asyncio.wait_for(self._read(), STARTUP_TIMEOUT)
        except (TimeoutError, ProtocolError) as exc:
            await self.kill()
            raise WorkerFailed(
                f"typesetting worker {self.number} did not start", formula_fault=False
            ) from exc
        if not ready.get("ready"):
            await self.kill()
            raise WorkerFailed(
                f"typesetting worker {self.number} did not start", formula_fault=False
            )

    async def _read(self) -> tuple[dict[str, Any], bytes]:
        assert self.process is not None and self.process.stdout is not None
        return await read_frame_async(self.process.stdout)

    async def call(
        self, request: dict[str, Any], *, seconds: float
    ) -> tuple[dict[str, Any], bytes]:
        if not self.alive:
            await self.start()
        assert self.process is not None and self.process.stdin is not None
        finished = False
        try:
            self.process.stdin.write(encode_frame(request, b""))
            await self.process.stdin.drain()
            answer = await asyncio.wait_for(self._read(), seconds)
            finished = True
            return answer
        except TimeoutError as exc:
            raise WorkerFailed(f"no answer within {seconds:g} s", formula_fault=True) from exc
        except (ProtocolError, ConnectionError) as exc:
            raise WorkerFailed("the typesetting worker died", formula_fault=True) from exc
        finally:
            if not finished:
                # A worker left mid-job would answer the next job with this one's result.
                await asyncio.shield(self.kill())

    async def kill(self) -> None:
        process, self.process = self.process, None
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()

    async def stop(self) -> None:
        """End the worker politely (end of input), killing it if it does not leave."""
        process = self.process
        if process is None or process.returncode is not None:
            self.process = None
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 2.0)
        except TimeoutError:
            log.warning("Typesetting worker %d did not stop; killing it", self.number)
        await self.kill()


class WorkerPool:
    """`size` workers; `run(request)` sends a job to the first idle one."""

    def __init__(self, size: int, *, job_timeout: float, memory_bytes: int) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.job_timeout = job_timeout
        self.workers = [_Worker(number, memory_bytes) for number in range(size)]
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        for worker in self.workers:
            self._idle.put_nowait(worker)
        self._closed = False

    async def run(self, request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
        """The worker's answer to `request`; WorkerFailed if it gave none in time."""
        if self._closed:
            raise WorkerFailed("the typesetting pool is closed", formula_fault=False)
        worker = await self._idle.get()
        try:
            return await worker.call(request, seconds=self.job_timeout)
        finally:
            self._idle.put_nowait(worker)

    async def start(self) -> None:
        """Start every worker that is not running (they otherwise start on first use)."""
        idle = [self._idle.get_nowait() for _ in range(self._idle.qsize())]
        try:
            results = await asyncio.gather(
                *(worker.start() for worker in idle if not worker.alive), return_exceptions=True
            )
        finally:
            for worker in idle:
                self._idle.put_nowait(worker)
        for result in results:
            if isinstance(result, BaseException):
                raise result

    async def close(self) -> None:
        self._closed = True
        await asyncio.gather(*(worker.stop() for worker in self.workers))
