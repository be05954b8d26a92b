"""Comparing typed titles: one key for "the same title", the words that matter, closeness."""

from __future__ import annotations

from bot.titles import same_title, significant_words, title_key, title_similarity, title_words


def test_the_same_title_ignores_case_unicode_form_and_spacing() -> None:
    assert title_key("  Attention\u00a0Is   ALL you\tneed ") == "attention is all you need"
    assert same_title("Straße: ﬁne", "STRASSE: fine")  # case-folded, NFKC (the ligature)
    assert not same_title("Attention Is All You Need", "Attention Is All You Need?")


def test_words_and_significant_words() -> None:
    assert title_words('ti:"Align AND Translate" (au:x*) — naïve_bayes') == [
        "ti", "align", "and", "translate", "au", "x", "naïve", "bayes",
    ]  # fmt: skip
    assert significant_words("The Attention is all you need, attention!") == [
        "attention", "all", "need",
    ]  # fmt: skip
    assert significant_words("On the Of") == ["on", "the", "of"]  # nothing else to go by
    assert significant_words("") == []


def test_similarity_orders_what_a_member_may_mean() -> None:
    typed = "Attention is all you need"
    assert title_similarity(typed, "ATTENTION IS ALL YOU NEED") == 1.0
    typo = title_similarity("Atention is all you ned", "Attention Is All You Need")
    reordered = title_similarity("all you need is attention", "Attention Is All You Need")
    start = title_similarity("Batch Normalization", "Batch Normalization: Accelerating Deep")
    unrelated = title_similarity(typed, "Group Normalization")
    assert 0.85 < typo < 1.0 and 0.85 < reordered < 1.0 and 0.8 < start < 1.0
    assert unrelated < 0.3
    # Equally good by words: the one closer in characters first.
    assert title_similarity("normalization", "Normalization Zoo") > title_similarity(
        "normalization", "Batch Normalization: Accelerating Deep Network Training"
    )
    assert title_similarity("", "x") == 0.0 == title_similarity("x", "  ")
