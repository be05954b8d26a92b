"""Searching one opened index: ranking, filters, ties, result rows, excerpts, typo
tolerance, title autocomplete and similar papers. Blocking: the service runs it in threads.

Filters and visibility are clauses of the tantivy query itself (scoring nothing), so a page
is never short because rows were dropped after ranking. Ranking is tantivy's BM25 summed
over the weighted fields, times the vote boost (`vote_weight`); equal scores are ordered by
votes, then newest, then id, so paging is stable.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Final

import tantivy

from bot.search.excerpt import MatchFinder, fragment, render_excerpt
from bot.search.index import TantivyIndex
from bot.search.query import (
    ParsedQuery,
    Phrase,
    analyze,
    clean_text,
    filter_clause,
    fuzzy_distance,
    text_query,
    words_prefix_query,
)
from bot.search.schema import (
    KIND_PAPER,
    PUBLIC_GUILD,
    TEXT_FIELDS,
    title_key,
    title_key_analyzer,
)
from bot.storage import search as source
from bot.storage.database import ThreadReader
from bot.titles import significant_words

# Similar papers: terms of the source text picked by tf-idf (tantivy's more-like-this).
SIMILAR_CANDIDATES: Final = 60
# Documents read at most for similar papers, a SIMILAR_CANDIDATES at a time, until enough
# papers with a visible summary are found (one paper's many summaries can fill a read).
SIMILAR_MAX_CANDIDATES: Final = 600
SIMILAR_QUERY_TERMS: Final = 40
STOP_WORDS: Final = tuple(
    (  # noqa: SIM905 (a sentence reads better than quoted words)
        "a about above after again against all also am an and any are as at be because been "
        "before being below between both but by can could did do does doing down during each "
        "few for from further had has have having he her here hers him his how i if in into is "
        "it its itself just me more most my no nor not now of off on once only or other our "
        "out over own same she should so some such than that the their them then there these "
        "they this those through to too under until up very was we were what when where which "
        "while who whom why will with would you your paper method results show using use based "
        "propose proposed approach work model models per via into onto upon within without "
        "among across also however thus therefore since given"
    ).split()
)
FUZZY_SAMPLE_DOCS: Final = 24
# Similar titles: at most this many words of the typed title are looked for.
SIMILAR_TITLE_WORDS: Final = 16
# Hits fetched past the page to order its ties (tantivy keeps document lengths to 256 levels,
# so equal scores are common for frequent words); a longer run of ties keeps tantivy's order.
TIE_WINDOW: Final = 200


@dataclass(frozen=True, slots=True)
class Visibility:
    """Who is searching and what they filter on."""

    origin: str = "all"  # 'feed' | 'community' | 'all'
    guild_id: int | None = None
    all_guilds: bool = False  # the CLI: every server's community summaries
    author: str | None = None
    year: int | None = None
    venue: str | None = None


@dataclass(frozen=True, slots=True)
class SearchResult:
    summary_id: int
    paper_id: int | None
    paper_title: str
    author: str
    score: int
    url: str | None
    created_at: float
    origin: str
    guild_id: int | None
    rank: float  # tantivy's score with the vote boost: higher is better
    excerpt: str  # Discord Markdown, one line, matches in bold, escaped
    excerpt_text: str  # the same excerpt as plain text
    kind: str = "summary"  # 'abstract': the paper's abstract (label it so), not a summary


@dataclass(frozen=True, slots=True)
class SearchPage:
    query: str  # the query as understood ("" when there was nothing to search for)
    results: tuple[SearchResult, ...]
    offset: int
    limit: int
    has_more: bool
    nothing_to_search: bool = False
    # Set when nothing matched as typed and these corrected words did ("normalization").
    corrected: str | None = None
    # The query had more than MAX_PHRASES words or phrases: only the first were searched.
    cut: bool = False

    @property
    def page_number(self) -> int:
        return self.offset // self.limit + 1 if self.limit else 1


@dataclass(frozen=True, slots=True)
class RankedHit:
    summary_id: int
    rank: float


@dataclass(frozen=True, slots=True)
class TitleSuggestion:
    paper_id: int
    title: str


@dataclass(frozen=True, slots=True)
class SimilarPaper:
    paper_id: int
    title: str
    summaries: int  # visible to the viewer (its abstract from a feed is not one)
    score: float


def _guild_clause(schema: tantivy.Schema, guild_id: int | None) -> tantivy.Query:
    guilds = [PUBLIC_GUILD] if guild_id is None else [PUBLIC_GUILD, guild_id]
    return tantivy.Query.term_set_query(schema, "guild", guilds)


def visibility_clauses(
    schema: tantivy.Schema, visibility: Visibility
) -> list[tuple[tantivy.Occur, tantivy.Query]] | None:
    """Clauses (scoring nothing) keeping the summaries the viewer may see that pass the
    filters; None when a filter can match nothing (it has no words).

    Only summary entries have the searched text fields, so no clause names the kind. Who may
    see what is said by exclusion where it can be: "not another server's community summary"
    is a short list to skip, where "public or this server's" would be nearly every entry to
    intersect with the words' postings."""
    term = tantivy.Query.term_query
    community = term(schema, "origin", "community")
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    if visibility.origin == "community":
        if not visibility.all_guilds:
            if visibility.guild_id is None:
                return None  # a DM has no server of its own
            clauses.append(filter_clause(term(schema, "guild", visibility.guild_id)))
        clauses.append(filter_clause(community))
    elif visibility.origin == "feed" or (not visibility.all_guilds and visibility.guild_id is None):
        clauses.append((tantivy.Occur.MustNot, community))
    elif not visibility.all_guilds:
        elsewhere = tantivy.Query.boolean_query(
            [
                (tantivy.Occur.Must, community),
                (tantivy.Occur.MustNot, term(schema, "guild", visibility.guild_id)),
            ]
        )
        clauses.append((tantivy.Occur.MustNot, elsewhere))
    for text, fields in (
        (visibility.author, ("author", "authors")),
        (visibility.venue, ("venue",)),
    ):
        if text is None:
            continue
        tokens = analyze(text)
        if not tokens:
            return None
        clauses.append(filter_clause(words_prefix_query(schema, fields, tokens)))
    if visibility.year is not None:
        clauses.append(filter_clause(term(schema, "year", visibility.year)))
    return clauses


