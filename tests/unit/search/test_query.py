"""build_fts_query: whatever a user types becomes a valid FTS5 query, or "nothing to search"."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator

import pytest
from bot.search.repository import Visibility, plain_search
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from bot.search.excerpt import MatchFinder, fragment, markdown_excerpt
from bot.search.query import MAX_PHRASES, build_fts_query
from bot.storage.database import load_migrations, split_statements

# Module-scoped fixtures are shared on purpose: queries only read them.
FIXTURE_OK = [HealthCheck.function_scoped_fixture]


@pytest.fixture(scope="module")
def fts() -> Iterator[sqlite3.Connection]:
    """The real schema (all migrations) with a few summaries, in memory."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    for migration in load_migrations():
        for statement in split_statements(migration.sql):
            conn.execute(statement)
    conn.execute("INSERT INTO papers (id, canonical_key, title) VALUES (1, 'k1', 'Batch Norm')")
    texts = [
        "Batch normalization: accelerating deep network training (GPT-4, state-of-the-art).",
        "Naïve Bayes and the café: résumé of AND/OR/NOT NEAR operators * - : ( )",
        'Quotes "inside" text, emoji 🙂 and 数据 科学 text.',
    ]
    for index, text in enumerate(texts, start=1):
        conn.execute(
            "INSERT INTO summaries (id, paper_id, origin, body, author_name) "
            "VALUES (?, 1, 'feed', ?, 'alice')",
            (index, text),
        )
    yield conn
    conn.close()


def run(conn: sqlite3.Connection, text: str) -> list[int]:
    query = build_fts_query(text)
    assert query is not None
    rows = plain_search(conn, query.expression, Visibility(), offset=0, limit=10)
    return [row[0] for row in rows]


def test_words_are_anded_phrases() -> None:
    query = build_fts_query("Batch  normalization")
    assert query is not None
    assert query.expression == '"batch" AND "normalization"'
    assert [phrase.tokens for phrase in query.phrases] == [("batch",), ("normalization",)]


def test_quoted_text_is_one_phrase_and_an_unclosed_quote_runs_to_the_end() -> None:
    query = build_fts_query('"deep network" training "batch norm')
    assert query is not None
    assert [phrase.tokens for phrase in query.phrases] == [
        ("deep", "network"),
        ("training",),
        ("batch", "norm"),
    ]


def test_phrases_match_as_phrases(fts: sqlite3.Connection) -> None:
    assert run(fts, '"deep network"') == [1]
    assert run(fts, '"network deep"') == []
    assert run(fts, "network deep") == [1]


def test_inner_punctuation_makes_a_phrase(fts: sqlite3.Connection) -> None:
    query = build_fts_query("GPT-4 state-of-the-art")
    assert query is not None
    assert [phrase.tokens for phrase in query.phrases] == [
        ("gpt", "4"),
        ("state", "of", "the", "art"),
    ]
    assert run(fts, "GPT-4 state-of-the-art") == [1]


def test_operators_are_plain_words(fts: sqlite3.Connection) -> None:
    query = build_fts_query("AND OR NOT NEAR")
    assert query is not None
    assert query.expression == '"and" AND "or" AND "not" AND "near"'
    assert run(fts, "AND OR NOT NEAR") == [2]
    assert run(fts, "NEAR(batch deep, 5)") == []  # words, not NEAR(): "5" is in no summary


def test_fts5_syntax_characters_are_harmless(fts: sqlite3.Connection) -> None:
    for text in ["*", "col:umn", "-neg", "+pos", "^start", "(a OR b)", '"', '""', 'a"b"c']:
        query = build_fts_query(text)
        if query is not None:
            plain_search(fts, query.expression, Visibility(), offset=0, limit=5)


@pytest.mark.parametrize(
    "text", ["", "   ", "***", "?!.,;:-", "🙂🙂 🎉", '" "', "\x00\x01", "\u200b"]
)
def test_nothing_to_search(text: str) -> None:
    assert build_fts_query(text) is None


