"""Presenters: links, summary pages, result lists and the paper card, all within limits."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import discord
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.presenters import (
    SHORT_ABSTRACT_CHARS,
    ListedSummary,
    abstract_is_long,
    format_published,
    listed_from_summary,
    paper_card,
    paper_links,
    paper_venue,
    plain_excerpt,
    render_summary_text,
    results_embed,
    select_option_texts,
    summary_byline,
    summary_filename,
    summary_links,
    summary_markdown,
    summary_pages,
)
from bot.rendering.urls import is_web_url
from bot.storage.papers import Paper
from bot.storage.summaries import Summary
from bot.typeset.layout import Drawing

NOW = datetime(2024, 5, 1, tzinfo=UTC)
LONG_SUMMARY = Path(__file__).resolve().parents[1] / "fixtures" / "long_summary.md"


def make_paper(**changes: object) -> Paper:
    paper = Paper(
        id=1,
        canonical_key="arxiv:1502.03167",
        arxiv_id="1502.03167",
        doi=None,
        bibtex_key="journals/corr/IoffeS15",
        title="Batch Normalization",
        authors="Sergey Ioffe, Christian Szegedy",
        venue="ICML",
        year=2015,
        abstract="Short abstract.",
        url=None,
        pdf_url=None,
        created_at=NOW,
        updated_at=NOW,
    )
    return replace(paper, **changes)  # type: ignore[arg-type]


def make_summary(**changes: object) -> Summary:
    summary = Summary(
        id=7,
        paper_id=1,
        origin="feed",
        guild_id=None,
        author_name="udibr",
        author_discord_id=None,
        title="",
        tldr="",
        body="**Batch norm** normalises $\\hat{x} = \\frac{x - \\mu}{\\sigma}$.",
        url="https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15#udibr",
        external_id="guid",
        score=12,
        created_at=NOW,
        edited_at=NOW,
        deleted_at=None,
        paper=make_paper(),
    )
    return replace(summary, **changes)  # type: ignore[arg-type]


def assert_within_limits(embed: discord.Embed) -> None:
    data = embed.to_dict()
    assert len(data.get("title", "")) <= 256
    assert len(data.get("description", "")) <= 4096
    assert len(data.get("footer", {}).get("text", "")) <= 2048
    assert len(data.get("author", {}).get("name", "")) <= 256
    assert len(data.get("fields", [])) <= 25
    for field in data.get("fields", []):
        assert 0 < len(field["name"]) <= 256
        assert 0 < len(field["value"]) <= 1024
    assert len(embed) <= 6000
    for key in ("url",):
        if key in data:
            assert is_web_url(data[key])


# -- links ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        (
            {},
            [
                ("arXiv", "https://arxiv.org/abs/1502.03167"),
                ("PDF", "https://arxiv.org/pdf/1502.03167"),
                (
                    "ShortScience",
                    "https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15",
                ),
            ],
        ),
        (
            {"arxiv_id": None, "bibtex_key": None, "doi": "10.1038/nature14539"},
            [("DOI", "https://doi.org/10.1038/nature14539")],
        ),
        (
            {"arxiv_id": None, "bibtex_key": None, "url": "https://example.org/paper"},
            [("Paper", "https://example.org/paper")],
        ),
        (
            {"arxiv_id": None, "bibtex_key": None, "url": "javascript:alert(1)"},
            [],
        ),
        (
            {"pdf_url": "https://proceedings.mlr.press/v37/ioffe15.pdf"},
            [
                ("arXiv", "https://arxiv.org/abs/1502.03167"),
                ("PDF", "https://proceedings.mlr.press/v37/ioffe15.pdf"),
                (
                    "ShortScience",
                    "https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15",
                ),
            ],
        ),
    ],
)
def test_paper_links(changes: dict[str, object], expected: list[tuple[str, str]]) -> None:
    links = paper_links(make_paper(**changes))
    assert [(link.label, link.url) for link in links] == expected


def test_summary_links_start_with_the_summary_page() -> None:
    links = summary_links(make_summary())
    assert links[0].label == "Summary page"
    assert [link.label for link in links[1:]] == ["arXiv", "PDF", "ShortScience"]
    assert summary_links(make_summary(url=None, paper=None)) == []


# -- a summary's pages ---------------------------------------------------------------------


def test_a_short_summary_is_one_page_with_math_rendered() -> None:
    pages = summary_pages(make_summary())
    assert pages.count == 1
    [embed] = pages.embeds
    assert embed.title == "Batch Normalization"
    assert embed.url == "https://www.shortscience.org/paper?bibtexKey=journals/corr/IoffeS15#udibr"
    assert embed.author.name == "udibr · ▲ 12"
    assert embed.footer.text == "Summary #7 · page 1 of 1"
    assert embed.description is not None
    assert "**Batch norm**" in embed.description
    assert "\\frac" not in embed.description and "μ" in embed.description
    assert embed.timestamp == NOW
    assert_within_limits(embed)


IMAGE_LINK = re.compile(r"\[🖼 [^\]]*\]\((https://[^)\s]+)\)")


def test_a_long_summary_is_paged_within_limits_each_page_with_its_first_image() -> None:
    body = LONG_SUMMARY.read_text(encoding="utf-8")
    pages = summary_pages(make_summary(body=body))
    assert pages.count >= 3
    for number, embed in enumerate(pages.embeds, start=1):
        assert_within_limits(embed)
        assert len(embed.description or "") <= 1800
        assert embed.footer.text == f"Summary #7 · page {number} of {pages.count}"
    assert pages.image_urls == (
        "https://i.imgur.com/bn_curves.png",
        "https://i.imgur.com/bn_mnist.png",
        "https://i.imgur.com/bn_ensemble.png",
    )
    # Each page shows the first image it links to; every image stays a link, in order.
    shown: list[str] = []
    for embed in pages.embeds:
        linked = IMAGE_LINK.findall(embed.description or "")
        assert embed.image.url == (linked[0] if linked else None)
        shown += linked
    assert shown == list(pages.image_urls)


def test_typeset_equations_are_numbered_and_take_the_embed_image() -> None:
    body = LONG_SUMMARY.read_text(encoding="utf-8")
    summary = make_summary(body=body)
    rendered = render_summary_text(summary, collect_equations=True)
    assert len(rendered.equations) == 10
    drawings: list[Drawing | None] = [
        Drawing(inner="", box=(0.0, -20.0, 300.0, 40.0)) for _ in rendered.equations
    ]
    drawings[1] = None  # this one could not be typeset: Unicode only, no number
    pages = summary_pages(summary, rendered=rendered, drawings=drawings)
    shown = [page for page in pages.equations if page is not None]
    assert [n for page in shown for n in page.numbers] == list(range(1, 10))
    for number, (embed, equations) in enumerate(
        zip(pages.embeds, pages.equations, strict=True), start=1
    ):
        assert_within_limits(embed)
        linked = IMAGE_LINK.findall(embed.description or "")
        # A page's card takes its embed image; its own images stay links, the first of them
        # standing in should the card fail.
        assert pages.fallback_images[number - 1] == (linked[0] if linked else None)
        if equations is None:
            assert embed.image.url == (linked[0] if linked else None)
        else:
            assert embed.image.url == f"attachment://equations-{number}.png"
            assert f"({equations.numbers[0]})\u2002" in (embed.description or "")
    carded = [number for number, page in enumerate(pages.equations) if page is not None]
    assert "(1)\u2002μ" in (pages.embeds[carded[0]].description or "")
    # Without drawings (math:text, or no typesetter) nothing is numbered.
    plain = summary_pages(summary, rendered=rendered)
    assert "(1)" not in "".join(embed.description or "" for embed in plain.embeds)
    assert plain.embeds[0].image.url == "https://i.imgur.com/bn_curves.png"


def test_tldr_leads_and_community_summaries_say_where_they_were_written() -> None:
    summary = make_summary(
        origin="community", guild_id=5, tldr="Normalise activations.", author_name="Alice"
    )
    [embed] = summary_pages(summary).embeds
    assert embed.description is not None
    assert embed.description.startswith("**TL;DR:** Normalise activations.")
    assert summary_byline(summary) == "Alice · ▲ 12 · written in this server"
    assert summary_markdown(summary).startswith("**TL;DR:** Normalise activations.\n\n**Batch")


def test_an_empty_summary_still_has_a_page() -> None:
    [embed] = summary_pages(make_summary(body="", paper=None, title="")).embeds
    assert embed.description == "*This summary is empty.*"
    assert embed.title == "Untitled paper"


def test_summary_markdown_is_the_raw_text() -> None:
    summary = make_summary(body="\n# Title\n\n$x^2$ and ![img](https://i.imgur.com/a.png)\n\n")
    assert summary_markdown(summary) == "# Title\n\n$x^2$ and ![img](https://i.imgur.com/a.png)\n"
    assert summary_filename(summary) == "summary-7.md"


def test_mentions_in_a_summary_are_inert() -> None:
    [embed] = summary_pages(make_summary(body="@everyone look <@123>")).embeds
    assert embed.description is not None
    assert "@everyone" not in embed.description and "<@123>" not in embed.description


MARKDOWN_PIECES = [*"ab $\\{}^_*#>`|-[]()!\n\t😀é", "\\frac", "```", "\n\n", "| a | b |\n"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    body=st.lists(st.sampled_from(MARKDOWN_PIECES), max_size=6000).map("".join),
    title=st.text(max_size=600),
    author=st.text(max_size=600),
)
def test_any_summary_pages_fit_discord(body: str, title: str, author: str) -> None:
    summary = make_summary(body=body, author_name=author, paper=make_paper(title=title))
    pages = summary_pages(summary)
    assert pages.count >= 1
    for embed in pages.embeds:
        assert_within_limits(embed)


# -- result lists --------------------------------------------------------------------------


def test_plain_excerpt_has_no_markdown_and_skips_headings() -> None:
    text = plain_excerpt("# Title\n\n**Bold** and [a link](https://x.org) with $\\alpha$.")
    assert text == "Bold and a link with α."


def listed(**changes: object) -> ListedSummary:
    item = ListedSummary(
        summary_id=3,
        title="Adam",
        author="udibr",
        score=15,
        url="https://www.shortscience.org/paper?bibtexKey=journals/corr/KingmaB14#udibr",
        excerpt="running averages of the **gradient**",
    )
    return replace(item, **changes)  # type: ignore[arg-type]


def test_results_embed_lists_rank_title_author_score_and_excerpt() -> None:
    embed = results_embed([listed(), listed(summary_id=4, url=None)], title="Search: x",
                          first_rank=6, footer="Results 6–7")  # fmt: skip
    assert embed.description == (
        "**6.** [Adam](https://www.shortscience.org/paper?bibtexKey=journals/corr/KingmaB14#udibr)"
        "\nudibr · ▲ 15 · #3\n> running averages of the **gradient**"
        "\n\n**7.** Adam\nudibr · ▲ 15 · #4\n> running averages of the **gradient**"
    )
    assert embed.footer.text == "Results 6–7"


def test_results_embed_with_hostile_fields_stays_within_limits() -> None:
    huge = listed(
        title="[x](y) *" * 200,
        author="@everyone " * 100,
        excerpt="**" + "z" * 200 + "**",
        url="https://x.org/(" + "a" * 100,
    )
    embed = results_embed([huge] * 5, title="Search: " + "q" * 1000, footer="f" * 3000)
    assert_within_limits(embed)
    assert embed.description is not None
    assert "@everyone" not in embed.description
    assert embed.description.count("\n> ") == 5


def test_select_option_texts_fit() -> None:
    label, description = select_option_texts(listed(title="T" * 300, author="A" * 300), 25)
    assert len(label) <= 100 and len(description) <= 100
    assert label.startswith("25. TTT")


def test_an_abstract_is_labelled_as_the_papers_abstract_wherever_it_is_shown() -> None:
    """Issue 9: an arXiv entry in `/summary view`, lists and search results is "Abstract of
    the paper by <its authors>", never "<the authors> · ▲ 0" as if they had summarised it."""
    abstract = make_summary(
        kind="abstract", author_name="Sergey Ioffe, Christian Szegedy", score=0, id=9,
        url="https://arxiv.org/abs/1502.03167",
    )  # fmt: skip
    label = "Abstract of the paper by Sergey Ioffe, Christian Szegedy"
    assert summary_byline(abstract) == label
    [page] = summary_pages(abstract).embeds
    assert page.author.name == label
    assert page.footer.text == "Abstract #9 · page 1 of 1"
    item = listed_from_summary(abstract)
    assert item.kind == "abstract" and item.author == "Sergey Ioffe, Christian Szegedy"
    line = results_embed([item], title="Latest").description or ""
    assert "Abstract of the paper by Sergey Ioffe, Christian Szegedy" in line
    assert "▲" not in line and "#9" in line
    _, description = select_option_texts(replace(item, author="A" * 300), 1)
    assert description.startswith("Abstract of the paper by AAA") and description.endswith("#9")
    # The paper's authors are the paper's when known, else the entry's.
    unknown = make_summary(kind="abstract", author_name="Ioffe", paper=make_paper(authors=""))
    assert summary_byline(unknown) == "Abstract of the paper by Ioffe"
    assert summary_byline(make_summary(kind="abstract", paper=None, author_name="")) == (
        "Abstract of the paper"
    )


