"""Settings, read from the environment or a `.env` file.

Nothing here runs at import time: `Settings()` is built in `main()` and passed down.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.rendering.pages import DEFAULT_PAGE_CHARS, DESCRIPTION_LIMIT, MINIMUM_DESCRIPTION_ROOM
from bot.storage.database import is_postgresql_url, sqlite_path

DEFAULT_API_BASE = "https://discord.com/api/v10"
DEFAULT_SEED_FEEDS = "https://www.shortscience.org/rss.xml"


class Settings(BaseSettings):
    """Every setting the bot reads. Each one is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    discord_token: SecretStr | None = None
    # The database: `sqlite:///path` or `postgresql://user:pass@host:5432/db`; unset, SQLite
    # at `database_path`.
    database_url: str | None = None
    database_path: Path = Path("data/shortscience.sqlite3")
    # SQLite's reader connections (reads run on them, in parallel, seeing committed data
    # only; writes go through the one writer connection).
    database_read_connections: int = Field(default=4, ge=1, le=64)
    # PostgreSQL's pool: at most this many connections per process.
    database_pool_size: int = Field(default=10, ge=1, le=200)
    # The search index (derived from the database, rebuilt when missing). Default: beside the
    # database (`data/shortscience.search`). Each bot process needs its own.
    search_index_path: Path | None = None
    discord_api_base: str = DEFAULT_API_BASE
    discord_gateway_url: str | None = None
    dev_guild_id: int | None = None
    log_level: str = "INFO"

    # Shards. SHARD_COUNT: how many the whole bot runs (every process the same); SHARD_IDS:
    # which of them this process runs ("0,1", "0-3", "0-3,8"; needs SHARD_COUNT). Both empty:
    # this one process runs every shard Discord recommends (GET /gateway/bot). SHARD_COUNT
    # alone: this process runs all of them.
    shard_count: int | None = Field(default=None, ge=1)
    shard_ids: str | None = None
    # Seconds between two IDENTIFYs of one bucket (shard_id % max_concurrency), for every
    # process of the bot together: Discord's is 5. Change it only for a Discord-compatible
    # gateway that says otherwise (the tests' emulator).
    gateway_identify_interval: float = Field(default=5.0, gt=0)

    # The process registry: every bot process writes a heartbeat to the database this often,
    # and a process whose heartbeat is older than the expiry counts as dead (its row is
    # pruned by the others; the work it held is taken over).
    process_heartbeat_seconds: float = Field(default=5.0, gt=0)
    process_expiry_seconds: float = Field(default=30.0, gt=0)

    # Discord's global REST limit for this bot (requests a second with the bot token; 50
    # unless Discord granted the bot more). Every process takes its share of it, counted
    # from the live processes in the registry (see bot.rest_budget).
    discord_global_rate_limit: float = Field(default=50.0, gt=0)

    # Prometheus metrics and /healthz on http://METRICS_HOST:METRICS_PORT; 0 turns them off.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    metrics_host: str = "127.0.0.1"

    # Seconds discord.py waits for GUILD_CREATEs before on_ready; tests make it small.
    guild_ready_timeout: float = Field(default=2.0, ge=0)

    # Let the bot fetch URLs on private or local addresses (feeds, imports, arXiv). Off in
    # production so a URL given to /feed add cannot reach the bot's own network; tests that
    # serve feeds from 127.0.0.1 turn it on.
    allow_private_urls: bool = False

    # Feeds and announcements.
    feed_poll_seconds: float = Field(default=600.0, gt=0)
    feed_concurrency: int = Field(default=16, ge=1)
    # Of those, how many one server's feeds may hold (slow feeds of one server never hold up
    # the others' polls).
    feed_guild_concurrency: int = Field(default=4, ge=1)
    feed_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    feed_max_failures: int = Field(default=10, ge=1)
    feeds_per_guild: int = Field(default=25, ge=1)
    # How long Discord is assumed to remember a message nonce. An announcement whose first
    # send is older than this and whose outcome is unknown is looked for in the channel
    # before it is sent again. Keep it below Discord's real window ("a few minutes").
    discord_nonce_window_seconds: float = Field(default=60.0, gt=0)
    # Announcements one process posts per second at most, within its share of Discord's
    # global budget (shared by the live processes through the process registry).
    outbox_sends_per_second: float = Field(default=45.0, gt=0, le=50)
    # Several processes on one database share feeds, announcements and scheduled jobs by
    # leases: a claim lasts this long unless renewed, so the work of a process that died is
    # taken over by the others this many seconds after its last renewal.
    lease_seconds: float = Field(default=60.0, ge=1)
    # Worker processes that parse feed bodies (and match keyword filters), and the seconds
    # one job may take before its worker is ended and that feed's poll counts as failed.
    feed_parse_workers: int = Field(default=2, ge=1)
    feed_parse_timeout: float = Field(default=20.0, gt=0)

    # Community summaries.
    arxiv_api_url: str = "http://export.arxiv.org/api/query"
    # arXiv's terms ask for at most one request every 3 seconds.
    arxiv_min_interval: float = Field(default=3.0, ge=0)
    submissions_per_window: int = Field(default=5, ge=1)
    submission_window_seconds: float = Field(default=600.0, gt=0)

    # First start: feeds (URLs or files, separated by commas or spaces) imported in the
    # background into a database with no summaries, once; empty: none.
    seed_feeds: str = DEFAULT_SEED_FEEDS
    # Seconds before a failed seed import is tried again, doubling up to an hour.
    seed_retry_seconds: float = Field(default=60.0, gt=0)

    @property
    def seed_sources(self) -> list[str]:
        """SEED_FEEDS as a list, in order, without repeats."""
        return list(dict.fromkeys(part for part in re.split(r"[\s,]+", self.seed_feeds) if part))

    # Filling in papers in the background: arXiv (above) by arXiv id, Crossref by DOI.
    # An empty CROSSREF_API_URL turns the Crossref look-ups off.
    crossref_api_url: str = "https://api.crossref.org"
    # A contact address for Crossref's "polite pool" (sent in the User-Agent and as mailto).
    crossref_mailto: str | None = None
    # Seconds between two passes of the enrichment loop when it has nothing due.
    enrichment_interval_seconds: float = Field(default=60.0, gt=0)
    # Display math as images. Workers are processes typesetting formulas; 0 turns the images
    # off (equations in Unicode only). The cache defaults to `math-cache` beside the database.
    math_workers: int = Field(default=2, ge=0, le=16)
    math_timeout_seconds: float = Field(default=5.0, gt=0)
    math_worker_memory_bytes: int = Field(default=1 << 30, ge=256 << 20)
    math_cache_path: Path | None = None
    math_cache_max_bytes: int = Field(default=256 << 20, ge=1 << 20)
    # Characters of text on one page of a summary (`/summary view`, Read, the preview): pages
    # break at paragraphs or sentences, never inside a formula, code block or table.
    summary_page_chars: int = Field(
        default=DEFAULT_PAGE_CHARS, ge=MINIMUM_DESCRIPTION_ROOM, le=DESCRIPTION_LIMIT
    )

    @property
    def database_target(self) -> str:
        """What `Database.open` opens: DATABASE_URL, or else the SQLite file DATABASE_PATH."""
        return self.database_url or str(self.database_path)

    @property
    def database_options(self) -> dict[str, int]:
        return {
            "read_connections": self.database_read_connections,
            "pool_size": self.database_pool_size,
        }

    @property
    def is_postgresql(self) -> bool:
        return is_postgresql_url(self.database_target)

    @property
    def sqlite_file(self) -> Path | None:
        """The SQLite database file, or None on PostgreSQL."""
        if self.is_postgresql:
            return None
        return Path(sqlite_path(self.database_target))

    @property
    def data_dir(self) -> Path:
        """Where files derived from the database go by default: beside the SQLite file, or
        `data/` with PostgreSQL."""
        file = self.sqlite_file
        return Path("data") if file is None else file.parent

    @property
    def database_name(self) -> str:
        """The SQLite file's name without suffix, or PostgreSQL's database name."""
        file = self.sqlite_file
        if file is not None:
            return file.stem
        return urlsplit(self.database_target).path.lstrip("/") or "postgres"

    @property
    def math_cache_dir(self) -> Path:
        """Where typeset formulas and cards are cached."""
        if self.math_cache_path is not None:
            return self.math_cache_path
        return self.data_dir / "math-cache"

    @field_validator("discord_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @property
    def resolved_search_index_path(self) -> Path:
        if self.search_index_path is not None:
            return self.search_index_path
        return self.data_dir / f"{self.database_name}.search"

    @field_validator("database_url", mode="before")
    @classmethod
    def _a_database_url(cls, value: object) -> object:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        if not isinstance(value, str):
            return value
        url = value.strip()
        if not (url.startswith("sqlite:///") or is_postgresql_url(url)):
            raise ValueError(
                "DATABASE_URL must be sqlite:///path/to/file.sqlite3 or "
                f"postgresql://user:password@host:5432/dbname, not {url!r}"
            )
        return url

    @property
    def shard_id_list(self) -> tuple[int, ...] | None:
        """SHARD_IDS as shard numbers, in the order given (None when unset)."""
        if self.shard_ids is None:
            return None
        return parse_shard_ids(self.shard_ids)

    @field_validator(
        "dev_guild_id",
        "discord_gateway_url",
        "shard_count",
        "shard_ids",
        "crossref_mailto",
        "math_cache_path",
        "search_index_path",
        mode="before",
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("discord_api_base", "crossref_api_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.strip().rstrip("/")

    @field_validator("crossref_mailto")
    @classmethod
    def _an_email_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        address = value.strip()
        local, _, domain = address.partition("@")
        if not local or "." not in domain or any(c.isspace() or c in "<>()," for c in address):
            raise ValueError(f"CROSSREF_MAILTO must be an email address, not {value!r}")
        return address

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids_parse(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard_ids(value)
        return value

    @model_validator(mode="after")
    def _shards_fit_the_count(self) -> Settings:
        ids = self.shard_id_list
        if ids is not None:
            if self.shard_count is None:
                raise ValueError(
                    "SHARD_IDS needs SHARD_COUNT: every process of the bot must be started "
                    "with the same shard count"
                )
            outside = [shard for shard in ids if shard >= self.shard_count]
            if outside:
                raise ValueError(
                    f"SHARD_IDS {self.shard_ids!r} names shard(s) "
                    f"{', '.join(map(str, outside))}, but SHARD_COUNT={self.shard_count} "
                    f"numbers the shards 0 to {self.shard_count - 1}"
                )
        if self.process_expiry_seconds < 2 * self.process_heartbeat_seconds:
            raise ValueError(
                "PROCESS_EXPIRY_SECONDS must be at least twice PROCESS_HEARTBEAT_SECONDS, so "
                "one late heartbeat does not make a live process look dead"
            )
        return self

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level


SHARD_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


def parse_shard_ids(text: str) -> tuple[int, ...]:
    """Shard numbers from "0,1", "0-3" or "0-3,8" (ranges inclusive), in the order given.

    Raises ValueError (a message for the operator) on anything else, an empty list, a range
    that runs backwards or a shard named twice.
    """
    shards: list[int] = []
    for part in (piece.strip() for piece in text.split(",")):
        match = SHARD_RANGE.match(part)
        if match is None:
            raise ValueError(
                f"SHARD_IDS {text!r}: {part!r} is not a shard number or a range like 0-3"
            )
        first = int(match.group(1))
        last = int(match.group(2)) if match.group(2) is not None else first
        if last < first:
            raise ValueError(f"SHARD_IDS {text!r}: the range {part} runs backwards")
        shards.extend(range(first, last + 1))
    repeated = sorted(shard for shard, times in Counter(shards).items() if times > 1)
    if repeated:
        raise ValueError(
            f"SHARD_IDS {text!r} names shard(s) {', '.join(map(str, repeated))} more than once"
        )
    return tuple(shards)
