"""Full-text search of summaries: safe queries, exact BM25 ranking made fast, excerpts."""

from bot.search.engine import (
    IndexStatus,
    SearchEngine,
    SearchPage,
    SearchResult,
    TitleSuggestion,
    autocomplete_titles,
    close_search_engine,
    engine_for,
    page_to_json,
    refresh_search_index,
    result_to_json,
    search_index_status,
    search_summaries,
)
from bot.search.index import BuildReport
from bot.search.query import FtsQuery, Phrase, build_fts_query

__all__ = [
    "BuildReport",
    "FtsQuery",
    "IndexStatus",
    "Phrase",
    "SearchEngine",
    "SearchPage",
    "SearchResult",
    "TitleSuggestion",
    "autocomplete_titles",
    "build_fts_query",
    "close_search_engine",
    "engine_for",
    "page_to_json",
    "refresh_search_index",
    "result_to_json",
    "search_index_status",
    "search_summaries",
]