def test_listed_from_summary_uses_the_tldr_when_there_is_one() -> None:
    item = listed_from_summary(make_summary(tldr="One *line*."))
    assert item.excerpt == "One line."
    assert item.title == "Batch Normalization"
    assert item.url is not None and item.url.endswith("#udibr")


# -- the paper card ------------------------------------------------------------------------


def test_paper_card_shows_everything_and_shortens_a_long_abstract() -> None:
    abstract = "Words that go on. " * 100
    paper = make_paper(abstract=abstract)
    summaries = [make_summary(), make_summary(id=8, author_name="Bob", score=-2, tldr="Meh.")]
    assert abstract_is_long(paper)
    card = paper_card(paper, summaries)
    assert_within_limits(card)
    assert card.title == "Batch Normalization"
    assert card.url == "https://arxiv.org/abs/1502.03167"
    assert card.description is not None
    assert card.description.startswith("*Sergey Ioffe, Christian Szegedy*\nICML · 2015\n\n")
    assert "[arXiv](https://arxiv.org/abs/1502.03167) · [PDF](" in card.description
    assert len(card.description) < SHORT_ABSTRACT_CHARS + 400
    [field] = card.fields
    assert field.name == "Summaries (2)"
    assert field.value is not None
    assert field.value.splitlines()[1] == "**2.** Bob · ▼ 2 · #8 — Meh."
    assert card.footer.text == "arXiv:1502.03167 · journals/corr/IoffeS15"

    expanded = paper_card(paper, summaries, expanded=True)
    assert expanded.description is not None
    assert abstract.strip() in expanded.description


