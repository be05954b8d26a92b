"""Announcement messages: what the embed shows, that it fits Discord's limits, and mentions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.announce.components import marker_of
from bot.announce.messages import (
    excerpt,
    notice_message,
    overflow_message,
    overflow_text,
    paused_notice_text,
    summary_message,
    text_message,
)
from bot.storage.outbox import AnnouncedSummary


def summary(**changes: object) -> AnnouncedSummary:
    values: dict[str, object] = {
        "summary_id": 42,
        "origin": "feed",
        "guild_id": None,
        "author_name": "udibr",
        "summary_title": "",
        "tldr": "",
        "body": "**Batch norm** normalises: $\\hat{x} = \\frac{x - \\mu}{\\sigma}$.",
        "url": "https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15#udibr",
        "score": 12,
        "created_at": 1_489_483_267.0,
        "paper_title": "Batch Normalization",
        "paper_authors": "Sergey Ioffe, Christian Szegedy",
        "venue": "ICML",
        "year": 2015,
        "paper_url": "https://arxiv.org/abs/1502.03167",
    }
    values.update(changes)
    return AnnouncedSummary(**values)  # type: ignore[arg-type]


def embed_size(embed: Mapping[str, Any]) -> int:
    fields = sum(len(f["name"]) + len(f["value"]) for f in embed.get("fields", []))
    return (
        len(embed.get("title", ""))
        + len(embed.get("description", ""))
        + len(embed.get("author", {}).get("name", ""))
        + len(embed.get("footer", {}).get("text", ""))
        + fields
    )


def test_the_card_shows_paper_authors_venue_author_score_text_and_feed() -> None:
    message = summary_message(summary(), source_name="ShortScience.org", mention_role_id=None)
    assert message.embed is not None
    embed = message.embed.to_dict()
    assert embed["title"] == "Batch Normalization"
    assert embed["url"].endswith("#udibr")
    assert embed["author"]["name"] == "Summary by udibr"
    assert "Sergey Ioffe, Christian Szegedy · ICML 2015" in embed["description"]
    assert "x̂" in embed["description"] and "\\frac" not in embed["description"]  # as /summary
    # No hint naming a command: a Read button opens the whole summary.
    assert "/summary" not in embed["description"]
    assert embed["fields"] == [{"name": "Score", "value": "▲ 12", "inline": True}]
    assert embed["footer"]["text"] == "ShortScience.org"
    assert message.content is None
    assert message.view is not None and message.view.is_finished()
    [read] = message.view.to_components()[0]["components"]
    assert (read["label"], read["custom_id"]) == ("Read", "ss:read:42")


def test_an_abstract_is_announced_as_a_new_paper_never_as_a_summary_by_its_authors() -> None:
    """Issue 9: an arXiv entry is a paper. Its card says "New paper" with the authors and the
    abstract, and has no "Summary by <the paper's authors>" nor a score of 0."""
    arxiv = summary(
        kind="abstract",
        author_name="Alice Smith, Bob Jones",
        paper_authors="",
        venue=None,
        year=2024,
        score=0,
        body="We study sparse mixtures of experts where only $k < n$ experts are active.",
    )
    message = summary_message(arxiv, source_name="cs.LG updates on arXiv.org", mention_role_id=None)
    assert message.embed is not None
    embed = message.embed.to_dict()
    assert embed["author"]["name"] == "New paper"
    assert "Summary by" not in str(embed) and "▲" not in str(embed)
    assert "fields" not in embed
    description = embed["description"]
    assert description.startswith("*Alice Smith, Bob Jones · 2024*")
    assert "**Abstract** We study sparse mixtures" in description and "k < n" in description
    assert embed["footer"]["text"] == "cs.LG updates on arXiv.org"
    [read] = message.view.to_components()[0]["components"]  # type: ignore[union-attr]
    assert read["label"] == "Read"


def test_the_read_button_carries_the_outbox_marker_and_community_cards_take_votes() -> None:
    feed = summary_message(summary(), source_name="f", mention_role_id=None, marker="so1a2b")
    assert feed.view is not None
    assert [c["custom_id"] for c in feed.view.to_components()[0]["components"]] == [
        "ss:read:42:so1a2b"
    ]
    community = summary_message(
        summary(origin="community", votes_up=3, votes_down=1),
        source_name="New community summary",
        mention_role_id=None,
        headline="📝 <@7> wrote a summary.",
    )
    assert community.content == "📝 <@7> wrote a summary."
    assert community.allowed_mentions.to_dict() == {"parse": []}
    assert community.view is not None
    buttons = community.view.to_components()[0]["components"]
    assert [(b.get("label"), b["custom_id"]) for b in buttons] == [
        ("Read", "ss:read:42"),
        ("3", "ss:vote:42:up"),
        ("1", "ss:vote:42:down"),
    ]
    assert marker_of(feed.view.children) == "so1a2b"
    assert marker_of(community.view.to_components()) is None


def test_overflow_lines_and_notices_carry_their_button_and_marker() -> None:
    overflow = overflow_message("…and 3 more", marker="soab")
    notice = notice_message("⚠️ paused", subscription_id=9, marker="socd")
    assert overflow.view is not None and notice.view is not None
    assert marker_of(overflow.view.to_components()) == "soab"
    assert [c["custom_id"] for c in notice.view.to_components()[0]["components"]] == [
        "ss:resume:9:socd"
    ]
    assert notice_message("x", subscription_id=None).view is None


def test_a_tldr_is_preferred_to_the_body() -> None:
    message = summary_message(
        summary(tldr="Normalise activations per batch."), source_name="f", mention_role_id=None
    )
    assert message.embed is not None
    description = message.embed.description or ""
    assert "**TL;DR** Normalise activations per batch." in description
    assert "Batch norm" not in description


def test_missing_paper_details_fall_back_to_the_summary() -> None:
    message = summary_message(
        summary(paper_title=None, paper_authors=None, venue=None, year=None, summary_title="T"),
        source_name="f",
        mention_role_id=None,
    )
    assert message.embed is not None and message.embed.title == "T"


def test_long_text_is_cut_at_a_line_with_an_ellipsis() -> None:
    body = "\n".join(f"Line {n} " + "word " * 20 for n in range(100))
    text = excerpt(body)
    assert len(text) <= 705 and text.endswith("…") and "Line 0" in text


def test_a_test_announcement_is_marked_and_pings_nobody() -> None:
    message = summary_message(summary(), source_name="f", mention_role_id=5, test=True)
    assert message.embed is not None
    assert (message.embed.title or "").startswith("[Test]")
    assert "Test announcement" in (message.content or "")
    assert message.allowed_mentions.to_dict() == {"parse": []}


def test_text_messages_ping_nobody() -> None:
    message = text_message("@everyone <@&1> " + "x" * 3000)
    assert message.allowed_mentions.to_dict() == {"parse": []}
    assert message.content is not None and len(message.content) <= 2000


def test_overflow_and_notice_texts() -> None:
    assert overflow_text(1, "F") == "…and 1 more new summary from **F**: see them with `/latest`."
    assert "3 more new summaries" in overflow_text(3, "F")
    notice = paused_notice_text("My *feed*", "http://x", "it is gone")
    assert "My \\*feed\\*" in notice and "`/feed resume`" in notice and "it is gone" in notice


def test_feed_controlled_texts_carry_no_masked_link() -> None:
    evil = "[Claim your reward](https://evil.example)"
    assert "\\[Claim your reward\\](https://evil.example)" in overflow_text(3, evil)
    notice = paused_notice_text(
        evil, "https://x.org/feed>[a](https://evil.example)", f"HTTP 500 {evil}"
    )
    assert "[Claim" not in notice.replace("\\[Claim", "")
    assert "<https://x.org/feed>" not in notice  # an address that would break out is text


def test_a_masked_link_in_the_text_or_the_authors_shows_its_host() -> None:
    message = summary_message(
        summary(
            body="Code: [official code](https://evil.example/x).",
            paper_authors="Ioffe, [Free prize](https://evil.example)",
        ),
        source_name="f",
        mention_role_id=None,
    )
    assert message.embed is not None
    description = message.embed.description or ""
    assert "[official code](https://evil.example/x) (evil.example)" in description
    assert "Ioffe, Free prize (evil.example)" in description


@settings(max_examples=50, deadline=None)
@given(
    st.text(max_size=400),
    st.text(max_size=800),
    st.text(max_size=6000),
    st.text(max_size=300),
    st.text(max_size=300),
)
def test_any_summary_fits_discord_limits(
    title: str, authors: str, body: str, author: str, feed_name: str
) -> None:
    message = summary_message(
        summary(paper_title=title, paper_authors=authors, body=body, author_name=author),
        source_name=feed_name,
        mention_role_id=7,
    )
    assert message.embed is not None
    embed = message.embed.to_dict()
    assert len(embed.get("title", "")) <= 256
    assert len(embed.get("description", "")) <= 4096
    assert len(embed["author"]["name"]) <= 256
    assert len(embed["footer"]["text"]) <= 2048
    assert embed_size(embed) <= 6000
