"""Fixtures for end-to-end tests: the Discord emulator and the real bot running against it.

- `emulator`: a started `DiscordEmulator` with one guild ("Reading Group": #general,
  #papers, a Moderator role, members alice and mod). At teardown it fails the test if the
  bot sent anything Discord would reject (spec or limit violations).
- `bot_settings`: `bot.config.Settings` pointing at the emulator, with a fresh database.
- `start_bot`: `await start_bot(settings=None, *, before_start=None, **open_bot_options)`
  starts the real bot in-process and returns it once READY and synced; stopped at teardown.
- `running_bot`: the bot, already started with `bot_settings`.
- `spawn_bot`: `await spawn_bot(database_path=None, **settings)` runs `python -m bot run`
  as a subprocess and returns a started `BotProcess` (`.kill()`, `.interrupt()`,
  `.terminate()`, `.output`, `.sessions`) once every shard it runs identified; every process
  is killed at teardown.
- `arxiv`: a started local arXiv API stand-in (`ARXIV_API_URL=arxiv.url`) serving fixtures.
- `bot_database`: where the bot's database is: an SQLite file, or, in modules that set
  `DATABASE_ENGINES = ("sqlite", "postgresql")`, on each engine in turn (a fresh PostgreSQL
  database on the session's server).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.databases import DatabaseFactory
from tests.emulator import DiscordEmulator, Permission
from tests.emulator.botharness import (
    TEST_IDENTIFY_INTERVAL,
    BeforeStart,
    BotProcess,
    BotRunner,
    make_settings,
    settings_env,
)
from tests.fixtures.arxiv.server import ArxivFixtureServer

if TYPE_CHECKING:
    from bot.bot import ShortScienceBot
    from bot.config import Settings

StartBot = Callable[..., Awaitable["ShortScienceBot"]]
SpawnBot = Callable[..., Awaitable[BotProcess]]

MODERATOR_PERMISSIONS = (
    Permission.MANAGE_GUILD | Permission.MANAGE_MESSAGES | Permission.MANAGE_THREADS
)


def build_default_world(emulator: DiscordEmulator) -> None:
    guild = emulator.add_guild("Reading Group")
    guild.add_text_channel("general")
    guild.add_text_channel("papers")
    moderator = guild.add_role("Moderator", permissions=MODERATOR_PERMISSIONS)
    guild.add_member("alice", global_name="Alice")
    guild.add_member("mod", global_name="Mod", roles=[moderator])


@pytest.fixture
async def emulator() -> AsyncIterator[DiscordEmulator]:
    emu = DiscordEmulator()
    # Discord's 5 s between two IDENTIFYs of a bucket, shortened (the bots are told the same).
    emu.identify_interval = TEST_IDENTIFY_INTERVAL
    build_default_world(emu)
    async with emu:
        yield emu
    emu.assert_no_violations()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules with `DATABASE_ENGINES` run their tests on each of those engines."""
    if "e2e_engine" in metafunc.fixturenames:
        engines = getattr(metafunc.module, "DATABASE_ENGINES", ("sqlite",))
        metafunc.parametrize("e2e_engine", engines, indirect=True)


@pytest.fixture
def e2e_engine(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def bot_database(
    e2e_engine: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str]:
    """The bot's database (empty; the bot migrates it): a file path or a PostgreSQL URL."""
    if e2e_engine == "sqlite":
        yield str(tmp_path / "bot.sqlite3")
        return
    factory = DatabaseFactory(
        "postgresql", tmp_path, lambda: request.getfixturevalue("postgres_server")
    )
    try:
        yield await factory.url()
    finally:
        await factory.close()


@pytest.fixture
def bot_settings(emulator: DiscordEmulator, bot_database: str) -> Settings:
    return make_settings(emulator, bot_database)


@pytest.fixture
async def start_bot(emulator: DiscordEmulator, bot_settings: Settings) -> AsyncIterator[StartBot]:
    runner = BotRunner(emulator)

    async def start(
        settings: Settings | None = None,
        *,
        before_start: BeforeStart | None = None,
        **open_bot_options: Any,
    ) -> ShortScienceBot:
        return await runner.start(
            settings or bot_settings, before_start=before_start, **open_bot_options
        )

    try:
        yield start
    finally:
        await runner.stop_all()


@pytest.fixture
async def running_bot(start_bot: StartBot) -> ShortScienceBot:
    return await start_bot()


@pytest.fixture
async def spawn_bot(
    emulator: DiscordEmulator, tmp_path: Path, bot_database: str
) -> AsyncIterator[SpawnBot]:
    processes: list[BotProcess] = []

    async def spawn(database_path: Path | str | None = None, **settings: Any) -> BotProcess:
        env = settings_env(emulator, database_path or bot_database, **settings)
        process = BotProcess(emulator, env, tmp_path / "proc", name=f"bot-{len(processes) + 1}")
        processes.append(process)
        return await process.start()

    try:
        yield spawn
    finally:
        for process in processes:
            if process.returncode is None:
                await process.kill()


@pytest.fixture
def arxiv(arxiv_server: ArxivFixtureServer) -> ArxivFixtureServer:
    """The local arXiv API (tests/conftest.py's `arxiv_server`), by its short e2e name."""
    return arxiv_server
