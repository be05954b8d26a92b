"""Every script in `bench/` run as users run it (`python bench/<name>.py`, in a subprocess from
the project root) at a tiny size, so that none rots unnoticed: it must exit with 0 (no error,
no hang at shutdown), leave no process of its own running, and print one JSON document with
the machine it ran on and its main figures. Figures at these sizes mean nothing: they come
only from running the benchmarks at full size (README, Performance)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from bench.machine import describe

PROJECT_ROOT = Path(__file__).resolve().parents[2]
# After its timeout a benchmark is interrupted (Ctrl-C) and given this long to run its
# `finally` blocks, which stop what it started (a PostgreSQL server, child processes), before
# everything left of it is killed.
INTERRUPT_GRACE_SECONDS = 20.0
# Processes a benchmark started may take a moment to exit after it (a multiprocessing fork
# server notices its parent is gone).
LEFTOVER_GRACE_SECONDS = 10.0

Document = dict[str, Any]


@dataclass(frozen=True)
class Benchmark:
    script: str
    options: tuple[str, ...]
    timeout: float  # seconds; each takes a fraction of this on the 2-core machine
    check: Callable[[Document], None]


def positive(value: Any) -> bool:
    return isinstance(value, int | float) and value > 0


def check_big_poll(document: Document) -> None:
    scenarios = document["scenarios"]
    assert [(s["entries"], s["filtered_subscriptions"]) for s in scenarios] == [
        (500, 10),
        (500, 24),
        (1000, 10),
    ]
    for scenario in scenarios:
        assert scenario["new_entries"] == scenario["entries"]
        assert scenario["announcements"] > 0, "the keyword filters matched nothing"
        run = scenario["runs"][0]
        assert positive(run["poll_seconds"])
        assert positive(run["longest_write_transaction_ms"]), "no transaction was timed"
        assert run["votes_written_during_the_poll"] > 0
        assert run["longest_loop_stall_ms"] >= 0
        assert run["longest_vote_delay_ms"] >= 0


def check_db(document: Document) -> None:
    phases = ("publish", "vote_one_summary", "vote_many_summaries")
    for rounds in ("concurrent_writers", "concurrent_writers_in_2_processes"):
        for engine in ("sqlite", "postgresql", "postgresql_async_commit"):
            figures = document[rounds][engine]
            assert figures["nothing_lost_or_doubled"], (rounds, engine, figures["checks"])
            for phase in phases:
                assert positive(figures[phase]["per_second"]), (rounds, engine, phase)
                assert figures[phase]["runs"][0]["operations"] == 4
        assert set(document[rounds]["postgresql_over_sqlite_throughput"]) == set(phases)
    for engine in ("sqlite", "postgresql"):
        for cycle in ("all_changed", "changed_one_new_entry", "all_304"):
            assert positive(document["poll_cycle"][engine][cycle]["seconds"]), (engine, cycle)
        assert positive(document["import"][engine]["summaries_per_second"]), engine
        assert document["import"][engine]["summaries"] == 200


def check_db_drivers(document: Document) -> None:
    routes = document["microseconds"]
    assert set(routes) == {
        "aiosqlite raw",
        "bot.storage on SQLite",
        "sqlalchemy + aiosqlite",
        "asyncpg raw",
        "bot.storage on PostgreSQL",
        "sqlalchemy + asyncpg",
        "sqlalchemy + psycopg",
    }
    for route, figures in routes.items():
        for name in ("insert_us", "select_us", "executemany_us_per_row"):
            assert positive(figures[name]), (route, name)
    assert all(positive(ratio) for ratio in document["sqlalchemy_over_raw"].values())


def check_math(document: Document) -> None:
    formula = document["formula"]
    assert formula["formulas"] == 20
    assert formula["not_typeset"] == []
    for timing in ("cold", "cached", "unicode"):
        assert formula[timing]["n"] == 20 and positive(formula[timing]["p50_ms"]), timing
    pages = document["page_of_five"]
    assert pages["pages"] == 4 and pages["cache_files"] > 0
    assert all(positive(height) for height in pages["card_heights_px"])
    for view in ("summary_view_in_process", "summary_view_end_to_end"):
        assert positive(document[view]["cached_images"]["p50_ms"]), view
        assert positive(document[view]["ratio_p50"]), view
    assert document["summary_view_end_to_end"]["emulator_violations"] == []
    mathtext = document["matplotlib_mathtext"]
    assert "skipped" not in mathtext, mathtext["skipped"]  # the bench extra is installed
    assert mathtext["drawn"] > 0


def check_poll(document: Document) -> None:
    poll = document["poll"]
    assert poll["first_poll"]["statuses"] == {"initialized": 10}
    assert poll["all_304"]["statuses"] == {"not_modified": 10}
    assert poll["all_changed"]["statuses"] == {"new": 10}
    assert poll["changed_one_new_entry"]["statuses"] == {"new": 10}
    for cycle in ("first_poll", "all_changed", "changed_one_new_entry", "ingest_only"):
        assert positive(poll[cycle]["entries_per_second"]), cycle
        assert positive(poll[cycle]["ratio_to_feedparser"]), cycle
    for executor in ("processes", "threads"):
        assert positive(poll["all_changed_parse_executor"][executor]["seconds"]), executor
    for parser in ("feedparser_parse", "bot_parse_feed"):
        assert positive(poll["parse_baseline"][parser]["entries_per_second"]), parser
    assert poll["outbox_rows_written"] > 0
    fanout = document["fanout"]
    assert fanout["lost"] == 0 and fanout["doubled"] == 0
    assert positive(fanout["messages_per_second"])
    assert fanout["rounds"][0]["outbox_sent"] == 10
    assert fanout["emulator_violations"] == []


def check_scale(document: Document) -> None:
    results = document["results"]
    assert [result["processes"] for result in results] == [1, 2, 4]
    for result in results:
        assert result["first_poll"]["statuses"] == {"initialized": 20}, result
        assert result["all_304"]["statuses"] == {"not_modified": 20}, result
        assert result["one_new_entry"]["statuses"] == {"new": 20}, result
        assert result["one_new_entry"]["new_entries"] == 20
        for cycle in ("first_poll", "all_304", "one_new_entry"):
            assert positive(result[cycle]["feeds_per_second"]), (result["processes"], cycle)
    for cycle, speed_ups in document["speed_up_over_1_process"].items():
        assert all(positive(value) for value in speed_ups.values()), cycle


def check_search(document: Document) -> None:
    (result,) = document["results"]
    assert result["summaries"] == 1000
    assert positive(result["import"]["summaries_per_second"])
    assert result["rebuild"]["documents"] > 0
    assert result["sizes"]["index_documents"] > 0
    upgrade = result["sizes"]["upgrade_from_fts5"]
    assert upgrade is not None, "the upgrade from the FTS5 schema did not run"
    assert upgrade["database_bytes_after_migration"] < upgrade["database_bytes_with_fts5"]
    latency = result["latency_ms"]
    assert latency["search"]["samples"] == 10 and positive(latency["search"]["p95"])
    assert latency["raw_tantivy"]["samples"] == 10 and positive(latency["raw_tantivy"]["p95"])
    assert latency["hard_phrases"]["queries"], "no hard phrase was found"
    assert latency["fuzzy_fallback"]["search"]["samples"] == 2
    assert latency["autocomplete"]["prefixes"] == 5 and positive(latency["autocomplete"]["p95"])
    assert latency["similar"]["samples"] == 3


BENCHMARKS = (
    Benchmark(
        "big_poll.py", ("--entries", "500", "--big-entries", "1000", "--repeats", "1"), 90,
        check_big_poll,
    ),
    Benchmark(
        # Every phase: writers in one process and in two, then the poll and import children
        # on both engines (sizes small enough that a process starts and warms up in 3 s).
        "db.py",
        ("--writers", "4", "--rounds", "1", "--child-rounds", "1", "--processes", "2",
         "--start-seconds", "3", "--phase-seconds", "1", "--poll-feeds", "5",
         "--import-size", "200"),
        180,
        check_db,
    ),
    Benchmark("db_drivers.py", ("--statements", "50", "--repeats", "1"), 90, check_db_drivers),
    Benchmark("math.py", ("--quick",), 120, check_math),
    Benchmark(
        "poll.py",
        ("--feeds", "10", "--entries", "5", "--channels", "10", "--repeats", "1",
         "--baseline-bodies", "5"),
        120,
        check_poll,
    ),
    Benchmark("scale.py", ("--feeds", "20", "--entries", "3", "--repeats", "1"), 150, check_scale),
    Benchmark(
        # With its upgrade from the FTS5 schema (no --skip-upgrade): it once broke unnoticed.
        "search.py",
        ("--sizes", "1000", "--queries", "10", "--passes", "1", "--hard-phrases", "2",
         "--typos", "2", "--prefixes", "5", "--similar", "3"),
        90,
        check_search,
    ),
)  # fmt: skip


def live_processes(group: int) -> list[str]:
    """The command lines of the live processes of a process group (zombies have ended)."""
    found = []
    for stat_file in Path("/proc").glob("[0-9]*/stat"):
        try:
            stat = stat_file.read_text()
            command = (stat_file.parent / "cmdline").read_bytes()
        except (FileNotFoundError, ProcessLookupError):
            continue  # it ended while we looked
        # After "pid (name) ": state, ppid, pgrp, ...
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(fields[2]) == group and fields[0] != "Z":
            found.append(command.replace(b"\0", b" ").decode(errors="replace").strip())
    return found


def kill_group(group: int) -> None:
    with contextlib.suppress(ProcessLookupError):  # nothing of it is left
        os.killpg(group, signal.SIGKILL)


def leftovers_after(group: int, grace: float) -> list[str]:
    """What still runs of the group after `grace` seconds; killed, so nothing is left."""
    deadline = time.monotonic() + grace
    while (left := live_processes(group)) and time.monotonic() < deadline:
        time.sleep(0.2)
    if left:
        kill_group(group)
    return left


def run_benchmark(benchmark: Benchmark) -> Document:
    """Run the script as a user would; its JSON document once it exited cleanly.

    It runs in a process group of its own, so that whatever it started can be found (and
    ended) after it. On its timeout it is interrupted, as a user would with Ctrl-C, so its
    `finally` blocks stop the PostgreSQL server it may have started (in a session of its
    own, a server outlives a kill of the group); then everything left of it is killed."""
    command = [sys.executable, f"bench/{benchmark.script}", *benchmark.options]
    process = subprocess.Popen(
        command,
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = process.communicate(timeout=benchmark.timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        try:
            stdout, stderr = process.communicate(timeout=INTERRUPT_GRACE_SECONDS)
        except subprocess.TimeoutExpired:
            kill_group(process.pid)
            stdout, stderr = process.communicate()
        leftovers_after(process.pid, 0)
        pytest.fail(
            f"{' '.join(command)} did not finish within {benchmark.timeout:g} s (a hang at "
            f"shutdown?); its stderr after Ctrl-C:\n{stderr[-4000:]}"
        )
    left = leftovers_after(process.pid, LEFTOVER_GRACE_SECONDS)
    assert process.returncode == 0, (
        f"{' '.join(command)} exited with {process.returncode}:\n{stderr[-4000:]}"
    )
    assert not left, f"{benchmark.script} left processes running (now killed): {left}"
    document = json.loads(stdout)  # one document: anything else on stdout fails here
    assert isinstance(document, dict), type(document).__name__
    return document


@pytest.mark.parametrize(
    "benchmark",
    [
        pytest.param(b, id=b.script.removesuffix(".py"), marks=pytest.mark.timeout(b.timeout + 60))
        for b in BENCHMARKS
    ],
)
def test_benchmark_runs_and_reports(benchmark: Benchmark) -> None:
    document = run_benchmark(benchmark)
    machine = document["machine"]
    missing = describe().keys() - machine.keys()
    assert not missing, f"the machine description lacks {sorted(missing)}"
    assert machine["cores"] >= 1 and machine["python"]
    benchmark.check(document)


def test_every_benchmark_is_smoke_tested() -> None:
    """A new script in bench/ gets a smoke run here too (engines.py and machine.py are
    helpers, not benchmarks)."""
    scripts = {path.name for path in (PROJECT_ROOT / "bench").glob("*.py")}
    helpers = {"engines.py", "machine.py"}
    assert scripts - helpers == {benchmark.script for benchmark in BENCHMARKS}
