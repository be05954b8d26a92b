"""The bot's typesetter: formulas to drawings and pages of equations to PNG cards, cached.

`Typesetter.drawings(sources)` screens each formula (`bot.typeset.screen`), then answers it
from the disk cache or has a worker typeset it; a formula that cannot be typeset (refused,
unknown command, syntax error, over a bound, a worker that timed out or died) gives None,
and that answer is cached too, so a hostile formula costs one worker once, not on every
view. `Typesetter.card(sources, numbers)` stacks those drawings with their numbers on one
card and rasterises it; the PNG is cached under a hash of the formulas, their numbers and
the style, so a second view of the same page reads one file and renders nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import struct
import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bot.typeset import worker
from bot.typeset.cache import DiskCache
from bot.typeset.layout import Drawing, compose_card
from bot.typeset.screen import Refusal, prepare_formula
from bot.typeset.style import DEFAULT_STYLE, MathStyle
from bot.workers import WorkerJobFailed, WorkerPool

log = logging.getLogger(__name__)

# Seconds a formula whose worker timed out or died is shown in Unicode before a retry.
WORKER_FAULT_TTL: Final = 24 * 3600.0
# Equation numbers typeset when the workers start: most pages show some of these.
WARM_NUMBERS: Final = 12
# The formulas and cards used last are also kept in memory, up to this many bytes.
RECENT_BYTES: Final = 32 << 20


def _key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        encoded = part.encode("utf-8", "surrogatepass")
        digest.update(struct.pack(">I", len(encoded)))
        digest.update(encoded)
    return digest.hexdigest()


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's header."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    width, height = struct.unpack(">II", data[16:24])
    return width, height


class _Recent:
    """What was used last, in memory, up to `max_bytes` (thread-safe: pages are planned in
    threads)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[object, int]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, object]:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return False, None
            self._entries.move_to_end(key)
            return True, entry[0]

    def put(self, key: str, value: object, size: int) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._size -= previous[1]
            self._entries[key] = (value, size)
            self._size += size
            while self._size > self.max_bytes and self._entries:
                _, (_, dropped) = self._entries.popitem(last=False)
                self._size -= dropped


