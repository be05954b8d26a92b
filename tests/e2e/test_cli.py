"""The `shortscience-bot` command, run as users run it: in a subprocess."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.search import IndexStatus
from tests.emulator.emulator import DiscordEmulator

PROJECT_ROOT = Path(__file__).resolve().parents[2]
FEEDS = PROJECT_ROOT / "tests" / "fixtures" / "feeds"


def run_cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot ARGS` with a clean environment (no developer .env or token)."""
    base = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(
            ("DISCORD_", "DATABASE_", "DEV_GUILD", "LOG_LEVEL", "SEED_", "SEARCH_")
        )
    }
    base["PYTHONPATH"] = str(PROJECT_ROOT)
    base.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        cwd=cwd,
        env=base,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def search_index_status(database_path: Path) -> IndexStatus:
    """The search index beside the database, as a new process finds it."""
    import asyncio

    from bot.search import SearchService, default_index_path
    from bot.storage import Database

    async def status() -> IndexStatus:
        db = await Database.open(database_path)
        search = SearchService(db, default_index_path(database_path))
        await search.start(follow_commits=False, background=False, rebuild=False)
        try:
            return await search.status()
        finally:
            await search.close()
            await db.close()

    return asyncio.run(status())


def test_run_without_a_token_explains_how_to_get_one(tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path)  # no sub-command: `run` is the default
    assert result.returncode != 0
    assert "DISCORD_TOKEN" in result.stderr
    assert "discord.com/developers/applications" in result.stderr
    assert "applications.commands" in result.stderr
    assert "Traceback" not in result.stderr


