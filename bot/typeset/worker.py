"""The jobs a typesetting worker runs (in a `bot.workers.WorkerPool`).

`typeset(source, style)` answers the drawing of a formula, `rasterise(svg)` a PNG. Every
error of the typesetting libraries comes back as an answer `{"ok": False, "reason": ...}`:
it means "this formula cannot be typeset", not a fault of the worker. The pool bounds each
job in time (a worker that does not answer is ended and replaced) and in memory (a formula
that makes a library allocate without end fails in its worker, never in the bot).

The engine is imported here, in the worker (the fork server preloads it), never in the bot.
"""

from __future__ import annotations

from typing import Any


def typeset(source: str, style: dict[str, Any]) -> dict[str, Any]:
    """The drawing of `source` in `style` (a `MathStyle.to_json()`), or why there is none."""
    from bot.typeset import engine
    from bot.typeset.style import MathStyle

    try:
        return {"ok": True, **engine.typeset(source, MathStyle.from_json(style))}
    except Exception as exc:  # every library error means "cannot typeset this formula"
        return _refused(exc)


def rasterise(svg: str) -> tuple[dict[str, Any], bytes]:
    """The PNG of a card's SVG, or why there is none."""
    from bot.typeset import engine

    try:
        return {"ok": True}, engine.rasterise(svg)
    except Exception as exc:  # a card resvg cannot draw is shown in Unicode instead
        return _refused(exc), b""


def _refused(exc: Exception) -> dict[str, Any]:
    if isinstance(exc, RecursionError):
        return {"ok": False, "reason": "nested too deeply"}
    if isinstance(exc, MemoryError):
        return {"ok": False, "reason": "out of memory"}
    return {"ok": False, "reason": f"{type(exc).__name__}: {exc}"[:300]}
