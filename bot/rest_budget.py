"""This process's share of Discord's global REST budget.

Discord lets a bot make 50 requests a second with its token (interaction callbacks and
webhooks excepted), counted for the bot, not for each process: a bot run as N processes
must keep the sum under it. Every live process counts the live processes in the registry
at each heartbeat and spaces its own requests to its share, `(1 - headroom) × limit / N`;
the headroom absorbs network jitter and a process that is joining (below).

A process that joins while others run cannot make them take a smaller share before their
next heartbeat has counted it. Until then (two heartbeat intervals after it first
registered) it takes no more than half the headroom, so the sum stays under the limit.
A process that finds itself alone takes its full share at once.

The budget sits in front of discord.py's HTTP client as an aiohttp trace on its session
(`on_request_start` is awaited before each request leaves), so it paces every request the
bot token makes, retries included, whatever part of the bot makes it.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from types import SimpleNamespace
from typing import Any, Final

import aiohttp

from bot.pacing import RequestSpacer

# Discord's global limit for a bot (requests per second); larger bots may be granted more.
DISCORD_GLOBAL_LIMIT: Final = 50.0
# The fraction of the limit no steady share uses: jitter and joining processes.
DEFAULT_HEADROOM: Final = 0.1
# Interaction callbacks and webhooks (follow-ups) are outside the global limit: paths under
# /interactions/ and /webhooks/ of the API (not a channel's /channels/{id}/webhooks).
EXEMPT_PATH = re.compile(r"^(?:.*/api(?:/v\d+)?)?/(?:interactions|webhooks)/")


class GlobalRequestBudget:
    """Spaces this process's requests made with the bot token to its share of `limit`."""

    def __init__(
        self,
        limit: float = DISCORD_GLOBAL_LIMIT,
        *,
        headroom: float = DEFAULT_HEADROOM,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[Any]] = asyncio.sleep,
    ) -> None:
        if limit <= 0:
            raise ValueError("the global limit must be positive")
        if not 0 < headroom < 1:
            raise ValueError("the headroom is a fraction between 0 and 1")
        self.limit = limit
        self.headroom = headroom
        self._clock = clock
        self.live_processes = 1
        # Until when this process is joining (others may not have counted it yet).
        self._joining_until: float | None = None
        self._spacer = RequestSpacer(1.0 / self.steady_rate, clock=clock, sleep=sleep)
        self.requests = 0

    @property
    def steady_rate(self) -> float:
        """Requests per second once every live process has counted every other."""
        return (1.0 - self.headroom) * self.limit / self.live_processes

    @property
    def joining(self) -> bool:
        return self._joining_until is not None and self._clock() < self._joining_until

    @property
    def rate(self) -> float:
        """This process's share now, in requests per second."""
        if self.joining:
            return min(self.steady_rate, self.headroom * self.limit / 2)
        return self.steady_rate

    def share_among(self, live_processes: int, *, joined_for: float | None = None) -> None:
        """Take this process's share among `live_processes` (this one included; at least 1).

        `joined_for`: on the first count after registering, how long the others may take to
        count this process (their heartbeat interval, and a margin); this process keeps to
        the joining share that long when it is not alone.
        """
        self.live_processes = max(1, live_processes)
        if joined_for is not None and self.live_processes > 1:
            self._joining_until = self._clock() + joined_for
        self._spacer.interval = 1.0 / self.rate

    async def wait_turn(self) -> None:
        """Wait until this process may make its next request with the bot token."""
        # The joining share ends by itself; the spacing follows whatever the share is now.
        self._spacer.interval = 1.0 / self.rate
        self.requests += 1
        await self._spacer.wait_turn()

    @staticmethod
    def counts(path: str, headers: Mapping[str, str]) -> bool:
        """Whether Discord counts a request against the bot's global limit: made with the
        bot token, neither an interaction callback nor a webhook."""
        authorization = headers.get("Authorization", "")
        return authorization.startswith("Bot ") and EXEMPT_PATH.match(path) is None

    def install(self, trace: aiohttp.TraceConfig) -> None:
        """Pace every counted request made through a session with `trace`."""

        async def on_request_start(
            _session: aiohttp.ClientSession,
            _context: SimpleNamespace,
            params: aiohttp.TraceRequestStartParams,
        ) -> None:
            if self.counts(params.url.path, params.headers):
                await self.wait_turn()

        trace.on_request_start.append(on_request_start)
