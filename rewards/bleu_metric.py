"""BLEU for code: clipped n-gram precision, brevity penalty, smoothing, corpus micro-average.

BLEU (Papineni et al., 2002) asks how many of the candidate's n-grams (runs of n
consecutive tokens, n = 1..4) also occur in a reference. Each candidate n-gram counts at
most as often as it occurs in the most generous single reference ("clipping"), so
repeating a common token does not help. The four precisions are combined by a weighted
geometric mean and multiplied by a brevity penalty that punishes candidates shorter
than their references.

This module reproduces the BLEU of the `codebleu` package (0.7.0), which is the NLTK
BLEU it vendors, bit for bit:

- **corpus level = micro-average**: matches and totals of every order are summed over
  all candidates first, then divided (not an average of per-sample scores);
- **reference length** of a candidate = the reference length closest to the
  candidate's length, the shorter one on a tie;
- **brevity penalty** = 1 if the candidate side is longer, 0 if it is empty,
  else ``exp(1 - ref_len / hyp_len)``;
- **smoothing** = Chen & Cherry "method 1": an order with zero matches gets
  ``epsilon = 0.1`` matches instead (so one missing 4-gram does not zero the score);
- **no unigram match at all** gives 0.0;
- **tokenization** (for `bleu`) = strip, then split on whitespace.

    >>> bleu(["return a + b"], ["return a + b"])
    1.0
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import repeat

__all__ = [
    "BleuStats",
    "bleu",
    "brevity_penalty",
    "closest_reference_length",
    "corpus_bleu",
    "clipped_matches",
    "ngram_counts",
    "ngram_counts_by_order",
    "normalize_inputs",
    "precision_stats",
    "precision_stats_from_counts",
    "score_from_stats",
    "sentence_bleu",
    "sum_stats",
    "tokenize_all",
    "whitespace_tokenize",
]

DEFAULT_WEIGHTS: tuple[float, ...] = (0.25, 0.25, 0.25, 0.25)
"""Uniform weights over 1- to 4-grams (BLEU-4)."""

SMOOTHING_EPSILON = 0.1
"""Matches credited to an n-gram order that has none (Chen & Cherry method 1)."""

Tokens = Sequence[Hashable]
Tokenizer = Callable[[str], Sequence[Hashable]]


def whitespace_tokenize(code: str) -> list[str]:
    """codebleu's default tokenizer: split on runs of whitespace."""
    return code.split()


def ngram_counts(tokens: Tokens, n: int) -> Counter:
    """Multiset of the n-grams (as tuples) of `tokens`; empty when there are fewer than n.

    Keys are inserted in order of first occurrence, which fixes the order of any float
    sums over them (and so makes results reproducible bit for bit).
    """
    if n < 1:
        raise ValueError(f"n-gram order must be >= 1, got {n}")
    if len(tokens) < n:
        return Counter()
    return Counter(zip(*(tokens[i:] for i in range(n))))


def closest_reference_length(reference_lengths: Iterable[int], hyp_length: int) -> int:
    """The reference length closest to `hyp_length`; the shorter one on a tie."""
    lengths = list(reference_lengths)
    if not lengths:
        raise ValueError("at least one reference is needed")
    return min(lengths, key=lambda length: (abs(length - hyp_length), length))


def brevity_penalty(ref_length: int | float, hyp_length: int | float) -> float:
    """BLEU's brevity penalty for (summed) reference and candidate lengths.

    1 when the candidate side is longer than the reference side, 0 when it is empty,
    otherwise ``exp(1 - ref_length / hyp_length)``.
    """
    if hyp_length > ref_length:
        return 1
    if hyp_length == 0:
        return 0
    return math.exp(1 - ref_length / hyp_length)


@dataclass(frozen=True)
class BleuStats:
    """Sufficient statistics of BLEU: per n-gram order, matched and total counts.

    Stats of several samples add up (``a + b``) to the stats of their corpus; the corpus
    score is `score_from_stats` of the sum. Counts are floats in keyword-weighted BLEU.
    """

    matches: tuple[float, ...]
    """Clipped matches per order (index 0 = unigrams)."""
    totals: tuple[float, ...]
    """Denominators per order (each sample contributes at least 1)."""
    hyp_length: int
    """Candidate length in tokens."""
    ref_length: int
    """Reference length used by the brevity penalty."""

    def __add__(self, other: BleuStats) -> BleuStats:
        if len(self.matches) != len(other.matches):
            raise ValueError("cannot add BLEU stats of different n-gram orders")
        return BleuStats(
            tuple(a + b for a, b in zip(self.matches, other.matches)),
            tuple(a + b for a, b in zip(self.totals, other.totals)),
            self.hyp_length + other.hyp_length,
            self.ref_length + other.ref_length,
        )

    @staticmethod
    def zero(max_order: int) -> BleuStats:
        """Stats of an empty corpus."""
        return BleuStats((0,) * max_order, (0,) * max_order, 0, 0)


