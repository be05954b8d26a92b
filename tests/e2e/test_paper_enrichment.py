"""Papers filled in from arXiv and Crossref in the background, as a reader sees them.

The real bot runs against the emulator with its outgoing arXiv and Crossref requests going to
the local fixture servers, which send every body in many small chunks. ShortScience's RSS
(the sample feed) gives papers a title, a year and an arXiv id or DOI; the enrichment loop
fills in the rest, and `/paper` shows what ShortScience's paper page shows.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from bot.bot import ShortScienceBot
from bot.config import Settings
from bot.papers import PaperId
from bot.storage.lookups import LookupQueue
from bot.storage.papers import PaperRepository
from bot.storage.summaries import SummaryRepository
from tests.e2e.conftest import StartBot
from tests.e2e.search_seed import find_paper, import_sample, link_urls
from tests.emulator import DiscordEmulator, Message
from tests.emulator.botharness import make_settings
from tests.fixtures.arxiv.server import ArxivFixtureServer
from tests.fixtures.crossref.server import CrossrefFixtureServer

MAILTO = "papers-bot@example.org"
SAMPLE_ARXIV_IDS = {
    "1502.03167", "1706.03762", "1412.6980", "1607.06450", "1211.5063", "1608.03983",
    "1602.07868",
}  # fmt: skip


@pytest.fixture
def settings(
    emulator: DiscordEmulator,
    tmp_path: Path,
    arxiv_server: ArxivFixtureServer,
    crossref_server: CrossrefFixtureServer,
) -> Settings:
    return make_settings(
        emulator,
        tmp_path / "enrichment.sqlite3",
        arxiv_api_url=arxiv_server.url,
        arxiv_min_interval=0,
        crossref_api_url=crossref_server.url,
        crossref_mailto=MAILTO,
        enrichment_interval_seconds=0.1,
    )


@pytest.fixture
async def bot(start_bot: StartBot, settings: Settings) -> ShortScienceBot:
    return await start_bot(settings)


async def filled_in(bot: ShortScienceBot, kind: str, value: str) -> None:
    """Wait until the background loop has filled in the paper with this identifier (and the
    search index, which follows the database a moment later, has caught up)."""
    paper = await find_paper(bot, kind, value)
    queue = LookupQueue(bot.db, "arxiv" if kind == "arxiv" else "crossref")
    for _ in range(200):  # 10 s
        if await queue.status(paper.id) == "resolved":
            assert await bot.search.sync(within=10.0)
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{kind}:{value} was not filled in")


def description(message: Message) -> str:
    assert message.embed is not None, message.content
    return str(message.embed["description"])


async def test_imported_papers_are_filled_in_and_shown_like_shortscience(
    emulator: DiscordEmulator,
    bot: ShortScienceBot,
    arxiv_server: ArxivFixtureServer,
    crossref_server: CrossrefFixtureServer,
) -> None:
    await import_sample(bot)
    await filled_in(bot, "arxiv", "1502.03167")
    await filled_in(bot, "doi", "10.1038/nature14539")
    # arXiv was asked in batches (every sample id in one request), never one id at a time.
    assert set(arxiv_server.requested_ids) >= SAMPLE_ARXIV_IDS
    assert all(len(ids) <= 50 for _, ids in arxiv_server.requests)
    assert len(arxiv_server.requests) < len(SAMPLE_ARXIV_IDS)
    # Crossref was asked politely.
    assert crossref_server.requested_dois == ["10.1038/nature14539"]
    assert crossref_server.requests[0].mailto == MAILTO
    assert f"mailto:{MAILTO}" in crossref_server.requests[0].user_agent

    message = await (await emulator.slash("/paper id:1502.03167")).wait_reply(3.0)
    assert message.embed is not None
    assert message.embed["title"] == (
        "Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
        "Covariate Shift"
    )
    text = description(message)
    assert text.startswith(
        "*Sergey Ioffe, Christian Szegedy*\n"
        "arXiv e-Print archive · 2015\n"
        "First published 11 Feb 2015 · Categories: cs.LG\n\n"
        "Training Deep Neural Networks is complicated by the fact that the distribution"
    )
    assert "[arXiv](https://arxiv.org/abs/1502.03167) · [PDF](" in text
    assert (
        "[ShortScience](https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15)"
        in text
    )
    assert set(link_urls(message)) == {"arXiv", "PDF", "ShortScience"}
    [summaries] = message.embed["fields"]
    assert summaries["value"].startswith("**1.** udibr · ▲ 12 · #1")
    assert message.embed["footer"]["text"] == "arXiv:1502.03167 · journals/corr/IoffeS15"

    doi = await (await emulator.slash("/paper id:10.1038/nature14539")).wait_reply(3.0)
    text = description(doi)
    assert text.startswith(
        "*Yann LeCun, Yoshua Bengio, Geoffrey Hinton*\nNature · 2015\n"
        "First published 27 May 2015\n\nDeep learning allows computational models"
    )
    assert "[DOI](https://doi.org/10.1038/nature14539)" in text
    assert "davidstutz · ▲ 1" in doi.embed["fields"][0]["value"]  # type: ignore[index]

    # Search sees the papers' new authors (once the index has applied the background loop's
    # commit: the loop, not a member's command, waits for that).
    assert await bot.search.sync()
    found = await (await emulator.slash("/search query:Ioffe")).wait_reply(3.0)
    assert "Batch Normalization" in description(found)
    filtered = await (await emulator.slash("/search query:normalization author:Ioffe")).wait_reply(
        3.0
    )
    assert "Batch Normalization" in description(filtered)
    assert "Layer Normalization" not in description(filtered)
    by_lecun = await (await emulator.slash("/search query:LeCun")).wait_reply(3.0)
    assert "Deep learning" in description(by_lecun)


async def test_the_abstract_shows_its_math_and_more_shows_the_rest(
    emulator: DiscordEmulator, bot: ShortScienceBot
) -> None:
    # As an import leaves it: an arXiv id and a title, and a feed summary of it.
    paper = await PaperRepository(bot.db).find_or_create(
        [PaperId("arxiv", "1711.05101")], title="Decoupled Weight Decay Regularization", year=2017
    )
    await SummaryRepository(bot.db).upsert_external(
        external_id="adamw", body="Decouple the weight decay.", paper_id=paper.id
    )
    await filled_in(bot, "arxiv", "1711.05101")
    message = await (await emulator.slash("/paper id:arXiv:1711.05101")).wait_reply(3.0)
    text = description(message)
    assert "*Ilya Loshchilov, Frank Hutter*" in text
    assert "First published 14 Nov 2017 · Categories: cs.LG, cs.NE, math.OC" in text
    assert "L₂ regularization and weight decay regularization are equivalent" in text
    assert "$" not in text
    assert "AdamW-and-SGDW" not in text  # shortened until More
    more = await emulator.click(message, label="More")
    await more.wait_callback(timeout=3.0)
    await emulator.wait_for(lambda: "AdamW-and-SGDW" in description(message))
    assert "employ L₂ regularization" in description(message)


async def test_paper_answers_at_once_while_arxiv_hangs(
    emulator: DiscordEmulator, bot: ShortScienceBot, arxiv_server: ArxivFixtureServer
) -> None:
    """Nothing waits for enrichment: a hanging arXiv leaves /paper as fast as ever, showing
    what is known and that the rest is on its way."""
    arxiv_server.hang_ids.add("1502.03167")
    await import_sample(bot)
    await emulator.wait_for(lambda: arxiv_server.requests, description="an arXiv request")
    started = time.monotonic()
    message = await (await emulator.slash("/paper id:1502.03167")).wait_reply(3.0)
    assert time.monotonic() - started < 3.0
    assert message.embed is not None
    assert message.embed["title"].startswith("Batch Normalization")
    assert description(message).startswith("arXiv e-Print archive · 2015\n\n[arXiv]")
    assert message.embed["footer"]["text"].endswith("authors and abstract on their way from arXiv")
