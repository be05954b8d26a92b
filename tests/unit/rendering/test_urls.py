"""The one URL check used for every embed URL and link button (issue 8, items 1 and 2)."""

from __future__ import annotations

import pytest

from bot.rendering.urls import (
    button_url,
    embed_url,
    is_markdown_safe_url,
    is_web_url,
    web_url_host,
)

REFUSED = [
    None,
    "",
    "javascript:alert(1)",
    "data:text/html,hello",
    "ftp://example.org/paper.pdf",
    "mailto:someone@example.org",
    "https://",
    "http://?x",
    "http://#frag",
    "http://exa mple.com",
    " https://example.org",
    "https://example.org/a\tb",
    "https://example.org/\x00",
    "http://[::1",
    "http://[not-ipv6]/",
    "http://a]b/",
    "http://a..b/",
    "http://.invalid/",
    "http://" + "a" * 1990 + "/",
    "http://example.org:99999/",
    "http://example.org:port/",
    "http://exa!mple.org/",
    "https://example.org/" + "a" * 2029,
]
ACCEPTED = [
    "https://arxiv.org/abs/1502.03167",
    "http://x.org",
    "HTTPS://Example.ORG/Path?q=1#frag",
    "http://127.0.0.1:8080/feed",
    "http://[2001:db8::1]:8080/x",
    "https://bücher.example/",
    "https://sub_domain.example.org/",
    "https://user:pw@example.org/",
    "https://example.org./trailing-dot",
    "https://example.org/" + "a" * 2028,
]


@pytest.mark.parametrize("url", REFUSED)
def test_what_discord_refuses_is_left_out(url: str | None) -> None:
    assert embed_url(url) is None
    assert button_url(url) is None
    assert not is_web_url(url)


@pytest.mark.parametrize("url", ACCEPTED)
def test_well_formed_web_urls_pass(url: str) -> None:
    assert embed_url(url) == url
    assert is_web_url(url)


def test_link_buttons_take_at_most_512_characters() -> None:
    fits = "https://example.org/" + "b" * 492
    assert button_url(fits) == fits
    assert button_url(fits + "b") is None
    assert embed_url(fits + "b") == fits + "b"


def test_the_host_is_shown_in_ascii_so_look_alikes_show() -> None:
    assert web_url_host("https://Evil.Example/claim") == "evil.example"
    # A Cyrillic "а" in "pаypal": the punycode form gives it away.
    assert web_url_host("https://p\u0430ypal.com/").startswith("xn--")  # type: ignore[union-attr]
    assert web_url_host("http://[2001:DB8::1]/") == "[2001:db8::1]"
    assert web_url_host("javascript:alert(1)") is None


def test_markdown_safe_urls_have_nothing_that_ends_a_link_early() -> None:
    assert is_markdown_safe_url("https://example.org/a_b")
    assert not is_markdown_safe_url("https://example.org/a)b")
    assert not is_markdown_safe_url("https://example.org/<b>")
    assert not is_markdown_safe_url("ftp://example.org/")
