"""Running the real bot against the emulator: in-process (`BotRunner`) or as a subprocess.

The in-process runner uses `bot.app.open_bot` and `bot.start(token)` exactly as `run_bot`
does; the subprocess runs `python -m bot run` with the settings passed as environment
variables, for tests that need the true entry point or a hard kill (SIGKILL) and restart.
"""

# Waits take `timeout=` on purpose: tests read better than with asyncio.timeout.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord
import yarl
from discord.gateway import DiscordWebSocket

from tests.emulator.emulator import DiscordEmulator
from tests.emulator.gateway import GatewaySession
from tests.emulator.spec import PROJECT_ROOT

if TYPE_CHECKING:
    from bot.bot import ShortScienceBot
    from bot.config import Settings

BeforeStart = Callable[["ShortScienceBot"], Awaitable[None] | None]

# The environment variables Settings reads, per field (pydantic-settings: upper-case names).
SETTINGS_ENV_PREFIXES = (
    "DISCORD_",
    "DATABASE_",
    "DEV_GUILD",
    "GUILD_READY",
    "LOG_LEVEL",
    "FEED",
    "ARXIV",
    "SUBMISSION",
    "ALLOW_",
    "SEED_",
    "CROSSREF",
    "ENRICHMENT",
    "SHARD_",
    "GATEWAY_",
    "PROCESS_",
    "METRICS_",
    "SEARCH_INDEX",
)

# The IDENTIFY window the tests' emulator and bots agree on (Discord's is 5 s; the `emulator`
# fixture sets the same), so that restarting a bot in a test costs a fraction of a second.
TEST_IDENTIFY_INTERVAL = 0.25

# Where the bot's arXiv and Crossref requests go unless a test starts a fixture server: a
# local port nothing listens on (the discard port), so no test ever reaches the real
# services; the enrichment loop logs the refusals and retries later, as in an outage. No
# spacing either: arXiv's spacer is process-wide, and a slot reserved 3 s ahead by one test's
# bot would hold up the next test's look-ups.
UNREACHABLE_SERVICES: dict[str, Any] = {
    "arxiv_api_url": "http://127.0.0.1:9/api/query",
    "arxiv_min_interval": 0,
    "crossref_api_url": "http://127.0.0.1:9",
}


def free_port() -> int:
    """A local TCP port free right now (bound, then released), for METRICS_PORT."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct local TCP ports free right now: each stays bound until all are
    chosen, so two never come out the same (ports taken one at a time can)."""
    with contextlib.ExitStack() as stack:
        probes = [stack.enter_context(socket.socket()) for _ in range(count)]
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]


_SCRATCH: list[tempfile.TemporaryDirectory[str]] = []


def _scratch() -> str:
    """A folder for the test session's bot data beside PostgreSQL databases, removed when
    the session's process ends."""
    if not _SCRATCH:
        _SCRATCH.append(tempfile.TemporaryDirectory(prefix="bot-data-"))
    return _SCRATCH[0].name


def database_settings(database: Path | str) -> dict[str, Any]:
    """The settings naming a test's database: an SQLite file (its derived files beside it),
    or a PostgreSQL URL (the search index and math cache in a scratch folder of their own,
    never the project's `data/`)."""
    target = str(database)
    if not target.startswith("postgresql://"):
        return {"database_path": Path(target)}
    folder = Path(tempfile.mkdtemp(dir=_scratch()))
    return {
        "database_url": target,
        "search_index_path": folder / "bot.search",
        "math_cache_path": folder / "math-cache",
    }


def make_settings(
    emulator: DiscordEmulator, database_path: Path | str, **overrides: Any
) -> Settings:
    """Settings pointing at the emulator; `.env` files are ignored so a developer's real
    token can never be used by a test. `database_path` is an SQLite file or a PostgreSQL
    URL."""
    from bot.config import Settings

    values: dict[str, Any] = {
        "discord_token": emulator.token,
        **database_settings(database_path),
        "discord_api_base": emulator.api_base,
        "discord_gateway_url": emulator.gateway_url,
        "dev_guild_id": emulator.guild.id if emulator.guilds_by_id else None,
        "guild_ready_timeout": 0.05,
        "log_level": "DEBUG",
        # Feeds and the arXiv stand-in are served from 127.0.0.1 in tests.
        "allow_private_urls": True,
        # No first-start import from the internet: seeding tests serve their own feed.
        "seed_feeds": "",
        "gateway_identify_interval": emulator.identify_interval,
        **UNREACHABLE_SERVICES,
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]


