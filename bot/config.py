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
    discord_api_base: str = DEFAULT_API_BASE
    discord_gateway_url: str | None = None
    dev_guild_id: int | None = None
    log_level: str = "INFO"

    # Seconds discord.py waits for GUILD_CREATEs before on_ready; tests make it small.
    guild_ready_timeout: float = Field(default=2.0, ge=0)

    @field_validator("discord_token", mode="before")
    @classmethod
    def _blank_token_is_none(cls, value: object) -> object:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("dev_guild_id", "discord_gateway_url", mode="before")
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
