"""Feeds that are slow to parse keep their cost to themselves: `/search` answers meanwhile."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.feeds import FetchResult, ParsedFeed
from bot.storage.feeds import FeedRepository, SubscriptionRepository
from tests.e2e.conftest import StartBot
from tests.e2e.search_seed import import_sample
from tests.e2e.test_feeds import feeds_cog
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import make_settings
from tests.feedserver import FeedServer, feed_server
from tests.unit.announce.test_poller import slow_body

__all__ = ["feed_server"]  # the fixture, used by name

SLOW_FEEDS = 8  # more than the default thread pool's threads on a 2-core machine (6)


async def test_slow_feed_parses_do_not_delay_a_search(
    start_bot: StartBot,
    emulator: DiscordEmulator,
    feed_server: FeedServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(
        emulator, tmp_path / "bot.sqlite3", feed_parse_workers=1, feed_parse_timeout=300
    )
    bot = await start_bot(settings)
    await import_sample(bot)
    body = slow_body(8000)  # about 3 MB: seconds of CPU each for the lenient parser
    feeds, subscriptions = FeedRepository(bot.db), SubscriptionRepository(bot.db)
    paths = [f"/dynamic/slow{n}" for n in range(SLOW_FEEDS)]
    for n, path in enumerate(paths):
        feed_server.set_feed(f"slow{n}", body)
        feed_id = await feeds.create(
            feed_server.url(path), title="", site_url=None, now=0, next_poll_at=0
        )
        await subscriptions.add(  # from as many servers, so no server's share holds them
            feed_id=feed_id, guild_id=1000 + n, channel_id=1, include_terms="",
            exclude_terms="", mention_role_id=None, created_by=None, now=0,
        )  # fmt: skip
    poller = feeds_cog(bot).poller
    parses_started: list[str] = []
    parses_done: list[str] = []
    real_parse = poller.parse

    async def counted_parse(result: FetchResult) -> ParsedFeed:
        parses_started.append(result.url)
        parsed = await real_parse(result)
        parses_done.append(result.url)
        return parsed

    monkeypatch.setattr(poller, "parse", counted_parse)
    await poller.start_due()
    await emulator.wait_for(
        lambda: len(parses_started) == SLOW_FEEDS,
        timeout=30,
        description="every slow feed fetched and handed to the parser",
    )
    # Searches answer in well under a second here; before parsing moved out of this process
    # and its default thread pool, this one got no answer within 15 s.
    reply = await (await emulator.slash("/search query:gradient")).wait_reply(15)
    assert reply.embed is not None and "gradient" in reply.embed["title"].lower()
    # Not one of the slow parses had to finish for the search to be answered.
    assert parses_done == []
