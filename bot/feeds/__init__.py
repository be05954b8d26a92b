"""Reading feeds: fetch over HTTP (`fetch`), parse RSS/Atom (`parse`), and their models."""

from bot.feeds.fetch import FetchResult, fetch_feed
from bot.feeds.models import DiscoveredFeed, FeedEntry, ParsedFeed
from bot.feeds.parse import choose_identity, discover_feeds, parse_feed

__all__ = [
    "DiscoveredFeed",
    "FeedEntry",
    "FetchResult",
    "ParsedFeed",
    "choose_identity",
    "discover_feeds",
    "fetch_feed",
    "parse_feed",
]
