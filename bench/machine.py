"""What a benchmark ran on, for its JSON report: figures mean little without the machine."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
from typing import Any


def describe(**versions: str) -> dict[str, Any]:
    """The CPU, usable cores, Python, SQLite and load average, with `versions` of the
    libraries the benchmark measures added."""
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {
        "cpu": cpu,
        "cores": cores,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        **versions,
        "platform": platform.platform(),
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
    }
