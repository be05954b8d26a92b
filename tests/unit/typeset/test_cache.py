"""The bounded disk cache."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.typeset.cache import DiskCache


def key(n: int) -> str:
    return f"{n:064x}"


def test_what_is_put_is_got_back(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path / "math", max_bytes=1 << 20)
    assert cache.get(key(1)) is None
    cache.put(key(1), b"png bytes")
    assert cache.get(key(1)) == b"png bytes"
    assert (tmp_path / "math" / key(1)[:2] / key(1)).is_file()
    assert cache.size() == len(b"png bytes")
    # Written atomically: no temporary file is left behind.
    assert not list((tmp_path / "math").rglob("*.tmp"))


def test_keys_are_hex_digests_only(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1 << 20)
    with pytest.raises(ValueError):
        cache.get("../../etc/passwd")


def test_replacing_an_entry_counts_its_size_once(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1 << 20)
    cache.put(key(1), b"a" * 100)
    cache.put(key(1), b"b" * 40)
    assert cache.size() == 40


def test_over_its_bound_it_drops_the_least_recently_used(tmp_path: Path) -> None:
    cache = DiskCache(tmp_path, max_bytes=1000)
    for n in range(4):
        cache.put(key(n), bytes(200))
        # Make the order of use unambiguous for the file system's clock.
        stamp = time.time() - 100 + n
        os.utime(tmp_path / key(n)[:2] / key(n), (stamp, stamp))
    cache.get(key(0))  # used again: now the most recent
    cache.put(key(4), bytes(200))  # 1000 bytes: still within the bound
    cache.put(key(5), bytes(200))  # 1200: pruned to at most 800
    assert cache.size() <= 800
    assert cache.get(key(0)) is not None and cache.get(key(5)) is not None
    assert cache.get(key(1)) is None and cache.get(key(2)) is None


def test_another_writers_temporary_file_is_neither_counted_nor_pruned(tmp_path: Path) -> None:
    """Writers run in threads side by side: a `.tmp` seen while listing may be renamed away
    before it is measured (this once failed the math warm-up with FileNotFoundError), and
    pruning it would make the other writer's rename fail."""
    cache = DiskCache(tmp_path, max_bytes=150)
    in_flight = tmp_path / key(2)[:2] / f"{key(2)}.0123.tmp"
    in_flight.parent.mkdir(parents=True)
    in_flight.write_bytes(b"x" * 1000)
    real_stat = Path.stat

    def stat_after_rename(path: Path, **kwargs: bool) -> os.stat_result:
        if path == in_flight:
            raise FileNotFoundError(path)
        return real_stat(path, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(Path, "stat", stat_after_rename)
        cache.put(key(1), b"a" * 100)
        cache.put(key(3), b"b" * 100)  # over the bound: prunes
    assert in_flight.is_file()
    assert cache.size() == 100