def sum_stats(stats: Iterable[BleuStats], max_order: int) -> BleuStats:
    """Sum per-sample stats in order (the order fixes float rounding)."""
    total = BleuStats.zero(max_order)
    for item in stats:
        total = total + item
    return total


def ngram_counts_by_order(tokens: Tokens, max_order: int) -> list[Counter]:
    """`ngram_counts` of `tokens` for n = 1..max_order."""
    return [ngram_counts(tokens, n) for n in range(1, max_order + 1)]


def clipped_matches(counts: Counter, reference_counts: Sequence[Counter]) -> int:
    """Sum over candidate n-grams of min(count, its largest count in any one reference)."""
    keys = counts.keys()
    if len(reference_counts) == 1:
        best = map(reference_counts[0].get, keys, repeat(0))
    else:
        best = map(max, *(map(ref.get, keys, repeat(0)) for ref in reference_counts))
    return sum(map(min, counts.values(), best))


def precision_stats(references: Sequence[Tokens], hypothesis: Tokens,
                    max_order: int = 4) -> BleuStats:
    """BLEU stats of one candidate against its references (clipped n-gram precision).

    A candidate n-gram counts at most as often as it occurs in any single reference; the
    denominator is the candidate's number of n-grams, at least 1.
    """
    if not references:
        raise ValueError("at least one reference is needed")
    return precision_stats_from_counts(
        [ngram_counts_by_order(ref, max_order) for ref in references],
        ngram_counts_by_order(hypothesis, max_order),
        [len(ref) for ref in references], len(hypothesis))


def precision_stats_from_counts(reference_counts: Sequence[Sequence[Counter]],
                                hypothesis_counts: Sequence[Counter],
                                reference_lengths: Sequence[int],
                                hyp_length: int) -> BleuStats:
    """`precision_stats` from n-gram counts made once (``[reference][order]``, ``[order]``)."""
    max_order = len(hypothesis_counts)
    matches = tuple(clipped_matches(hypothesis_counts[k], [ref[k] for ref in reference_counts])
                    for k in range(max_order))
    # A sequence of L tokens has L - n + 1 n-grams; each sample's denominator is >= 1.
    totals = tuple(max(1, hyp_length - k) for k in range(max_order))
    return BleuStats(matches, totals, hyp_length,
                     closest_reference_length(reference_lengths, hyp_length))


def _check_weights(weights: Sequence[float]) -> tuple[float, ...]:
    weights = tuple(weights)
    if not weights:
        raise ValueError("BLEU needs at least one n-gram weight")
    for weight in weights:
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) \
                or not math.isfinite(weight):
            raise ValueError(f"BLEU weights must be finite numbers, got {weights!r}")
    return weights


def score_from_stats(stats: BleuStats, weights: Sequence[float] = DEFAULT_WEIGHTS,
                     epsilon: float = SMOOTHING_EPSILON) -> float:
    """The BLEU score of (summed) stats: smoothed weighted geometric mean times the penalty.

    `weights[i]` weighs the precision of (i+1)-grams; `stats` must cover as many orders.
    Returns 0.0 when no unigram matches.
    """
    weights = _check_weights(weights)
    if len(stats.matches) < len(weights):
        raise ValueError(
            f"stats cover {len(stats.matches)} n-gram orders, weights need {len(weights)}")
    if stats.matches[0] == 0:
        return 0.0
    penalty = brevity_penalty(stats.ref_length, stats.hyp_length)
    log_precisions = []
    for weight, matched, total in zip(weights, stats.matches, stats.totals):
        if matched == 0:
            matched = matched + epsilon
        log_precisions.append(weight * math.log(matched / total))
    return float(penalty * math.exp(math.fsum(log_precisions)))