def rank(
    index: TantivyIndex, query: tantivy.Query, *, offset: int, limit: int
) -> tuple[list[RankedHit], bool]:
    """The page [offset, offset + limit) of the ranking, and whether more follow.

    tantivy orders equal scores by its own document order; hits are fetched past the page
    while they tie with its last one (up to TIE_WINDOW more), then ties are ordered by
    votes, newest, id."""
    searcher = index.searcher()
    need = offset + limit + 1
    hits = searcher.search(query, need, count=False, weight_by_field="vote_weight").hits
    if len(hits) == need and hits[-1][0] >= hits[offset + limit - 1][0]:
        # The next hit ties with the page's last: fetch the ties too, to order them.
        hits = searcher.search(
            query, need + TIE_WINDOW, count=False, weight_by_field="vote_weight"
        ).hits
    if not hits:
        return [], False
    addresses = [address for _, address in hits]
    ids = searcher.fast_field_values("summary_id", addresses)
    scores = searcher.fast_field_values("score", addresses)
    created = searcher.fast_field_values("created_at", addresses)
    ordered = sorted(
        zip(hits, ids, scores, created, strict=True),
        key=lambda item: (-item[0][0], -(item[2] or 0), -(item[3] or 0), -(item[1] or 0)),
    )
    page = [
        RankedHit(int(summary_id), float(hit[0]))
        for hit, summary_id, _, _ in ordered[offset : offset + limit]
        if summary_id is not None
    ]
    return page, len(ordered) > offset + limit


def search_page(
    index: TantivyIndex,
    conn: ThreadReader,
    parsed: ParsedQuery,
    visibility: Visibility,
    *,
    offset: int,
    limit: int,
    typo_tolerant: bool = True,
) -> SearchPage:
    schema = index.schema
    clauses = visibility_clauses(schema, visibility)
    if clauses is None:
        return SearchPage(parsed.display, (), offset, limit, False, cut=parsed.cut)
    query = text_query(schema, parsed, clauses)
    hits, has_more = rank(index, query, offset=offset, limit=limit)
    if not hits and offset == 0 and typo_tolerant:
        corrected = correct_spelling(index, conn, parsed, clauses)
        if corrected is not None:
            page = search_page(
                index, conn, corrected, visibility, offset=0, limit=limit, typo_tolerant=False
            )
            if page.results:
                return SearchPage(
                    parsed.display, page.results, 0, limit, page.has_more,
                    corrected=corrected.display, cut=parsed.cut,
                )  # fmt: skip
    return SearchPage(
        parsed.display, results(conn, parsed, hits), offset, limit, has_more, cut=parsed.cut
    )


