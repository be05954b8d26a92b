"""The typesetter with its real worker processes: the corpus, the cache, the bounds."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.typeset import Typesetter, png_size, worker
from bot.typeset.style import DEFAULT_STYLE
from bot.workers import WorkerJobFailed, WorkerPool
from tests.unit.typeset.corpus import CORPUS
from tests.unit.typeset.test_screen import HOSTILE

MEMORY = 1 << 30


@pytest.fixture
async def typesetter(tmp_path: Path) -> AsyncIterator[Typesetter]:
    service = Typesetter(
        cache_dir=tmp_path / "math-cache",
        cache_max_bytes=64 << 20,
        workers=2,
        job_timeout=20.0,
        memory_bytes=MEMORY,
    )
    yield service
    await service.close()


async def test_every_corpus_formula_becomes_a_sane_png(typesetter: Typesetter) -> None:
    assert len(CORPUS) >= 40
    drawings = await typesetter.drawings([formula.tex for formula in CORPUS])
    assert [f.origin for f, d in zip(CORPUS, drawings, strict=True) if d is None] == []
    cards = await asyncio.gather(*(typesetter.card([f.tex], [n]) for n, f in enumerate(CORPUS, 1)))
    digests = set()
    for formula, card in zip(CORPUS, cards, strict=True):
        assert card is not None and card.startswith(b"\x89PNG\r\n\x1a\n"), formula.origin
        width, height = png_size(card)
        assert width == DEFAULT_STYLE.width, formula.origin
        assert 60 <= height <= DEFAULT_STYLE.max_card_height, (formula.origin, height)
        digests.add(hashlib.sha256(card).hexdigest())
    # Different formulas give different images.
    assert len(digests) == len(CORPUS)


async def test_a_second_view_reads_the_cache_and_renders_nothing(
    typesetter: Typesetter,
) -> None:
    page = [f.tex for f in CORPUS[:5]]
    first = await typesetter.card(page, [1, 2, 3, 4, 5])
    formulas, cards = typesetter.rendered_formulas, typesetter.rendered_cards
    assert (formulas, cards) == (10, 1)  # five formulas, five numbers, one card
    assert await typesetter.card(page, [1, 2, 3, 4, 5]) == first
    assert await typesetter.drawings(page) is not None
    assert (typesetter.rendered_formulas, typesetter.rendered_cards) == (formulas, cards)
    # Numbered differently, it is another card made from the cached formulas.
    await typesetter.card(page, [6, 7, 8, 9, 10])
    assert typesetter.rendered_cards == cards + 1 and typesetter.rendered_formulas == formulas + 5


async def test_what_cannot_be_typeset_falls_back_to_no_drawing(typesetter: Typesetter) -> None:
    known, unknown = r"x^2", r"\KL(p \| q) = \unknownmacro{x}"
    assert await typesetter.drawings([unknown, known, r"\frac{a}"]) == [
        None,
        await typesetter.drawing(known),
        None,
    ]
    assert await typesetter.card([unknown], [1]) is None
    # A card leaves out what cannot be typeset and keeps the rest.
    assert await typesetter.card([unknown, known], [1, 2]) is not None


async def test_hostile_formulas_cost_nothing_and_leave_the_typesetter_working(
    typesetter: Typesetter,
) -> None:
    started = time.monotonic()
    assert await typesetter.drawings(list(HOSTILE.values())) == [None] * len(HOSTILE)
    assert time.monotonic() - started < 5.0  # screened: no worker even started
    assert typesetter.rendered_formulas == 0
    assert await typesetter.drawing("a + b") is not None


UNSCREENED = {
    "a \\def loop": r"\def\a{\a\a}\a",
    "a \\newcommand that doubles": r"\newcommand{\x}{\x\x}\x",
    "braces nested 5,000 deep": "{" * 5000 + "x" + "}" * 5000,
    "20,000 characters": "x+" * 10_000,
    "a huge \\rule": r"\rule{100000pt}{100000pt}",
    "\\hspace of a mile": r"x \hspace{1609344mm} y",
}


def typesetting_pool(timeout: float) -> WorkerPool:
    return WorkerPool(
        "typesetting", workers=1, timeout=timeout, memory_bytes=MEMORY,
        preload=("bot.typeset.engine",),
    )  # fmt: skip


@pytest.mark.parametrize("source", UNSCREENED.values(), ids=UNSCREENED.keys())
async def test_without_the_screen_the_workers_still_bound_time_and_memory(source: str) -> None:
    """What if the screen missed one: the worker answers or is killed, and the next job works."""
    pool = typesetting_pool(3.0)
    style = DEFAULT_STYLE.to_json()
    try:
        started = time.monotonic()
        try:
            answer = await pool.run(worker.typeset, source, style)
        except WorkerJobFailed as exc:
            assert exc.job_fault
        else:
            assert answer["ok"] is False, answer.get("box")
        assert time.monotonic() - started < 3.0 + 2.0
        answer = await pool.run(worker.typeset, "a + b", style)
        assert answer["ok"] is True
    finally:
        await pool.close()


async def test_a_worker_that_times_out_is_killed_and_replaced() -> None:
    pool = typesetting_pool(20.0)
    style = DEFAULT_STYLE.to_json()
    try:
        await pool.run(worker.typeset, "x", style)
        first = await pool.run(os.getpid)
        pool.timeout = 0.3
        with pytest.raises(WorkerJobFailed) as failed:
            await pool.run(time.sleep, 30)  # a job that does not answer in time
        assert failed.value.reason == "timeout" and failed.value.job_fault
        pool.timeout = 20.0
        answer = await pool.run(worker.typeset, "x", style)
        assert answer["ok"] and await pool.run(os.getpid) != first
    finally:
        await pool.close()


async def test_a_worker_that_died_is_replaced_and_memory_is_capped() -> None:
    pool = typesetting_pool(20.0)
    style = DEFAULT_STYLE.to_json()
    try:
        await pool.run(worker.typeset, "x", style)
        pid = await pool.run(os.getpid)
        limits = await asyncio.to_thread(Path(f"/proc/{pid}/limits").read_text)
        [address_space] = [line for line in limits.splitlines() if "address space" in line]
        assert address_space.split()[3] == str(MEMORY)
        with pytest.raises(WorkerJobFailed) as died:
            await pool.run(os.kill, pid, signal.SIGKILL)  # dies on the job
        assert died.value.reason == "died" and died.value.job_fault
        answer = await pool.run(worker.typeset, "x", style)
        assert answer["ok"] and await pool.run(os.getpid) != pid
    finally:
        await pool.close()
    with pytest.raises(WorkerJobFailed) as closed:
        await pool.run(worker.typeset, "x", style)
    assert closed.value.reason == "closed" and not closed.value.job_fault


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
async def test_a_worker_dies_with_the_bot() -> None:
    """Killed outright, the bot leaves no typesetting worker behind, busy or not."""
    # The worker is busy with a formula that takes it many seconds (unscreened, quadratic in
    # ziamath) when the bot is killed.
    script = (
        "import asyncio, os\n"
        "from bot.typeset import worker\n"
        "from bot.typeset.style import DEFAULT_STYLE\n"
        "from bot.workers import WorkerPool\n"
        "async def main():\n"
        "    pool = WorkerPool('typesetting', workers=1, timeout=600, memory_bytes=1 << 30)\n"
        "    pid = await pool.run(os.getpid)\n"
        "    busy = asyncio.ensure_future(\n"
        "        pool.run(worker.typeset, 'x+' * 3000, DEFAULT_STYLE.to_json()))\n"
        "    await asyncio.sleep(0.5)\n"
        "    print(pid, flush=True)\n"
        "    await busy\n"
        "asyncio.run(main())\n"
    )
    bot = await asyncio.create_subprocess_exec(
        sys.executable, "-c", script, stdout=asyncio.subprocess.PIPE
    )
    assert bot.stdout is not None
    worker_pid = int(await asyncio.wait_for(bot.stdout.readline(), 60))
    bot.kill()
    await bot.wait()

    def gone() -> bool:
        try:
            status = Path(f"/proc/{worker_pid}/status").read_text()
        except FileNotFoundError:
            return True
        return "\nState:\tZ" in status  # dead, waiting for init to reap it

    deadline = time.monotonic() + 3
    while not await asyncio.to_thread(gone):
        assert time.monotonic() < deadline, "the worker outlived the bot"
        await asyncio.sleep(0.05)
