"""When to poll a feed next: its interval after a success; after a failure, the backoff
(`bot.pacing.backoff_delay`) with the base and cap here."""

from __future__ import annotations

import random

# A feed may ask to be polled less often (<ttl>, Cache-Control max-age), but never less
# often than this: announcements should not arrive hours late because a feed said so.
MAX_FEED_HINT_SECONDS = 3600.0
BACKOFF_BASE_SECONDS = 300.0
BACKOFF_CAP_SECONDS = 24 * 3600.0
# Each interval is stretched or shrunk by up to this fraction, so feeds polled together once
# drift apart instead of hitting the network in the same second forever.
INTERVAL_JITTER = 0.1


def poll_interval(
    base_seconds: float, *, ttl_minutes: int | None = None, max_age_seconds: float | None = None
) -> float:
    """The feed's poll interval: the configured one, or the feed's own hint when longer.

    The hint (RSS `<ttl>` in minutes, or `Cache-Control: max-age`) is capped at an hour; a
    configured interval above an hour is kept as it is.
    """
    hints = [h for h in (ttl_minutes * 60 if ttl_minutes else None, max_age_seconds) if h]
    hint = min(max(hints), MAX_FEED_HINT_SECONDS) if hints else 0.0
    return max(base_seconds, hint)


def jittered(seconds: float, rng: random.Random | None = None) -> float:
    """`seconds` give or take INTERVAL_JITTER of it."""
    spread = (rng or random).uniform(-INTERVAL_JITTER, INTERVAL_JITTER)
    return seconds * (1.0 + spread)


def first_poll_delay(interval: float, rng: random.Random | None = None) -> float:
    """Delay before a new feed's next poll: anywhere in its first interval, so that feeds
    added together (an import, a burst of /feed add) are spread over the interval."""
    return (rng or random).uniform(0.5, 1.0) * interval