def test_import_is_idempotent(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    first = run_cli("import", str(FEEDS / "shortscience.xml"), "--quiet", cwd=tmp_path, env=env)
    assert first.returncode == 0, first.stderr
    assert " new" in first.stdout
    new_count = int(first.stdout.split(": ", 1)[1].split(" new")[0])
    assert new_count > 0

    second = run_cli("import", str(FEEDS / "shortscience.xml"), "--quiet", cwd=tmp_path, env=env)
    assert second.returncode == 0, second.stderr
    assert ": 0 new, 0 updated" in second.stdout

    # The edited version of the feed updates summaries; it adds none.
    edited = run_cli("import", str(FEEDS / "shortscience_v2.xml"), "--quiet", cwd=tmp_path, env=env)
    assert edited.returncode == 0, edited.stderr
    assert "updated" in edited.stdout


def test_bulk_import_leaves_the_search_index_built(tmp_path: Path) -> None:
    import io

    from tests.fixtures.feeds.generate_shortscience import write

    dump = io.StringIO()
    write(1200, dump)
    (tmp_path / "dump.xml").write_text(dump.getvalue(), encoding="utf-8")
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    result = run_cli("import", str(tmp_path / "dump.xml"), "--quiet", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "1200 new" in result.stdout
    # Every imported summary is in the index when the command returns.
    status = search_index_status(tmp_path / "db.sqlite3")
    assert status.state == "ready" and status.applied_seq == status.last_seq > 0
    assert status.documents > 1200


def test_reindex_rebuilds_with_a_progress_bar_and_search_works_after(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    imported = run_cli("import", str(FEEDS / "shortscience.xml"), "--quiet", cwd=tmp_path, env=env)
    assert imported.returncode == 0, imported.stderr
    before = run_cli("search", "normalization", "--json", cwd=tmp_path, env=env)
    rebuilt = run_cli("reindex", cwd=tmp_path, env=env)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert "Rebuilt the search index" in rebuilt.stdout
    assert "Indexing" in rebuilt.stderr and "summaries" in rebuilt.stderr  # the bar
    after = run_cli("search", "normalization", "--json", cwd=tmp_path, env=env)
    assert json.loads(after.stdout) == json.loads(before.stdout) != []
    # A deleted index: the next command rebuilds it first, and finds the same.
    shutil.rmtree(tmp_path / "db.search")
    again = run_cli("search", "normalization", "--json", cwd=tmp_path, env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout) == json.loads(before.stdout)


def test_import_refuses_what_is_not_a_feed(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    result = run_cli("import", str(FEEDS / "garbage.txt"), "--quiet", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "garbage.txt" in result.stderr
    assert "Traceback" not in result.stderr
    missing = run_cli("import", str(tmp_path / "nope.xml"), "--quiet", cwd=tmp_path, env=env)
    assert missing.returncode == 1
    assert "Traceback" not in missing.stderr


def test_search_prints_json_best_first(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    imported = run_cli("import", str(FEEDS / "shortscience.xml"), "--quiet", cwd=tmp_path, env=env)
    assert imported.returncode == 0, imported.stderr

    result = run_cli("search", "normalization", "--json", "--limit", "3", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert 1 <= len(rows) <= 3
    for row in rows:
        assert {"id", "paper_title", "paper_id", "author", "score", "url", "excerpt"} <= row.keys()
    assert any("ormaliz" in row["paper_title"] for row in rows)

    table = run_cli("search", "normalization", cwd=tmp_path, env=env)
    assert table.returncode == 0, table.stderr
    assert "ormaliz" in table.stdout

    nothing = run_cli("search", "zzzqqqxxy", "--json", cwd=tmp_path, env=env)
    assert nothing.returncode == 0, nothing.stderr
    assert json.loads(nothing.stdout) == []

    hostile = run_cli("search", '"unbalanced AND (NEAR * -', "--json", cwd=tmp_path, env=env)
    assert hostile.returncode == 0, hostile.stderr
    assert isinstance(json.loads(hostile.stdout), list)


@pytest.mark.asyncio
async def test_sync_publishes_commands_to_a_guild(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    import asyncio

    env = {
        "DISCORD_TOKEN": emulator.token,
        "DISCORD_API_BASE": emulator.api_base,
        "DISCORD_GATEWAY_URL": emulator.gateway_url,
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
    }
    guild_id = str(emulator.guild.id)
    result = await asyncio.to_thread(run_cli, "sync", "--guild", guild_id, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert f"to guild {guild_id}" in result.stdout
    puts = emulator.requests_matching(f"PUT /applications/*/guilds/{guild_id}/commands")
    assert len(puts) == 1
    names = {command["name"] for command in puts[0].json}
    assert "help" in names


def test_export_writes_a_file_that_parses_back(tmp_path: Path) -> None:
    import asyncio

    from bot.community.export import parse_json_export, parse_markdown_export
    from bot.storage import Database
    from bot.storage.community import CommunityRepository
    from bot.storage.papers import PaperRepository

    database_path = tmp_path / "db.sqlite3"

    async def seed() -> None:
        db = await Database.open(database_path)
        try:
            await db.migrate()
            repository = CommunityRepository(db)
            paper_id = await PaperRepository(db).find_or_create_titled(
                "Attention Is All You Need", guild_id=42, now=1.0
            )
            for author_id, name in ((1, "ada"), (2, "grace @everyone")):
                await repository.save(
                    paper_id=paper_id,
                    guild_id=42,
                    author_id=author_id,
                    author_name=name,
                    title="",
                    tldr=f"tl;dr by {name}",
                    body=f"$\\sqrt{{d_k}}$ scaling, says {name}",
                    now=2.0,
                )
            await repository.save(
                paper_id=paper_id,
                guild_id=7,
                author_id=3,
                author_name="elsewhere",
                title="",
                tldr="another server",
                body="not exported for 42",
                now=2.0,
            )
        finally:
            await db.close()

    asyncio.run(seed())
    env = {"DATABASE_PATH": str(database_path)}
    out = tmp_path / "export.json"
    result = run_cli(
        "export", "--guild", "42", "--format", "json", "--output", str(out), cwd=tmp_path, env=env
    )
    assert result.returncode == 0, result.stderr
    guild_id, summaries = parse_json_export(out.read_bytes())
    assert guild_id == 42
    assert sorted(s.author_name for s in summaries) == ["ada", "grace @everyone"]

    markdown = run_cli("export", "--guild", "42", cwd=tmp_path, env=env)
    assert markdown.returncode == 0, markdown.stderr
    guild_id, summaries = parse_markdown_export(markdown.stdout.encode("utf-8"))
    assert guild_id == 42
    assert len(summaries) == 2
    assert "another server" not in markdown.stdout


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_import_of_an_unreachable_url_prints_one_clean_line(tmp_path: Path) -> None:
    env = {"DATABASE_PATH": str(tmp_path / "db.sqlite3")}
    url = f"http://127.0.0.1:{closed_port()}/rss.xml"
    result = run_cli("import", url, cwd=tmp_path, env=env)  # with its progress bar
    assert result.returncode == 1
    assert result.stdout == ""
    [line] = result.stderr.splitlines()
    assert line.startswith(f"shortscience-bot import: {url}: could not connect to 127.0.0.1")
    assert "Importing" not in result.stderr and "Traceback" not in result.stderr


def test_run_without_a_route_to_discord_says_so(tmp_path: Path) -> None:
    api = f"http://127.0.0.1:{closed_port()}/api/v10"
    env = {
        "DISCORD_TOKEN": "a-token",
        "DISCORD_API_BASE": api,
        "DATABASE_PATH": str(tmp_path / "db.sqlite3"),
        "SEED_FEEDS": "",
    }
    result = run_cli("run", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert f"shortscience-bot: cannot reach Discord at {api} (" in result.stderr
    assert "DISCORD_API_BASE" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.asyncio
async def test_run_with_an_unreachable_gateway_says_so(
    emulator: DiscordEmulator, tmp_path: Path
) -> None:
    import asyncio

    gateway = f"ws://127.0.0.1:{closed_port()}/"
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("DISCORD_", "DATABASE_", "DEV_GUILD", "LOG_LEVEL", "SEED_"))
    }
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        DISCORD_TOKEN=emulator.token,
        DISCORD_API_BASE=emulator.api_base,
        DISCORD_GATEWAY_URL=gateway,
        DATABASE_PATH=str(tmp_path / "db.sqlite3"),
        SEED_FEEDS="",
    )
    # The emulator answers REST in this event loop: run the CLI without blocking it.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _, stderr = await asyncio.wait_for(process.communicate(), timeout=60)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    errors = stderr.decode()
    assert process.returncode == 1, errors
    assert emulator.requests_matching("GET /users/@me")  # it did log in over REST
    assert f"shortscience-bot: cannot reach Discord's gateway at {gateway} (" in errors
    assert "DISCORD_GATEWAY_URL" in errors
    assert "Traceback" not in errors and "Attempting a reconnect" not in errors
