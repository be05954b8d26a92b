"""Announcements: the feed poller, the outbox sender, and what announcements look like.

Community summaries are posted with `enqueue_summary_cards` (their card where they were
written, and their announcement) or `enqueue_community_announcement` (the announcement
alone); see their docstrings.
"""

from bot.announce.community import (
    ANNOUNCEMENT_ENQUEUED,
    SummaryCard,
    enqueue_community_announcement,
    enqueue_summary_cards,
)

__all__ = [
    "ANNOUNCEMENT_ENQUEUED",
    "SummaryCard",
    "enqueue_community_announcement",
    "enqueue_summary_cards",
]
