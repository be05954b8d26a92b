"""Turning whatever a user typed into a safe FTS5 query.

Every phrase goes to FTS5 inside double quotes, so no character the user types is ever FTS5
syntax: `AND`, `NEAR`, `*`, `:`, `-`, parentheses are just text, and FTS5's own tokenizer
decides what the words are. Bare words are separate phrases joined with AND; text between
double quotes is one phrase (an unclosed quote runs to the end). A bare word with inner
punctuation ("GPT-4", "state-of-the-art") is a phrase of its parts, like FTS5 would make it.

For ASCII text we also know FTS5's tokens exactly (`unicode61` splits ASCII at anything that
is not a letter or digit and lower-cases it); the ranker uses them to look words up in its
accelerator. Text with other characters keeps `tokens=None` and is left to FTS5 alone.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Final

MAX_QUERY_CHARS: Final = 1000
MAX_PHRASES: Final = 12
MAX_PHRASE_CHARS: Final = 200

_ASCII_TOKEN = re.compile(r"[a-z0-9]+")
# Characters dropped before parsing: controls, unpaired surrogates (not encodable as UTF-8),
# format characters (zero-width joiners and the like), unassigned code points.
_DROPPED_CATEGORIES: Final = frozenset({"Cc", "Cs", "Cf", "Cn"})


@dataclass(frozen=True, slots=True)
class Phrase:
    """One FTS5 phrase: `text` goes between double quotes; `tokens` are FTS5's, when known."""

    text: str
    tokens: tuple[str, ...] | None

    @property
    def expression(self) -> str:
        return '"' + self.text.replace('"', '""') + '"'

    @property
    def single_token(self) -> str | None:
        """The phrase's only token, when it is one known token (a plain word)."""
        if self.tokens is not None and len(self.tokens) == 1:
            return self.tokens[0]
        return None


@dataclass(frozen=True, slots=True)
class FtsQuery:
    """Phrases that must all match (FTS5 AND), in the order the user typed them."""

    phrases: tuple[Phrase, ...]

    @property
    def expression(self) -> str:
        """The FTS5 MATCH expression: quoted phrases joined with AND."""
        return " AND ".join(phrase.expression for phrase in self.phrases)

    @property
    def display(self) -> str:
        """The query as understood, for messages ("no results for ...")."""
        return " ".join(
            phrase.text if phrase.tokens is None or len(phrase.tokens) <= 1 else phrase.expression
            for phrase in self.phrases
        )


def build_fts_query(text: str) -> FtsQuery | None:
    """The safe FTS5 query for `text`, or None when it holds nothing to search for."""
    cleaned = _clean(text[: MAX_QUERY_CHARS * 2])[:MAX_QUERY_CHARS]
    phrases: list[Phrase] = []
    seen: set[tuple[str, ...] | str] = set()
    for index, part in enumerate(cleaned.split('"')):
        # Odd parts were between quotes: a phrase each. Even parts are bare words.
        chunks = [part] if index % 2 == 1 else part.split()
        for chunk in chunks:
            phrase = _phrase(chunk)
            if phrase is None:
                continue
            key: tuple[str, ...] | str = (
                phrase.tokens if phrase.tokens is not None else phrase.text.casefold()
            )
            if key in seen:
                continue  # a repeated word would count twice in BM25 and match nothing more
            seen.add(key)
            phrases.append(phrase)
            if len(phrases) == MAX_PHRASES:
                return FtsQuery(tuple(phrases))
    return FtsQuery(tuple(phrases)) if phrases else None


def _clean(text: str) -> str:
    out = []
    for char in text:
        if char.isascii():
            out.append(char if char.isprintable() else " ")
        elif unicodedata.category(char) in _DROPPED_CATEGORIES:
            out.append(" ")
        else:
            out.append(char)
    return "".join(out)


def _phrase(chunk: str) -> Phrase | None:
    text = " ".join(chunk.split())[:MAX_PHRASE_CHARS].strip()
    if not text:
        return None
    if text.isascii():
        tokens = tuple(_ASCII_TOKEN.findall(text.lower()))
        if not tokens:
            return None  # only punctuation
        return Phrase(" ".join(tokens), tokens)
    if not any(_is_token_char(char) for char in text):
        return None  # emoji, symbols, punctuation: FTS5 would see an empty phrase
    return Phrase(text, None)


def _is_token_char(char: str) -> bool:
    # unicode61's token characters are the categories L*, N* and Co.
    if char.isascii():
        return char.isalnum()
    category = unicodedata.category(char)
    return category[0] in "LN" or category == "Co"
