"""The collector held back for a bulk job, and put back as it was."""

from __future__ import annotations

import gc
import threading
import weakref

from bot.collector import BULK_YOUNG_THRESHOLD, collections_held_back, heap_frozen


def test_the_collector_is_held_back_inside_and_restored_after() -> None:
    before = gc.get_threshold()
    with collections_held_back():
        assert gc.get_threshold() == (BULK_YOUNG_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 0
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_overlapping_jobs_restore_only_when_the_last_ends() -> None:
    before = gc.get_threshold()
    first_inside = threading.Event()
    release_first = threading.Event()
    seen_after_second: list[tuple[int, int, int]] = []

    def first_job() -> None:
        with collections_held_back():
            first_inside.set()
            release_first.wait(timeout=10)

    worker = threading.Thread(target=first_job)
    worker.start()
    assert first_inside.wait(timeout=10)
    with collections_held_back():
        pass
    # The second job ended while the first still runs: still held back.
    seen_after_second.append(gc.get_threshold())
    release_first.set()
    worker.join(timeout=10)
    assert seen_after_second == [(BULK_YOUNG_THRESHOLD, *before[1:])]
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_an_error_in_the_job_still_restores_the_collector() -> None:
    before = gc.get_threshold()
    try:
        with collections_held_back():
            raise RuntimeError("the job failed")
    except RuntimeError:
        pass
    assert gc.get_threshold() == before
    assert gc.get_freeze_count() == 0


def test_cycles_made_inside_are_still_collected() -> None:
    class Node:
        other: Node | None = None

    with collections_held_back():
        first, second = Node(), Node()
        first.other, second.other = second, first
        gone = weakref.ref(first)
        del first, second
        gc.collect()
        assert gone() is None


def test_the_frozen_heap_is_undone_only_when_its_last_holder_ends() -> None:
    with heap_frozen():  # as the test emulator holds it
        frozen_by_the_first = gc.get_freeze_count()
        made_later: list[list[int]] = [
            [] for _ in range(100)
        ]  # lists: objects the collector tracks
        with collections_held_back():
            # Each holder freezes what exists when it starts.
            assert gc.get_freeze_count() >= frozen_by_the_first + 100
        assert gc.get_freeze_count() > 0 and gc.get_threshold()[0] != BULK_YOUNG_THRESHOLD
    assert gc.get_freeze_count() == 0 and made_later
