"""Display math as images: typesetting and card latency; prints one JSON document on stdout.

    .venv/bin/python bench/math.py            # the full run: about a minute
    .venv/bin/python bench/math.py --quick    # a smoke run

Over the corpus of real display formulas (`tests/fixtures/math/display_formulas.tex`, 60),
with the bot's own `Typesetter` (worker processes started before timing, as the bot warms
them at start):

- per formula, one at a time: screening, typesetting in a worker and caching, cold (empty
  cache) and again from the cache; the Unicode path (`latex_to_unicode`) on the same
  formulas for comparison;
- a page of five display equations (the corpus in consecutive fives): its card, cold (the
  formulas and numbers typeset on both workers, stacked, rasterised) and from the cache;
- the cache's size on disk afterwards;
- `/summary view` of a cached page against `math:text` (today's text-only answer), side by
  side in one run, alternating: in process (`summary_messages` + the first page with its
  card) and end to end (the real bot against the Discord emulator: from the slash command
  to the reply on screen, the card uploaded as multipart);
- matplotlib's mathtext on the same corpus, when matplotlib is installed (the `bench`
  extra): which formulas it can draw at all, and how fast.

Medians and 95th percentiles in milliseconds. Machines are shared: the load average before
and after is printed with the figures.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a script (`python bench/math.py`), this file's folder comes first on sys.path,
    # where this file would hide the standard library's `math` from every module importing
    # it: drop the folder, and make `bot`, `cogs` and `tests` importable instead.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse
import asyncio
import functools
import io
import json
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.machine import describe
from bot.paged import summary_messages
from bot.rendering.latex import latex_to_unicode
from bot.storage.summaries import Summary
from bot.typeset import Typesetter
from tests.unit.typeset.corpus import CORPUS, Formula

PAGE_SIZE = 5
WORKERS = 2


def milliseconds(samples: Sequence[float]) -> dict[str, float]:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p95_ms": round(p95 * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "n": len(ordered),
    }


async def timed(work: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = await work()
    return time.perf_counter() - started, result


def new_typesetter(directory: Path) -> Typesetter:
    return Typesetter(
        cache_dir=directory,
        cache_max_bytes=256 << 20,
        workers=WORKERS,
        job_timeout=10.0,
        memory_bytes=1 << 30,
    )


async def formulas_benchmark(corpus: Sequence[Formula], directory: Path) -> dict[str, Any]:
    typesetter = new_typesetter(directory / "formulas")
    try:
        start, _ = await timed(typesetter.warm_up)
        cold, cached = [], []
        failed = []
        for formula in corpus:
            elapsed, drawing = await timed(functools.partial(typesetter.drawing, formula.tex))
            cold.append(elapsed)
            if drawing is None:
                failed.append(formula.origin)
        for formula in corpus:
            elapsed, _ = await timed(functools.partial(typesetter.drawing, formula.tex))
            cached.append(elapsed)
    finally:
        await typesetter.close()
    unicode = []
    for formula in corpus:
        started = time.perf_counter()
        for _ in range(20):
            latex_to_unicode(formula.tex, display=True)
        unicode.append((time.perf_counter() - started) / 20)
    return {
        "formulas": len(corpus),
        "not_typeset": failed,
        "workers_start_s": round(start, 3),
        "cold": milliseconds(cold),
        "cached": milliseconds(cached),
        "unicode": milliseconds(unicode),
    }


async def pages_benchmark(corpus: Sequence[Formula], directory: Path) -> dict[str, Any]:
    pages = [corpus[i : i + PAGE_SIZE] for i in range(0, len(corpus), PAGE_SIZE)]
    pages = [page for page in pages if len(page) == PAGE_SIZE]
    typesetter = new_typesetter(directory / "pages")
    try:
        await typesetter.warm_up()
        cold, cached, heights = [], [], []
        for number, page in enumerate(pages):
            numbers = list(range(number * PAGE_SIZE + 1, (number + 1) * PAGE_SIZE + 1))
            sources = [formula.tex for formula in page]
            elapsed, png = await timed(functools.partial(typesetter.card, sources, numbers))
            cold.append(elapsed)
            heights.append(int.from_bytes(png[20:24], "big") if png else None)
        for number, page in enumerate(pages):
            numbers = list(range(number * PAGE_SIZE + 1, (number + 1) * PAGE_SIZE + 1))
            sources = [formula.tex for formula in page]
            elapsed, _ = await timed(functools.partial(typesetter.card, sources, numbers))
            cached.append(elapsed)
        size = await asyncio.to_thread(typesetter.cache.size)
        files = sum(1 for path in typesetter.cache.root.glob("??/*") if path.is_file())
    finally:
        await typesetter.close()
    return {
        "pages": len(pages),
        "equations_per_page": PAGE_SIZE,
        "cold": milliseconds(cold),
        "cached": milliseconds(cached),
        "card_heights_px": heights,
        "cache_bytes": size,
        "cache_files": files,
        "cache_bytes_per_page": round(size / len(pages)),
    }


def five_equation_summary(corpus: Sequence[Formula]) -> Summary:
    body = "A page of five display equations.\n\n" + "\n\nThen\n\n".join(
        f"$${formula.tex}$$" for formula in corpus[12:17]
    )
    now = datetime.now(UTC)
    return Summary(
        id=1,
        paper_id=None,
        origin="feed",
        guild_id=None,
        author_name="bench",
        author_discord_id=None,
        title="Batch normalisation",
        tldr="",
        body=body,
        url=None,
        external_id=None,
        score=0,
        created_at=now,
        edited_at=now,
        deleted_at=None,
        paper=None,
    )


async def view_in_process(
    corpus: Sequence[Formula], directory: Path, rounds: int
) -> dict[str, Any]:
    summary = five_equation_summary(corpus)
    typesetter = new_typesetter(directory / "view")
    try:
        await typesetter.warm_up()

        async def with_cards() -> int:
            pages = await summary_messages(summary, typesetter)
            return len((await pages.page(0)).files)

        async def text_only() -> int:
            pages = await summary_messages(summary, typesetter, math="text")
            return len((await pages.page(0)).files)

        first, files = await timed(with_cards)
        assert files == 1
        images, texts = [], []
        for _ in range(rounds):
            images.append((await timed(with_cards))[0])
            texts.append((await timed(text_only))[0])
    finally:
        await typesetter.close()
    return {
        "first_view_cold_ms": round(first * 1000, 2),
        "cached_images": milliseconds(images),
        "text_only": milliseconds(texts),
        "ratio_p50": round(statistics.median(images) / statistics.median(texts), 3),
    }


async def view_end_to_end(
    corpus: Sequence[Formula], directory: Path, rounds: int
) -> dict[str, Any]:
    from bot.storage.summaries import SummaryRepository
    from tests.e2e.conftest import build_default_world
    from tests.emulator import DiscordEmulator
    from tests.emulator.botharness import BotRunner, make_settings

    emulator = DiscordEmulator()
    build_default_world(emulator)
    body = five_equation_summary(corpus).body
    images, texts = [], []
    async with emulator:
        runner = BotRunner(emulator)
        try:
            bot = await runner.start(make_settings(emulator, directory / "view.sqlite3"))
            saved = await SummaryRepository(bot.db).upsert_external(
                external_id="urn:bench:math", body=body, author_name="bench", paper_id=None
            )
            if bot.typesetter is not None and bot.warm_up is not None:
                await bot.warm_up

            async def view(option: str) -> float:
                started = time.perf_counter()
                handle = await emulator.slash(f"/summary view id:{saved.summary_id}{option}")
                message = await handle.wait_reply(timeout=30)
                elapsed = time.perf_counter() - started
                assert bool(message.attachments) == (option == "")
                return elapsed

            first = await view("")
            for _ in range(rounds):
                images.append(await view(""))
                texts.append(await view(" math:text"))
        finally:
            await runner.stop_all()
        violations = emulator.take_violations()
    return {
        "first_view_cold_ms": round(first * 1000, 2),
        "cached_images": milliseconds(images),
        "text_only": milliseconds(texts),
        "ratio_p50": round(statistics.median(images) / statistics.median(texts), 3),
        "emulator_violations": violations[:5],
    }


def matplotlib_comparison(corpus: Sequence[Formula]) -> dict[str, Any]:
    try:
        from matplotlib import mathtext
    except ImportError:
        return {"skipped": "matplotlib is not installed (pip install -e '.[bench]')"}
    drawn, failed, times = [], [], []
    for formula in corpus:
        flat = " ".join(formula.tex.split())
        started = time.perf_counter()
        try:
            mathtext.math_to_image(f"${flat}$", io.BytesIO(), dpi=144, format="png")
        except (ValueError, RuntimeError) as exc:
            failed.append({"origin": formula.origin, "error": str(exc).splitlines()[0][:80]})
            continue
        times.append(time.perf_counter() - started)
        drawn.append(formula.origin)
    environments = [f for f in corpus if "\\begin" in f.tex]
    return {
        "version": metadata.version("matplotlib"),
        "drawn": len(drawn),
        "failed": len(failed),
        "environments_failed": sum(
            1 for f in failed if any(e.origin == f["origin"] for e in environments)
        ),
        "environments": len(environments),
        "time": milliseconds(times) if times else None,
        "failures": failed,
    }


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run on 15 formulas")
    parser.add_argument("--rounds", type=int, default=20, help="views of each kind")
    args = parser.parse_args()
    corpus = CORPUS[:20] if args.quick else CORPUS
    rounds = 3 if args.quick else args.rounds
    report: dict[str, Any] = {
        "machine": describe(
            ziamath=metadata.version("ziamath"), resvg_py=metadata.version("resvg_py")
        )
    }
    with tempfile.TemporaryDirectory(prefix="bench-math-") as tmp:
        directory = Path(tmp)
        report["formula"] = await formulas_benchmark(corpus, directory)
        report["page_of_five"] = await pages_benchmark(corpus, directory)
        report["summary_view_in_process"] = await view_in_process(corpus, directory, rounds)
        report["summary_view_end_to_end"] = await view_end_to_end(corpus, directory, rounds)
    report["matplotlib_mathtext"] = matplotlib_comparison(corpus)
    report["targets"] = {
        "page_of_five_cold_p50_under_300ms": report["page_of_five"]["cold"]["p50_ms"] < 300,
        "page_of_five_cached_p50_under_5ms": report["page_of_five"]["cached"]["p50_ms"] < 5,
    }
    report["load_average_after"] = os.getloadavg() if hasattr(os, "getloadavg") else None
    print(json.dumps(report, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    logging_off = os.environ.get("BENCH_LOG") is None
    if logging_off:
        import logging

        logging.disable(logging.WARNING)
    asyncio.run(main())
