"""Full-text search on tantivy: safe queries, weighted ranking with a vote boost, typo
tolerance, excerpts, title autocomplete and similar papers, over an index derived from the
database and kept in step through a change log (see `bot.search.service`)."""

from bot.search.engine import (
    SearchPage,
    SearchResult,
    SimilarPaper,
    TitleSuggestion,
    Visibility,
)
from bot.search.query import ParsedQuery, Phrase, parse_query
from bot.search.service import (
    IndexStatus,
    RebuildReport,
    SearchIndexRebuildingError,
    SearchService,
    default_index_path,
)

__all__ = [
    "IndexStatus",
    "ParsedQuery",
    "Phrase",
    "RebuildReport",
    "SearchIndexRebuildingError",
    "SearchPage",
    "SearchResult",
    "SearchService",
    "SimilarPaper",
    "TitleSuggestion",
    "Visibility",
    "default_index_path",
    "parse_query",
]
