"""The `shortscience-bot` command: run (the default), sync, import, search."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

import discord
from pydantic import ValidationError

from bot.app import MissingTokenError, run_bot, sync_commands
from bot.config import Settings
from bot.storage import DatabaseTooNewError, MigrationError

log = logging.getLogger("bot.cli")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="shortscience-bot",
        description="ShortScience.org paper summaries for Discord reading groups.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser("run", help="connect to Discord and serve (the default)")

    sync = commands.add_parser("sync", help="publish the slash commands to Discord")
    sync.add_argument(
        "--guild", type=int, default=None, help="sync to this guild only (instant, for testing)"
    )
    return parser


def load_settings() -> Settings:
    return Settings()


def configure_logging(settings: Settings) -> None:
    discord.utils.setup_logging(level=logging.getLevelName(settings.log_level), root=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    command = args.command or "run"
    try:
        settings = load_settings()
    except ValidationError as exc:
        print(f"shortscience-bot: invalid settings:\n{exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    try:
        if command == "run":
            asyncio.run(run_bot(settings))
        elif command == "sync":
            count = asyncio.run(sync_commands(settings, args.guild))
            where = f"guild {args.guild}" if args.guild else "every server (global)"
            print(f"Synced {count} commands to {where}.")
        else:  # pragma: no cover - argparse rejects unknown commands first
            parser.error(f"unknown command {command}")
    except MissingTokenError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except discord.LoginFailure:
        print(
            "Discord refused the token in DISCORD_TOKEN. Reset it in the developer portal "
            "(Bot > Reset Token) and update .env.",
            file=sys.stderr,
        )
        return 2
    except (DatabaseTooNewError, MigrationError) as exc:
        print(f"shortscience-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
