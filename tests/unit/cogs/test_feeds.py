"""`/feed add`'s address check: what cannot be a web address is refused before any fetch."""

from __future__ import annotations

import pytest

from bot.errors import UserFacingError
from cogs.feeds import normalise_feed_url


@pytest.mark.parametrize(
    ("typed", "url"),
    [
        ("https://www.shortscience.org/rss.xml", "https://www.shortscience.org/rss.xml"),
        ("rss.arxiv.org/rss/cs.LG", "https://rss.arxiv.org/rss/cs.LG"),
        ("<https://a.example/feed>", "https://a.example/feed"),
        ("http://127.0.0.1:8080/x", "http://127.0.0.1:8080/x"),
        ("http://localhost:4/x", "http://localhost:4/x"),  # refused later as a local address
        ("https://exämple.org/feed", "https://xn--exmple-cua.org/feed"),
        ("https://a_b.example/x", "https://a_b.example/x"),
    ],
)
def test_addresses_are_accepted(typed: str, url: str) -> None:
    assert normalise_feed_url(typed) == url


@pytest.mark.parametrize("typed", ["not a url", "hello", "http://", "a..b", "http://-x-.org/"])
def test_what_is_not_an_address_is_refused_in_one_sentence(typed: str) -> None:
    with pytest.raises(UserFacingError) as refused:
        normalise_feed_url(typed)
    assert refused.value.message.endswith(
        "is not a web address: give the feed's URL, such as `https://www.shortscience.org/rss.xml`."
    )


def test_a_long_hostile_host_is_refused() -> None:
    # Labels are separated by mandatory dots, so the pattern cannot backtrack exponentially.
    with pytest.raises(UserFacingError):
        normalise_feed_url("http://" + "a" * 250 + "-/feed")
