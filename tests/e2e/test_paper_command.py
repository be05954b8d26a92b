"""`/paper`: a paper's card by arXiv id, DOI, bibtex key or title, with its summaries."""

from __future__ import annotations

from bot.bot import ShortScienceBot
from bot.storage.papers import PaperRepository
from tests.e2e.search_seed import (
    SECRET_WORD,
    add_alice_summary,
    add_other_guild_secret,
    find_paper,
    import_sample,
    link_urls,
    select_menu,
)
from tests.emulator import DiscordEmulator, Message

ABSTRACT = (
    "Training Deep Neural Networks is complicated by the fact that the distribution of each "
    "layer's inputs changes during training, as the parameters of the previous layers change. "
) * 12


def summaries_field(message: Message) -> str:
    embed = message.embed
    assert embed is not None
    [field] = [f for f in embed["fields"] if f["name"].startswith("Summaries")]
    return field["value"]


async def test_paper_by_arxiv_id_shows_card_links_and_summaries(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    paper = await find_paper(running_bot, "arxiv", "1502.03167")
    await PaperRepository(running_bot.db).update(
        paper.id, authors="Sergey Ioffe, Christian Szegedy", venue="ICML", abstract=ABSTRACT
    )
    message = await (await emulator.slash("/paper id:arXiv:1502.03167v3")).wait_reply(3.0)
    assert not message.ephemeral
    embed = message.embed
    assert embed is not None
    assert embed["title"].startswith("Batch Normalization: Accelerating")
    assert embed["url"] == "https://arxiv.org/abs/1502.03167"
    description = embed["description"]
    assert "*Sergey Ioffe, Christian Szegedy*" in description
    assert "ICML · 2015" in description
    assert "[arXiv](https://arxiv.org/abs/1502.03167)" in description
    assert "[PDF](https://arxiv.org/pdf/1502.03167)" in description
    assert "bibtexKey=journals/corr/IoffeS15)" in description
    # The long abstract is shortened until "More".
    assert "…" in description and len(description) < len(ABSTRACT)
    assert summaries_field(message).startswith("**1.** udibr · ▲ 12 · #1")
    assert set(link_urls(message)) == {"arXiv", "PDF", "ShortScience"}

    more = await emulator.click(message, label="More")
    await more.wait_callback(timeout=3.0)
    await emulator.wait_for(lambda: ABSTRACT.strip()[-60:] in message.embed["description"])  # type: ignore[index]
    less = await emulator.click(message, label="Less")
    await less.wait_callback(timeout=3.0)
    await emulator.wait_for(lambda: message.find_component(type=2, label="More"))

    # Only the person who asked expands the card.
    mod = emulator.guild.member("mod")
    refused = await emulator.click(message, label="More", member=mod)
    assert (await refused.wait_reply(3.0)).ephemeral


async def test_paper_by_arxiv_link_lists_summaries_best_first_and_opens_them(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    message = await (
        await emulator.slash("/paper", options={"id": "https://arxiv.org/abs/1706.03762v5"})
    ).wait_reply(3.0)
    assert message.embed["title"] == "Attention Is All You Need"  # type: ignore[index]
    lines = summaries_field(message).splitlines()
    assert lines[0].startswith("**1.** hlarochelle · ▲ 7")
    assert lines[1].startswith("**2.** Anonymous · ▲ 3")
    options = select_menu(message)["options"]
    assert [o["label"] for o in options] == ["1. hlarochelle · ▲ 7", "2. Anonymous · ▲ 3"]

    opened = await (await emulator.select(message, [options[1]["value"]])).wait_reply(3.0)
    assert opened.embed["author"]["name"].startswith("Anonymous · ▲ 3")  # type: ignore[index]
    assert "Positional encodings" in opened.embed["description"]  # type: ignore[index]


async def test_paper_by_doi(emulator: DiscordEmulator, running_bot: ShortScienceBot) -> None:
    await import_sample(running_bot)
    message = await (
        await emulator.slash("/paper", options={"id": "https://doi.org/10.1038/NATURE14539"})
    ).wait_reply(3.0)
    embed = message.embed
    assert embed is not None
    assert embed["title"] == "Deep learning"
    assert "[DOI](https://doi.org/10.1038/nature14539)" in embed["description"]
    assert "davidstutz" in summaries_field(message)
    assert link_urls(message)["DOI"] == "https://doi.org/10.1038/nature14539"


async def test_paper_by_bibtex_key_and_shortscience_link(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    for given in (
        "conf/cvpr/HeZRS16",
        "https://www.shortscience.org/paper?bibtexKey=conf/cvpr/HeZRS16",
    ):
        message = await (await emulator.slash("/paper", options={"id": given})).wait_reply(3.0)
        assert message.embed["title"] == "Deep Residual Learning for Image Recognition"  # type: ignore[index]
        assert "joecohen · ▲ 9" in summaries_field(message)


async def test_paper_autocomplete_and_titles(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    handle = await emulator.autocomplete("/paper", "id", {"id": "deep"})
    choices = await handle.wait_choices(3.0)
    # Titles starting with it first, then titles with a word starting with it.
    assert [c["name"] for c in choices[:2]] == [
        "Deep learning",
        "Deep Residual Learning for Image Recognition",
    ]
    assert all(" deep" in f" {c['name'].lower()}" for c in choices)
    assert len(choices) <= 25

    message = await (
        await emulator.slash("/paper", options={"id": choices[1]["value"]})
    ).wait_reply(3.0)
    assert message.embed["title"] == "Deep Residual Learning for Image Recognition"  # type: ignore[index]

    # A pasted id is suggested too, and a full title typed without picking still works.
    handle = await emulator.autocomplete("/paper", "id", {"id": "1607.06450"})
    assert [c["name"] for c in await handle.wait_choices(3.0)] == ["Layer Normalization"]
    message = await (
        await emulator.slash("/paper", options={"id": "layer normalization"})
    ).wait_reply(3.0)
    assert message.embed["title"] == "Layer Normalization"  # type: ignore[index]


async def test_unknown_and_unreadable_ids_get_clear_messages(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    reply = await (await emulator.slash("/paper id:2101.00001")).wait_reply(3.0)
    assert reply.ephemeral
    assert "I don't know the paper arXiv:2101.00001 yet" in reply.content

    # Words that are neither an id nor a known title: one clear sentence (issue 9, Words).
    reply = await (await emulator.slash("/paper id:hello world")).wait_reply(3.0)
    assert reply.ephemeral
    assert reply.content.startswith("I found no paper matching “hello world”: give an arXiv id")
    assert reply.content.endswith("pick a suggestion.")
    assert ". " not in reply.content and reply.content.count(":") == 1
    assert "Something went wrong" not in reply.content


async def test_the_card_shows_this_guilds_summaries_only(
    emulator: DiscordEmulator, running_bot: ShortScienceBot
) -> None:
    await import_sample(running_bot)
    other, _ = await add_other_guild_secret(emulator, running_bot)
    await add_alice_summary(
        emulator, running_bot, arxiv_id="1706.03762", body="Attention, as our group read it."
    )
    message = await (await emulator.slash("/paper id:1706.03762")).wait_reply(3.0)
    field = summaries_field(message)
    assert "Alice" in field and "this server" in field
    assert "Bob" not in message.text and SECRET_WORD not in message.text
    assert len(select_menu(message)["options"]) == 3

    there = await (await emulator.slash("/paper id:1706.03762", guild=other)).wait_reply(3.0)
    assert "Bob" in summaries_field(there)
    assert "Alice" not in there.text
