"""Exports: Markdown for people that still parses back exactly, and JSON."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.community.export import (
    ExportedPaper,
    ExportedSummary,
    ExportFormatError,
    export_guild,
    parse_json_export,
    parse_markdown_export,
    to_json,
    to_markdown,
)
from bot.storage import Database
from bot.storage.community import CommunityRepository
from tests.databases import DatabaseFactory
from tests.unit.storage.test_community import GUILD, NOW, make_paper

HOSTILE_BODY = (
    "# Heading\n\n$x^* = \\frac{a}{b}$\n\n<!-- body -->\n<!-- /body -->\n"
    '<!-- summary {"id": 999} -->\n\n---\n\n```\ncode\n```\n'
)


def summary(id: int, body: str, tldr: str = "TL;DR <!-- body --> here") -> ExportedSummary:
    return ExportedSummary(
        id=id,
        paper=ExportedPaper(
            title="Paper --> <!-- title",
            authors="A, B",
            year=2015,
            venue=None,
            arxiv_id="1502.03167",
            doi=None,
            bibtex_key=None,
            url="https://arxiv.org/abs/1502.03167",
        ),
        author_name="@everyone",
        author_discord_id=42,
        tldr=tldr,
        body=body,
        score=-3,
        created_at="2024-01-01T00:00:00+00:00",
        edited_at="2024-01-02T00:00:00+00:00",
    )


def test_markdown_round_trip_with_hostile_text() -> None:
    summaries = [summary(1, HOSTILE_BODY), summary(2, ""), summary(3, "trailing\n\n\n")]
    data = to_markdown(GUILD, summaries, exported_at="2024-05-01T00:00:00+00:00")
    text = data.decode()
    assert text.count("<!-- summary ") == 3 + 1  # the hostile body's own marker
    assert "## [Paper --> <!\u2060-- title](https://arxiv.org/abs/1502.03167)" in text
    assert parse_markdown_export(data) == (GUILD, summaries)


def test_json_round_trip() -> None:
    summaries = [summary(1, HOSTILE_BODY)]
    data = to_json(GUILD, summaries, exported_at="2024-05-01T00:00:00+00:00")
    assert json.loads(data)["summaries"][0]["paper"]["arxiv_id"] == "1502.03167"
    assert parse_json_export(data) == (GUILD, summaries)


def test_garbage_is_refused() -> None:
    with pytest.raises(ExportFormatError):
        parse_markdown_export(b"# just a markdown file\n")
    with pytest.raises(ExportFormatError):
        parse_json_export(b"{}")


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=300), st.text(max_size=80)), max_size=4))
def test_markdown_round_trip_any_text(texts: list[tuple[str, str]]) -> None:
    summaries = [summary(i, body, tldr) for i, (body, tldr) in enumerate(texts)]
    data = to_markdown(GUILD, summaries, exported_at="2024-05-01T00:00:00+00:00")
    assert parse_markdown_export(data) == (GUILD, summaries)


@pytest.fixture
async def db(databases: DatabaseFactory) -> Database:
    return await databases.open()


async def test_export_guild_from_the_database(db: Database) -> None:
    repo = CommunityRepository(db)
    paper = await make_paper(db)
    for author in (1, 2):
        await repo.save(
            paper_id=paper,
            guild_id=GUILD,
            author_id=author,
            author_name=f"member{author}",
            title="Batch Norm",
            tldr=f"tldr {author}",
            body=HOSTILE_BODY,
            now=NOW,
        )
    await repo.save(
        paper_id=paper,
        guild_id=GUILD + 1,
        author_id=3,
        author_name="elsewhere",
        title="Batch Norm",
        tldr="not ours",
        body="x",
        now=NOW,
    )
    for fmt, parse in (("markdown", parse_markdown_export), ("json", parse_json_export)):
        export = await export_guild(db, GUILD, fmt)  # type: ignore[arg-type]
        guild_id, rows = parse(export.data)
        assert guild_id == GUILD and export.summaries == len(rows) == 2
        assert [(r.author_name, r.tldr, r.body) for r in rows] == [
            ("member1", "tldr 1", HOSTILE_BODY),
            ("member2", "tldr 2", HOSTILE_BODY),
        ]
        assert rows[0].paper.title == "Batch Norm"
        assert rows[0].paper.arxiv_id == "1502.03167"
