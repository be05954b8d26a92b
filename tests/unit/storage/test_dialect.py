"""Rows bound for one statement: VALUES parameters on SQLite, one JSON text on PostgreSQL."""

from __future__ import annotations

import json
import sqlite3

import pytest

from bot.storage import dialect as dialect_module
from bot.storage.dialect import POSTGRESQL, SQLITE

COLUMNS = (("number", "bigint"), ("word", "text"))


def test_no_rows_make_no_statement() -> None:
    assert SQLITE.bound_rows(COLUMNS, []) == []
    assert POSTGRESQL.bound_rows(COLUMNS, []) == []


def test_sqlite_binds_every_value_in_as_few_statements_as_the_limit_allows(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(dialect_module, "MAX_BOUND_PARAMETERS", 7)  # two rows of three
    rows = [(index, f"w\x00{index}") for index in range(5)]
    chunks = SQLITE.bound_rows(COLUMNS, rows)
    # Two rows a statement, the last padded: one statement text for every batch size.
    assert [len(chunk.params) for chunk in chunks] == [6, 6, 6]
    assert len({chunk.table for chunk in chunks}) == 1
    assert SQLITE.bound_rows(COLUMNS, rows[:1])[0].table == chunks[0].table
    connection = sqlite3.connect(":memory:")
    read = [
        tuple(row)
        for chunk in chunks
        for row in connection.execute(
            f"SELECT number, word, position FROM {chunk.table} AS r ORDER BY position",
            chunk.params,
        )
    ]
    # Every value as bound (a NUL included), with its position in the whole list.
    assert read == [(index, f"w\x00{index}", index) for index in range(5)]


def test_postgresql_takes_one_json_parameter_unless_a_nul_forbids_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    (chunk,) = POSTGRESQL.bound_rows(COLUMNS, [(1, "a"), (2, "b")])
    assert chunk.params == ('[[1,"a"],[2,"b"]]',)
    assert "jsonb_array_elements" in chunk.table
    assert json.loads(chunk.params[0]) == [[1, "a"], [2, "b"]]
    monkeypatch.setattr(dialect_module, "ROWS_PER_STATEMENT", 2)
    (with_nul,) = POSTGRESQL.bound_rows(COLUMNS, [(1, "a\x00b")])
    assert with_nul.params == (1, "a\x00b", 0, None, None, None)
    assert "CAST(? AS bigint), CAST(? AS text), CAST(? AS bigint)" in with_nul.table


def test_unknown_column_types_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot read"):
        SQLITE.bound_rows((("when", "timestamp"),), [(1,)])
