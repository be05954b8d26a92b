"""`bot.batching.Batcher`: calls arriving while one is handled go together in the next batch;
each caller gets its own result, or the batch's error."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from bot.batching import Batcher, Failed


async def test_calls_arriving_meanwhile_go_together_and_each_gets_its_result() -> None:
    handled: list[list[int]] = []

    async def double(requests: Sequence[int]) -> list[int]:
        handled.append(list(requests))
        await asyncio.sleep(0.01)
        return [2 * request for request in requests]

    batcher: Batcher[int, int] = Batcher("numbers", double, max_batch=3)
    results = await asyncio.gather(*(batcher.submit(n) for n in range(7)))
    assert results == [2 * n for n in range(7)]
    # All seven arrived before the first batch started: by three, in order.
    assert handled == [[0, 1, 2], [3, 4, 5], [6]]
    assert list(batcher.batch_sizes) == [3, 3, 1]
    # One call alone is handled at once; those arriving while it is go together next.
    lone = asyncio.create_task(batcher.submit(7))
    await asyncio.sleep(0.005)
    await asyncio.gather(lone, *(batcher.submit(n) for n in (8, 9)))
    assert handled[3:] == [[7], [8, 9]]
    assert await batcher.submit(10) == 20  # a lone call later starts a new batch


async def test_a_failed_batch_fails_its_callers_only() -> None:
    async def fail_on_odd(requests: Sequence[int]) -> list[int]:
        await asyncio.sleep(0)
        if any(request % 2 for request in requests):
            raise RuntimeError("the database is unavailable")
        return list(requests)

    batcher: Batcher[int, int] = Batcher("numbers", fail_on_odd, max_batch=1)
    outcomes = await asyncio.gather(*(batcher.submit(n) for n in range(4)), return_exceptions=True)
    assert outcomes[0] == 0 and outcomes[2] == 2
    assert all(isinstance(outcomes[n], RuntimeError) for n in (1, 3))


async def test_a_caller_that_gave_up_while_waiting_is_left_out() -> None:
    handled: list[int] = []
    release = asyncio.Event()

    async def record(requests: Sequence[int]) -> list[int]:
        handled.extend(requests)
        await release.wait()
        return list(requests)

    batcher: Batcher[int, int] = Batcher("numbers", record)
    first = asyncio.create_task(batcher.submit(1))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    gave_up = asyncio.create_task(batcher.submit(2))
    kept = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    gave_up.cancel()
    release.set()
    assert await first == 1 and await kept == 3
    with pytest.raises(asyncio.CancelledError):
        await gave_up
    assert handled == [1, 3]


async def test_a_handler_giving_the_wrong_number_of_results_fails_the_batch() -> None:
    async def too_few(requests: Sequence[int]) -> list[int]:
        return []

    batcher: Batcher[int, int] = Batcher("numbers", too_few)
    with pytest.raises(RuntimeError, match="0 results for 1 requests"):
        await batcher.submit(1)


async def test_a_batch_is_bounded_by_the_weight_of_its_requests() -> None:
    handled: list[list[int]] = []

    async def record(requests: Sequence[int]) -> list[int]:
        handled.append(list(requests))
        return list(requests)

    weights = {0: 60, 1: 30, 2: 20, 3: 150, 4: 5}
    batcher: Batcher[int, int] = Batcher(
        "numbers", record, max_batch=10, max_weight=100, weigh=weights.__getitem__
    )
    assert await asyncio.gather(*(batcher.submit(n) for n in weights)) == [0, 1, 2, 3, 4]
    # 60 + 30, then 20 (150 would pass 100), then 150 alone (a batch always takes one), then 5.
    assert handled == [[0, 1], [2], [3], [4]]


async def test_a_request_failing_alone_fails_only_its_caller() -> None:
    async def refuse_odd(requests: Sequence[int]) -> list[int | Failed]:
        return [Failed(ValueError(f"{n} is odd")) if n % 2 else n for n in requests]

    batcher: Batcher[int, int] = Batcher("numbers", refuse_odd)
    outcomes = await asyncio.gather(*(batcher.submit(n) for n in range(4)), return_exceptions=True)
    assert outcomes[0] == 0 and outcomes[2] == 2
    assert all(isinstance(outcomes[n], ValueError) for n in (1, 3))
    assert list(batcher.batch_sizes) == [4]  # one batch, failing in part


async def test_closing_cancels_the_batch_being_handled_and_the_callers_waiting() -> None:
    started = asyncio.Event()

    async def never_done(requests: Sequence[int]) -> list[int]:
        started.set()
        await asyncio.Event().wait()
        return list(requests)

    batcher: Batcher[int, int] = Batcher("numbers", never_done)
    handled = asyncio.create_task(batcher.submit(1))
    await started.wait()
    waiting = asyncio.create_task(batcher.submit(2))
    await asyncio.sleep(0)
    await batcher.close()
    for task in (handled, waiting):
        with pytest.raises(asyncio.CancelledError):
            await task
