"""Which URLs Discord accepts, and how a link's real destination is shown.

Every URL the bot puts in an embed (its url, image, thumbnail, author or footer icon) or in a
link button goes through `embed_url` / `button_url` first: Discord refuses the whole message
(400, "Invalid Form Body") for a single bad one, so a URL that fails is left out and the
message still goes out. What passes: http or https, a well-formed host (a name that IDNA can
encode, an IPv4 address, or an IPv6 address in brackets), a valid port, no whitespace or
control characters, and at most 2,048 characters (512 for a link button).
"""

from __future__ import annotations

import ipaddress
import re
from typing import Final
from urllib.parse import urlsplit

EMBED_URL_LIMIT: Final = 2048
LINK_BUTTON_URL_LIMIT: Final = 512
WEB_SCHEMES: Final = frozenset({"http", "https"})
# Host names after IDNA encoding: dot-separated labels (underscores occur in real hosts).
_ASCII_HOST: Final = re.compile(r"[a-z0-9_-]+(?:\.[a-z0-9_-]+)*\.?")
# A ")" or "<" would end a masked link or an autolink early and show the rest as text.
_MARKDOWN_BREAKERS: Final = frozenset("()<>")


def _ascii_host(netloc: str, hostname: str | None) -> str | None:
    """The host as Discord and browsers see it (punycode for names, brackets for IPv6), or
    None when it is not well formed."""
    host = netloc.rpartition("@")[2]
    if host.startswith("["):
        literal = host[1 : host.find("]")] if "]" in host else ""
        try:
            ipaddress.IPv6Address(literal.split("%", 1)[0])
        except ValueError:
            return None
        return f"[{literal.lower()}]"
    if not hostname or "[" in host or "]" in host:
        return None
    try:
        ascii_host = hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:  # an empty label (`a..b`, `.invalid`) or one over 63 characters
        return None
    return ascii_host if _ASCII_HOST.fullmatch(ascii_host) else None


def web_url_host(url: str | None, *, limit: int = EMBED_URL_LIMIT) -> str | None:
    """The host of `url` in ASCII (`xn--...` for international names, so look-alike letters
    cannot pass for others) when `url` is a web URL Discord accepts, else None."""
    if not url or len(url) > limit:
        return None
    if any(character.isspace() or not character.isprintable() for character in url):
        return None
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:  # unbalanced IPv6 brackets, a bad port
        return None
    if parts.scheme.lower() not in WEB_SCHEMES:
        return None
    return _ascii_host(parts.netloc, parts.hostname)


def embed_url(url: str | None) -> str | None:
    """`url` if Discord accepts it in an embed (url, image, thumbnail, icons), else None."""
    return url if web_url_host(url) is not None else None


def button_url(url: str | None) -> str | None:
    """`url` if Discord accepts it for a link button (512 characters at most), else None."""
    return url if web_url_host(url, limit=LINK_BUTTON_URL_LIMIT) is not None else None


def is_web_url(url: str | None) -> bool:
    """Whether Discord accepts `url` as an embed or Markdown link."""
    return web_url_host(url) is not None


def is_markdown_safe_url(url: str | None) -> bool:
    """Whether `url` can be the target of a Markdown link `[text](url)` unchanged."""
    return is_web_url(url) and not any(character in _MARKDOWN_BREAKERS for character in url or "")
