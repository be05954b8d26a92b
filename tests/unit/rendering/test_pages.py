"""Splitting rendered text into pages and planning embeds within Discord's limits."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.rendering.markdown import render_summary
from bot.rendering.pages import (
    AUTHOR_LIMIT,
    DESCRIPTION_LIMIT,
    EMBED_TOTAL_LIMIT,
    FIELD_NAME_LIMIT,
    FIELD_VALUE_LIMIT,
    FOOTER_LIMIT,
    TITLE_LIMIT,
    EmbedField,
    EmbedPage,
    display_pages,
    find_code_fences,
    format_footer,
    paginate_for_embed,
    split_pages,
)

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "long_summary.md"
FENCE_LINE = re.compile(r"^ {0,3}(`{3,}|~{3,})", re.MULTILINE)


def _assert_within_embed_limits(page: EmbedPage) -> None:
    assert len(page.title) <= TITLE_LIMIT
    assert len(page.description) <= DESCRIPTION_LIMIT
    assert len(page.footer) <= FOOTER_LIMIT
    assert page.author is None or len(page.author) <= AUTHOR_LIMIT
    assert len(page.fields) <= 25
    for field in page.fields:
        assert 0 < len(field.name) <= FIELD_NAME_LIMIT
        assert 0 < len(field.value) <= FIELD_VALUE_LIMIT
    assert page.total_length <= EMBED_TOTAL_LIMIT


def _is_subsequence(needle: str, haystack: str) -> bool:
    characters = iter(haystack)
    return all(char in characters for char in needle)


def _non_space(text: str) -> str:
    return "".join(text.split())


# -- split_pages: examples ----------------------------------------------------------------


def test_short_text_is_one_page() -> None:
    assert split_pages("hello", 10) == ["hello"]


def test_empty_text_has_no_pages() -> None:
    assert split_pages("", 10) == []
    assert display_pages("", 10) == []
    assert display_pages("\n\n  \n", 10) == []


def test_limit_must_be_positive() -> None:
    with pytest.raises(ValueError):
        split_pages("abc", 0)
    with pytest.raises(ValueError):
        display_pages("abc", 0)


def test_splits_at_paragraphs_keeping_separators() -> None:
    text = "first paragraph here.\n\nsecond one is here.\n\nthird."
    pages = split_pages(text, 45)
    assert pages == ["first paragraph here.\n\nsecond one is here.\n\n", "third."]


def test_prefers_paragraph_over_later_line_break() -> None:
    text = "aaaa aaaa aaaa\n\nbbbb bbbb\ncccc cccc\ndddd"
    assert split_pages(text, 30)[0] == "aaaa aaaa aaaa\n\n"


def test_heading_is_not_left_at_the_end_of_a_page() -> None:
    text = "first paragraph with words.\n\nsecond paragraph.\n\n## Heading\n\n" + "body " * 20
    pages = split_pages(text, 65)
    assert pages[0] == "first paragraph with words.\n\nsecond paragraph.\n\n"
    assert pages[1].startswith("## Heading\n\n")


def test_falls_back_to_line_breaks() -> None:
    text = "line one\nline two\nline three\nline four"
    pages = split_pages(text, 20)
    assert pages == ["line one\nline two\n", "line three\nline four"]


def test_falls_back_to_sentences_then_words() -> None:
    text = "One sentence here. Another sentence follows here and goes on"
    pages = split_pages(text, 30)
    assert pages[0] == "One sentence here. "
    assert "".join(pages) == text
    words = "alpha beta gamma delta epsilon zeta eta theta"
    pages = split_pages(words, 20)
    assert all(page.endswith(" ") for page in pages[:-1])
    assert "".join(pages) == words


def test_hard_cut_for_a_line_without_spaces() -> None:
    text = "x" * 250
    pages = split_pages(text, 100)
    assert [len(page) for page in pages] == [100, 100, 50]


def test_hard_cut_keeps_combining_marks_with_their_letter() -> None:
    text = "x\u0302" * 60
    pages = split_pages(text, 51)
    assert "".join(pages) == text
    assert all(not page.startswith("\u0302") for page in pages)


def test_code_block_that_fits_moves_to_the_next_page() -> None:
    code = "```python\n" + "".join(f"value_{i} = {i}\n" for i in range(10)) + "```\n"
    text = "Intro paragraph with some words in it.\n" + code + "After."
    pages = split_pages(text, len(code) + 5)
    assert pages[0] == "Intro paragraph with some words in it.\n"
    assert pages[1].startswith(code)


def test_long_code_block_is_split_between_lines_and_reopened_for_display() -> None:
    body = "".join(f"line_{i:03d} = compute({i})\n" for i in range(60))
    text = "Intro.\n\n```python\n" + body + "```\n\nOutro."
    limit = 300
    pages = split_pages(text, limit)
    assert "".join(pages) == text
    shown = display_pages(text, limit)
    assert len(shown) > 2
    for page in shown:
        assert len(page) <= limit
        assert len(FENCE_LINE.findall(page)) % 2 == 0, page
    for page in shown[1:-1]:
        assert page.startswith("```python\n")
        assert page.endswith("```")
    assert _is_subsequence(_non_space(text), _non_space("".join(shown)))


def test_find_code_fences() -> None:
    text = "a\n```py\ncode\n```\nb\n~~~~\nx\n~~~\n~~~~\n```\nopen"
    fences = find_code_fences(text)
    assert [(f.marker, f.info) for f in fences] == [("```", "py"), ("~~~~", ""), ("```", "")]
    assert text[fences[0].start : fences[0].end] == "```py\ncode\n```\n"
    assert text[fences[0].body_start : fences[0].body_end] == "code\n"
    assert fences[2].end == len(text)


# -- split_pages / display_pages: properties ----------------------------------------------

TEXT_PIECES = st.one_of(
    st.sampled_from(
        [
            " ",
            "\n",
            "\n\n",
            "\n\n\n",
            "word",
            "Sentence ends. ",
            "Question? ",
            "```python\n",
            "```\n",
            "~~~\n",
            "    indented\n",
            "x\u0302",
            "👍🏽",
            "\u200b",
            "> quote\n",
            "- item\n",
        ]
    ),
    st.text(min_size=1, max_size=30),
    st.integers(min_value=1, max_value=5000).map(lambda n: "y" * n),
    st.integers(min_value=1, max_value=400).map(lambda n: "code line\n" * n),
)
LONG_TEXTS = st.lists(TEXT_PIECES, max_size=60).map("".join).map(lambda text: text[:20_000])
LIMITS = st.integers(min_value=50, max_value=4096)


@given(LONG_TEXTS, LIMITS)
@settings(max_examples=150, deadline=None)
def test_split_pages_is_an_exact_partition(text: str, limit: int) -> None:
    pages = split_pages(text, limit)
    assert "".join(pages) == text
    assert all(0 < len(page) <= limit for page in pages)


@given(LONG_TEXTS, LIMITS)
@settings(max_examples=150, deadline=None)
def test_display_pages_fit_and_lose_nothing(text: str, limit: int) -> None:
    shown = display_pages(text, limit)
    assert all(0 < len(page) <= limit for page in shown)
    assert _is_subsequence(_non_space(text), _non_space("".join(shown)))


@given(st.text(max_size=3000), st.integers(min_value=1, max_value=200))
@settings(max_examples=200, deadline=None)
def test_split_pages_any_text_any_small_limit(text: str, limit: int) -> None:
    pages = split_pages(text, limit)
    assert "".join(pages) == text
    assert all(0 < len(page) <= limit for page in pages)
    assert all(len(page) <= limit for page in display_pages(text, limit))


# -- embeds -------------------------------------------------------------------------------


def test_paginate_for_embed_basic() -> None:
    pages = paginate_for_embed("Short body.", title="A paper", author="Alice")
    assert pages == [
        EmbedPage(
            title="A paper",
            description="Short body.",
            footer="page 1 of 1",
            author="Alice",
            fields=(),
            page=1,
            pages=1,
        )
    ]


def test_paginate_for_embed_empty_text_gives_one_page() -> None:
    pages = paginate_for_embed("", title="T")
    assert len(pages) == 1
    assert pages[0].description == ""


def test_paginate_shortens_title_and_author_but_not_body() -> None:
    body = "word " * 3000
    pages = paginate_for_embed(
        body,
        title="T" * 400,
        author="A" * 400,
        footer_template="page {page} of {pages} · {weird} braces stay",
    )
    assert pages[0].title == "T" * 255 + "…"
    assert pages[0].author == "A" * 255 + "…"
    assert pages[-1].footer == f"page {len(pages)} of {len(pages)} · {{weird}} braces stay"
    assert _non_space("".join(page.description for page in pages)) == _non_space(body)
    for page in pages:
        _assert_within_embed_limits(page)


def test_paginate_with_fields_and_long_footer_stays_under_total() -> None:
    fields = [EmbedField("Paper", "x" * 2000), EmbedField("", "")]
    pages = paginate_for_embed(
        "paragraph text. " * 2000,
        title="t" * 300,
        footer_template="page {page} of {pages} · " + "f" * 3000,
        author="a" * 300,
        fields=fields,
    )
    assert len(pages) > 3
    for number, page in enumerate(pages, start=1):
        _assert_within_embed_limits(page)
        assert page.page == number
        assert page.pages == len(pages)
    assert pages[0].fields[0].value.endswith("…")
    assert pages[0].fields[1].name == "\u200b"


def test_paginate_rejects_too_many_fields_or_no_room() -> None:
    with pytest.raises(ValueError):
        paginate_for_embed("x", title="t", fields=[EmbedField("n", "v")] * 26)
    with pytest.raises(ValueError):
        paginate_for_embed(
            "x",
            title="t",
            fields=[EmbedField("n" * 256, "v" * 1024)] * 5,
        )


def test_format_footer() -> None:
    assert format_footer("page {page} of {pages} · ShortScience", 2, 10) == (
        "page 2 of 10 · ShortScience"
    )
    assert len(format_footer("{page}" + "x" * 5000, 1, 1)) == FOOTER_LIMIT


@given(
    LONG_TEXTS,
    st.text(max_size=400),
    st.one_of(st.none(), st.text(max_size=400)),
    st.text(max_size=2500),
)
@settings(max_examples=100, deadline=None)
def test_embed_pages_always_within_limits(
    text: str, title: str, author: str | None, footer_extra: str
) -> None:
    pages = paginate_for_embed(
        text,
        title=title,
        author=author,
        footer_template="page {page} of {pages} · " + footer_extra,
    )
    assert len(pages) >= 1
    for page in pages:
        _assert_within_embed_limits(page)


# -- the realistic fixture ----------------------------------------------------------------


def test_long_fixture_paginates_within_limits() -> None:
    rendered = render_summary(FIXTURE.read_text(encoding="utf-8"))
    pages = paginate_for_embed(
        rendered.text,
        title="Batch Normalization: Accelerating Deep Network Training by Reducing Internal "
        "Covariate Shift",
        footer_template="page {page} of {pages} · ShortScience.org · summary by a reader",
        author="Sergey Ioffe, Christian Szegedy",
    )
    assert len(pages) >= 3
    for page in pages:
        _assert_within_embed_limits(page)
        assert not re.search(
            r"\\(frac|sqrt|mathbb|mathcal|sum|alpha|left|right)\b", page.description
        )
        assert len(FENCE_LINE.findall(page.description)) % 2 == 0
    joined = "".join(page.description for page in pages)
    assert _non_space(rendered.text) == _non_space(joined)
    for limit in (500, 1000, 2000):
        shown = display_pages(rendered.text, limit)
        assert all(len(page) <= limit for page in shown)
        assert all(len(FENCE_LINE.findall(page)) % 2 == 0 for page in shown)


def test_forced_breaks_start_new_pages() -> None:
    text = "aaa bbb\n\nccc ddd\n\neee fff"
    assert split_pages(text, 100, breaks=[9]) == ["aaa bbb\n\n", "ccc ddd\n\neee fff"]
    assert split_pages(text, 10, breaks=[9, 18]) == ["aaa bbb\n\n", "ccc ddd\n\n", "eee fff"]
    # Breaks past the end, at the start or repeated change nothing.
    assert split_pages(text, 100, breaks=[0, 9, 9, 500]) == ["aaa bbb\n\n", "ccc ddd\n\neee fff"]
    assert display_pages(text, 100, breaks=[9]) == ["aaa bbb", "ccc ddd\n\neee fff"]


# -- formulas, code and tables are never split (unless one alone exceeds a page) -------------

# Markdown pieces of a summary as ShortScience readers write them.
PROSE = st.sampled_from(
    [
        "Batch norm makes training faster. ",
        "It normalises activations over the batch, then rescales them. ",
        "Why does it work? ",
        "The authors argue for it at length and with many experiments on ImageNet. ",
        "word ",
        "\n\n",
        "\n",
        "- an item of a list\n",
    ]
)
INLINE_MATH = st.sampled_from(
    [
        "$x$",
        "$ V_D^{\\pi}(s) = \\sum_{t=0}^{\\infty} \\gamma^t r_t $",
        "$\\hat{x}_i = \\frac{x_i - \\mu_{\\mathcal{B}}}"
        "{\\sqrt{\\sigma_{\\mathcal{B}}^2 + \\epsilon}}$",
        "\\(p(y \\mid x, \\theta) = \\prod_i p(y_i \\mid x_i)\\)",
    ]
)
DISPLAY_MATH = st.sampled_from(
    [
        "\n\n$$A(t) = \\eta \\sum_{\\tau = 1}^{\\tau = t-1}"
        "\\lambda^{t-\\tau-1} h(\\tau) h(\\tau)^T$$\n\n",
        "\n\\begin{align} a &= b + c + d \\\\ e &= f + g + h \\\\ i &= j \\end{align}\n",
    ]
)
CODE = st.integers(min_value=1, max_value=40).map(
    lambda n: (
        "\n\n```python\n" + "".join(f"value_{i} = compute({i})\n" for i in range(n)) + "```\n\n"
    )
)
TABLE = st.integers(min_value=1, max_value=30).map(
    lambda n: (
        "\n\n| model | top-1 | steps |\n|---|---:|---:|\n"
        + "".join(f"| Inception-BN-{i} | 7{i % 10}.8% | {i}M |\n" for i in range(n))
        + "\n"
    )
)
SUMMARIES = st.lists(
    st.one_of(PROSE, PROSE, PROSE, INLINE_MATH, DISPLAY_MATH, CODE, TABLE), max_size=120
).map("".join)


def _unbreakable(marked: str) -> list[tuple[int, int]]:
    from bot.rendering.units import unit_spans

    fences = [(fence.start, fence.end) for fence in find_code_fences(marked)]
    return unit_spans(marked) + fences


@given(SUMMARIES, st.integers(min_value=500, max_value=2000))
@settings(max_examples=200, deadline=None)
def test_pages_never_split_a_formula_code_block_or_table_that_fits(source: str, limit: int) -> None:
    marked = render_summary(source).marked
    pages = split_pages(marked, limit)
    assert "".join(pages) == marked
    assert all(0 < len(page) <= limit for page in pages)
    cuts = [sum(len(page) for page in pages[:count]) for count in range(1, len(pages))]
    for start, end in _unbreakable(marked):
        if end - start <= limit:
            assert not [cut for cut in cuts if start < cut < end], marked[start:end]


@given(SUMMARIES, st.integers(min_value=500, max_value=2000))
@settings(max_examples=100, deadline=None)
def test_shown_pages_fit_and_lose_nothing(source: str, limit: int) -> None:
    from bot.rendering.units import strip_marks

    rendered = render_summary(source)
    shown = [strip_marks(page) for page in display_pages(rendered.marked, limit)]
    assert all(0 < len(page) <= limit for page in shown)
    assert all(len(FENCE_LINE.findall(page)) % 2 == 0 for page in shown)
    # Everything is shown, in order (a code block split across pages is closed and reopened).
    assert _is_subsequence(_non_space(rendered.text), _non_space("".join(shown)))


def test_a_formula_that_would_straddle_the_page_end_moves_to_the_next_page() -> None:
    from bot.rendering.units import strip_marks

    formula = "$ V_D^{\\pi}(s) = \\sum_{t=0}^{\\infty} \\gamma^t \\mathbb{E}[r_t] $"
    converted = render_summary(formula).text
    assert converted == "V\\_D^π(s) = ∑ₜ₌₀^∞ γᵗ 𝔼\\[rₜ\\]"
    for words in range(80, 100):
        rendered = render_summary("word " * words + formula + " and more words." * 10)
        pages = [strip_marks(page) for page in split_pages(rendered.marked, 500)]
        assert sum(converted in page for page in pages) == 1, pages


def test_pages_end_at_a_sentence_rather_than_between_words() -> None:
    # The only sentence break is in the page's first half: better than between two words.
    text = "This sentence fills a good part of the page, as sentences do. " * 2
    text += "then words go on without a full stop " * 20
    pages = split_pages(text, 300)
    assert pages[0] == "This sentence fills a good part of the page, as sentences do. " * 2
    # With no sentence at all, between words.
    assert all(page.endswith(" ") for page in pages[1:-1])


def test_a_formula_longer_than_a_page_is_cut_between_its_words() -> None:
    from bot.rendering.units import unit

    formula = unit(" + ".join(f"x_{i}" for i in range(200)))
    text = "Before. " + formula + " After."
    pages = split_pages(text, 300)
    assert "".join(pages) == text and all(len(page) <= 300 for page in pages)
    assert all(page.endswith((" ", "+")) or page is pages[-1] for page in pages)


def test_a_table_longer_than_a_page_is_split_between_rows() -> None:
    source = "| model | acc |\n|---|---|\n" + "".join(f"| m{i} | {i}% |\n" for i in range(200))
    shown = display_pages(render_summary(source).marked, 500)
    assert len(shown) > 2
    for page in shown:
        assert page.startswith("```") and page.endswith("```")
        rows = page.splitlines()[1:-1]
        assert all(re.fullmatch(r"m\d+ +\| +\d+%|model \| acc|-+\+-+", row) for row in rows)
