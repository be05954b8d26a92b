"""A typesetting worker: `python -m bot.typeset.worker`, started and killed by the pool.

It answers jobs one at a time over its standard input and output, in frames (see
`bot.typeset.protocol`): `{"op": "typeset", "source", "style"}` answers the drawing of a
formula, `{"op": "rasterise", "svg"}` a PNG. Before anything else it caps its own address
space (`MATH_WORKER_MEMORY_BYTES`, 1 GiB by default), so a formula that makes a library
allocate without end fails with a MemoryError or ends this process, never the bot's; the
pool bounds time by killing a worker that does not answer.

Standard output is kept for frames alone: whatever a library prints goes to standard error.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import resource
import signal
import sys
from typing import Any, BinaryIO

from bot.typeset.protocol import read_frame, write_frame

DEFAULT_MEMORY_BYTES = 1 << 30
PR_SET_PDEATHSIG = 1


def _limit_memory() -> None:
    wanted = int(os.environ.get("MATH_WORKER_MEMORY_BYTES", DEFAULT_MEMORY_BYTES))
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def _answer(request: dict[str, Any]) -> tuple[dict[str, Any], bytes]:
    from bot.typeset import engine
    from bot.typeset.style import MathStyle

    op = request.get("op")
    try:
        if op == "typeset":
            style = MathStyle.from_json(request["style"])
            return {"ok": True, **engine.typeset(str(request["source"]), style)}, b""
        if op == "rasterise":
            return {"ok": True}, engine.rasterise(str(request["svg"]))
        return {"ok": False, "reason": f"unknown operation {op!r}"}, b""
    except RecursionError:
        return {"ok": False, "reason": "nested too deeply"}, b""
    except MemoryError:
        return {"ok": False, "reason": "out of memory"}, b""
    except Exception as exc:  # every library error means "cannot typeset this formula"
        return {"ok": False, "reason": f"{type(exc).__name__}: {exc}"[:300]}, b""


def serve(requests: BinaryIO, answers: BinaryIO) -> None:
    from bot.typeset import engine  # noqa: F401  (load the font before saying ready)

    write_frame(answers, {"ready": True}, b"")
    while True:
        frame = read_frame(requests)
        if frame is None:
            return
        header, _payload = frame
        answer, payload = _answer(header)
        write_frame(answers, answer, payload)


def _die_with_the_bot() -> None:
    """Linux: be killed when the bot's process ends, even mid-formula (it cannot say so
    otherwise: killed, it closes no pipe until the formula is done)."""
    if sys.platform != "linux":
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        print("prctl(PR_SET_PDEATHSIG) failed", file=sys.stderr)
    if os.getppid() != int(os.environ.get("MATH_WORKER_PARENT", os.getppid())):
        sys.exit(0)  # the bot was gone before the line above


def main() -> None:
    _die_with_the_bot()
    _limit_memory()
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