def test_paper_card_shows_what_shortscience_shows() -> None:
    abstract = (
        "L$_2$ regularization and weight decay are equivalent for SGD, but \\emph{not} for "
        "Adam: $\\theta_{t+1} = \\theta_t - \\eta \\nabla f(\\theta_t)$. "
    ) + "More words follow. " * 40
    paper = make_paper(
        venue=None,
        published="2017-11-14",
        categories=("cs.LG", "cs.NE", "math.OC"),
        abstract=abstract,
        title="Decoupled $\\ell_2$ Weight Decay",
    )
    card = paper_card(paper, [])
    assert_within_limits(card)
    assert card.title == "Decoupled ℓ₂ Weight Decay"
    assert card.description is not None
    lines = card.description.split("\n")
    assert lines[:3] == [
        "*Sergey Ioffe, Christian Szegedy*",
        "arXiv e-Print archive · 2015",
        "First published 14 Nov 2017 · Categories: cs.LG, cs.NE, math.OC",
    ]
    # The abstract's math as Unicode, as /summary view shows it; never the raw LaTeX.
    assert "L₂ regularization" in card.description
    assert "θₜ₊₁ = θₜ − η ∇f(θₜ)" in card.description
    assert "$" not in card.description
    # Shortened until "More", which shows the rest.
    assert "…" in card.description and abstract_is_long(paper)
    assert len(card.description) < len(abstract)
    expanded = paper_card(paper, [], expanded=True)
    assert expanded.description is not None
    assert expanded.description.endswith(
        "More words follow.\n\n" + expanded.description.split("\n\n")[-1]
    )


