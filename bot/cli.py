"""The `shortscience-bot` command: run (the default), sync, import, search, reindex, export,
migrate-data."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import discord
from pydantic import ValidationError
from tqdm import tqdm

from bot.app import USER_AGENT, MissingTokenError, run_bot, sync_commands
from bot.community.export import ExportFormat, export_guild
from bot.config import Settings
from bot.ingest import FeedImportError, import_source
from bot.monitoring import MetricsPortUnavailableError
from bot.rendering.text import plural
from bot.search import SearchIndexRebuildingError, SearchResult, SearchService
from bot.search.engine import result_to_json
from bot.sharding import GatewayUnreachableError
from bot.storage import Database, DatabaseTooNewError, DatabaseUnavailableError, MigrationError
from bot.storage.transfer import TransferError, copy_database

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
    importer = commands.add_parser(
        "import", help="import an RSS or Atom file or URL (ShortScience, arXiv, any blog)"
    )
    importer.add_argument("source", metavar="PATH_OR_URL", help="a feed file or an http(s) URL")
    importer.add_argument("--quiet", action="store_true", help="no progress bar")

    search = commands.add_parser("search", help="search the summaries, ranked as /search ranks")
    search.add_argument("query", help='words, or "a quoted phrase"')
    search.add_argument("--limit", type=int, default=10, help="how many results (default 10)")
    search.add_argument("--json", action="store_true", help="print a JSON list, best first")
    search.add_argument(
        "--guild",
        type=int,
        default=None,
        help="see what this server sees (feed summaries and its own); default: everything",
    )

    reindex = commands.add_parser(
        "reindex", help="rebuild the search index from the database (it also rebuilds itself)"
    )
    reindex.add_argument("--quiet", action="store_true", help="no progress bar")

    migrate = commands.add_parser(
        "migrate-data",
        help="copy every table of one database into a new, empty one (SQLite to PostgreSQL)",
    )
    migrate.add_argument(
        "--from",
        dest="source",
        required=True,
        metavar="URL",
        help="the database to copy: sqlite:///path/to/file.sqlite3 or postgresql://...",
    )
    migrate.add_argument(
        "--to",
        dest="target",
        required=True,
        metavar="URL",
        help="the new, empty database: postgresql://user:password@host:5432/db or sqlite:///...",
    )
    migrate.add_argument("--quiet", action="store_true", help="no progress bar")

    export = commands.add_parser("export", help="export a server's community summaries")
    export.add_argument("--guild", type=int, required=True, help="the server (guild) id")
    export.add_argument("--format", choices=("markdown", "json"), default="markdown")
    export.add_argument("--output", default=None, help="file to write (default: standard output)")
    return parser


def load_settings() -> Settings:
    return Settings()


def configure_logging(settings: Settings) -> None:
    discord.utils.setup_logging(level=logging.getLevelName(settings.log_level), root=True)


async def open_database(settings: Settings) -> Database:
    """Open and migrate the database, for commands that need no Discord connection."""
    db = await Database.open(settings.database_target, **settings.database_options)
    try:
        await db.migrate()
    except BaseException:
        await db.close()
        raise
    return db


async def open_search(settings: Settings, db: Database, *, rebuild: bool = True) -> SearchService:
    """This process's search index, following `db` (rebuilt in the background if needed)."""
    search = SearchService(db, settings.resolved_search_index_path)
    await search.start(rebuild=rebuild)
    return search


class ProgressBar:
    """A progress bar on standard error that appears with the first report of progress, so
    a command that fails before (an unreachable URL, a missing file) prints its one error
    line and nothing else. Call it with `(done, total)`."""

    def __init__(self, description: str, unit: str, *, quiet: bool) -> None:
        self.description = description
        self.unit = unit
        self.quiet = quiet
        self.bar: tqdm | None = None

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = tqdm(
                desc=self.description, unit=self.unit, disable=self.quiet, file=sys.stderr
            )
        self.bar.total = total
        self.bar.n = done
        self.bar.refresh()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


async def import_command(settings: Settings, source: str, *, quiet: bool) -> int:
    db = await open_database(settings)
    search = await open_search(settings, db)
    progress = ProgressBar("Importing", " entries", quiet=quiet)
    try:
        async with aiohttp.ClientSession(headers={"User-Agent": USER_AGENT}) as session:
            # The index follows each batch as it commits; searchable once we have waited.
            with db.commit_hooks_not_awaited():
                stats = await import_source(db, session, source, progress=progress)
        progress.close()
        await search.wait_ready()
        await search.sync(within=3600.0)
    except FeedImportError as exc:
        progress.close()
        print(f"shortscience-bot import: {exc}", file=sys.stderr)
        return 1
    finally:
        await search.close()
        await db.close()
    print(
        f"Imported {plural(stats.total, 'entry')} from {source}: {stats.inserted} new, "
        f"{stats.updated} updated, {stats.unchanged} unchanged; "
        f"{plural(stats.papers_created, 'new paper')}."
    )
    return 0