class Typesetter:
    """Typesets display formulas in worker processes, with a bounded disk cache (and the
    most recently used formulas and cards in memory)."""

    def __init__(
        self,
        *,
        cache_dir: Path,
        cache_max_bytes: int,
        workers: int,
        job_timeout: float,
        memory_bytes: int,
        style: MathStyle = DEFAULT_STYLE,
    ) -> None:
        self.style = style
        self.cache = DiskCache(cache_dir, cache_max_bytes)
        self.recent = _Recent(RECENT_BYTES)
        self.pool = WorkerPool(
            "typesetting",
            workers=workers,
            timeout=job_timeout,
            memory_bytes=memory_bytes,
            preload=("bot.typeset.engine",),
        )
        # How many formulas and cards were typeset (not read from the cache): for the bench.
        self.rendered_formulas = 0
        self.rendered_cards = 0

    async def warm_up(self) -> None:
        """Start the workers now, so the first formula does not wait for them (about half a
        second each: importing the typesetter and loading its font), and have the usual
        equation numbers ready (typeset once, then read from the cache)."""
        try:
            await self.pool.start()
        except WorkerJobFailed as exc:
            log.warning("Typesetting workers did not start: %s", exc)
            return
        try:
            await self.drawings([f"({number})" for number in range(1, WARM_NUMBERS + 1)])
        except Exception:
            # Only a head start: the numbers are typeset when first needed instead.
            log.exception("Typesetting the usual equation numbers ahead failed")

    async def close(self) -> None:
        await self.pool.close()

    # -- formulas ------------------------------------------------------------------------------

    async def drawings(self, sources: Sequence[str]) -> list[Drawing | None]:
        """Each formula's drawing, or None where it is shown in Unicode only; in order."""
        return list(await asyncio.gather(*(self.drawing(source) for source in sources)))

    def _formula_key(self, source: str) -> str | None:
        prepared = prepare_formula(source)
        if isinstance(prepared, Refusal):
            return None
        return _key("formula", self.style.key(), prepared)

    def remembered_drawings(self, sources: Sequence[str]) -> list[Drawing | None] | None:
        """Each formula's drawing when all are in memory (no I/O, callable from a thread),
        else None."""
        drawings: list[Drawing | None] = []
        for source in sources:
            key = self._formula_key(source)
            if key is None:
                drawings.append(None)
                continue
            found, drawing = self.recent.get(key)
            if not found:
                return None
            drawings.append(drawing if isinstance(drawing, Drawing) else None)
        return drawings

    def _remember(self, key: str, answer: dict[str, object]) -> Drawing | None:
        drawing = Drawing.from_answer(answer) if answer.get("ok") else None
        if "until" not in answer:  # a worker's fault is retried later: not kept in memory
            self.recent.put(key, drawing, len(drawing.inner) if drawing else 64)
        return drawing

    async def drawing(self, source: str) -> Drawing | None:
        prepared = prepare_formula(source)
        if isinstance(prepared, Refusal):
            log.debug("Formula not typeset (%s): %.80r", prepared.reason, source)
            return None
        key = _key("formula", self.style.key(), prepared)
        found, remembered = self.recent.get(key)
        if found:
            return remembered if isinstance(remembered, Drawing) else None
        cached = await asyncio.to_thread(self.cache.get, key)
        if cached is not None:
            answer = json.loads(cached)
            if answer.get("until", float("inf")) > time.time():
                return self._remember(key, answer)
        try:
            answer = await self.pool.run(worker.typeset, prepared, self.style.to_json())
        except WorkerJobFailed as exc:
            if not exc.job_fault:
                log.warning("Typesetting is unavailable: %s", exc)
                return None
            log.info("Formula not typeset (%s): %.80r", exc, source)
            # Tried again after a while: a busy machine can make a fine formula time out.
            answer = {"ok": False, "reason": str(exc), "until": time.time() + WORKER_FAULT_TTL}
        self.rendered_formulas += 1
        if not answer.get("ok"):
            log.debug("Formula not typeset (%s): %.80r", answer.get("reason"), source)
        await asyncio.to_thread(self.cache.put, key, json.dumps(answer).encode())
        return self._remember(key, answer)

    # -- cards ---------------------------------------------------------------------------------

    def card_key(self, sources: Sequence[str], numbers: Sequence[int]) -> str:
        return _key("card", self.style.key(), json.dumps([list(sources), list(numbers)]))

    async def card(self, sources: Sequence[str], numbers: Sequence[int]) -> bytes | None:
        """A PNG card stacking the formulas numbered `numbers`, or None if none typesets."""
        if len(sources) != len(numbers) or not sources:
            raise ValueError("one number per formula, and at least one formula")
        key = self.card_key(sources, numbers)
        found, remembered = self.recent.get(key)
        if found and isinstance(remembered, bytes):
            return remembered
        cached = await asyncio.to_thread(self.cache.get, key)
        if cached is not None:
            self.recent.put(key, cached, len(cached))
            return cached
        drawings = await self.drawings([*sources, *(f"({number})" for number in numbers)])
        equations, labels = drawings[: len(sources)], drawings[len(sources) :]
        rows = [
            (equation, label)
            for equation, label in zip(equations, labels, strict=True)
            if equation is not None and label is not None
        ]
        if not rows:
            return None
        card = await asyncio.to_thread(compose_card, rows, self.style)
        try:
            answer, png = await self.pool.run(worker.rasterise, card.svg)
        except WorkerJobFailed as exc:
            log.warning("An equation card could not be rasterised: %s", exc)
            return None
        if not answer.get("ok"):
            log.warning("An equation card could not be rasterised: %s", answer.get("reason"))
            return None
        self.rendered_cards += 1
        await asyncio.to_thread(self.cache.put, key, png)
        self.recent.put(key, png, len(png))
        return png


__all__ = ["DEFAULT_STYLE", "MathStyle", "Typesetter", "png_size"]