def test_published_dates_and_venues() -> None:
    assert format_published("2015-02-11") == "11 Feb 2015"
    assert format_published("2015-05") == "May 2015"
    assert format_published("2015") == "2015"
    assert format_published(None) is None and format_published("soon") is None
    assert paper_venue(make_paper(venue="Nature")) == "Nature"
    assert paper_venue(make_paper(venue=None)) == "arXiv e-Print archive"
    assert paper_venue(make_paper(venue=" ", arxiv_id=None)) is None
    # A year-only date says nothing the year does not.
    card = paper_card(make_paper(published="2015"), [])
    assert card.description is not None and "First published" not in card.description


def test_paper_card_says_when_details_are_on_their_way() -> None:
    bare = make_paper(authors="", abstract=None)
    card = paper_card(bare, [], fetching=("arXiv",))
    assert card.footer.text == (
        "arXiv:1502.03167 · journals/corr/IoffeS15 · authors and abstract on their way from arXiv"
    )
    # Once they are there, the footer is the identifiers again.
    assert paper_card(make_paper(), [], fetching=("arXiv",)).footer.text == (
        "arXiv:1502.03167 · journals/corr/IoffeS15"
    )


def test_paper_card_with_everything_huge_stays_within_limits() -> None:
    paper = make_paper(
        title="T" * 1000, authors="A, " * 3000, venue="V" * 500, abstract="word " * 5000
    )
    summaries = [make_summary(id=n, tldr="x" * 300) for n in range(100)]
    for expanded in (False, True):
        card = paper_card(paper, summaries, expanded=expanded)
        assert_within_limits(card)
    assert card.fields[0].value is not None
    assert card.fields[0].value.endswith("more")


