"""The Prometheus metrics of one bot process (prometheus-client), in a registry of its own.

Counters and histograms are fed where things happen: each feed poll (`record_poll`), each
drain of the outbox (`record_drain`), each HTTP answer from Discord (an aiohttp trace on
discord.py's own session: 429s and interaction callbacks), each INTERACTION_CREATE
(`interaction_received`). Gauges of state (feeds due, the outbox backlog, shard latencies)
are set just before each scrape by `bot.monitoring`, which serves them (METRICS_PORT).

The bot always records them (it costs a few dictionary updates); they are served only when
METRICS_PORT is set.
"""

from __future__ import annotations

import re
import time
from collections import OrderedDict
from collections.abc import Callable
from types import SimpleNamespace
from typing import Final

import aiohttp
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

NAMESPACE: Final = "shortscience"
# An interaction must be answered within 3 s; one never answered is forgotten after this.
INTERACTION_MEMORY_SECONDS: Final = 60.0
INTERACTION_MEMORY_SIZE: Final = 10_000

# POST /interactions/{id}/{token}/callback: the first response to an interaction.
CALLBACK_PATH = re.compile(r"/interactions/(\d+)/[^/]+/callback$")


class BotMetrics:
    """Every metric the bot exposes; `registry` is what `/metrics` serves."""

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.registry = CollectorRegistry()
        registry = self.registry
        self.polls = Counter(
            "feed_polls",
            "Feed polls, by outcome (new, unchanged, not_modified, initialized, failed, paused)",
            ["status"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.poll_duration = Histogram(
            "feed_poll_duration_seconds",
            "Time one feed poll took, from its start (waiting for a fetch slot included) to "
            "its outcome",
            namespace=NAMESPACE,
            registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0),
        )
        self.feeds_due = Gauge(
            "feeds_due",
            "Feeds whose next poll is due now (not paused, with subscribers)",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.feeds_leased = Gauge(
            "feeds_leased",
            "Feeds this process holds a lease on (polling them, or about to)",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.outbox_pending = Gauge(
            "outbox_pending",
            "Announcements waiting in the outbox to be posted (every server)",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.outbox_oldest_age = Gauge(
            "outbox_oldest_pending_age_seconds",
            "Age of the oldest announcement waiting in the outbox (0 when none waits)",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.sends = Counter(
            "announcement_sends",
            "Outbox rows handled by this process, by outcome (sent; found: posted before a "
            "crash and found in the channel; retried; dropped)",
            ["outcome"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.rate_limited = Counter(
            "discord_rate_limited",
            "429 answers from Discord, by scope (user: a route's bucket; global; shared; "
            "cloudflare: no Via header, a ban of the IP address)",
            ["scope"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.live_processes = Gauge(
            "live_processes",
            "Bot processes with a fresh heartbeat in the registry, this one included",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.rest_budget = Gauge(
            "rest_budget_requests_per_second",
            "This process's share of Discord's global REST limit (requests a second with the "
            "bot token)",
            namespace=NAMESPACE,
            registry=registry,
        )
        self.interaction_latency = Histogram(
            "interaction_response_seconds",
            "From receiving INTERACTION_CREATE to Discord accepting the first response",
            namespace=NAMESPACE,
            registry=registry,
            buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 5.0),
        )
        self.shard_latency = Gauge(
            "shard_latency_seconds",
            "Gateway heartbeat round trip per shard of this process (absent before the first)",
            ["shard"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.shard_connected = Gauge(
            "shard_connected",
            "1 when the shard's gateway connection is open, else 0",
            ["shard"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.loop_running = Gauge(
            "background_loop_running",
            "1 when the background loop runs, else 0",
            ["loop"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self.loop_failures = Gauge(
            "background_loop_failures_in_a_row",
            "Failed runs in a row of each background loop",
            ["loop"],
            namespace=NAMESPACE,
            registry=registry,
        )
        self._received: OrderedDict[int, float] = OrderedDict()
        # Feeds this process holds a lease on (the feeds cog says how to count them).
        self.leased_feeds: Callable[[], int] = lambda: 0

    # --- recording --------------------------------------------------------------------

    def record_poll(self, status: str, seconds: float) -> None:
        self.polls.labels(status=status).inc()
        self.poll_duration.observe(seconds)

    def record_sends(self, *, sent: int, found: int, retried: int, dropped: int) -> None:
        for outcome, count in (
            ("sent", sent),
            ("found", found),
            ("retried", retried),
            ("dropped", dropped),
        ):
            if count:
                self.sends.labels(outcome=outcome).inc(count)

    def interaction_received(self, interaction_id: int) -> None:
        """An INTERACTION_CREATE arrived (called as discord.py dispatches it)."""
        now = self._clock()
        self._received[interaction_id] = now
        while self._received and (
            len(self._received) > INTERACTION_MEMORY_SIZE
            or now - next(iter(self._received.values())) > INTERACTION_MEMORY_SECONDS
        ):
            self._received.popitem(last=False)

    def interaction_answered(self, interaction_id: int) -> None:
        """Discord accepted a response to the interaction; only the first one counts."""
        received = self._received.pop(interaction_id, None)
        if received is not None:
            self.interaction_latency.observe(max(0.0, self._clock() - received))

    def record_response(self, path: str, status: int, headers: object) -> None:
        """One HTTP answer from Discord (REST, interaction callbacks and webhooks)."""
        get = getattr(headers, "get", None)
        if status == 429 and get is not None:
            self.rate_limited.labels(scope=rate_limit_scope(get)).inc()
        elif status < 400:
            match = CALLBACK_PATH.search(path)
            if match is not None:
                self.interaction_answered(int(match.group(1)))

    def http_trace(self) -> aiohttp.TraceConfig:
        """An aiohttp trace for discord.py's HTTP session (Client(http_trace=...)): it sees
        every answer, retries of 429s included."""
        trace = aiohttp.TraceConfig()

        async def on_request_end(
            _session: aiohttp.ClientSession,
            _context: SimpleNamespace,
            params: aiohttp.TraceRequestEndParams,
        ) -> None:
            self.record_response(params.url.path, params.response.status, params.response.headers)

        trace.on_request_end.append(on_request_end)
        return trace


def rate_limit_scope(header: Callable[[str], str | None]) -> str:
    """What a 429 limited, from its headers: Discord's X-RateLimit-Scope (user, global,
    shared); without a Via header it came from Cloudflare, not Discord's API."""
    scope = header("X-RateLimit-Scope")
    if scope:
        return scope.lower()
    if header("X-RateLimit-Global"):
        return "global"
    if header("Via") is None:
        return "cloudflare"
    return "user"