async def search_command(
    settings: Settings, query: str, *, limit: int, as_json: bool, guild_id: int | None
) -> int:
    db = await open_database(settings)
    search = await open_search(settings, db)
    try:
        try:
            page = await search.search(
                query, guild_id=guild_id, all_guilds=guild_id is None, limit=max(1, limit)
            )
        except SearchIndexRebuildingError:
            print("Building the search index first (once)...", file=sys.stderr)
            await search.wait_ready()
            page = await search.search(
                query, guild_id=guild_id, all_guilds=guild_id is None, limit=max(1, limit)
            )
    finally:
        await search.close()
        await db.close()
    if as_json:
        print(json.dumps([result_to_json(result) for result in page.results], indent=2))
        return 0
    if page.nothing_to_search:
        print("Nothing to search for: give at least one word.", file=sys.stderr)
        return 0
    if not page.results:
        print(f"No summaries match {query!r}. Try fewer or broader words.")
        return 0
    if page.corrected is not None:
        print(f"No summaries match {query!r}; showing results for {page.corrected!r}.")
    print(format_results_table(page.results))
    return 0


async def reindex_command(settings: Settings, *, quiet: bool) -> int:
    db = await open_database(settings)
    search = await open_search(settings, db, rebuild=False)
    progress = ProgressBar("Indexing", " summaries", quiet=quiet)
    try:
        report = await search.rebuild(progress)
    finally:
        progress.close()
        await search.close()
        await db.close()
    print(
        f"Rebuilt the search index at {settings.resolved_search_index_path}: "
        f"{plural(report.summaries, 'summary')} ({plural(report.documents, 'document')}) in "
        f"{report.seconds:.1f} s."
    )
    return 0


async def migrate_data_command(source_url: str, target_url: str, *, quiet: bool) -> int:
    """Copy every table of `source_url` into the empty database at `target_url`."""
    progress = ProgressBar("Copying", " rows", quiet=quiet)
    source = await Database.open(source_url)
    try:
        target = await Database.open(target_url)
        try:
            report = await copy_database(source, target, progress=progress)
        finally:
            progress.close()
            await target.close()
    except TransferError as exc:
        print(f"shortscience-bot migrate-data: {exc}", file=sys.stderr)
        return 1
    finally:
        await source.close()
    print(
        f"Copied {plural(report.total, 'row')} from {source.description} to "
        f"{target.description}: "
        + ", ".join(f"{table} {count}" for table, count in report.rows.items() if count)
        + ". Point DATABASE_URL at the new database; the search index is built again at the "
        "first start."
    )
    return 0


def format_results_table(results: Sequence[SearchResult]) -> str:
    """A plain table that fits the terminal: id, score, author, paper, excerpt."""
    width = shutil.get_terminal_size((120, 24)).columns
    rows = [("id", "score", "author", "paper", "excerpt")]
    for result in results:
        rows.append(
            (
                str(result.summary_id),
                str(result.score),
                f"abstract: {result.author}" if result.kind == "abstract" else result.author,
                result.paper_title,
                result.excerpt_text,
            )
        )
    caps = (8, 6, 18, 40, max(20, width - 8 - 6 - 18 - 40 - 8))
    widths = [min(cap, max(len(row[i]) for row in rows)) for i, cap in enumerate(caps)]
    lines = []
    for row in rows:
        cells = [_fit(cell, widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _fit(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text.ljust(width) if len(text) <= width else text[: width - 1] + "…"


async def export_data(settings: Settings, guild_id: int, fmt: ExportFormat) -> bytes:
    db = await open_database(settings)
    try:
        return (await export_guild(db, guild_id, fmt)).data
    finally:
        await db.close()


def export_command(settings: Settings, guild_id: int, fmt: ExportFormat, output: str | None) -> int:
    data = asyncio.run(export_data(settings, guild_id, fmt))
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
    else:
        Path(output).write_bytes(data)
        print(f"Wrote {plural(len(data), 'byte')} to {output}.", file=sys.stderr)
    return 0


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
            print(f"Synced {plural(count, 'command')} to {where}.")
        elif command == "import":
            return asyncio.run(import_command(settings, args.source, quiet=args.quiet))
        elif command == "search":
            return asyncio.run(
                search_command(
                    settings, args.query, limit=args.limit, as_json=args.json, guild_id=args.guild
                )
            )
        elif command == "reindex":
            return asyncio.run(reindex_command(settings, quiet=args.quiet))
        elif command == "migrate-data":
            return asyncio.run(migrate_data_command(args.source, args.target, quiet=args.quiet))
        elif command == "export":
            return export_command(settings, args.guild, args.format, args.output)
        else:  # pragma: no cover - argparse rejects unknown commands first
            parser.error(f"unknown command {command}")
    except MissingTokenError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except aiohttp.ClientConnectionError as exc:
        # Logging in is the first request: no route, refused, or a name that does not resolve.
        print(
            f"shortscience-bot: cannot reach Discord at {settings.discord_api_base} ({exc}). "
            "Check the network connection, and DISCORD_API_BASE if you set it.",
            file=sys.stderr,
        )
        return 1
    except MetricsPortUnavailableError as exc:
        print(f"shortscience-bot: {exc}", file=sys.stderr)
        return 1
    except GatewayUnreachableError as exc:
        print(
            f"shortscience-bot: cannot reach Discord's gateway at {exc}. Check the network "
            "connection, and DISCORD_GATEWAY_URL if you set it.",
            file=sys.stderr,
        )
        return 1
    except discord.LoginFailure:
        print(
            "Discord refused the token in DISCORD_TOKEN. Reset it in the developer portal "
            "(Bot > Reset Token) and update .env.",
            file=sys.stderr,
        )
        return 2
    except (DatabaseTooNewError, MigrationError, DatabaseUnavailableError) as exc:
        print(f"shortscience-bot: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
