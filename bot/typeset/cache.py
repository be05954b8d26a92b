"""A bounded disk cache of typeset formulas and page images, keyed by content hashes.

Files live under `root/ab/<key>` (the first two hex digits fan them out). Writes go to a
temporary file renamed into place, so a reader never sees half a file and a crash leaves at
worst a stray `.tmp`. Reads touch a file's modification time, and when the cache grows past
`max_bytes` the least recently used files go until it is under 80% of that. The methods
block (file I/O): call them from a thread.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import threading
import uuid
from pathlib import Path
from typing import Final

log = logging.getLogger(__name__)

_KEY: Final = re.compile(r"[0-9a-f]{16,128}")
PRUNED_FRACTION: Final = 0.8


class DiskCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self._size: int | None = None  # bytes on disk, counted on first use

    def _path(self, key: str) -> Path:
        if not _KEY.fullmatch(key):
            raise ValueError(f"not a cache key: {key!r}")
        return self.root / key[:2] / key

    def get(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        # Pruned between the read and the touch: the data read is still good.
        with contextlib.suppress(FileNotFoundError):
            os.utime(path)
        return data

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f"{path.name}.{uuid.uuid4().hex}.tmp")
        temporary.write_bytes(data)
        try:
            previous = path.stat().st_size
        except FileNotFoundError:
            previous = 0
        os.replace(temporary, path)
        with self._lock:
            if self._size is None:
                self._size = self._measure()  # counts the file just written
            else:
                self._size += len(data) - previous
            over = self._size > self.max_bytes
        if over:
            self.prune()

    def size(self) -> int:
        """Bytes the cache holds on disk."""
        with self._lock:
            self._size = self._measure()
            return self._size

    def _measure(self) -> int:
        total = 0
        for path in self._files():
            # Pruned by another thread since it was listed.
            with contextlib.suppress(FileNotFoundError):
                total += path.stat().st_size
        return total

    def _files(self) -> list[Path]:
        """The cached files; not another writer's temporary file, which is renamed away at any
        moment (and must not be pruned from under it)."""
        if not self.root.is_dir():
            return []
        return [path for path in self.root.glob("??/*") if path.suffix != ".tmp" and path.is_file()]

    def prune(self) -> int:
        """Drop least recently used files until the cache is under 80% of its bound."""
        with self._lock:
            entries = []
            for path in self._files():
                try:
                    status = path.stat()
                except FileNotFoundError:
                    continue
                entries.append((status.st_mtime, status.st_size, path))
            total = sum(size for _, size, _ in entries)
            target = int(self.max_bytes * PRUNED_FRACTION)
            removed = 0
            for _, size, path in sorted(entries):
                if total <= target:
                    break
                try:
                    path.unlink()
                except FileNotFoundError:
                    continue
                total -= size
                removed += 1
            self._size = total
        if removed:
            log.info("Math cache pruned: %d files removed, %d bytes kept", removed, total)
        return removed
