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
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Final

from bot.typeset.cache import DiskCache
from bot.typeset.layout import Drawing, compose_card
from bot.typeset.pool import WorkerFailed, WorkerPool
from bot.typeset.screen import Refusal, prepare_formula
from bot.typeset.style import DEFAULT_STYLE, MathStyle

log = logging.getLogger(__name__)

# Seconds a formula whose worker timed out or died is shown in Unicode before a retry.
WORKER_FAULT_TTL: Final = 24 * 3600.0


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


class Typesetter:
    """Typesets display formulas in worker processes, with a bounded disk cache."""

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
        self.pool = WorkerPool(workers, job_timeout=job_timeout, memory_bytes=memory_bytes)
        # How many formulas and cards were typeset (not read from the cache): for the bench.
        self.rendered_formulas = 0
        self.rendered_cards = 0

    async def warm_up(self) -> None:
        """Start the workers now, so the first formula does not wait for them (about half a
        second each: importing the typesetter and loading its font)."""
        try:
            await self.pool.start()
        except WorkerFailed as exc:
            log.warning("Typesetting workers did not start: %s", exc)

    async def close(self) -> None:
        await self.pool.close()

    # -- formulas ------------------------------------------------------------------------------

    async def drawings(self, sources: Sequence[str]) -> list[Drawing | None]:
        """Each formula's drawing, or None where it is shown in Unicode only; in order."""
        return list(await asyncio.gather(*(self.drawing(source) for source in sources)))

    async def drawing(self, source: str) -> Drawing | None:
        prepared = prepare_formula(source)
        if isinstance(prepared, Refusal):
            log.debug("Formula not typeset (%s): %.80r", prepared.reason, source)
            return None
        key = _key("formula", self.style.key(), prepared)
        cached = await asyncio.to_thread(self.cache.get, key)
        if cached is not None:
            answer = json.loads(cached)
            if answer.get("until", float("inf")) > time.time():
                return Drawing.from_answer(answer) if answer.get("ok") else None
        try:
            answer, _ = await self.pool.run(
                {"op": "typeset", "source": prepared, "style": self.style.to_json()}
            )
        except WorkerFailed as exc:
            if not exc.formula_fault:
                log.warning("Typesetting is unavailable: %s", exc)
                return None
            log.info("Formula not typeset (%s): %.80r", exc, source)
            # Tried again after a while: a busy machine can make a fine formula time out.
            answer = {"ok": False, "reason": str(exc), "until": time.time() + WORKER_FAULT_TTL}
        self.rendered_formulas += 1
        if not answer.get("ok"):
            log.debug("Formula not typeset (%s): %.80r", answer.get("reason"), source)
        await asyncio.to_thread(self.cache.put, key, json.dumps(answer).encode())
        return Drawing.from_answer(answer) if answer.get("ok") else None

    # -- cards ---------------------------------------------------------------------------------

    def card_key(self, sources: Sequence[str], numbers: Sequence[int]) -> str:
        return _key("card", self.style.key(), json.dumps([list(sources), list(numbers)]))

    async def card(self, sources: Sequence[str], numbers: Sequence[int]) -> bytes | None:
        """A PNG card stacking the formulas numbered `numbers`, or None if none typesets."""
        if len(sources) != len(numbers) or not sources:
            raise ValueError("one number per formula, and at least one formula")
        key = self.card_key(sources, numbers)
        cached = await asyncio.to_thread(self.cache.get, key)
        if cached is not None:
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
            answer, png = await self.pool.run({"op": "rasterise", "svg": card.svg})
        except WorkerFailed as exc:
            log.warning("An equation card could not be rasterised: %s", exc)
            return None
        if not answer.get("ok"):
            log.warning("An equation card could not be rasterised: %s", answer.get("reason"))
            return None
        self.rendered_cards += 1
        await asyncio.to_thread(self.cache.put, key, png)
        return png


__all__ = ["DEFAULT_STYLE", "MathStyle", "Typesetter", "png_size"]
