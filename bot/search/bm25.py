"""FTS5's bm25(), reproduced operation for operation so our scores equal SQLite's bit for bit.

SQLite computes, for each matching row (ext/fts5/fts5_aux.c, k1 = 1.2, b = 0.75):

    idf(phrase) = log((N - nHit + 0.5) / (nHit + 0.5)), or 1e-6 when that is <= 0
    freq(phrase) = sum over the phrase's hits in the row of the hit column's weight
    score = 0.0; for each phrase in query order:
        score += idf * ((freq * (k1 + 1.0)) / (freq + k1 * (1 - b + b * D / avgdl)))
    bm25 = -1.0 * score

with N the row count, D the row's token count over all columns and avgdl the table's total
token count divided by N. IEEE doubles evaluated in the same order give the same bits in
Python and NumPy as in C, which the tests check against SQLite itself.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Final

import numpy as np
import numpy.typing as npt

K1: Final = 1.2
B: Final = 0.75

# Column weights, in summary_fts column order: the paper's title counts most, then the
# TL;DR, then who wrote the paper or the summary, then the body. Integers, so a row's
# weighted phrase frequency is an integer, which the accelerator stores exactly.
COLUMNS: Final = ("paper_title", "paper_authors", "author_name", "tldr", "body")
WEIGHTS: Final = (8.0, 2.0, 2.0, 4.0, 1.0)
WEIGHTS_TEXT: Final = ",".join(f"{weight:g}" for weight in WEIGHTS)

FloatArray = npt.NDArray[np.float64]


def idf(row_count: int, hits: int) -> float:
    value = math.log((row_count - hits + 0.5) / (hits + 0.5))
    return value if value > 0.0 else 1e-6


def length_factor(doc_length: float, avgdl: float) -> float:
    """`k1 * (1 - b + b * D / avgdl)`, the denominator's length part."""
    return K1 * (1 - B + B * doc_length / avgdl)


def length_factors(doc_lengths: FloatArray, avgdl: float) -> FloatArray:
    return K1 * (1 - B + B * doc_lengths / avgdl)


def term_part(freq: float, length_part: float) -> float:
    return (freq * (K1 + 1.0)) / (freq + length_part)


def term_parts(freqs: FloatArray, length_parts: FloatArray) -> FloatArray:
    return (freqs * (K1 + 1.0)) / (freqs + length_parts)


def bm25_scores(
    idfs: Sequence[float], freqs: Sequence[FloatArray], length_parts: FloatArray
) -> FloatArray:
    """bm25() for many rows at once: `freqs[i]` holds phrase i's frequency in each row."""
    score = np.zeros(len(length_parts), dtype=np.float64)
    for phrase_idf, phrase_freqs in zip(idfs, freqs, strict=True):
        score += phrase_idf * term_parts(phrase_freqs, length_parts)
    return -1.0 * score


def invert_single_phrase(
    scores: FloatArray, phrase_idf: float, length_parts: FloatArray
) -> npt.NDArray[np.int64] | None:
    """The weighted frequencies behind bm25() values of a one-phrase query, or None.

    `score = -(idf * f(k1+1)/(f+L))` solves to `f = a L / ((k1+1) - a)` with `a = -score/idf`;
    weights are integers, so f is rounded and then checked by recomputing the exact score.
    """
    ratio = -scores / phrase_idf
    with np.errstate(divide="ignore", invalid="ignore"):
        estimate = ratio * length_parts / ((K1 + 1.0) - ratio)
    if not np.all(np.isfinite(estimate)):
        return None
    freqs = np.rint(estimate)
    recomputed = -1.0 * (0.0 + phrase_idf * term_parts(freqs, length_parts))
    if not np.array_equal(recomputed, scores) or np.any(freqs < 1):
        return None
    return freqs.astype(np.int64)


def decode_varints(blob: bytes) -> list[int]:
    """SQLite's big-endian varints, as FTS5 stores its averages and per-row sizes."""
    values = []
    index = 0
    size = len(blob)
    while index < size:
        value = 0
        for position in range(9):
            byte = blob[index]
            index += 1
            if position == 8:
                value = (value << 8) | byte
                break
            value = (value << 7) | (byte & 0x7F)
            if not byte & 0x80:
                break
        values.append(value)
    return values
