"""The tantivy index's schema, its text analysis, and how a vote score becomes a boost.

One index holds three kinds of documents:

* a summary (kind `summary`): the searchable text of a visible summary with its paper's title,
  authors, year and venue, who may see it (`guild`: 0 for a feed summary, else its server),
  its score and time (ties, vote boost), and what it is (`summary_kind`: `summary`, or
  `abstract` for a feed entry that is the paper itself, which ranks below real summaries);
* a paper (kind `paper`): title (`paper_title`, for autocomplete), abstract (similar
  papers) and the servers where it is visible (`guild`, several values; 0 when public);
* one `meta` document: the last change-log sequence applied and the schema version. It is
  replaced in every commit, so it is committed atomically with the documents it describes
  (tantivy-py exposes no commit payload; a document in the same commit is the same guarantee).
"""

from __future__ import annotations

import math
import unicodedata
from typing import Final

import tantivy

# Bump whenever fields, analysis or the meaning of a field change: an index of another
# version is rebuilt from the database in the background.
SCHEMA_VERSION: Final = 2

WORDS: Final = "words"  # analyzer of searchable text
TITLE_KEY: Final = "title_key"  # analyzer of whole titles, for "starts with"
# Longer tokens are noise (base64, URLs): tantivy would index them, nobody types them.
MAX_TOKEN_CHARS: Final = 40
MAX_TITLE_KEY_CHARS: Final = 300

# Searchable fields and their weights: the paper's title counts most, then the TL;DR, then
# who wrote the paper or the summary, then the body.
FIELD_WEIGHTS: Final[dict[str, float]] = {
    "title": 8.0,
    "tldr": 4.0,
    "authors": 2.0,
    "author": 2.0,
    "body": 1.0,
}
TEXT_FIELDS: Final = tuple(FIELD_WEIGHTS)

KIND_SUMMARY: Final = "summary"
KIND_PAPER: Final = "paper"
KIND_META: Final = "meta"
PUBLIC_GUILD: Final = 0  # the `guild` value of what every server (and a DM) may see

# Votes: a multiplier of the text score, 1.0 at zero, growing with the log of the votes and
# bounded, so text relevance always leads and votes order near-equals.
VOTE_BOOST_PER_LOG: Final = 0.1
MIN_VOTE_BOOST: Final = 0.5
MAX_VOTE_BOOST: Final = 2.0
# tantivy's `weight_by_field` never lowers a score: a weight below 0 counts as 0 (a factor
# of 1), so a multiplier below 1 cannot be expressed. Summaries therefore carry a factor of
# SUMMARY_LEAD on top of their vote boost and abstracts (arXiv entries: the paper itself)
# none. An abstract matches a search about its paper as well as a summary does, often
# better (the same words as the title); readers came for summaries, so a summary of the same
# paper matching about as well comes first. And a summary's vote boost is applied in full,
# down-votes (a boost below 1) included.
SUMMARY_LEAD: Final = 2.0
ABSTRACT: Final = "abstract"


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("kind", tokenizer_name="raw", index_option="basic")
    builder.add_integer_field("summary_id", indexed=True, fast=True)
    builder.add_integer_field("paper_id", indexed=True, fast=True)
    # Only on paper entries: removing one is a term deletion, not a query run at each commit.
    builder.add_integer_field("paper_entry", indexed=True)
    builder.add_integer_field("guild", indexed=True)
    builder.add_text_field("origin", tokenizer_name="raw", index_option="basic")
    builder.add_text_field("summary_kind", tokenizer_name="raw", index_option="basic")
    for field in TEXT_FIELDS:
        builder.add_text_field(field, tokenizer_name=WORDS, index_option="position")
    builder.add_text_field("venue", tokenizer_name=WORDS, index_option="position")
    # Papers' own fields apart from the summaries' ones, so that paper entries never change
    # the statistics summaries are ranked by.
    builder.add_text_field("paper_title", tokenizer_name=WORDS, index_option="position")
    builder.add_integer_field("year", indexed=True)
    builder.add_text_field("abstract", tokenizer_name=WORDS, index_option="freq")
    builder.add_text_field("title_key", tokenizer_name=TITLE_KEY, index_option="basic")
    builder.add_text_field("display_title", stored=True)
    builder.add_integer_field("score", fast=True)
    builder.add_integer_field("created_at", fast=True)
    builder.add_float_field("vote_weight", fast=True)
    builder.add_integer_field("applied_seq", stored=True)
    builder.add_integer_field("schema_version", stored=True)
    return builder.build()


def words_analyzer() -> tantivy.TextAnalyzer:
    """Split at anything that is not a letter or digit, lower-case, fold diacritics to ASCII
    ("Naïve" finds "naive"), as SQLite FTS5's unicode61 with remove_diacritics did before."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(MAX_TOKEN_CHARS + 1))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def title_key_analyzer() -> tantivy.TextAnalyzer:
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def register_analyzers(index: tantivy.Index) -> None:
    """Analyzers are not stored in the index: register them on every index opened."""
    index.register_tokenizer(WORDS, words_analyzer())
    index.register_tokenizer(TITLE_KEY, title_key_analyzer())


def title_key(title: str) -> str:
    """What "starts with" compares: the title with its spaces collapsed (then lower-cased and
    folded by the analyzer)."""
    return " ".join(title.split())[:MAX_TITLE_KEY_CHARS]


def vote_boost(score: int) -> float:
    """The multiplier votes give a summary's text score."""
    magnitude = VOTE_BOOST_PER_LOG * math.log1p(abs(score))
    boost = 1.0 + magnitude if score >= 0 else 1.0 - magnitude
    return min(MAX_VOTE_BOOST, max(MIN_VOTE_BOOST, boost))


def rank_boost(score: int, kind: str = "summary") -> float:
    """What a document's text score is multiplied by: its vote boost, times SUMMARY_LEAD
    for a summary (an abstract has none), at least 1 either way."""
    return vote_boost(score) * (1.0 if kind == ABSTRACT else SUMMARY_LEAD)


def vote_weight(score: int, kind: str = "summary") -> float:
    """The `vote_weight` fast field: tantivy's `weight_by_field` multiplies a score by
    `log2(2 + weight)`, so the weight that gives `rank_boost(score, kind)` is
    `2**boost - 2`."""
    return 2.0 ** rank_boost(score, kind) - 2.0


def fold(text: str) -> str:
    """Lower-case and strip diacritics, keeping every character's position (for excerpts:
    offsets found in the folded text are offsets in the original)."""
    if text.isascii():
        return text.lower()
    return text.lower().translate(_FOLD_TABLE)


def _fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    for code in range(0x00C0, 0x0250):
        char = chr(code)
        base = unicodedata.normalize("NFKD", char.lower())[:1]
        if base.isascii() and base.isalpha() and len(char.lower()) == 1:
            table[ord(char.lower())] = base
    return table


_FOLD_TABLE: Final = _fold_table()
