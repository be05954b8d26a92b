"""The typesetter with its real worker processes: the corpus, the cache, the bounds."""

from __future__ import annotations

import asyncio
import hashlib
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.typeset import Typesetter, png_size
from bot.typeset.pool import WorkerFailed, WorkerPool
from bot.typeset.style import DEFAULT_STYLE
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


@pytest.mark.parametrize("source", UNSCREENED.values(), ids=UNSCREENED.keys())
async def test_without_the_screen_the_workers_still_bound_time_and_memory(source: str) -> None:
    """What if the screen missed one: the worker answers or is killed, and the next job works."""
    pool = WorkerPool(1, job_timeout=3.0, memory_bytes=MEMORY)
    try:
        request = {"op": "typeset", "source": source, "style": DEFAULT_STYLE.to_json()}
        started = time.monotonic()
        try:
            answer, _ = await pool.run(request)
        except WorkerFailed as exc:
            assert exc.formula_fault
        else:
            assert answer["ok"] is False, answer.get("box")
        assert time.monotonic() - started < 3.0 + 2.0
        answer, _ = await pool.run(dict(request, source="a + b"))
        assert answer["ok"] is True
    finally:
        await pool.close()


async def test_a_worker_that_times_out_is_killed_and_replaced() -> None:
    pool = WorkerPool(1, job_timeout=20.0, memory_bytes=MEMORY)
    try:
        request = {"op": "typeset", "source": "x", "style": DEFAULT_STYLE.to_json()}
        await pool.run(request)
        [worker] = pool.workers
        process = worker.process
        assert process is not None and worker.started == 1
        pool.job_timeout = 0.000_001
        with pytest.raises(WorkerFailed) as failed:
            await pool.run(request)
        assert failed.value.formula_fault and process.returncode is not None
        pool.job_timeout = 20.0
        answer, _ = await pool.run(request)
        assert answer["ok"] and worker.started == 2
    finally:
        await pool.close()


async def test_a_worker_that_died_is_replaced_and_memory_is_capped() -> None:
    pool = WorkerPool(1, job_timeout=20.0, memory_bytes=MEMORY)
    try:
        request = {"op": "typeset", "source": "x", "style": DEFAULT_STYLE.to_json()}
        await pool.run(request)
        [worker] = pool.workers
        assert worker.process is not None
        limits = await asyncio.to_thread(Path(f"/proc/{worker.process.pid}/limits").read_text)
        [address_space] = [line for line in limits.splitlines() if "address space" in line]
        assert address_space.split()[3] == str(MEMORY)
        worker.process.kill()
        await worker.process.wait()
        answer, _ = await pool.run(request)
        assert answer["ok"] and worker.started == 2
    finally:
        await pool.close()
    with pytest.raises(WorkerFailed) as closed:
        await pool.run({"op": "typeset", "source": "x", "style": DEFAULT_STYLE.to_json()})
    assert not closed.value.formula_fault


@pytest.mark.skipif(sys.platform != "linux", reason="PR_SET_PDEATHSIG is Linux's")
async def test_a_worker_dies_with_the_bot() -> None:
    """Killed outright, the bot leaves no typesetting worker behind, busy or not."""
    # The worker is busy with a formula that takes it many seconds (unscreened, quadratic in
    # ziamath) when the bot is killed.
    script = (
        "import asyncio\n"
        "from bot.typeset.pool import WorkerPool\n"
        "from bot.typeset.style import DEFAULT_STYLE\n"
        "async def main():\n"
        "    pool = WorkerPool(1, job_timeout=600, memory_bytes=1 << 30)\n"
        "    await pool.start()\n"
        "    slow = {'op': 'typeset', 'source': 'x+' * 3000, 'style': DEFAULT_STYLE.to_json()}\n"
        "    busy = asyncio.ensure_future(pool.run(slow))\n"
        "    await asyncio.sleep(0.5)\n"
        "    print(pool.workers[0].process.pid, flush=True)\n"
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
