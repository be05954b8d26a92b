"""Settings, read from the environment or a `.env` file.

Nothing here runs at import time: `Settings()` is built in `main()` and passed down.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_API_BASE = "https://discord.com/api/v10"


class Settings(BaseSettings):
    """Every setting the bot reads. Each one is documented in `.env.example`."""

    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False
    )

    discord_token: SecretStr | None = None
    database_path: Path = Path("data/shortscience.sqlite3")
    # The search index (derived from the database, rebuilt when missing). Default: beside the
    # database (`data/shortscience.search`). Each bot process needs its own.
    search_index_path: Path | None = None
    discord_api_base: str = DEFAULT_API_BASE
    discord_gateway_url: str | None = None
    dev_guild_id: int | None = None
    log_level: str = "INFO"

    # Seconds discord.py waits for GUILD_CREATEs before on_ready; tests make it small.
    guild_ready_timeout: float = Field(default=2.0, ge=0)

    # Let the bot fetch URLs on private or local addresses (feeds, imports, arXiv). Off in
    # production so a URL given to /feed add cannot reach the bot's own network; tests that
    # serve feeds from 127.0.0.1 turn it on.
    allow_private_urls: bool = False

    # Feeds and announcements.
    feed_poll_seconds: float = Field(default=600.0, gt=0)
    feed_concurrency: int = Field(default=16, ge=1)
    feed_max_bytes: int = Field(default=5 * 1024 * 1024, ge=1024)
    feed_max_failures: int = Field(default=10, ge=1)
    feeds_per_guild: int = Field(default=25, ge=1)

    # Community summaries.
    arxiv_api_url: str = "http://export.arxiv.org/api/query"
    # arXiv's terms ask for at most one request every 3 seconds.
    arxiv_min_interval: float = Field(default=3.0, ge=0)
    submissions_per_window: int = Field(default=5, ge=1)
    submission_window_seconds: float = Field(default=600.0, gt=0)

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
        return self.database_path.parent / f"{self.database_path.stem}.search"

    @field_validator("dev_guild_id", "discord_gateway_url", "search_index_path", mode="before")
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("discord_api_base")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("log_level")
    @classmethod
    def _upper_level(cls, value: str) -> str:
        level = value.strip().upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError(f"unknown log level {value!r}")
        return level
