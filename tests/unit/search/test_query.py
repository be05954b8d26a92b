"""parse_query: whatever a user types becomes phrases of the index's own tokens (never
tantivy query syntax), or "nothing to search"; and any text is safe through the service."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.search import SearchService
from bot.search.excerpt import MatchFinder, fragment, render_excerpt
from bot.search.query import MAX_PHRASES, analyze, fuzzy_distance, parse_query
from bot.storage.database import Database
from tests.unit.search.conftest import add_summary, open_search

HOSTILE = [
    '"', '""', '"unbalanced quote', 'gradient "', "*", "gradient*", "-gradient", "- - -",
    "title:gradient", "body:x", ":", "col:umn:s", "(", "(gradient OR", ")) ((", "AND", "OR",
    "NOT", "NEAR", "NEAR(", "NEAR(gradient descent, 2)", "gradient NEAR/3 descent",
    "^", "^gradient", "gradient^2", "{gradient}", "[a TO z]", "gradient~2", "gradient\\",
    "'; DROP TABLE summaries; --", "\x00", "gradient\x00descent", "\ud800", "a\udfffb",
    "\u0000\u200b\u202e", "🔥🚀 gradient 🧠", "x" * 10_000, "gradient " * 2000,
    "!@#$%^&*()_+-=[]{}|;':\",./<>?`~", "IN [a b]", "/regex.*/", "+must -not",
]  # fmt: skip


def test_words_are_separate_phrases() -> None:
    query = parse_query("Batch  normalization")
    assert query is not None
    assert [phrase.tokens for phrase in query.phrases] == [("batch",), ("normalization",)]
    assert query.display == "batch normalization"


def test_quoted_text_is_one_phrase_and_an_unclosed_quote_runs_to_the_end() -> None:
    query = parse_query('"deep network" training "batch norm')
    assert query is not None
    assert [phrase.tokens for phrase in query.phrases] == [
        ("deep", "network"),
        ("training",),
        ("batch", "norm"),
    ]
    assert query.display == '"deep network" training "batch norm"'


def test_inner_punctuation_makes_a_phrase() -> None:
    query = parse_query("GPT-4 state-of-the-art")
    assert query is not None
    assert [phrase.tokens for phrase in query.phrases] == [
        ("gpt", "4"),
        ("state", "of", "the", "art"),
    ]


def test_operators_and_syntax_are_plain_words() -> None:
    query = parse_query("title:attention AND NEAR(a, b) -x ^y")
    assert query is not None
    assert query.words == ("title", "attention", "and", "near", "a", "b", "x", "y")


@pytest.mark.parametrize(
    "text", ["", "   ", "***", "?!.,;:-", "🙂🙂 🎉", '" "', "\x00\x01", "\u200b", "\ud800"]
)
def test_nothing_to_search(text: str) -> None:
    assert parse_query(text) is None


def test_diacritics_fold_like_the_index() -> None:
    assert analyze("Naïve CAFÉ Résumé") == ["naive", "cafe", "resume"]
    query = parse_query("NAÏVE")
    assert query is not None and query.words == ("naive",)


def test_repeated_words_count_once() -> None:
    query = parse_query("deep Deep DEEP network deep")
    assert query is not None
    assert query.words == ("deep", "network")


def test_long_input_is_bounded() -> None:
    query = parse_query(" ".join(f"word{index}" for index in range(1000)))
    assert query is not None
    assert len(query.phrases) == MAX_PHRASES and query.cut
    # Exactly as many (repeats and punctuation do not count) is not cut.
    words = " ".join(f"word{index}" for index in range(MAX_PHRASES))
    exactly = parse_query(f"{words} word0 , ?")
    assert exactly is not None and len(exactly.phrases) == MAX_PHRASES and not exactly.cut
    assert parse_query("xy " * 50_000) is not None
    # A "word" longer than any the index keeps (40 letters) cannot match anything.
    assert parse_query("x" * 100_000) is None


def test_fuzzy_distances() -> None:
    assert [fuzzy_distance(w) for w in ("adam", "batch", "normaliz", "attention")] == [0, 1, 1, 2]


# -- any text through the whole search -----------------------------------------------------------


@pytest.fixture(scope="module")
def loaded(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[SearchService, asyncio.AbstractEventLoop]]:
    """A service over a few summaries, on a loop of its own (hypothesis drives it)."""
    loop = asyncio.new_event_loop()
    path = tmp_path_factory.mktemp("hostile")

    async def setup() -> tuple[SearchService, Database]:
        db = await Database.open(path / "db.sqlite3")
        await db.migrate()
        search = await open_search(db, path / "index")
        for body in (
            "Gradient descent: a state-of-the-art GPT-4 study (AND/OR/NOT NEAR * - : ( ))",
            'Quotes "inside" text, emoji 🙂, 数据 科学, and $\\sqrt{d_k}$ math',
            "Naïve Bayes at the café, résumé attached. " * 30,
        ):
            await add_summary(db, title="Hostile Input Paper", body=body)
        return search, db

    search, db = loop.run_until_complete(setup())
    yield search, loop
    loop.run_until_complete(search.close())
    loop.run_until_complete(db.close())
    loop.close()


@pytest.mark.parametrize("text", HOSTILE, ids=range(len(HOSTILE)))
def test_hostile_queries_never_raise(
    loaded: tuple[SearchService, asyncio.AbstractEventLoop], text: str
) -> None:
    search, loop = loaded
    page = loop.run_until_complete(search.search(text, guild_id=1))
    for result in page.results:
        assert "\n" not in result.excerpt
    assert page.nothing_to_search == (parse_query(text) is None)


def test_syntax_finds_the_words_not_the_operators(
    loaded: tuple[SearchService, asyncio.AbstractEventLoop],
) -> None:
    search, loop = loaded
    found = loop.run_until_complete(search.search("NEAR( gradient", guild_id=None))
    assert len(found.results) == 1 and "**NEAR**" in found.results[0].excerpt
    nothing = loop.run_until_complete(search.search("title:zzzz", guild_id=None))
    assert nothing.results == ()


_QUERY_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(alphabet=st.sampled_from(list("\"*-:()^+ AND OR NOT NEAR {}[],.\\'/_@#🙂é数~")),
            max_size=200),
    st.lists(
        st.sampled_from(
            ["AND", "OR", "NOT", "NEAR", "NEAR(", '"', "*", "-", ":", "(", ")", "gradient", "🙂",
             "title:", "^2", "~1", "[", "TO"]
        ),
        max_size=40,
    ).map(" ".join),
    st.text(min_size=900, max_size=1200),
)  # fmt: skip


@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_QUERY_TEXT)
@example("\ud800")
@example("a" * 1000 + "🙂" * 500)
def test_no_input_raises(
    loaded: tuple[SearchService, asyncio.AbstractEventLoop], text: str
) -> None:
    search, loop = loaded
    page = loop.run_until_complete(search.search(text, guild_id=None, offset=5))
    assert page.offset == 5


# -- excerpts ------------------------------------------------------------------------------------


def test_excerpt_bolds_matches_ignoring_case_and_diacritics() -> None:
    query = parse_query("naive normalization")
    assert query is not None
    text = "We study the Naïve approach; then NORMALIZATION helps."
    markdown, plain = render_excerpt(fragment([text], MatchFinder(query)))
    assert markdown == "We study the **Naïve** approach; then **NORMALIZATION** helps."
    assert plain == text


def test_excerpt_converts_math_as_summary_view_does_and_never_cuts_it() -> None:
    from bot.rendering.latex import latex_to_unicode

    query = parse_query("minimised")
    assert query is not None
    formula = r"\mathcal{L}(\theta) = \sum_i x_i^2"
    text = f"The loss ${formula}$ is minimised by gradient steps."
    markdown, plain = render_excerpt(fragment([text], MatchFinder(query)))
    converted = latex_to_unicode(formula)
    assert converted in plain and "$" not in plain and "\\mathcal" not in plain
    assert "**minimised**" in markdown
    # Too little room for the formula: it is left out whole, never cut.
    for room in range(5, len(plain)):
        cut = render_excerpt(fragment([text], MatchFinder(query)), room)[1]
        assert converted in cut or "ℒ" not in cut, (room, cut)
    # A window that would start or end inside a formula takes it whole.
    long_text = "word " * 60 + f"${formula}$ minimised " + "word " * 60
    _, plain = render_excerpt(fragment([long_text], MatchFinder(query)))
    assert converted in plain


def test_excerpt_is_one_line_and_harmless() -> None:
    query = parse_query("transformer")
    assert query is not None
    body = (
        "# Heading\n\n@everyone look: <@123> [click](https://evil.example) **not bold**\n"
        "the transformer model ||spoiler|| `code`"
    )
    markdown, plain = render_excerpt(fragment([body], MatchFinder(query)))
    assert "\n" not in markdown and "**transformer**" in markdown
    assert "@everyone" not in markdown and "<@123>" not in markdown
    assert "](" not in markdown and markdown.count("**") == 2
    assert "transformer" in plain


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab $\\{}x^_\n")), max_size=80))
def test_formulas_are_found_as_summary_view_finds_them(text: str) -> None:
    from bot.rendering.latex import iter_math_segments
    from bot.search.excerpt import _math_spans

    expected = []
    offset = 0
    for segment in iter_math_segments(text):
        if segment.kind != "text":
            expected.append((offset, offset + len(segment.source), segment.content))
        offset += len(segment.source)
    assert _math_spans(text) == expected


@pytest.mark.parametrize(
    "body",
    [
        # A real summary: `$ ... $` with spaces inside the dollars (left raw before).
        (Path(__file__).resolve().parents[2] / "fixtures" / "shortscience" / "brac.md").read_text(
            encoding="utf-8"
        ),
        "We use \\( \\gamma^t \\mathbb{E}[r] \\) with gamma decaying, as in \\[\\gamma = 0.9\\]",
        "FaceNet maps faces to $\\mathbb{R}^{128}$: the mathbb space of embeddings.",
    ],
)
def test_a_match_never_breaks_a_formula(body: str) -> None:
    """The words of a query that occur inside a formula's TeX are not bolded there: the
    formula is shown converted and whole, as `/summary view` shows it."""
    for word in ("gamma", "mathbb", "infty"):
        query = parse_query(word)
        assert query is not None
        markdown, plain = render_excerpt(fragment([body], MatchFinder(query)))
        assert "\\" not in plain and "$" not in plain, plain
        assert "mathbb" not in plain.replace("the mathbb space", ""), plain
        # Bold only hugs whole words outside formulas: never a piece of TeX.
        for bolded in re.findall(r"\*\*(.+?)\*\*", markdown):
            assert bolded.casefold() == word, (bolded, markdown)
