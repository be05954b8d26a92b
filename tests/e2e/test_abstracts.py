"""An arXiv entry is a paper, not a summary (issue 9, "Announcements that lead somewhere"):
the real bot against the emulator and the local feed server, driven as a member would.

Its announcement says "New paper" with the paper's authors and abstract (never "Summary by
<the paper's authors> · ▲ 0"); Read, `/summary view` and `/search` label it as the paper's
abstract; `/top` leaves it out, and search ranks a real summary of the same paper above it.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from bot.bot import ShortScienceBot
from tests.e2e.conftest import StartBot
from tests.e2e.test_feeds import command, summary_id_in, wait_messages
from tests.emulator import DiscordEmulator
from tests.emulator.botharness import make_settings
from tests.feedserver import FeedServer, feed_server

__all__ = ["feed_server"]  # the fixture, used by name

AUTHORS = "Alice Smith, Bob Jones"
ABSTRACT = (
    "We study sparse mixtures of experts where only $k < n$ experts are active, and show that "
    "a quokka-shaped routing loss keeps them balanced."
)


def arxiv_rss(items: list[tuple[str, str, str, str]]) -> bytes:
    """An rss.arxiv.org announcement feed of (arXiv id, title, authors, abstract), dated now."""
    date = format_datetime(datetime.now(UTC))
    body = "".join(
        f"<item><title>{escape(title)}</title><link>https://arxiv.org/abs/{arxiv_id}</link>"
        f"<description>arXiv:{arxiv_id}v1 Announce Type: new \nAbstract: {escape(abstract)}"
        f'</description><guid isPermaLink="false">oai:arXiv.org:{arxiv_id}v1</guid>'
        f"<category>cs.LG</category><pubDate>{date}</pubDate>"
        f"<arxiv:announce_type>new</arxiv:announce_type>"
        f"<dc:creator>{escape(authors)}</dc:creator></item>"
        for arxiv_id, title, authors, abstract in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns:dc="http://purl.org/dc/elements/1.1/">'
        "<channel><title>cs.LG updates on arXiv.org</title><link>http://rss.arxiv.org/rss/cs.LG"
        f"</link><description>cs.LG</description>{body}</channel></rss>"
    ).encode()


def shortscience_rss(arxiv_id: str, title: str, text: str) -> bytes:
    """ShortScience's RSS with one member's summary of an arXiv paper, dated now."""
    link = "https://www.shortscience.org/paper?bibtexKey=journals/corr/Sparse24#carol"
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" '
        'xmlns:shortscience="https://www.shortscience.org/rss"><channel><title>ShortScience'
        "</title><link>https://www.shortscience.org/</link><description>d</description>"
        f"<item><title>{escape(title)}</title><link>{link}</link><guid>{link}</guid>"
        f"<author>carol</author><pubDate>{format_datetime(datetime.now(UTC))}</pubDate>"
        f"<description>{escape(text)}</description>"
        f"<shortscience:arxivid>{arxiv_id}</shortscience:arxivid>"
        "<shortscience:votes>3</shortscience:votes></item></channel></rss>"
    ).encode()


@pytest.fixture
async def bot(start_bot: StartBot, emulator: DiscordEmulator, tmp_path: Path) -> ShortScienceBot:
    settings = make_settings(emulator, tmp_path / "abstracts.sqlite3", feed_poll_seconds=1)
    return await start_bot(settings)


async def test_an_arxiv_entry_is_announced_and_shown_as_a_paper_not_a_summary(
    emulator: DiscordEmulator, bot: ShortScienceBot, feed_server: FeedServer
) -> None:
    papers = emulator.guild.channel("papers")
    old = ("2401.00001", "An Old Paper", "Carol White", "Old words.")
    url = feed_server.set_feed("arxiv", arxiv_rss([old]))
    reply = await command(emulator, f"/feed add url:{url} channel:#papers")
    assert "Subscribed" in reply.content

    new = ("2401.10241", "Sparse Mixtures of Experts", AUTHORS, ABSTRACT)
    feed_server.set_feed("arxiv", arxiv_rss([new, old]))
    [announcement] = await wait_messages(emulator, papers, 1)
    embed = announcement.embed
    assert embed is not None
    assert embed["title"] == "Sparse Mixtures of Experts"
    assert embed["url"] == "https://arxiv.org/abs/2401.10241"
    assert embed["author"]["name"] == "New paper"
    assert embed["description"].startswith(f"*{AUTHORS}")
    opening = "**Abstract** We study sparse mixtures of experts where only k < n"
    assert opening in embed["description"]
    assert "Summary by" not in announcement.text and "▲" not in announcement.text
    assert "fields" not in embed

    # Read: the whole abstract, privately, labelled as the paper's abstract.
    click = await emulator.click(announcement, label="Read", member=emulator.guild.member("alice"))
    private = await click.wait_reply(timeout=10)
    assert private.ephemeral and private.embed is not None
    assert private.embed["author"]["name"] == f"Abstract of the paper by {AUTHORS}"
    assert private.embed["footer"]["text"].startswith("Abstract #")

    abstract_id = summary_id_in(announcement)
    view = await (await emulator.slash(f"/summary view id:{abstract_id}")).wait_reply(timeout=10)
    assert view.embed is not None
    assert view.embed["author"]["name"] == f"Abstract of the paper by {AUTHORS}"
    assert "▲" not in view.embed["author"]["name"]

    # A member's summary of the same paper, from ShortScience (stored when subscribed).
    summary_text = "Carol's take: the quokka routing loss is what keeps experts balanced."
    ss_url = feed_server.set_feed("ss", shortscience_rss("2401.10241", new[1], summary_text))
    assert "Subscribed" in (await command(emulator, f"/feed add url:{ss_url}")).content

    # /search: the summary first, the abstract labelled as such, never "▲ 0" by its authors.
    results = await (await emulator.slash("/search query:quokka routing")).wait_reply(timeout=10)
    description = results.embed["description"]  # type: ignore[index]
    lines = description.split("\n")
    assert re.match(r"^\*\*1\.\*\* ", lines[0]) and lines[1].startswith("carol · ▲ 3")
    assert f"Abstract of the paper by {AUTHORS}" in description
    assert f"{AUTHORS} · ▲ 0" not in description

    # /top ranks summaries only.
    top = await (await emulator.slash("/top period:all")).wait_reply(timeout=10)
    top_text = top.embed["description"]  # type: ignore[index]
    assert "carol" in top_text and "Abstract" not in top_text
    assert f"#{abstract_id}" not in top_text
