"""CodeBLEU: BLEU, keyword-weighted BLEU, AST match and data-flow match, combined.

CodeBLEU (Ren et al., 2020) scores generated code against reference code with four
components, each in [0, 1], mixed by weights (default 0.25 each):

1. ``ngram_match_score``: plain BLEU-4 on whitespace tokens (`rewards.bleu_metric`);
2. ``weighted_ngram_match_score``: BLEU in which the language's keywords count 1.0 and
   every other unigram 0.2 (keyword lists in ``rewards/keywords/<lang>.txt``);
3. ``syntax_match_score``: share of the reference's syntax subtrees found in the
   candidate (the native engine, `core.structural`);
4. ``dataflow_match_score``: share of the reference's data-flow edges found in the
   candidate (same engine).

Corpus scores are micro-averaged: counts are summed over all (candidate, reference)
pairs before dividing, exactly as the `codebleu` package (0.7.0) does. Its quirks are
kept on purpose so that scores are comparable with published numbers:

- weighted n-gram match divides by the *reference's* n-gram counts (a recall, not a
  precision), summed over every reference of a candidate;
- its brevity penalty takes every reference to be 2 tokens long (codebleu measures the
  length of a ``[tokens, weights]`` pair), so it only bites when candidates average
  2 tokens or fewer;
- a data-flow score of 0 (no reference data flow at all, or none matched) is replaced
  by 1 inside the weighted sum, while ``dataflow_match_score`` still reports 0 (the
  `R_dfg` reward, `rewards.dfg_match`, instead scores a pair without reference data
  flow 1 when the candidate has none either);
- a syntax score with no reference subtrees at all is 0 (codebleu divides by zero).

Deliberate differences, all in the structural engine (`core.structural`): the data-flow
component is deterministic (codebleu's depends on Python's string hash seed on some
inputs; ours equals codebleu with sorted parent lists there), reads token text on bytes
(codebleu garbles names that follow a non-ASCII character on the same line), and runs
in polynomial time on deeply nested code. C and C++ data flow uses the engine's own
C/C++ spec (codebleu runs its C# walker on them).

    >>> from rewards import codebleu
    >>> codebleu(["x = a + b"], ["x = a + b"], lang="python").codebleu
    1.0
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from functools import cache, reduce
from itertools import repeat
from operator import add, mul
from pathlib import Path

import numpy as np

from core import languages
from rewards.bleu_metric import (
    BleuStats,
    Tokenizer,
    Tokens,
    ngram_counts_by_order,
    normalize_inputs,
    precision_stats_from_counts,
    score_from_stats,
    sum_stats,
    tokenize_all,
)

__all__ = [
    "CodeBLEUResult",
    "codebleu",
    "codebleu_per_sample",
    "codebleu_resampled",
    "codebleu_with_samples",
    "keywords",
    "weighted_ngram_match",
    "weighted_stats",
    "weighted_stats_from_counts",
]

DEFAULT_WEIGHTS = (0.25, 0.25, 0.25, 0.25)
"""Weights of (ngram, weighted ngram, syntax, data flow)."""

KEYWORD_WEIGHT = 1
"""Unigram weight of a language keyword in weighted n-gram match."""
OTHER_TOKEN_WEIGHT = 0.2
"""Unigram weight of every other token."""

_BLEU_ORDER = 4  # codebleu always uses BLEU-4 with uniform n-gram weights
_BLEU_NGRAM_WEIGHTS = (0.25, 0.25, 0.25, 0.25)
# codebleu passes [tokens, weights] pairs where a token list is expected, so the
# "closest reference length" of its weighted BLEU is always len(pair) == 2.
_WEIGHTED_REFERENCE_LENGTH = 2

_KEYWORD_DIR = Path(__file__).with_name("keywords")


@dataclass(frozen=True)
class CodeBLEUResult:
    """CodeBLEU and its four components (same meaning as codebleu's dict keys)."""

    codebleu: float
    """Weighted sum of the four components (data flow 0 counts as 1, like codebleu)."""
    ngram_match_score: float
    """BLEU-4 on tokens."""
    weighted_ngram_match_score: float
    """BLEU-4 with keyword unigrams weighted 1.0 and others 0.2."""
    syntax_match_score: float
    """Matched reference AST subtrees / reference subtrees."""
    dataflow_match_score: float
    """Matched reference data-flow edges / reference edges (0 when there are none)."""

    def as_dict(self) -> dict[str, float]:
        """The five scores under codebleu's key names."""
        return asdict(self)


@cache
def keywords(lang: str) -> frozenset[str]:
    """The keyword set of `lang` (a language id or alias) used by weighted n-gram match."""
    name = languages.get(lang).name
    path = _KEYWORD_DIR / f"{name}.txt"
    if not path.is_file():
        raise ValueError(f"no CodeBLEU keyword list for language {name!r} (expected {path})")
    lines = path.read_text(encoding="utf-8").splitlines()
    return frozenset(w.strip() for w in lines if w.strip() and not w.startswith("#"))


def weighted_stats(references: Sequence[Tokens], hypothesis: Tokens,
                   keyword_set: frozenset[str] | set[str],
                   max_order: int = _BLEU_ORDER) -> BleuStats:
    """Keyword-weighted BLEU stats of one candidate (codebleu's ``modified_recall``).

    For every order n and every reference: the reference's n-grams are clipped by their
    count in the candidate; the matches are summed and divided by the reference's
    n-gram count (at least 1 per reference). For unigrams both sums weigh each token by
    `KEYWORD_WEIGHT` if it is a keyword, else `OTHER_TOKEN_WEIGHT`.
    """
    if not references:
        raise ValueError("at least one reference is needed")
    return weighted_stats_from_counts(
        [ngram_counts_by_order(ref, max_order) for ref in references],
        ngram_counts_by_order(hypothesis, max_order),
        [len(ref) for ref in references], len(hypothesis),
        _unigram_weights(frozenset(keyword_set)))


@cache
def _unigram_weights(keyword_set: frozenset) -> dict[tuple, int]:
    # Keyed like unigram counts (1-tuples); tokens not in it weigh OTHER_TOKEN_WEIGHT.
    return {(word,): KEYWORD_WEIGHT for word in keyword_set}


def weighted_stats_from_counts(reference_counts: Sequence[Sequence[Counter]],
                               hypothesis_counts: Sequence[Counter],
                               reference_lengths: Sequence[int], hyp_length: int,
                               unigram_weights: dict[tuple, int]) -> BleuStats:
    """`weighted_stats` from n-gram counts made once (``[reference][order]``, ``[order]``)."""
    matches: list[float] = []
    totals: list[float] = []
    for k, counts in enumerate(hypothesis_counts):  # order n = k + 1
        matched: float = 0
        total: float = 0
        for ref, ref_length in zip(reference_counts, reference_lengths):
            grams, ref_values = ref[k].keys(), ref[k].values()
            clipped = map(min, ref_values, map(counts.get, grams, repeat(0)))
            if k == 0:
                # Weighted sums added left to right in first-occurrence order, exactly
                # like codebleu's loop, so that the float result is identical.
                weights = list(map(unigram_weights.get, grams, repeat(OTHER_TOKEN_WEIGHT)))
                ref_matched = reduce(add, map(mul, clipped, weights), 0)
                ref_total = reduce(add, map(mul, ref_values, weights), 0)
            else:
                ref_matched = sum(clipped)
                ref_total = max(0, ref_length - k)
            matched += ref_matched
            total += max(1, ref_total)
        matches.append(matched)
        totals.append(total)
    return BleuStats(tuple(matches), tuple(totals), hyp_length, _WEIGHTED_REFERENCE_LENGTH)


def _check_component_weights(weights: Sequence[float]) -> tuple[float, float, float, float]:
    message = ("weights must be 4 finite numbers (ngram, weighted ngram, syntax, data flow), "
               f"got {weights!r}")
    try:
        weights = tuple(weights)
    except TypeError:
        raise ValueError(message) from None
    if len(weights) != 4 or any(
            isinstance(w, bool) or not isinstance(w, (int, float, np.number))
            or not math.isfinite(w) for w in weights):
        raise ValueError(message)
    return tuple(float(w) for w in weights)  # type: ignore[return-value]


@dataclass
class _Components:
    """Per-sample statistics of all four components."""

    ngram: list[BleuStats]
    weighted: list[BleuStats]
    ast_match: np.ndarray  # (n_samples,) summed over the sample's references
    ast_total: np.ndarray
    dfg_match: np.ndarray
    dfg_total: np.ndarray


def _ngram_components(refs: list[list[str]], cands: list[str], lang: str,
                      tokenizer: Tokenizer | None) -> tuple[list[BleuStats], list[BleuStats]]:
    tok_refs, tok_cands = tokenize_all(refs, cands, tokenizer)
    unigram_weights = _unigram_weights(keywords(lang))
    ngram, weighted = [], []
    for group, cand in zip(tok_refs, tok_cands):
        # Count every n-gram once; both components read the same counts.
        ref_counts = [ngram_counts_by_order(ref, _BLEU_ORDER) for ref in group]
        cand_counts = ngram_counts_by_order(cand, _BLEU_ORDER)
        if len(group) == 1:
            stats = _single_reference_stats(ref_counts[0], cand_counts, len(group[0]),
                                            len(cand), unigram_weights)
            ngram.append(stats[0])
            weighted.append(stats[1])
            continue
        ref_lengths = [len(ref) for ref in group]
        ngram.append(precision_stats_from_counts(ref_counts, cand_counts, ref_lengths,
                                                 len(cand)))
        weighted.append(weighted_stats_from_counts(ref_counts, cand_counts, ref_lengths,
                                                   len(cand), unigram_weights))
    return ngram, weighted


def _single_reference_stats(ref_counts: Sequence[Counter], cand_counts: Sequence[Counter],
                            ref_length: int, cand_length: int,
                            unigram_weights: dict[tuple, int]) -> tuple[BleuStats, BleuStats]:
    """Fast path of (`precision_stats_from_counts`, `weighted_stats_from_counts`) for one
    reference, where both clip the same n-grams: sum(min(candidate, reference) count)."""
    matches: list[int] = []
    weighted_matches: list[float] = []
    weighted_totals: list[float] = []
    for k, (cand, ref) in enumerate(zip(cand_counts, ref_counts)):
        if k == 0:
            grams, ref_values = ref.keys(), ref.values()
            clipped = list(map(min, ref_values, map(cand.get, grams, repeat(0))))
            weights = list(map(unigram_weights.get, grams, repeat(OTHER_TOKEN_WEIGHT)))
            matches.append(sum(clipped))
            weighted_matches.append(reduce(add, map(mul, clipped, weights), 0))
            weighted_totals.append(max(1, reduce(add, map(mul, ref_values, weights), 0)))
            continue
        small, large = (cand, ref) if len(cand) <= len(ref) else (ref, cand)
        matched = sum(map(min, small.values(), map(large.get, small.keys(), repeat(0))))
        matches.append(matched)
        weighted_matches.append(matched)
        weighted_totals.append(max(1, ref_length - k))
    order = len(cand_counts)
    plain = BleuStats(tuple(matches), tuple(max(1, cand_length - k) for k in range(order)),
                      cand_length, ref_length)
    weighted = BleuStats(tuple(weighted_matches), tuple(weighted_totals), cand_length,
                         _WEIGHTED_REFERENCE_LENGTH)
    return plain, weighted


def _components(refs: list[list[str]], cands: list[str], lang: str,
                tokenizer: Tokenizer | None, threads: int) -> _Components:
    from core import structural  # imported here: the native engine is only needed here

    ngram, weighted = _ngram_components(refs, cands, lang, tokenizer)
    # One (candidate, reference) pair per reference; the engine parses each distinct
    # reference once.
    flat_cands = [cand for cand, group in zip(cands, refs) for _ in group]
    flat_refs = [ref for group in refs for ref in group]
    counts = structural.match(lang, flat_cands, flat_refs, threads=threads)
    # Pairs of sample i are the contiguous run starting at starts[i] (never empty).
    starts = np.cumsum([0] + [len(group) for group in refs[:-1]])

    def per_sample(values: np.ndarray) -> np.ndarray:
        return np.add.reduceat(np.asarray(values, dtype=np.int64), starts)

    return _Components(ngram, weighted, per_sample(counts.ast_match),
                       per_sample(counts.ast_total), per_sample(counts.dfg_match),
                       per_sample(counts.dfg_total))


def _ratio(matched: int, total: int) -> float:
    return matched / total if total > 0 else 0.0


def _result(ngram: BleuStats, weighted: BleuStats, ast_match: int, ast_total: int,
            dfg_match: int, dfg_total: int,
            weights: tuple[float, float, float, float]) -> CodeBLEUResult:
    ngram_score = score_from_stats(ngram, _BLEU_NGRAM_WEIGHTS)
    weighted_score = score_from_stats(weighted, _BLEU_NGRAM_WEIGHTS)
    syntax_score = _ratio(ast_match, ast_total)
    dataflow_score = _ratio(dfg_match, dfg_total)
    alpha, beta, gamma, theta = weights
    total = (alpha * ngram_score + beta * weighted_score + gamma * syntax_score
             + theta * (dataflow_score or 1))
    return CodeBLEUResult(float(total), ngram_score, weighted_score, syntax_score,
                          dataflow_score)


def codebleu(references: Sequence[str] | Sequence[Sequence[str]], candidates: Sequence[str],
             lang: str = "python", weights: Sequence[float] = DEFAULT_WEIGHTS,
             tokenizer: Tokenizer | None = None, threads: int = 0) -> CodeBLEUResult:
    """Corpus-level CodeBLEU, equal to ``codebleu.calc_codebleu`` (0.7.0).

    Args:
        references: one entry per candidate: a reference string, or a list of
            reference strings (all acceptable solutions).
        candidates: generated code, one string per sample.
        lang: python, java, cpp, c, c_sharp, javascript or php (aliases such as
            ``"js"`` or ``"c++"`` work too).
        weights: weights of (ngram, weighted ngram, syntax, data flow).
        tokenizer: str -> tokens for the two n-gram components; default whitespace split.
        threads: threads for the structural engine (0 = one per CPU).

    Returns:
        A `CodeBLEUResult`; all counts are summed over the corpus before dividing.

    Raises:
        ValueError: unknown language (the message lists the supported ones), lists of
            different lengths, an empty corpus, a candidate without references,
            non-string items or weights that are not 4 finite numbers.
    """
    parts, component_weights = _prepare(references, candidates, lang, weights, tokenizer,
                                        threads)
    return _corpus_result(parts, component_weights)


def codebleu_per_sample(references: Sequence[str] | Sequence[Sequence[str]],
                        candidates: Sequence[str], lang: str = "python",
                        weights: Sequence[float] = DEFAULT_WEIGHTS,
                        tokenizer: Tokenizer | None = None,
                        threads: int = 0) -> list[CodeBLEUResult]:
    """CodeBLEU of every candidate on its own (one batched engine call for all).

    Entry i equals ``codebleu([references[i]], [candidates[i]], ...)``. Arguments and
    errors as in `codebleu`.
    """
    parts, component_weights = _prepare(references, candidates, lang, weights, tokenizer,
                                        threads)
    return _sample_results(parts, component_weights)


def codebleu_with_samples(references: Sequence[str] | Sequence[Sequence[str]],
                          candidates: Sequence[str], lang: str = "python",
                          weights: Sequence[float] = DEFAULT_WEIGHTS,
                          tokenizer: Tokenizer | None = None, threads: int = 0,
                          ) -> tuple[CodeBLEUResult, list[CodeBLEUResult]]:
    """(`codebleu`, `codebleu_per_sample`) of the same inputs, parsing everything once."""
    parts, component_weights = _prepare(references, candidates, lang, weights, tokenizer,
                                        threads)
    return _corpus_result(parts, component_weights), _sample_results(parts, component_weights)


def codebleu_resampled(references: Sequence[str] | Sequence[Sequence[str]],
                       candidates: Sequence[str], counts: np.ndarray, lang: str = "python",
                       weights: Sequence[float] = DEFAULT_WEIGHTS,
                       tokenizer: Tokenizer | None = None,
                       threads: int = 0) -> list[CodeBLEUResult]:
    """Corpus CodeBLEU of reweighted copies of one corpus (bootstrap resamples), parsing once.

    Row r of `counts` (shape (rows, n_candidates)) says how many times each pair enters
    corpus r; every score is a ratio of summed counts, so a corpus is a weighted sum of
    per-pair statistics. A row of ones gives `codebleu` (up to float rounding). Arguments
    and errors otherwise as in `codebleu`.
    """
    parts, component_weights = _prepare(references, candidates, lang, weights, tokenizer,
                                        threads)
    counts = np.asarray(counts, dtype=np.float64)
    if counts.ndim != 2 or counts.shape[1] != len(parts.ngram):
        raise ValueError(f"counts must have shape (rows, {len(parts.ngram)}), got {counts.shape}")
    ngram, weighted = _stats_matrix(parts.ngram), _stats_matrix(parts.weighted)
    structure = np.stack([parts.ast_match, parts.ast_total, parts.dfg_match, parts.dfg_total],
                         axis=1).astype(np.float64)
    out = []
    for plain, keyword, (ast_m, ast_t, dfg_m, dfg_t) in zip(
            counts @ ngram, counts @ weighted, counts @ structure):
        out.append(_result(_stats_from_row(plain), _stats_from_row(keyword), round(ast_m),
                           round(ast_t), round(dfg_m), round(dfg_t), component_weights))
    return out


def _stats_matrix(stats: list[BleuStats]) -> np.ndarray:
    """Per-pair BLEU statistics as rows: matches, totals, hypothesis and reference length."""
    return np.array([[*s.matches, *s.totals, s.hyp_length, s.ref_length] for s in stats],
                    dtype=np.float64)


def _stats_from_row(row: np.ndarray) -> BleuStats:
    order = (len(row) - 2) // 2
    return BleuStats(tuple(row[:order].tolist()), tuple(row[order:2 * order].tolist()),
                     float(row[-2]), float(row[-1]))


def _prepare(references: Sequence[str] | Sequence[Sequence[str]], candidates: Sequence[str],
             lang: str, weights: Sequence[float], tokenizer: Tokenizer | None,
             threads: int) -> tuple[_Components, tuple[float, float, float, float]]:
    name = languages.get(lang).name
    component_weights = _check_component_weights(weights)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 0:
        raise ValueError(f"threads must be an int >= 0 (0 = one per CPU), got {threads!r}")
    refs, cands = normalize_inputs(references, candidates)
    return _components(refs, cands, name, tokenizer, threads), component_weights


def _corpus_result(parts: _Components,
                   weights: tuple[float, float, float, float]) -> CodeBLEUResult:
    return _result(sum_stats(parts.ngram, _BLEU_ORDER), sum_stats(parts.weighted, _BLEU_ORDER),
                   int(parts.ast_match.sum()), int(parts.ast_total.sum()),
                   int(parts.dfg_match.sum()), int(parts.dfg_total.sum()), weights)


def _sample_results(parts: _Components,
                    weights: tuple[float, float, float, float]) -> list[CodeBLEUResult]:
    return [
        _result(parts.ngram[i], parts.weighted[i], int(parts.ast_match[i]),
                int(parts.ast_total[i]), int(parts.dfg_match[i]), int(parts.dfg_total[i]),
                weights)
        for i in range(len(parts.ngram))
    ]


def weighted_ngram_match(references: Sequence[str] | Sequence[Sequence[str]],
                         candidates: Sequence[str], lang: str = "python",
                         tokenizer: Tokenizer | None = None) -> float:
    """Corpus keyword-weighted BLEU of code strings (codebleu's ``weighted_ngram_match_score``).

    Needs no parser: only tokens and the keyword list of `lang`.
    """
    name = languages.get(lang).name
    refs, cands = normalize_inputs(references, candidates)
    _, weighted = _ngram_components(refs, cands, name, tokenizer)
    stats = sum_stats(weighted, _BLEU_ORDER)
    return score_from_stats(stats, _BLEU_NGRAM_WEIGHTS)
