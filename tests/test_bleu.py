"""BLEU (rewards.bleu_metric): textbook values, the codebleu oracle, properties and bad input."""

from __future__ import annotations

import math

import pytest
from codebleu import bleu as oracle_bleu
from hypothesis import given, settings
from hypothesis import strategies as st

import rewards.bleu_metric as B

# The NLTK documentation's worked example (Papineni et al. style sentences).
HYP1 = ("It is a guide to action which ensures that the military always obeys the "
        "commands of the party").split()
REF1A = ("It is a guide to action that ensures that the military will forever heed "
         "Party commands").split()
REF1B = ("It is the guiding principle which guarantees the military forces always being "
         "under the command of the Party").split()
REF1C = ("It is the practical guide for the army always to heed the directions of the "
         "party").split()
HYP2 = "he read the book because he was interested in world history".split()
REF2A = "he was interested in world history because he read the book".split()


def test_textbook_sentence_and_corpus_values() -> None:
    # Published values of this example (NLTK documentation).
    assert B.sentence_bleu([REF1A, REF1B, REF1C], HYP1) == pytest.approx(0.5045, abs=1e-4)
    corpus = B.corpus_bleu([[REF1A, REF1B, REF1C], [REF2A]], [HYP1, HYP2])
    assert corpus == pytest.approx(0.5920, abs=1e-4)
    # Micro-averaging differs from the mean of sentence scores (0.6223 there).
    mean = (B.sentence_bleu([REF1A, REF1B, REF1C], HYP1) + B.sentence_bleu([REF2A], HYP2)) / 2
    assert mean == pytest.approx(0.6223, abs=1e-4)


def test_clipping_of_repeated_tokens() -> None:
    refs = ["the cat is on the mat".split(), "there is a cat on the mat".split()]
    stats = B.precision_stats(refs, ["the"] * 7, max_order=1)
    # "the" occurs at most twice in one reference: 2 of 7 unigrams count.
    assert (stats.matches[0], stats.totals[0]) == (2, 7)


def test_hand_computed_score_with_smoothing() -> None:
    # p1 = 3/4, p2 = 2/3, p3 = 1/2, p4 = 0 -> smoothed to 0.1/1; equal lengths: no penalty.
    expected = math.exp(0.25 * (math.log(3 / 4) + math.log(2 / 3) + math.log(1 / 2)
                                + math.log(0.1)))
    assert B.bleu(["a b c e"], ["a b c d"]) == pytest.approx(expected, rel=1e-12)


def test_brevity_penalty() -> None:
    assert B.brevity_penalty(28, 12) == pytest.approx(math.exp(1 - 28 / 12))
    assert B.brevity_penalty(12, 12) == 1
    assert B.brevity_penalty(5, 13) == 1
    assert B.brevity_penalty(5, 0) == 0
    # Closest reference length; the shorter one on a tie.
    assert B.closest_reference_length([13, 2], 12) == 13
    assert B.closest_reference_length([13, 11], 12) == 11
    assert B.closest_reference_length([11, 13], 12) == 11
    # A short candidate is penalized against a long reference.
    short = B.bleu(["a b c d e f g h i j k l"], ["a b c d e f"])
    assert short == pytest.approx(math.exp(1 - 12 / 6))


def test_string_api_tokenizes_on_whitespace_and_strips() -> None:
    assert B.bleu(["def f(x):\n\treturn x"], ["  def   f(x):  return\nx \n"]) == 1.0
    # A different tokenizer sees different tokens: character tokens share more n-grams.
    word = B.bleu(["total=a+b"], ["total=b+a"])
    chars = B.bleu(["total=a+b"], ["total=b+a"], tokenizer=list)
    assert word == 0.0 and chars > 0.5
    # Several references per candidate: the best matching one counts.
    assert B.bleu([["x y z w", "a b c d"]], ["a b c d"]) == 1.0