def corpus_bleu(list_of_references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens],
                weights: Sequence[float] = DEFAULT_WEIGHTS,
                epsilon: float = SMOOTHING_EPSILON) -> float:
    """Corpus BLEU on tokenized input (micro-averaged over the candidates).

    `list_of_references[i]` is the list of token lists that `hypotheses[i]` is compared
    with. An empty corpus scores 0.0.
    """
    if len(list_of_references) != len(hypotheses):
        raise ValueError(
            f"got {len(hypotheses)} candidates but {len(list_of_references)} reference lists")
    max_order = len(_check_weights(weights))
    stats = sum_stats((precision_stats(refs, hyp, max_order)
                       for refs, hyp in zip(list_of_references, hypotheses)), max_order)
    return score_from_stats(stats, weights, epsilon)


def sentence_bleu(references: Sequence[Tokens], hypothesis: Tokens,
                  weights: Sequence[float] = DEFAULT_WEIGHTS,
                  epsilon: float = SMOOTHING_EPSILON) -> float:
    """BLEU of one tokenized candidate against its tokenized references."""
    return corpus_bleu([references], [hypothesis], weights, epsilon)


def normalize_inputs(references: Sequence[str] | Sequence[Sequence[str]],
                     candidates: Sequence[str]) -> tuple[list[list[str]], list[str]]:
    """Validate code inputs and strip surrounding whitespace, as codebleu does.

    `references` has one entry per candidate: a string, or a non-empty list of strings
    (several acceptable references). Returns (references as lists, candidates).
    Raises ValueError on mismatched lengths, an empty corpus, a candidate without
    references, or anything that is not a string.
    """
    if isinstance(candidates, str) or isinstance(references, str):
        raise ValueError("references and candidates must be lists of strings, not a string")
    candidates = list(candidates)
    references = list(references)
    if len(references) != len(candidates):
        raise ValueError(
            f"got {len(candidates)} candidates but {len(references)} references "
            "(one string or list of strings per candidate)")
    if not candidates:
        raise ValueError("no candidates: the corpus is empty")
    stripped_refs: list[list[str]] = []
    for i, ref in enumerate(references):
        group = [ref] if isinstance(ref, str) else ref
        if not isinstance(group, (list, tuple)):
            raise ValueError(
                f"reference {i} must be a string or a list of strings, got {type(ref).__name__}")
        if not group:
            raise ValueError(f"candidate {i} has an empty list of references")
        for item in group:
            if not isinstance(item, str):
                raise ValueError(
                    f"reference {i} contains a {type(item).__name__}, expected str")
        stripped_refs.append([item.strip() for item in group])
    for i, cand in enumerate(candidates):
        if not isinstance(cand, str):
            raise ValueError(f"candidate {i} is a {type(cand).__name__}, expected str")
    return stripped_refs, [cand.strip() for cand in candidates]


def tokenize_all(references: list[list[str]], candidates: list[str],
                 tokenizer: Tokenizer | None) -> tuple[list[list[list]], list[list]]:
    """Apply `tokenizer` (default: whitespace split) to every reference and candidate."""
    tok = whitespace_tokenize if tokenizer is None else tokenizer
    if not callable(tok):
        raise ValueError(f"tokenizer must be callable, got {type(tok).__name__}")

    def run(text: str) -> list:
        tokens = tok(text)
        if isinstance(tokens, str) or not isinstance(tokens, Iterable):
            raise ValueError("the tokenizer must return a sequence of tokens")
        tokens = list(tokens)
        if tokenizer is not None:
            try:
                hash(tuple(tokens))
            except TypeError:
                raise ValueError("the tokenizer must return hashable tokens "
                                 "(strings, for example)") from None
        return tokens

    return [[run(r) for r in refs] for refs in references], [run(c) for c in candidates]


def bleu(references: Sequence[str] | Sequence[Sequence[str]], candidates: Sequence[str],
         weights: Sequence[float] = DEFAULT_WEIGHTS, tokenizer: Tokenizer | None = None) -> float:
    """Corpus BLEU of code strings, equal to codebleu's ``ngram_match_score``.

    Args:
        references: one reference per candidate, a string or a list of strings.
        candidates: the generated code, one string each.
        weights: weights of the 1..N-gram precisions (default BLEU-4, uniform).
        tokenizer: str -> tokens; default strips and splits on whitespace.

    Returns:
        A float in [0, 1]; 1.0 for candidates identical to their references.
    """
    refs, cands = normalize_inputs(references, candidates)
    tok_refs, tok_cands = tokenize_all(refs, cands, tokenizer)
    return corpus_bleu(tok_refs, tok_cands, weights)