def test_diacritics_and_other_scripts_are_left_to_fts5(fts: sqlite3.Connection) -> None:
    query = build_fts_query("NAÏVE cafe")
    assert query is not None
    assert query.phrases[0].tokens is None  # non-ASCII: FTS5 tokenizes it
    assert run(fts, "NAÏVE cafe") == [2]
    assert run(fts, "数据") == [3]


def test_emoji_between_words_is_ignored(fts: sqlite3.Connection) -> None:
    assert run(fts, "quotes 🙂 emoji") == [3]


def test_repeated_words_count_once() -> None:
    query = build_fts_query("deep Deep DEEP network deep")
    assert query is not None
    assert query.expression == '"deep" AND "network"'


def test_long_input_is_bounded(fts: sqlite3.Connection) -> None:
    query = build_fts_query(" ".join(f"word{index}" for index in range(1000)))
    assert query is not None
    assert len(query.phrases) == MAX_PHRASES
    assert build_fts_query("x" * 100_000) is not None


def test_quotes_inside_text_cannot_escape_the_phrase(fts: sqlite3.Connection) -> None:
    query = build_fts_query('inside" OR "text')
    assert query is not None
    assert query.expression == '"inside" AND "or" AND "text"'
    assert run(fts, 'inside" "text') == [3]


def _fts5_tokens(conn: sqlite3.Connection, text: str) -> list[str]:
    conn.execute("DELETE FROM temp.tokens")
    conn.execute("INSERT INTO temp.tokens (text) VALUES (?)", (text,))
    rows = conn.execute("SELECT term, offset FROM temp.tokens_vocab ORDER BY offset").fetchall()
    return [term for term, _ in rows]


@pytest.fixture(scope="module")
def tokenizer() -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute(
        "CREATE VIRTUAL TABLE temp.tokens "
        "USING fts5(text, tokenize='unicode61 remove_diacritics 2')"
    )
    conn.execute("CREATE VIRTUAL TABLE temp.tokens_vocab USING fts5vocab(temp, tokens, instance)")
    yield conn
    conn.close()


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.text(alphabet=st.characters(min_codepoint=1, max_codepoint=127), max_size=80))
def test_ascii_tokens_are_exactly_fts5s(tokenizer: sqlite3.Connection, text: str) -> None:
    """The accelerator looks words up by these tokens: they must be what FTS5 indexes."""
    query = build_fts_query(text.replace('"', " "))
    for phrase in query.phrases if query else ():
        assert phrase.tokens is not None
        assert list(phrase.tokens) == _fts5_tokens(tokenizer, phrase.text)


SYNTAX_CHARACTERS = "\"*-:()^+ ANDORTNEA{}[],.\\'/_@#🙂é数"
SYNTAX_WORDS = ["AND", "OR", "NOT", "NEAR", "NEAR(", '"', "*", "-", ":", "(", ")", "batch", "🙂"]
_QUERY_TEXT = st.one_of(
    st.text(max_size=300),
    st.text(
        alphabet=st.sampled_from(list("\"*-:()^+ AND OR NOT NEAR {}[],.\\'/_@#🙂é数")), max_size=200
    ),
    st.lists(
        st.sampled_from(
            ["AND", "OR", "NOT", "NEAR", "NEAR(", '"', "*", "-", ":", "(", ")", "batch", "🙂"]
        ),
        max_size=40,
    ).map(" ".join),
    st.text(min_size=900, max_size=1200),
)


@settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(_QUERY_TEXT)
@example("")
@example('"')
@example("NEAR(")
@example("\ud800")  # an unpaired surrogate: not even encodable as UTF-8
@example("a" * 1000 + "🙂" * 500)
def test_no_input_raises(fts: sqlite3.Connection, text: str) -> None:
    query = build_fts_query(text)
    if query is None:
        return
    assert query.expression
    rows = plain_search(fts, query.expression, Visibility(), offset=0, limit=5)
    finder = MatchFinder(query)
    for summary_id, _ in rows:
        body = fts.execute("SELECT body FROM summaries WHERE id = ?", (summary_id,)).fetchone()[0]
        assert "\n" not in markdown_excerpt(fragment([body, text], finder))