@dataclass
class RunningBot:
    bot: ShortScienceBot
    task: asyncio.Task[None]
    stack: AsyncExitStack

    async def stop(self) -> None:
        """Close the bot (websocket, HTTP, database) and wait for `start()` to return."""
        if not self.bot.is_closed():
            await self.bot.close()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.wait_for(self.task, timeout=10)
        await self.stack.aclose()


@dataclass
class BotRunner:
    """Starts the real bot in-process: `bot = await runner.start(settings, before_start=...)`.

    Remembers discord.py's process-wide endpoints and restores them in `stop_all()`.
    """

    emulator: DiscordEmulator
    running: list[RunningBot] = field(default_factory=list)
    _saved_endpoints: tuple[str, yarl.URL] = field(
        default_factory=lambda: (discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY)
    )

    async def start(
        self,
        settings: Settings,
        *,
        before_start: BeforeStart | None = None,
        wait_for_sync: bool = True,
        timeout: float = 15.0,
        **open_bot_options: Any,
    ) -> ShortScienceBot:
        """Open the bot like `run_bot` does, start it, and return once it is READY (and,
        with a dev guild, once its commands are synced there).

        `before_start(bot)` runs after the bot object exists and before it logs in: add
        commands to `bot.tree` or monkeypatch there. `open_bot_options` go to `open_bot`
        (`extensions=`, `background_tasks=`, `sync_on_start=`).
        """
        from bot.app import open_bot

        stack = AsyncExitStack()
        bot = await stack.enter_async_context(open_bot(settings, **open_bot_options))
        if before_start is not None:
            result = before_start(bot)
            if inspect.isawaitable(result):
                await result
        ready = asyncio.Event()

        async def on_ready() -> None:
            ready.set()

        bot.add_listener(on_ready, "on_ready")
        assert settings.discord_token is not None
        task = asyncio.create_task(bot.start(settings.discord_token.get_secret_value()))
        running = RunningBot(bot=bot, task=task, stack=stack)
        self.running.append(running)
        ready_wait = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait(
            {task, ready_wait}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        ready_wait.cancel()
        if task in done:
            await running.stop()
            task.result()  # raises what stopped the bot (bad token, migration error...)
            raise RuntimeError("the bot stopped before it was ready")
        if not done:
            raise TimeoutError(
                f"the bot was not ready after {timeout} s\n{self.emulator.describe_recent()}"
            )
        guild_id = settings.dev_guild_id
        sync_on_start = open_bot_options.get("sync_on_start", True)
        if (
            wait_for_sync
            and sync_on_start
            and guild_id in self.emulator.guilds_by_id
            and bot.runs_guild(guild_id)
        ):
            await self.emulator.wait_for_commands(self.emulator.guilds_by_id[guild_id])
        return bot

    async def stop_all(self) -> None:
        while self.running:
            await self.running.pop().stop()
        discord.http.Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = self._saved_endpoints


def settings_env(
    emulator: DiscordEmulator, database_path: Path | str, **overrides: Any
) -> dict[str, str]:
    """The environment for `python -m bot run` against the emulator.

    Inherited settings variables are dropped so nothing from the developer's shell leaks in;
    `overrides` are Settings field names (`feed_poll_seconds=1`).
    """
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(SETTINGS_ENV_PREFIXES)}
    values: dict[str, Any] = {
        "discord_token": emulator.token,
        **database_settings(database_path),
        "discord_api_base": emulator.api_base,
        "discord_gateway_url": emulator.gateway_url,
        "dev_guild_id": emulator.guild.id if emulator.guilds_by_id else "",
        "guild_ready_timeout": 0.05,
        "log_level": "DEBUG",
        # Feeds and the arXiv stand-in are served from 127.0.0.1 in tests.
        "allow_private_urls": True,
        # No first-start import from the internet: seeding tests serve their own feed.
        "seed_feeds": "",
        "gateway_identify_interval": emulator.identify_interval,
        **UNREACHABLE_SERVICES,
    }
    values.update(overrides)
    env.update({key.upper(): str(value) for key, value in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


class BotProcess:
    """`python -m bot run` as a child process, with its output in `log_path`."""

    def __init__(
        self, emulator: DiscordEmulator, env: dict[str, str], workdir: Path, name: str = "bot"
    ) -> None:
        self.emulator = emulator
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / f"{name}.log"
        self.process: asyncio.subprocess.Process | None = None
        self._watcher: asyncio.Task[None] | None = None
        # The first of its shards' sessions, and all of them.
        self.session: GatewaySession | None = None
        self.sessions: list[GatewaySession] = []

    @property
    def output(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    @property
    def shards(self) -> tuple[list[int], int]:
        """(shard ids, shard count) this process runs, from SHARD_IDS and SHARD_COUNT, else
        every shard the emulator recommends."""
        from bot.config import parse_shard_ids

        count_text = self.env.get("SHARD_COUNT", "").strip()
        count = int(count_text) if count_text else self.emulator.recommended_shards
        ids_text = self.env.get("SHARD_IDS", "").strip()
        ids = list(parse_shard_ids(ids_text)) if ids_text else list(range(count))
        return ids, count

    async def start(self, timeout: float = 30.0) -> BotProcess:
        """Launch and wait until the new process identified every shard it runs on the
        gateway (and, with a dev guild one of its shards gets, synced its commands there
        first, as setup_hook does)."""
        identified_before = len(self.emulator.gateway.sessions)
        syncs_before = self.emulator.commands_sync_count
        shard_ids, shard_count = self.shards
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            # cwd is a scratch folder so no `.env` from the project is read.
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "bot",
                "run",
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
                stdin=asyncio.subprocess.DEVNULL,
            )
        self._watcher = asyncio.create_task(self._watch())
        dev_guild = self.env.get("DEV_GUILD_ID", "").strip()
        wants_sync = bool(dev_guild) and (int(dev_guild) >> 22) % shard_count in shard_ids

        def ready() -> GatewaySession | bool | None:
            if self.returncode is not None:
                return True
            fresh = [s for s in self.emulator.gateway.sessions[identified_before:] if s.ready]
            started = {s.shard for s in fresh}
            if any((shard_id, shard_count) not in started for shard_id in shard_ids):
                return None
            if wants_sync and self.emulator.commands_sync_count == syncs_before:
                return None
            return fresh[0]

        try:
            found = await self.emulator.wait_for(
                ready, timeout=timeout, description="the bot process to connect"
            )
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n--- bot output ---\n{self.output}") from None
        if found is True:
            raise RuntimeError(
                f"the bot process exited with {self.returncode}\n--- output ---\n{self.output}"
            )
        self.session = found
        self.sessions = [
            s
            for s in self.emulator.gateway.sessions[identified_before:]
            if s.ready and s.shard[0] in shard_ids and s.shard[1] == shard_count
        ]
        return self

    async def _watch(self) -> None:
        assert self.process is not None
        await self.process.wait()
        self.emulator._notify()

    async def kill(self) -> int:
        """SIGKILL: no cleanup at all, like a crash or power loss."""
        return await self._signal(signal.SIGKILL)

    async def interrupt(self, timeout: float = 10.0) -> int:
        """SIGINT (Ctrl-C): the bot shuts down cleanly."""
        return await self._signal(signal.SIGINT, timeout=timeout)

    async def terminate(self, timeout: float = 10.0) -> int:
        """SIGTERM (systemd, Docker, Kubernetes): the bot shuts down cleanly."""
        return await self._signal(signal.SIGTERM, timeout=timeout)

    async def _signal(self, signum: int, timeout: float = 10.0) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.send_signal(signum)
            try:
                await asyncio.wait_for(self.process.wait(), timeout=timeout)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        if self._watcher is not None:
            await self._watcher
        assert self.process.returncode is not None
        return self.process.returncode