def test_paper_card_without_summaries_or_details() -> None:
    paper = make_paper(
        title="", authors="", venue=None, year=None, abstract=None, arxiv_id=None,
        bibtex_key=None, doi=None,
    )  # fmt: skip
    card = paper_card(paper, [])
    assert_within_limits(card)
    assert card.title == "Untitled paper"
    assert card.fields[0].value == "No summaries here yet."


# -- math everywhere: lists and abstracts convert it as /summary view does ----------------


def test_list_excerpts_keep_formulas_whole_and_literal() -> None:
    """`/latest`, `/top` and the paper card's summaries: a formula's `|`, `*` and `_` are
    shown, not taken for Markdown (`p(y|x,θ)` used to lose its bar)."""
    body = r"Letting $p(y|x,\theta)$ be the model, $x^*$ its optimum and $ \|r\|_2 \leq \epsilon $."
    item = listed_from_summary(make_summary(tldr="", body=body))
    assert item.excerpt == ("Letting p\\(y\\|x,θ\\) be the model, x\\* its optimum and ‖r‖₂ ≤ ε.")
    field = paper_card(make_paper(), [make_summary(tldr=body)]).fields[0].value or ""
    assert "p\\(y\\|x,θ\\)" in field


def test_list_excerpts_drop_html_and_decode_entities() -> None:
    item = listed_from_summary(make_summary(tldr="<b>Bold</b> &amp; <i>it</i>, List<T> stays"))
    assert item.excerpt == "Bold & it, List\\<T> stays"


def test_a_shortened_abstract_never_cuts_a_formula() -> None:
    formula = r"$\hat{x} = \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \sum_{i=1}^{n} w_i z_i$"
    converted = "x̂ = (x − μ)/√(σ² + ε) + ∑ᵢ₌₁ⁿ wᵢ zᵢ"
    for lead in range(540, 600, 3):
        paper = make_paper(abstract="w " * (lead // 2) + formula + " and then more words." * 9)
        card = paper_card(paper, [])
        description = card.description or ""
        shown = description.split("\n\n")[1]
        assert shown.endswith("…")
        assert converted in shown or "x̂" not in shown, (lead, shown[-80:])
    expanded = paper_card(paper, [], expanded=True).description or ""
    assert converted in expanded and "\\frac" not in expanded
