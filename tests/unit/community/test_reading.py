"""Reading-session helpers: due dates, the reminder and the digest within Discord's limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.community.reading import digest_pages, parse_due, reminder_text, session_card
from bot.errors import UserFacingError
from bot.rendering.pages import DESCRIPTION_LIMIT, EMBED_TOTAL_LIMIT
from bot.storage.papers import Paper
from bot.storage.reading import ReadingSession, Submission

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC).timestamp()

PAPER = Paper(
    id=1,
    canonical_key="arxiv:1502.03167",
    arxiv_id="1502.03167",
    doi=None,
    bibtex_key=None,
    title="Batch Normalization @everyone",
    authors="Sergey Ioffe, Christian Szegedy",
    venue=None,
    year=2015,
    abstract="Training deep networks " * 200,
    url="https://arxiv.org/abs/1502.03167",
    pdf_url="https://arxiv.org/pdf/1502.03167",
    created_at=datetime.now(UTC),
    updated_at=datetime.now(UTC),
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", NOW + 3 * 86400),
        ("in 12 hours", NOW + 12 * 3600),
        ("1w", NOW + 7 * 86400),
        ("2025-03-05", datetime(2025, 3, 5, 23, 59, tzinfo=UTC).timestamp()),
        ("2025-03-05 18:00", datetime(2025, 3, 5, 18, 0, tzinfo=UTC).timestamp()),
        ("2025-03-05T18:00+02:00", datetime(2025, 3, 5, 16, 0, tzinfo=UTC).timestamp()),
    ],
)
def test_parse_due(text: str, expected: float) -> None:
    assert parse_due(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "words"),
    [("soon", "can't read"), ("2025-02-01", "future"), ("0d", "future"), ("60w", "a year")],
)
def test_parse_due_refuses(text: str, words: str) -> None:
    with pytest.raises(UserFacingError, match=words):
        parse_due(text, NOW)


def test_card_and_reminder_ping_nobody() -> None:
    card = session_card(PAPER, due_at=NOW + 86400, started_by=42)
    assert "@\u200beveryone" in (card.title or "")
    assert len(card.description or "") <= DESCRIPTION_LIMIT
    session = ReadingSession(
        id=1, guild_id=1, paper_id=1, channel_id=2, thread_id=3, card_message_id=None,
        started_by=42, started_at=NOW, due_at=NOW + 3 * 86400, reminder_sent_at=None,
        reminder_message_id=None, closed_at=None, closed_by=None, digest_message_id=None,
    )  # fmt: skip
    text = reminder_text(session, PAPER, [Submission(5, 7, "<@&99> bob", "tl", 1, NOW)])
    assert "<@\u200b&99>" in text and f"<t:{int(NOW + 3 * 86400)}:R>" in text
    assert len(text) <= 2000


def test_digest_pages_fit_and_keep_everyone() -> None:
    submissions = [
        Submission(i, i, f"member {i}", "A TL;DR of three hundred characters " * 8, i % 5, NOW)
        for i in range(60)
    ]
    pages = [planned.page for planned in digest_pages(PAPER, submissions)]
    assert len(pages) > 1
    assert all(page.total_length <= EMBED_TOTAL_LIMIT for page in pages)
    text = "\n".join(page.description for page in pages)
    assert all(f"member {i}**" in text for i in range(60))
    assert "No summaries" in digest_pages(PAPER, [])[0].page.description