def results(
    conn: ThreadReader, parsed: ParsedQuery, hits: list[RankedHit]
) -> tuple[SearchResult, ...]:
    if not hits:
        return ()
    rows = source.result_rows(conn, [hit.summary_id for hit in hits])
    finder = MatchFinder(parsed)
    found = []
    for hit in hits:
        row = rows.get(hit.summary_id)
        if row is None:
            continue  # deleted since the index was last caught up: never shown
        excerpt, excerpt_text = render_excerpt(fragment((row.tldr, row.body), finder))
        found.append(
            SearchResult(
                summary_id=row.summary_id,
                paper_id=row.paper_id,
                paper_title=row.paper_title,
                author=row.author,
                score=row.score,
                url=row.url,
                created_at=row.created_at,
                origin=row.origin,
                guild_id=row.guild_id,
                rank=hit.rank,
                excerpt=excerpt,
                excerpt_text=excerpt_text,
                kind=row.kind,
            )
        )
    return tuple(found)


# -- typo tolerance ------------------------------------------------------------------------------


def correct_spelling(
    index: TantivyIndex,
    conn: ThreadReader,
    parsed: ParsedQuery,
    clauses: list[tuple[tantivy.Occur, tantivy.Query]],
) -> ParsedQuery | None:
    """The query with each word found in no summary the viewer may see replaced by the
    likeliest word within one edit (5+ letters) or two (9+) among those summaries; None
    when there is nothing to correct."""
    searcher = index.searcher()
    schema = index.schema
    replacements: dict[str, str] = {}
    for word in dict.fromkeys(parsed.words):
        distance = fuzzy_distance(word)
        if distance == 0 or _found(searcher, schema, word, clauses):
            continue
        fuzzy = tantivy.Query.boolean_query(
            [
                (
                    tantivy.Occur.Should,
                    tantivy.Query.fuzzy_term_query(schema, field, word, distance=distance),
                )
                for field in TEXT_FIELDS
            ]
        )
        query = tantivy.Query.boolean_query([(tantivy.Occur.Must, fuzzy), *clauses])
        hits = searcher.search(query, FUZZY_SAMPLE_DOCS, count=False).hits
        ids = searcher.fast_field_values("summary_id", [address for _, address in hits])
        rows = source.result_rows(conn, [int(i) for i in ids if i is not None])
        candidates: set[str] = set()
        for row in rows.values():
            for text in (row.paper_title, row.tldr, row.body, row.author):
                candidates.update(analyze(text))
        best = _best_correction(word, distance, candidates, searcher)
        if best is not None:
            replacements[word] = best
    if not replacements:
        return None
    phrases = tuple(
        Phrase(tuple(replacements.get(token, token) for token in phrase.tokens), phrase.quoted)
        for phrase in parsed.phrases
    )
    return ParsedQuery(phrases, cut=parsed.cut)


def _found(
    searcher: tantivy.Searcher,
    schema: tantivy.Schema,
    word: str,
    clauses: list[tuple[tantivy.Occur, tantivy.Query]],
) -> bool:
    """Whether `word` is in a summary the viewer may see (not merely somewhere in the index:
    another server's summaries, or deleted ones not yet merged away)."""
    if not any(searcher.doc_freq(field, word) for field in TEXT_FIELDS):
        return False  # the quick answer for most typos
    query = text_query(schema, ParsedQuery((Phrase((word,)),)), clauses)
    return bool(searcher.search(query, 1, count=False).hits)


def _best_correction(
    word: str, distance: int, candidates: set[str], searcher: tantivy.Searcher
) -> str | None:
    letters = Counter(word)
    scored = []
    for candidate in candidates:
        if abs(len(candidate) - len(word)) > distance or candidate == word:
            continue
        # Cheap bound first: each edit changes at most two letter counts by one.
        if (letters - Counter(candidate)).total() > 2 * distance:
            continue
        edits = edit_distance(word, candidate, distance)
        if edits <= distance:
            frequency = sum(searcher.doc_freq(field, candidate) for field in TEXT_FIELDS)
            scored.append((edits, -frequency, candidate))
    return min(scored)[2] if scored else None


