"""Worker processes for the CPU-heavy part of polling feeds: parsing bodies, matching filters.

A feed is anyone's input: a body can be slow to parse on purpose (a lenient parse of a
broken 5 MB feed takes seconds) or by accident. So parsing runs in worker processes of its
own (`bot.workers`): a job over its time budget ends its worker, which is replaced, and only
that feed's poll fails; everything else carries on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

from bot.feeds.models import ParsedFeed
from bot.feeds.parse import parse_feed
from bot.workers import WorkerJobFailed, WorkerPool

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_WORKERS: Final = 2
DEFAULT_TIMEOUT_SECONDS: Final = 20.0
# Imported once in the fork server the workers start from.
PRELOADED_MODULES: Final = ("bot.feeds.parse",)


class FeedWorkError(Exception):
    """A job did not finish: over its time budget, or its worker died. Says which, readably."""


class FeedWorkers(WorkerPool):
    """The feed workers. `parse()` never raises for what a feed contains: a body that takes
    too long or kills its worker becomes a ParsedFeed that is not a feed, with the reason as
    its error."""

    def __init__(
        self, *, workers: int = DEFAULT_WORKERS, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        super().__init__("feed", workers=workers, timeout=timeout, preload=PRELOADED_MODULES)

    async def parse(
        self, body: bytes, *, url: str | None = None, headers: Mapping[str, str] | None = None
    ) -> ParsedFeed:
        """`parse_feed` in a worker process, within the time budget."""
        try:
            return await self.run(parse_feed, body, url=url, headers=dict(headers or {}))
        except FeedWorkError as exc:
            return ParsedFeed(is_feed=False, format="none", error=str(exc))
        except Exception:
            # parse_feed never raises for bad input: this is a bug, and it costs one poll.
            log.exception("Parsing the feed at %s failed", url)
            return ParsedFeed(
                is_feed=False,
                format="none",
                error="the feed could not be read (an internal error was logged)",
            )

    async def run(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """`WorkerPool.run`, its failures said as a feed's reader would say them
        (FeedWorkError)."""
        try:
            return await super().run(function, *args, **kwargs)
        except WorkerJobFailed as exc:
            if exc.reason == "timeout":
                message = f"reading it took over {self.timeout:g} s, the most one feed may take"
            elif exc.reason == "died":
                message = "its reader stopped unexpectedly (the feed may be too large or malformed)"
            else:
                message = "the feed readers are closed"
            raise FeedWorkError(message) from None