def test_identical_short_code_is_below_one() -> None:
    # Fewer than 4 tokens have no 4-grams: the smoothed precision 0.1 caps the score,
    # exactly as in codebleu.
    got = B.bleu(["return x"], ["return x"])
    assert got == pytest.approx(math.exp(0.25 * (2 * math.log(0.1))))
    assert got == oracle_bleu.corpus_bleu([[["return", "x"]]], [["return", "x"]])


@pytest.mark.parametrize("cand, ref", [("", "a b"), ("", ""), ("x", ""), ("a b", "c d")])
def test_degenerate_inputs_score_zero_or_defined(cand: str, ref: str) -> None:
    score = B.bleu([ref], [cand])
    assert score == oracle_bleu.corpus_bleu([[ref.split()]], [cand.split()])
    assert 0.0 <= score <= 1.0


def test_bad_input_raises_value_error() -> None:
    with pytest.raises(ValueError, match="2 candidates but 1"):
        B.bleu(["a"], ["a", "b"])
    with pytest.raises(ValueError, match="empty"):
        B.bleu([], [])
    with pytest.raises(ValueError, match="empty list of references"):
        B.bleu([[]], ["a"])
    with pytest.raises(ValueError, match="expected str"):
        B.bleu(["a"], [None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="expected str"):
        B.bleu([["a", 3]], ["a"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="not a string"):
        B.bleu("a b", "a b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        B.bleu(["a"], ["a"], weights=(0.5, float("nan")))
    with pytest.raises(ValueError, match="at least one"):
        B.bleu(["a"], ["a"], weights=())
    with pytest.raises(ValueError, match="callable"):
        B.bleu(["a"], ["a"], tokenizer="split")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="sequence of tokens"):
        B.bleu(["a"], ["a"], tokenizer=str.upper)
    with pytest.raises(ValueError, match="hashable"):
        B.bleu(["a b"], ["a b"], tokenizer=lambda s: [[t] for t in s.split()])
    with pytest.raises(ValueError, match="order"):
        B.ngram_counts(["a"], 0)


def test_large_input_runs_in_linear_time() -> None:
    # ~1 MB of code: must finish promptly (the work is linear in the token count).
    code = "x = foo(a, b) + 1\n" * 60_000
    assert B.bleu([code], [code]) == 1.0
    assert 0.0 < B.bleu([code], [code.replace("foo", "bar", 30_000)]) < 1.0


tokens = st.lists(st.sampled_from(["a", "b", "c", "d", "(", ")", "=", "if"]), max_size=14)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.lists(tokens, min_size=1, max_size=3), tokens),
                min_size=1, max_size=4),
       st.sampled_from([(0.25, 0.25, 0.25, 0.25), (0.5, 0.5), (1.0,), (0.1, 0.2, 0.3, 0.2, 0.2)]))
def test_equals_codebleu_oracle_bit_for_bit(pairs: list, weights: tuple) -> None:
    refs = [r for r, _ in pairs]
    hyps = [h for _, h in pairs]
    ours = B.corpus_bleu(refs, hyps, weights)
    assert ours == oracle_bleu.corpus_bleu(refs, hyps, weights)
    assert 0.0 <= ours <= 1.0
    # Corpus stats are the sum of per-sample stats.
    summed = B.sum_stats((B.precision_stats(r, h, len(weights)) for r, h in pairs), len(weights))
    assert B.score_from_stats(summed, weights) == ours


@settings(max_examples=60, deadline=None)
@given(st.lists(tokens, min_size=1, max_size=3), tokens)
def test_reference_order_does_not_matter(refs: list, hyp: list) -> None:
    assert B.sentence_bleu(refs, hyp) == B.sentence_bleu(list(reversed(refs)), hyp)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from(["a", "b", "c", "x"]), min_size=4, max_size=20))
def test_candidate_equal_to_reference_scores_one(toks: list) -> None:
    assert B.sentence_bleu([toks], toks) == pytest.approx(1.0)
