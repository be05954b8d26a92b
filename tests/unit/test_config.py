"""Settings: environment, .env file, defaults, and validation."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.config import DEFAULT_API_BASE, DEFAULT_SEED_FEEDS, Settings

SETTING_NAMES = (
    "DISCORD_TOKEN",
    "DATABASE_PATH",
    "DISCORD_API_BASE",
    "DISCORD_GATEWAY_URL",
    "DEV_GUILD_ID",
    "LOG_LEVEL",
    "GUILD_READY_TIMEOUT",
    "FEED_POLL_SECONDS",
    "ARXIV_API_URL",
    "SEED_FEEDS",
    "SEED_RETRY_SECONDS",
    "CROSSREF_API_URL",
    "CROSSREF_MAILTO",
    "SHARD_COUNT",
    "SHARD_IDS",
    "GATEWAY_IDENTIFY_INTERVAL",
    "PROCESS_HEARTBEAT_SECONDS",
    "PROCESS_EXPIRY_SECONDS",
    "METRICS_PORT",
    "METRICS_HOST",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in SETTING_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no stray .env from the checkout


def test_defaults() -> None:
    settings = Settings()
    assert settings.discord_token is None
    assert settings.database_path == Path("data/shortscience.sqlite3")
    assert settings.discord_api_base == DEFAULT_API_BASE
    assert settings.discord_gateway_url is None
    assert settings.dev_guild_id is None
    assert settings.log_level == "INFO"
    assert settings.seed_sources == [DEFAULT_SEED_FEEDS] == ["https://www.shortscience.org/rss.xml"]


def test_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "abc.def")
    monkeypatch.setenv("DATABASE_PATH", "/tmp/x.sqlite3")
    monkeypatch.setenv("DISCORD_API_BASE", "http://127.0.0.1:8080/api/v10/")
    monkeypatch.setenv("DISCORD_GATEWAY_URL", "ws://127.0.0.1:8080/gateway")
    monkeypatch.setenv("DEV_GUILD_ID", "123456789012345678")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    settings = Settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "abc.def"
    assert "abc.def" not in repr(settings)  # the token never shows in logs or reprs
    assert settings.database_path == Path("/tmp/x.sqlite3")
    assert settings.discord_api_base == "http://127.0.0.1:8080/api/v10"
    assert settings.discord_gateway_url == "ws://127.0.0.1:8080/gateway"
    assert settings.dev_guild_id == 123456789012345678
    assert settings.log_level == "DEBUG"


def test_dotenv_file(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-file\nDEV_GUILD_ID=\n", encoding="utf-8")
    settings = Settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "from-file"
    assert settings.dev_guild_id is None


def test_environment_beats_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-file\n", encoding="utf-8")
    monkeypatch.setenv("DISCORD_TOKEN", "from-env")
    settings = Settings()
    assert settings.discord_token is not None
    assert settings.discord_token.get_secret_value() == "from-env"


def test_blank_token_counts_as_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DISCORD_TOKEN", "   ")
    assert Settings().discord_token is None


@pytest.mark.parametrize(("name", "value"), [("LOG_LEVEL", "loud"), ("DEV_GUILD_ID", "abc")])
def test_invalid_values_are_refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


@pytest.mark.parametrize(
    ("value", "sources"),
    [
        ("", []),
        ("   ", []),
        ("https://a.example/rss", ["https://a.example/rss"]),
        (
            "https://a.example/rss, https://b.example/atom  feeds/local.xml",
            ["https://a.example/rss", "https://b.example/atom", "feeds/local.xml"],
        ),
        ("https://a.example/rss,https://a.example/rss", ["https://a.example/rss"]),
    ],
)
def test_seed_feeds_are_separated_by_commas_or_spaces(
    monkeypatch: pytest.MonkeyPatch, value: str, sources: list[str]
) -> None:
    monkeypatch.setenv("SEED_FEEDS", value)
    assert Settings().seed_sources == sources


def test_crossref_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.crossref_api_url == "https://api.crossref.org"
    assert settings.crossref_mailto is None
    monkeypatch.setenv("CROSSREF_API_URL", "http://127.0.0.1:8081/ ")
    monkeypatch.setenv("CROSSREF_MAILTO", " admin@example.org ")
    settings = Settings()
    assert settings.crossref_api_url == "http://127.0.0.1:8081"
    assert settings.crossref_mailto == "admin@example.org"
    monkeypatch.setenv("CROSSREF_MAILTO", "")
    assert Settings().crossref_mailto is None
    for wrong in ("not an address", "admin@localhost", "a@b.c, d@e.f"):
        monkeypatch.setenv("CROSSREF_MAILTO", wrong)
        with pytest.raises(ValidationError, match="CROSSREF_MAILTO must be an email address"):
            Settings()


def test_env_example_documents_every_setting() -> None:
    example = (Path(__file__).resolve().parents[2] / ".env.example").read_text(encoding="utf-8")
    documented = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    documented = {name for name in documented if not name.startswith("#")}
    expected = {name.upper() for name in Settings.model_fields}
    assert expected <= documented, f"undocumented settings: {expected - documented}"


def test_shards_default_to_what_discord_recommends() -> None:
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.shard_count is None and settings.shard_id_list is None
    assert settings.metrics_port == 0 and settings.metrics_host == "127.0.0.1"
    assert settings.gateway_identify_interval == 5.0


@pytest.mark.parametrize(
    ("text", "shards"),
    [("0", (0,)), ("0,1", (0, 1)), ("0-3", (0, 1, 2, 3)), (" 4-5 , 0 ", (4, 5, 0)), ("7-7", (7,))],
)
def test_shard_ids_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str, shards: tuple[int, ...]
) -> None:
    monkeypatch.setenv("SHARD_COUNT", "8")
    monkeypatch.setenv("SHARD_IDS", text)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.shard_count == 8 and settings.shard_id_list == shards


@pytest.mark.parametrize(
    ("count", "ids", "message"),
    [
        ("", "0,1", "SHARD_IDS needs SHARD_COUNT"),
        ("2", "0,2", "names shard(s) 2, but SHARD_COUNT=2 numbers the shards 0 to 1"),
        ("4", "0-2,1", "names shard(s) 1 more than once"),
        ("4", "3-1", "the range 3-1 runs backwards"),
        ("4", "one", "'one' is not a shard number or a range like 0-3"),
        ("4", "0,,1", "'' is not a shard number"),
        ("0", "", "shard_count\n  Input should be greater than or equal to 1"),
    ],
)
def test_bad_shard_settings_are_refused_clearly(
    monkeypatch: pytest.MonkeyPatch, count: str, ids: str, message: str
) -> None:
    monkeypatch.setenv("SHARD_COUNT", count)
    monkeypatch.setenv("SHARD_IDS", ids)
    with pytest.raises(ValidationError) as refused:
        Settings(_env_file=None)  # type: ignore[call-arg]
    assert message in str(refused.value)


def test_the_process_expiry_outlasts_two_heartbeats(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PROCESS_HEARTBEAT_SECONDS", "10")
    monkeypatch.setenv("PROCESS_EXPIRY_SECONDS", "15")
    with pytest.raises(ValidationError, match="at least twice PROCESS_HEARTBEAT_SECONDS"):
        Settings(_env_file=None)  # type: ignore[call-arg]
    monkeypatch.setenv("PROCESS_EXPIRY_SECONDS", "20")
    assert Settings(_env_file=None).process_expiry_seconds == 20  # type: ignore[call-arg]


@pytest.mark.parametrize("port", ["-1", "65536", "http"])
def test_metrics_port_is_a_port(monkeypatch: pytest.MonkeyPatch, port: str) -> None:
    monkeypatch.setenv("METRICS_PORT", port)
    with pytest.raises(ValidationError):
        Settings(_env_file=None)  # type: ignore[call-arg]


def test_database_url_chooses_the_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.database_target == "data/shortscience.sqlite3"  # DATABASE_PATH's
    assert not settings.is_postgresql
    monkeypatch.setenv("DATABASE_URL", "sqlite:///var/bot/library.sqlite3")
    settings = Settings()
    assert settings.sqlite_file == Path("var/bot/library.sqlite3")
    assert settings.resolved_search_index_path == Path("var/bot/library.search")
    assert settings.math_cache_dir == Path("var/bot/math-cache")
    monkeypatch.setenv("DATABASE_URL", "postgresql://bot:secret@db.example:5432/shortscience")
    settings = Settings()
    assert settings.is_postgresql and settings.sqlite_file is None
    assert settings.resolved_search_index_path == Path("data/shortscience.search")
    assert settings.database_options == {"read_connections": 4, "pool_size": 10}
    monkeypatch.setenv("DATABASE_URL", "mysql://nope")
    with pytest.raises(ValidationError, match="DATABASE_URL must be"):
        Settings()
    monkeypatch.setenv("DATABASE_URL", " ")
    assert Settings().database_url is None
