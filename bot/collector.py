"""Python's cyclic garbage collector, held back for the length of a bulk job.

An import makes and drops millions of short-lived objects (parsed entries, rows, index
documents). With the default thresholds the collector runs every 700 allocations and, every
so often, walks every object the process holds: the modules, discord.py's caches and, in a
benchmark, the corpus itself. Measured at 100,000 summaries that was several CPU-seconds of
an import that is CPU-bound on two cores. For the job's length, objects that existed before
it are frozen out of collection (`gc.freeze`) and the youngest generation is allowed to grow
larger before a pass; both are undone when the last such job ends. Cycles still get
collected, only less often.
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


@contextmanager
def collections_held_back() -> Iterator[None]:
    """Collect less often inside the block. Nested and concurrent blocks (two imports at
    once) share one setting, restored when the last of them ends."""
    global _depth, _saved_thresholds
    with _lock:
        if _depth == 0:
            _saved_thresholds = gc.get_threshold()
            gc.freeze()
            gc.set_threshold(BULK_YOUNG_THRESHOLD, *_saved_thresholds[1:])
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_thresholds is not None:
                gc.set_threshold(*_saved_thresholds)
                gc.unfreeze()
                _saved_thresholds = None
