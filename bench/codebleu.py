"""CodeBLEU metric speed: ours (rewards.codebleu_metric) vs the `codebleu` package, side by side.

Run: python bench/codebleu.py [--repeat 3]

On the shared parity corpus (502 Python/Java pairs), in one process, prints the time per
pair and the ratio (codebleu time / our time, > 1 means we are faster) for:
- the two n-gram components (BLEU + keyword-weighted BLEU), corpus-level;
- full CodeBLEU, corpus-level (one call per language);
- full CodeBLEU, per sample (one call per pair for codebleu; one batched call for us).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

# This script shares its name with the `codebleu` package it compares with: keep its own
# folder off the import path so that `import codebleu` finds the package.
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

import codebleu as oracle  # noqa: E402
from codebleu import bleu as oracle_bleu  # noqa: E402
from codebleu import weighted_ngram_match as oracle_weighted  # noqa: E402

import rewards.bleu_metric as bleu_mod  # noqa: E402
import rewards.codebleu_metric as codebleu_mod  # noqa: E402
from rewards import codebleu, codebleu_per_sample  # noqa: E402

CORPUS = Path("/work/shared/data/codebleu-parity/corpus.jsonl")


def best_time(fn: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def oracle_ngram_parts(refs: list[str], cands: list[str], lang: str) -> tuple[float, float]:
    """codebleu's own n-gram path (what calc_codebleu runs before the parsers)."""
    tok_refs = [[r.strip().split()] for r in refs]
    tok_hyps = [c.strip().split() for c in cands]
    path = Path(oracle.__file__).parent / "keywords" / f"{lang}.txt"
    keywords = [x.strip() for x in path.read_text().splitlines()]
    with_weights = [[[toks, {t: 1 if t in keywords else 0.2 for t in toks}] for toks in group]
                    for group in tok_refs]
    return (oracle_bleu.corpus_bleu(tok_refs, tok_hyps),
            oracle_weighted.corpus_bleu(with_weights, tok_hyps))


def our_ngram_parts(refs: list[str], cands: list[str], lang: str) -> tuple[float, float]:
    """What `rewards.codebleu` runs for the two n-gram components (one counting pass)."""
    norm_refs, norm_cands = bleu_mod.normalize_inputs(refs, cands)
    ngram, weighted = codebleu_mod._ngram_components(norm_refs, norm_cands, lang, None)
    return (bleu_mod.score_from_stats(bleu_mod.sum_stats(ngram, 4)),
            bleu_mod.score_from_stats(bleu_mod.sum_stats(weighted, 4)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="timing repeats (best is kept)")
    parser.add_argument("--corpus", type=Path, default=CORPUS, help="corpus.jsonl to time on")
    parser.add_argument("--threads", type=int, default=1,
                        help="threads of our structural engine (default 1, like codebleu)")
    args = parser.parse_args()

    rows = [json.loads(line) for line in args.corpus.read_text().splitlines()]
    by_lang = {}
    for row in rows:
        group = by_lang.setdefault(row["lang"], ([], []))
        group[0].append(row["reference"])
        group[1].append(row["candidate"])
    n_pairs = len(rows)

    def each_lang(fn: Callable[[list[str], list[str], str], object]) -> Callable[[], None]:
        return lambda: [fn(refs, cands, lang) for lang, (refs, cands) in by_lang.items()]

    def oracle_per_sample(refs: list[str], cands: list[str], lang: str) -> list:
        return [oracle.calc_codebleu([r], [c], lang) for r, c in zip(refs, cands)]

    cases = [
        ("n-gram parts (BLEU + weighted), corpus", each_lang(oracle_ngram_parts),
         each_lang(our_ngram_parts)),
        ("full CodeBLEU, corpus", each_lang(oracle.calc_codebleu),
         each_lang(lambda r, c, lang: codebleu(r, c, lang, threads=args.threads))),
        ("full CodeBLEU, per sample", each_lang(oracle_per_sample),
         each_lang(lambda r, c, lang: codebleu_per_sample(r, c, lang, threads=args.threads))),
    ]
    print(f"{n_pairs} pairs; best of {args.repeat}; our engine on {args.threads} thread(s); "
          "times in microseconds per pair")
    print(f"{'case':42s} {'codebleu':>10s} {'ours':>10s} {'ratio':>8s}")
    for name, theirs, ours in cases:
        ours()  # warm up: grammar loading, keyword files
        theirs()
        t_theirs = best_time(theirs, args.repeat) / n_pairs * 1e6
        t_ours = best_time(ours, args.repeat) / n_pairs * 1e6
        print(f"{name:42s} {t_theirs:10.1f} {t_ours:10.1f} {t_theirs / t_ours:7.1f}x")


if __name__ == "__main__":
    import logging

    logging.disable(logging.WARNING)  # codebleu warns on corpora without data flow
    main()
