"""Python's cyclic garbage collector, held back for the length of a bulk job.

An import makes and drops millions of short-lived objects (parsed entries, rows, index
documents). With the default thresholds the collector runs every 700 allocations and, every
so often, walks every object the process holds: the modules, discord.py's caches and, in a
benchmark, the corpus itself. Measured at 100,000 summaries that was several CPU-seconds of
an import that is CPU-bound on two cores. For the job's length, objects that existed before
it are frozen out of collection (`gc.freeze`) and the youngest generation is allowed to grow
larger before a pass; both are undone when the last such job ends. Cycles still get
collected, only less often. The frozen heap is shared with the test emulator
(`hold_heap_frozen`), which freezes it for another reason: one count of holders for both.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Final

# Allocations (net of deallocations) between young-generation passes during a bulk job; the
# default is 700. A batch of 2,000 entries is well under a million objects, so memory stays
# bounded by a few batches' worth.
BULK_YOUNG_THRESHOLD: Final = 50_000

_lock = threading.Lock()
_depth = 0
_saved_thresholds: tuple[int, int, int] | None = None
# Holders of the frozen heap (`gc.freeze` is one process-wide state: a holder that undid it
# on its own would unfreeze what another still relies on).
_freezers = 0


def hold_heap_frozen() -> None:
    """Leave every object that exists now out of collection until `release_heap`. Each
    holder freezes what exists when it starts; the last one to release unfreezes."""
    global _freezers
    with _lock:
        gc.freeze()
        _freezers += 1


def release_heap() -> None:
    """End one `hold_heap_frozen`; the heap is unfrozen when no holder is left."""
    global _freezers
    with _lock:
        _freezers -= 1
        if _freezers == 0:
            gc.unfreeze()


@contextmanager
def heap_frozen() -> Iterator[None]:
    """`hold_heap_frozen` for the block."""
    hold_heap_frozen()
    try:
        yield
    finally:
        release_heap()


@contextmanager
def collections_held_back() -> Iterator[None]:
    """Collect less often inside the block. Nested and concurrent blocks (two imports at
    once) share one setting, restored when the last of them ends."""
    global _depth, _saved_thresholds
    with heap_frozen():
        with _lock:
            if _depth == 0:
                _saved_thresholds = gc.get_threshold()
                gc.set_threshold(BULK_YOUNG_THRESHOLD, *_saved_thresholds[1:])
            _depth += 1
        try:
            yield
        finally:
            with _lock:
                _depth -= 1
                if _depth == 0 and _saved_thresholds is not None:
                    gc.set_threshold(*_saved_thresholds)
                    _saved_thresholds = None
