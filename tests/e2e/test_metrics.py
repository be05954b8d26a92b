# Waits take `timeout=` on purpose, as in the emulator's own helpers.
# ruff: noqa: ASYNC109
"""METRICS_PORT end to end: Prometheus metrics and /healthz scraped over HTTP while the real
bot runs against the emulator and the local feed server; the gateway killed in the emulator
turns /healthz to 503, and back."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.bot import ShortScienceBot
from bot.storage.feeds import FeedRepository
from bot.storage.outbox import OutboxRepository
from cogs.feeds import FeedsCog
from tests.e2e.conftest import StartBot
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import free_port, make_settings
from tests.feedserver import FeedServer, feed_server
from tests.unit.announce.test_poller import Item, shortscience_rss

__all__ = ["feed_server"]  # the fixture, used by name

FRESH_DATE = "Wed, 15 Mar 2017 09:00:00 +0000"


class Scraper:
    """GETs /metrics and /healthz like Prometheus and a load balancer would."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self.session = session
        self.base = f"http://127.0.0.1:{port}"

    async def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample: (name, sorted labels) -> value."""
        async with self.session.get(f"{self.base}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain")
            text = await response.text()
        return {
            (sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    async def health(self) -> tuple[int, dict[str, Any]]:
        async with self.session.get(f"{self.base}/healthz") as response:
            return response.status, await response.json()


def value(samples: dict[Any, float], name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


@pytest.fixture
async def scraper_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_metrics_and_healthz_while_the_bot_runs(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    feed_server: FeedServer,
    scraper_session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    bot: ShortScienceBot = await start_bot(
        make_settings(emulator, tmp_path / "bot.sqlite3", metrics_port=port)
    )
    scrape = Scraper(scraper_session, port)
    feeds = cast(FeedsCog, bot.get_cog("FeedsCog"))

    status, health = await scrape.health()
    assert status == 200 and health["status"] == "ok" and health["failing"] == []
    assert health["process"]["id"] == bot.process_id and health["process"]["shard_ids"] == [0]
    assert health["checks"]["gateway"]["data"]["shards"][0]["connected"] is True
    assert "process heartbeat" in health["checks"]["loops"]["data"]["running"]

    # A feed subscribed with a slash command (an interaction answered), then a new entry
    # polled and announced, the first send answered 429 by Discord.
    items = [Item("old/1", title="Old paper")]
    url = feed_server.set_feed("ss", shortscience_rss(items))
    mod = emulator.guild.member("mod")
    added = await emulator.slash(f"/feed add url:{url} channel:#general", member=mod)
    assert "Subscribed" in (await added.wait_reply(15)).content
    items.insert(0, Item("new/1", title="Fresh paper", date=FRESH_DATE))
    feed_server.set_feed("ss", shortscience_rss(items))
    emulator.faults.rate_limit("POST /channels/{channel_id}/messages", times=1)
    outcomes = await feeds.poll_now(all_feeds=True)
    assert [o.status for o in outcomes] == ["new"]
    general = emulator.guild.channel("general")
    await emulator.wait_for(lambda: emulator.messages(general), timeout=10)
    registry = bot.metrics.registry
    await emulator.wait_for(
        lambda: registry.get_sample_value(
            "shortscience_announcement_sends_total", {"outcome": "sent"}
        )
    )

    samples = await scrape.metrics()
    assert value(samples, "shortscience_feed_polls_total", status="new") == 1
    assert value(samples, "shortscience_feed_poll_duration_seconds_count") == 1
    assert value(samples, "shortscience_announcement_sends_total", outcome="sent") == 1
    assert value(samples, "shortscience_discord_rate_limited_total", scope="user") == 1
    # /feed add: INTERACTION_CREATE to the first response ("thinking" or the answer).
    assert value(samples, "shortscience_interaction_response_seconds_count") == 1
    assert 0 < cast(float, value(samples, "shortscience_interaction_response_seconds_sum")) < 3
    assert value(samples, "shortscience_shard_connected", shard="0") == 1
    latency = value(samples, "shortscience_shard_latency_seconds", shard="0")
    assert latency is not None and 0 <= latency < 1
    assert value(samples, "shortscience_background_loop_running", loop="feed poller") == 1
    assert value(samples, "shortscience_feeds_due") == 0
    assert value(samples, "shortscience_outbox_pending") == 0

    # Feeds due and the outbox's backlog are read from the database at each scrape.
    sender = bot.loops.get("announcement sender")
    assert sender is not None
    await sender.stop()
    poller = bot.loops.get("feed poller")
    assert poller is not None
    await poller.stop()
    await FeedRepository(bot.db).make_all_due(time.time())
    for _ in range(2):
        await OutboxRepository(bot.db).enqueue(
            kind="notice",
            guild_id=emulator.guild.id,
            channel_id=general.id,
            text="waiting",
            now=time.time() - 150,
        )
    samples = await scrape.metrics()
    assert value(samples, "shortscience_feeds_due") == 1
    assert value(samples, "shortscience_outbox_pending") == 2
    assert cast(float, value(samples, "shortscience_outbox_oldest_pending_age_seconds")) >= 150
    assert value(samples, "shortscience_background_loop_running", loop="feed poller") == 0

    # Stopped loops are unhealthy.
    status, health = await scrape.health()
    assert status == 503 and health["failing"] == ["loops"]
    assert set(health["checks"]["loops"]["data"]["stopped"]) == {
        "feed poller",
        "announcement sender",
    }


async def test_healthz_turns_503_when_the_gateway_or_the_database_fails(
    emulator: DiscordEmulator,
    start_bot: StartBot,
    scraper_session: aiohttp.ClientSession,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    port = free_port()
    bot: ShortScienceBot = await start_bot(
        make_settings(emulator, tmp_path / "bot.sqlite3", metrics_port=port)
    )
    scrape = Scraper(scraper_session, port)
    assert (await scrape.health())[0] == 200

    # The gateway goes down: the shard's connection is gone and cannot come back.
    await emulator.stop_gateway()

    async def failing_checks() -> list[str]:
        status, health = await scrape.health()
        return health["failing"] if status == 503 else []

    async def gateway_failing() -> bool:
        return await failing_checks() == ["gateway"]

    await wait_async(emulator, gateway_failing, timeout=10)
    status, health = await scrape.health()
    assert "not connected" in health["checks"]["gateway"]["detail"]
    assert value(await scrape.metrics(), "shortscience_shard_connected", shard="0") == 0

    # Back: the shard reconnects and /healthz answers 200 again.
    emulator.start_gateway()

    async def healthy() -> bool:
        return (await scrape.health())[0] == 200

    await wait_async(emulator, healthy, timeout=30)

    # The database stops answering.
    async def broken(*args: object, **kwargs: object) -> object:
        raise OSError("disk I/O error")

    monkeypatch.setattr(bot.db, "fetchval", broken)
    status, health = await scrape.health()
    assert status == 503 and health["failing"] == ["database"]
    assert "OSError: disk I/O error" in health["checks"]["database"]["detail"]


async def wait_async(
    emulator: DiscordEmulator, check: Callable[[], Awaitable[bool]], *, timeout: float
) -> None:
    """Wait until `await check()` is true (asked every 0.1 s)."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout} s\n{emulator.describe_recent()}")
        await asyncio.sleep(0.1)
