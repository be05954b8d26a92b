"""`/summary view`: a whole summary, rendered and paged within Discord's limits."""

from __future__ import annotations

import re

import pytest
from discord import app_commands

from bot.bot import ShortScienceBot
from bot.papers import PaperId
from bot.rendering.markdown import render_summary
from bot.storage.papers import PaperRepository
from bot.storage.summaries import SummaryRepository
from tests.e2e.conftest import StartBot
from tests.e2e.search_seed import (
    LONG_SUMMARY,
    add_long_summary,
    import_sample,
    interactive_components,
    link_urls,
)
from tests.emulator import DiscordEmulator, Message

FOOTER = re.compile(r"Summary #(\d+) · page (\d+) of (\d+)")
COMMON_MACROS = re.compile(
    r"\\(?:alpha|beta|gamma|lambda|mu|sigma|frac|sqrt|sum|mathbb|text|mathcal|cdot|leq|in"
    r"|infty|log|exp|arg)(?![a-zA-Z])"
)


def page_of(message: Message) -> tuple[int, int]:
    embed = message.embed
    assert embed is not None
    match = FOOTER.search(embed["footer"]["text"])
    assert match is not None, embed["footer"]
    return int(match.group(2)), int(match.group(3))


async def read_all_pages(emulator: DiscordEmulator, message: Message) -> list[str]:
    """Press Next until the last page, returning every page's description."""
    page, pages = page_of(message)
    descriptions = [message.embed["description"]]  # type: ignore[index]
    while page < pages:
        click = await emulator.click(message, label="Next")
        await click.wait_callback(timeout=3.0)
        # An update, or a deferred one when the page's equation card is typeset first.
        assert click.callback_type in (6, 7), click.describe()
        await emulator.wait_for(lambda p=page: page_of(message)[0] == p + 1)
        page, _ = page_of(message)
        descriptions.append(message.embed["description"])  # type: ignore[index]
    return descriptions