def edit_distance(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance (a transposition counts one), or limit + 1."""
    if abs(len(a) - len(b)) > limit:
        return limit + 1
    previous_previous: list[int] = []
    previous = list(range(len(b) + 1))
    for i, char_a in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, char_b in enumerate(b, 1):
            cost = 0 if char_a == char_b else 1
            value = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and char_a == b[j - 2] and a[i - 2] == char_b:
                value = min(value, previous_previous[j - 2] + 1)
            current[j] = value
        if min(current) > limit:
            return limit + 1
        previous_previous, previous = previous, current
    return previous[-1]


# -- title autocomplete ------------------------------------------------------------------------


def _regex_literal(text: str) -> str:
    """`text` as a regular expression matching itself (tantivy's regex syntax)."""
    return "".join(char if char.isalnum() else f"\\x{{{ord(char):X}}}" for char in text)


def autocomplete(
    index: TantivyIndex, prefix: str, *, guild_id: int | None, all_guilds: bool, limit: int
) -> list[TitleSuggestion]:
    """Titles of papers visible to the viewer starting with `prefix` (the most recently
    summarised, shown in title order), then titles with words starting with it (best
    first); the most recently summarised papers when nothing was typed."""
    schema = index.schema
    searcher = index.searcher()
    base = [filter_clause(tantivy.Query.term_query(schema, "kind", KIND_PAPER))]
    if not all_guilds:
        base.append(filter_clause(_guild_clause(schema, guild_id)))
    found: dict[int, str] = {}

    def collect(query: tantivy.Query, count: int, *, by_recency: bool) -> list[tuple[int, str]]:
        if by_recency:
            hits = searcher.search(query, count, count=False, order_by_field="created_at").hits
        else:
            hits = searcher.search(query, count, count=False).hits
        addresses = [address for _, address in hits]
        ids = searcher.fast_field_values("paper_id", addresses)
        return [
            (int(paper_id), str(searcher.doc(address).get_first("display_title") or ""))
            for paper_id, address in zip(ids, addresses, strict=True)
            if paper_id is not None
        ]

    key = title_key(clean_text(prefix))
    if not key:
        for paper_id, title in collect(tantivy.Query.boolean_query(base), limit, by_recency=True):
            found.setdefault(paper_id, title)
        return [TitleSuggestion(paper_id, title) for paper_id, title in found.items()]
    folded = title_key_analyzer().analyze(key)
    if folded:
        starts = tantivy.Query.regex_query(schema, "title_key", _regex_literal(folded[0]) + ".*")
        matches = collect(
            tantivy.Query.boolean_query([(tantivy.Occur.Must, starts), *base]),
            limit,
            by_recency=True,
        )
        for paper_id, title in sorted(matches, key=lambda item: item[1].casefold()):
            found.setdefault(paper_id, title)
    tokens = analyze(key)
    if len(found) < limit and tokens and (len(tokens) > 1 or len(tokens[-1]) >= 2):
        words = [
            (tantivy.Occur.Must, tantivy.Query.term_query(schema, "paper_title", token))
            for token in tokens[:-1]
        ]
        last = tantivy.Query.phrase_prefix_query(schema, "paper_title", [tokens[-1]])
        words.append((tantivy.Occur.Must, last))
        for paper_id, title in collect(
            tantivy.Query.boolean_query([*words, *base]), limit * 2, by_recency=False
        ):
            if len(found) >= limit:
                break
            found.setdefault(paper_id, title)
    return [TitleSuggestion(paper_id, title) for paper_id, title in list(found.items())[:limit]]


def similar_titles(
    index: TantivyIndex, title: str, *, guild_id: int | None, all_guilds: bool, limit: int
) -> list[TitleSuggestion]:
    """Papers visible to the viewer whose titles share the most significant words with
    `title` (each word also found with a typo or two, scoring less), best first: the
    candidates a typed title may mean, for the caller to rank by closeness."""
    words = [token for word in significant_words(clean_text(title)) for token in analyze(word)]
    words = list(dict.fromkeys(words))[:SIMILAR_TITLE_WORDS]
    if not words:
        return []
    schema = index.schema
    searcher = index.searcher()
    clauses: list[tuple[tantivy.Occur, tantivy.Query]] = []
    for word in words:
        clauses.append(
            (tantivy.Occur.Should, tantivy.Query.term_query(schema, "paper_title", word))
        )
        distance = fuzzy_distance(word)
        if distance:
            fuzzy = tantivy.Query.fuzzy_term_query(schema, "paper_title", word, distance=distance)
            clauses.append((tantivy.Occur.Should, tantivy.Query.boost_query(fuzzy, 0.5)))
    query = [
        (tantivy.Occur.Must, tantivy.Query.boolean_query(clauses)),
        filter_clause(tantivy.Query.term_query(schema, "kind", KIND_PAPER)),
    ]
    if not all_guilds:
        query.append(filter_clause(_guild_clause(schema, guild_id)))
    hits = searcher.search(tantivy.Query.boolean_query(query), limit, count=False).hits
    addresses = [address for _, address in hits]
    ids = searcher.fast_field_values("paper_id", addresses)
    return [
        TitleSuggestion(int(paper_id), str(searcher.doc(address).get_first("display_title") or ""))
        for paper_id, address in zip(ids, addresses, strict=True)
        if paper_id is not None
    ]


# -- similar papers ----------------------------------------------------------------------------


def similar_papers(
    index: TantivyIndex,
    conn: ThreadReader,
    paper_id: int,
    *,
    guild_id: int | None,
    all_guilds: bool,
    limit: int,
) -> list[SimilarPaper]:
    """The papers whose summaries and abstracts are most like this paper's (the summaries
    of it the viewer may see, its abstract and title), best first: never the paper itself,
    only papers with a summary the viewer may see, compared on what the viewer may see."""
    texts = source.paper_texts_for_viewer(conn, paper_id, guild_id, all_guilds)
    if texts is None:
        return []
    title, abstract, tldrs, bodies = texts
    fields = {
        "title": [title],
        "paper_title": [title],
        "abstract": [abstract],
        "tldr": tldrs,
        "body": bodies,
    }
    fields = {name: values for name, values in fields.items() if any(v.strip() for v in values)}
    if not fields:
        return []
    schema = index.schema
    searcher = index.searcher()
    like = tantivy.Query.more_like_this_document_fields_query(
        schema,
        fields,
        min_doc_frequency=2,
        min_term_frequency=1,
        max_query_terms=SIMILAR_QUERY_TERMS,
        min_word_length=3,
        max_word_length=40,
        stop_words=list(STOP_WORDS),
    )
    clauses = [
        (tantivy.Occur.Must, like),
        (tantivy.Occur.MustNot, tantivy.Query.term_query(schema, "paper_id", paper_id)),
    ]
    if not all_guilds:
        clauses.append(filter_clause(_guild_clause(schema, guild_id)))
    query = tantivy.Query.boolean_query(clauses)
    best: dict[int, float] = {}
    counts: dict[int, tuple[int, int]] = {}
    # Documents come best first, so a paper first met in a later read ranks below every
    # paper met before: once `limit` are found, the first `limit` are the best.
    for offset in range(0, SIMILAR_MAX_CANDIDATES, SIMILAR_CANDIDATES):
        hits = searcher.search(query, SIMILAR_CANDIDATES, count=False, offset=offset).hits
        ids = searcher.fast_field_values("paper_id", [address for _, address in hits])
        for (score, _), other in zip(hits, ids, strict=True):
            if other is not None and other != paper_id:
                best[int(other)] = max(best.get(int(other), 0.0), float(score))
        counts = source.visible_summary_counts(conn, best, guild_id, all_guilds)
        if len(counts) >= limit or len(hits) < SIMILAR_CANDIDATES:
            break
    ranked = sorted(best.items(), key=lambda item: (-item[1], item[0]))
    ranked = [(other, score) for other, score in ranked if other in counts][:limit]
    titles = {paper.id: paper.title for paper in source.papers_by_id(conn, [p for p, _ in ranked])}
    return [
        SimilarPaper(other, titles.get(other, ""), counts[other][1], score)
        for other, score in ranked
    ]


# -- JSON (the CLI's `search --json`) ------------------------------------------------------------


def result_to_json(result: SearchResult) -> dict[str, Any]:
    return {
        "id": result.summary_id,
        "paper_id": result.paper_id,
        "paper_title": result.paper_title,
        "author": result.author,
        "score": result.score,
        "url": result.url,
        "created_at": result.created_at,
        "origin": result.origin,
        "guild_id": result.guild_id,
        "rank": result.rank,
        "excerpt": result.excerpt_text,
        "excerpt_markdown": result.excerpt,
        "kind": result.kind,
    }


def page_to_json(page: SearchPage) -> dict[str, Any]:
    return {
        "query": page.query,
        "corrected": page.corrected,
        "offset": page.offset,
        "limit": page.limit,
        "has_more": page.has_more,
        "nothing_to_search": page.nothing_to_search,
        "results": [result_to_json(result) for result in page.results],
    }
