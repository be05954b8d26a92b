"""Seeding a running bot's database for the search and reading tests.

Feed summaries come from `tests/fixtures/shortscience_sample.xml` through the same import
path as `shortscience-bot import`; community summaries through the community repository;
the 15,000-character summary from `tests/fixtures/long_summary.md`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from bot.ingest import import_source
from bot.papers import PaperId
from bot.storage.community import CommunityRepository
from bot.storage.papers import Paper, PaperRepository
from bot.storage.summaries import SummaryRepository

if TYPE_CHECKING:
    from bot.bot import ShortScienceBot
    from tests.emulator import DiscordEmulator, Guild, Message

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SAMPLE_FEED = FIXTURES / "shortscience_sample.xml"
LONG_SUMMARY = FIXTURES / "long_summary.md"
SAMPLE_SUMMARIES = 11
# Summaries in the sample that mention "gradient": more than one page of five.
GRADIENT_MATCHES = 10
LONG_SUMMARY_GUID = "https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15#long"
# A word only the other guild's community summary contains.
SECRET_WORD = "zanzibarquux"


async def import_sample(bot: ShortScienceBot) -> None:
    stats = await import_source(bot.db, None, str(SAMPLE_FEED))
    assert stats.inserted == SAMPLE_SUMMARIES, stats


async def find_paper(bot: ShortScienceBot, kind: str, value: str) -> Paper:
    paper = await PaperRepository(bot.db).find(PaperId(kind, value))  # type: ignore[arg-type]
    assert paper is not None, (kind, value)
    return paper


async def add_long_summary(bot: ShortScienceBot) -> int:
    """The 15,000-character summary (math, images, a table) of the batch norm paper."""
    paper = await find_paper(bot, "arxiv", "1502.03167")
    body = LONG_SUMMARY.read_text(encoding="utf-8")
    assert len(body) >= 15_000
    result = await SummaryRepository(bot.db).upsert_external(
        external_id=LONG_SUMMARY_GUID,
        body=body,
        author_name="longreader",
        paper_id=paper.id,
        url=LONG_SUMMARY_GUID,
        score=4,
    )
    return result.summary_id


async def add_community_summary(
    bot: ShortScienceBot,
    *,
    guild_id: int,
    paper_id: int,
    author_id: int,
    author_name: str,
    body: str,
    tldr: str = "",
) -> int:
    saved = await CommunityRepository(bot.db).save(
        paper_id=paper_id,
        guild_id=guild_id,
        author_id=author_id,
        author_name=author_name,
        title="",
        tldr=tldr,
        body=body,
        now=time.time(),
    )
    return saved.summary_id


async def add_alice_summary(
    emulator: DiscordEmulator, bot: ShortScienceBot, *, arxiv_id: str, body: str
) -> int:
    """A community summary by Alice, a member of the emulator's guild, of a sample paper."""
    paper = await find_paper(bot, "arxiv", arxiv_id)
    alice = emulator.guild.member("alice")
    return await add_community_summary(
        bot,
        guild_id=emulator.guild.id,
        paper_id=paper.id,
        author_id=alice.id,
        author_name="Alice",
        body=body,
    )


def select_menu(message: Message) -> dict:
    menus = [c for c in message.iter_components() if c.get("type") == 3]
    assert len(menus) == 1, message.components
    return menus[0]


def interactive_components(message: Message) -> list[dict]:
    """Buttons that send interactions and select menus (link buttons excluded)."""
    return [
        c
        for c in message.iter_components()
        if c.get("type") == 3 or (c.get("type") == 2 and c.get("style") != 5)
    ]


def link_urls(message: Message) -> dict[str, str]:
    return {
        c["label"]: c["url"]
        for c in message.iter_components()
        if c.get("type") == 2 and c.get("style") == 5
    }


async def add_other_guild_secret(
    emulator: DiscordEmulator,
    bot: ShortScienceBot,
    *,
    paper_kind: str = "arxiv",
    paper_value: str = "1706.03762",
) -> tuple[Guild, int]:
    """A second guild whose member wrote a community summary containing SECRET_WORD.

    The bot's commands are synced there too, so tests can check that it does appear there.
    """
    other = emulator.add_guild("Other Lab")
    other.add_text_channel("lab")
    bob = other.add_member("bob", global_name="Bob")
    await emulator.wait_for(lambda: bot.get_guild(other.id) is not None)
    await bot.sync_commands(other.id)
    paper = await find_paper(bot, paper_kind, paper_value)
    summary_id = await add_community_summary(
        bot,
        guild_id=other.id,
        paper_id=paper.id,
        author_id=bob.id,
        author_name="Bob",
        body=f"Our lab's private notes: {SECRET_WORD} attention heads explained.",
        tldr=f"{SECRET_WORD} in one line",
    )
    return other, summary_id