async def test_a_long_summary_is_paged_whole_within_limits(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    summary_id = await add_long_summary(running_bot)

    interaction = await emulator.slash(f"/summary view id:{summary_id}")
    message = await interaction.wait_reply(timeout=10.0)
    assert not message.ephemeral
    page, pages = page_of(message)
    assert (page, pages) == (1, pages) and pages >= 3
    embed = message.embed
    assert embed is not None
    assert embed["title"].startswith("Batch Normalization")
    assert embed["author"]["name"].startswith("longreader · ▲ 4")
    # The first page shows the summary's first image (it has no equations).
    assert not message.attachments
    assert embed["image"]["url"] == "https://i.imgur.com/bn_curves.png"
    assert "https://i.imgur.com/bn_curves.png" in embed["description"]
    previous = message.find_component(label="Prev")
    assert previous.get("disabled") is True

    descriptions = await read_all_pages(emulator, message)
    assert len(descriptions) == pages
    # Pages of at most SUMMARY_PAGE_CHARS (1,800 by default) characters of text.
    assert all(len(description) <= 1800 for description in descriptions)
    assert message.find_component(label="Next").get("disabled") is True
    # Nothing is cut: every line of the rendered text is on some page, in order.
    shown = "\n".join(descriptions)
    rendered = render_summary(LONG_SUMMARY.read_text(encoding="utf-8")).text
    position = 0
    for line in (line.strip() for line in rendered.splitlines()):
        if not line or line.startswith(("```", "~~~")):
            continue
        found = shown.find(line, position)
        assert found >= 0, f"missing from the pages: {line!r}"
        position = found
    # Math is readable Unicode, not LaTeX.
    assert not COMMON_MACROS.search(shown), COMMON_MACROS.search(shown)
    assert "ℝ" in shown or "√" in shown
    # Images became links.
    assert "https://i.imgur.com/bn_curves.png" in shown
    # Back again.
    click = await emulator.click(message, label="Prev")
    await click.wait_callback(timeout=3.0)
    await emulator.wait_for(lambda: page_of(message)[0] == pages - 1)


async def test_download_attaches_the_raw_markdown(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    summary_id = await add_long_summary(running_bot)
    message = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(10.0)

    for member in ("alice", "mod"):  # the reader, and someone else: both may download
        click = await emulator.click(
            message, label="Download .md", member=emulator.guild.member(member)
        )
        reply = await click.wait_reply(timeout=3.0)
        assert reply.ephemeral
        [attachment] = reply.attachments
        assert attachment.filename == f"summary-{summary_id}.md"
        body = LONG_SUMMARY.read_text(encoding="utf-8")
        assert attachment.data.decode("utf-8") == body.strip("\n") + "\n"


async def test_anyone_may_page_a_public_summary_in_a_private_copy(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    """Issue 9, paging for a group: whoever ran the command pages the message; anyone else
    who presses Prev or Next gets a private copy at the page they asked for (it was a
    refusal), and pages that copy themselves."""
    await import_sample(running_bot)
    summary_id = await add_long_summary(running_bot)
    alice, mod = emulator.guild.member("alice"), emulator.guild.member("mod")
    message = await (
        await emulator.slash(f"/summary view id:{summary_id}", member=alice)
    ).wait_reply(10.0)
    _, pages = page_of(message)
    assert pages >= 3
    # Alice turns her message to page 2.
    click = await emulator.click(message, label="Next", member=alice)
    await click.wait_callback(timeout=5.0)
    await emulator.wait_for(lambda: page_of(message)[0] == 2)
    edits = message.edits

    # Mod presses Next on Alice's message: a copy of page 3, for Mod's eyes only.
    click = await emulator.click(message, label="Next", member=mod)
    copy = await click.wait_reply(timeout=5.0)
    assert copy.ephemeral
    assert page_of(copy) == (3, pages)
    assert copy.embed["title"].startswith("Batch Normalization")  # type: ignore[index]
    # Alice's message did not move.
    assert page_of(message)[0] == 2 and message.edits == edits
    # Mod pages the copy in place (it is Mod's own now); Alice's message still does not move.
    turn = await emulator.click(copy, label="Prev", member=mod)
    await turn.wait_callback(timeout=5.0)
    assert turn.callback_type in (6, 7), turn.describe()
    await emulator.wait_for(lambda: page_of(copy)[0] == 2)
    assert page_of(message)[0] == 2 and message.edits == edits
    # Prev from Alice's page 2 gives Mod page 1; the copy shows that page's own controls.
    click = await emulator.click(message, label="Prev", member=mod)
    first = await click.wait_reply(timeout=5.0)
    assert first.ephemeral and page_of(first) == (1, pages)
    assert first.find_component(label="Prev").get("disabled") is True
    assert first.find_component(label="Next").get("disabled") is not True
    # Alice still pages her own message.
    click = await emulator.click(message, label="Next", member=alice)
    await click.wait_callback(timeout=5.0)
    await emulator.wait_for(lambda: page_of(message)[0] == 3)


async def test_a_short_summary_has_one_page_and_links(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (await emulator.slash("/summary view id:1")).wait_reply(3.0)
    assert page_of(message) == (1, 1)
    labels = {c.get("label") for c in message.buttons}
    assert "Prev" not in labels and "Next" not in labels
    assert "Download .md" in labels
    links = link_urls(message)
    assert links["arXiv"] == "https://arxiv.org/abs/1502.03167"
    assert links["PDF"] == "https://arxiv.org/pdf/1502.03167"
    assert links["ShortScience"].endswith("bibtexKey=journals/corr/IoffeS15")
    text = message.embed["description"]  # type: ignore[index]
    assert "**Batch norm**" in text
    assert "\\frac" not in text and "μ" in text


async def test_unknown_summary_ids_get_a_clear_message(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    reply = await (await emulator.slash("/summary view id:999999")).wait_reply(3.0)
    assert reply.ephemeral
    assert "There is no summary #999999 here" in reply.content


async def test_controls_go_when_the_view_times_out(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    summary_id = await add_long_summary(running_bot)
    running_bot.get_cog("Search").view_timeout = 0.3  # type: ignore[union-attr]
    message = await (await emulator.slash(f"/summary view id:{summary_id}")).wait_reply(10.0)
    assert interactive_components(message)

    await emulator.wait_for(lambda: not interactive_components(message), timeout=5.0)
    # Link buttons stay: they need no bot to work.
    assert "arXiv" in link_urls(message)


@pytest.mark.parametrize(
    "extensions",
    [
        ("cogs.meta", "cogs.search", "cogs.community"),
        ("cogs.meta", "cogs.community", "cogs.search"),
    ],
    ids=["search-first", "community-first"],
)
async def test_summary_group_is_shared_whatever_the_load_order(
    emulator: DiscordEmulator, start_bot: StartBot, extensions: tuple[str, ...]
) -> None:
    bot = await start_bot(extensions=extensions)
    commands = await emulator.wait_for_commands(emulator.guild)
    [summary] = [c for c in commands if c["name"] == "summary"]
    assert {o["name"] for o in summary["options"]} == {"view", "edit", "delete", "restore"}

    await import_sample(bot)
    message = await (await emulator.slash("/summary view id:1")).wait_reply(3.0)
    assert message.embed["footer"]["text"] == "Summary #1 · page 1 of 1"  # type: ignore[index]

    # Unloading one side leaves the other's subcommands in place.
    await bot.unload_extension("cogs.search")
    group = bot.tree.get_command("summary")
    assert isinstance(group, app_commands.Group)
    assert {c.name for c in group.commands} == {"edit", "delete", "restore"}
    await bot.load_extension("cogs.search")
    group = bot.tree.get_command("summary")
    assert isinstance(group, app_commands.Group)
    assert {c.name for c in group.commands} == {"view", "edit", "delete", "restore"}


MEDIUM_LINK = "https://example.org/paper/" + "m" * 600  # an embed takes it, a button does not


@pytest.mark.parametrize(
    ("summary_url", "paper_url", "pdf_url"),
    [
        (MEDIUM_LINK, MEDIUM_LINK + "/landing", MEDIUM_LINK + ".pdf"),
        ("https://example.org/s/" + "l" * 2020, "http://[::1", "http://exa mple.com/p.pdf"),
        ("http://?x", "javascript:alert(1)", "http://a..b/p.pdf"),
    ],
    ids=["513-2048 characters", "2048 and malformed", "malformed only"],
)
async def test_summary_view_works_with_links_discord_would_refuse(
    emulator: DiscordEmulator,
    running_bot: ShortScienceBot,
    summary_url: str,
    paper_url: str,
    pdf_url: str,
) -> None:
    """Issue 8, item 2: a link of 513-2,048 characters or a malformed one is left out of the
    embed or the buttons that would not take it; the summary is shown."""
    paper = await PaperRepository(running_bot.db).find_or_create(
        [PaperId("doi", "10.1000/links")], title="Paper with odd links", url=paper_url,
        pdf_url=pdf_url,
    )  # fmt: skip
    body = f"Text with ![a figure]({pdf_url}) and [a link]({summary_url})."
    saved = await SummaryRepository(running_bot.db).upsert_external(
        external_id="odd-links", body=body, paper_id=paper.id, url=summary_url
    )
    interaction = await emulator.slash(f"/summary view id:{saved.summary_id}")
    message = await interaction.wait_reply(timeout=5.0)
    assert message.embed is not None and message.embed["title"] == "Paper with odd links"
    shown_urls = [message.embed.get("url"), *link_urls(message).values()]
    for url in filter(None, shown_urls):
        assert len(url) <= 2048 and " " not in url and url.startswith(("http://", "https://"))
    for url in link_urls(message).values():
        assert len(url) <= 512
    assert "DOI" in link_urls(message)  # the well-formed short link still gets its button
