"""`bot.metrics`: what each HTTP answer from Discord, poll, drain and interaction records."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from bot.metrics import BotMetrics, rate_limit_scope


def sample(metrics: BotMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict({key.replace("_", "-"): value for key, value in values.items()})


def test_429s_are_counted_by_scope() -> None:
    metrics = BotMetrics()
    path = "/api/v10/channels/1/messages"
    metrics.record_response(path, 429, headers(X_RateLimit_Scope="user", Via="1.1 google"))
    metrics.record_response(path, 429, headers(X_RateLimit_Scope="shared", Via="1.1 google"))
    metrics.record_response(path, 429, headers(X_RateLimit_Global="true", Via="1.1 google"))
    metrics.record_response(path, 429, headers())  # Cloudflare: no Via
    metrics.record_response(path, 200, headers())
    for scope in ("user", "shared", "global", "cloudflare"):
        assert sample(metrics, "shortscience_discord_rate_limited_total", scope=scope) == 1


def test_the_scope_header_wins() -> None:
    assert rate_limit_scope({"X-RateLimit-Scope": "Global", "Via": "x"}.get) == "global"
    assert rate_limit_scope({"Via": "1.1 google"}.get) == "user"


def test_interaction_latency_runs_from_receipt_to_the_first_accepted_callback() -> None:
    clock = [10.0]
    metrics = BotMetrics(clock=lambda: clock[0])
    metrics.interaction_received(111)
    clock[0] = 10.4
    # A refused callback is not a response; neither is another interaction's.
    metrics.record_response("/api/v10/interactions/111/tok/callback", 400, headers())
    metrics.record_response("/api/v10/interactions/222/tok/callback", 204, headers())
    metrics.record_response("/api/v10/interactions/111/tok/callback", 200, headers())
    clock[0] = 11.0
    metrics.record_response("/api/v10/interactions/111/tok/callback", 200, headers())  # a second
    assert sample(metrics, "shortscience_interaction_response_seconds_count") == 1
    assert sample(metrics, "shortscience_interaction_response_seconds_sum") == pytest.approx(0.4)


def test_unanswered_interactions_are_forgotten() -> None:
    clock = [0.0]
    metrics = BotMetrics(clock=lambda: clock[0])
    metrics.interaction_received(1)
    clock[0] = 120.0
    metrics.interaction_received(2)  # forgets 1 (older than a minute)
    metrics.record_response("/api/v10/interactions/1/t/callback", 204, headers())
    assert sample(metrics, "shortscience_interaction_response_seconds_count") == 0


def test_polls_and_sends() -> None:
    metrics = BotMetrics()
    metrics.record_poll("new", 0.3)
    metrics.record_poll("failed", 2.0)
    metrics.record_poll("new", 0.1)
    metrics.record_sends(sent=3, found=1, retried=0, dropped=2)
    assert sample(metrics, "shortscience_feed_polls_total", status="new") == 2
    assert sample(metrics, "shortscience_feed_polls_total", status="failed") == 1
    assert sample(metrics, "shortscience_feed_poll_duration_seconds_count") == 3
    assert sample(metrics, "shortscience_announcement_sends_total", outcome="sent") == 3
    assert sample(metrics, "shortscience_announcement_sends_total", outcome="found") == 1
    assert sample(metrics, "shortscience_announcement_sends_total", outcome="retried") is None
    assert sample(metrics, "shortscience_announcement_sends_total", outcome="dropped") == 2


def test_each_bot_has_its_own_registry() -> None:
    first, second = BotMetrics(), BotMetrics()
    first.record_poll("new", 1.0)
    assert sample(second, "shortscience_feed_polls_total", status="new") is None
