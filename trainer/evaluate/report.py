"""The report of `python -m trainer.evaluate`: pass@k, compile rate, outcomes, corpus BLEU and
CodeBLEU, exact match and edit similarity, each with a bootstrap interval over problems."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from trainer.data import TaskExample, response_code
from trainer.evaluate.options import DEFAULT_KS, EvalConfig, EvalError
from trainer.evaluate.samples import (
    ScoredSample,
    generate_samples,
    load_problems,
    read_samples,
    score_samples,
)
from trainer.evaluate.stats import (
    bootstrap,
    bootstrap_counts,
    mean_interval,
    pass_at_k,
    percentile_interval,
)
from trainer.models import check_model_source


def parse_ks(text: str | None, n_min: int) -> list[int]:
    """The k of pass@k: given ones must all be <= n_min; the default keeps those that are."""
    if text is None:
        return [k for k in DEFAULT_KS if k <= n_min]
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise EvalError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise EvalError(f"--k needs integers >= 1, got {text!r}")
    if ks[-1] > n_min:
        raise EvalError(f"pass@{ks[-1]} needs at least {ks[-1]} samples per problem; the "
                        f"fewest any problem has is {n_min}")
    return ks


def evaluate(cfg: EvalConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Either mode end to end: (report, per-sample records); `ValueError` on bad input."""
    if (cfg.samples is None) == (cfg.model is None):
        raise EvalError("give either --samples FILE.jsonl (score mode) or --model NAME_OR_PATH "
                        "(generate mode)")
    problems = load_problems(cfg.data, cfg.split, cfg.held_out, cfg.examples)
    if cfg.samples is not None:
        completions = read_samples(cfg.samples, problems, cfg.replies)
        ks = parse_ks(cfg.k, min(len(v) for v in completions.values()))
        order = [(i, c) for i in sorted(completions) for c in completions[i]]
        with ThreadPoolExecutor(1) as pool:  # the corpus metrics overlap the sandboxed runs
            corpus = pool.submit(corpus_scores, problems, order, cfg)
            scored = score_samples(problems, completions, cfg)
            report = build_report(problems, scored, ks, cfg, corpus.result())
    else:
        ks = parse_ks(cfg.k, cfg.n)  # k > n fails before any generation
        if cfg.n < 1 or cfg.batch_size < 1:
            raise EvalError(f"--n and --batch-size must be >= 1, got {cfg.n} and {cfg.batch_size}")
        if cfg.temperature < 0:
            raise EvalError(f"--temperature must be >= 0, got {cfg.temperature}")
        check_model_source(str(cfg.model))  # one line, before torch or the model loads
        scored = generate_samples(problems, cfg)
        report = build_report(problems, scored, ks, cfg)
    return report, per_sample_records(problems, scored)


def build_report(problems: Sequence[TaskExample], scored: Sequence[ScoredSample],
                 ks: Sequence[int], cfg: EvalConfig,
                 corpus: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (see the module docstring for the keys); `corpus` is
    `corpus_scores` of the same samples when it was computed already."""
    boot = _boot(cfg)
    per: dict[int, list[ScoredSample]] = defaultdict(list)
    for item in scored:
        per[item.problem].append(item)
    index = sorted(per)
    n = np.array([len(per[i]) for i in index])
    compiled = np.array([sum(s.compiled for s in per[i]) for i in index], dtype=float)
    report: dict[str, Any] = {"n_problems": len(index), "n_samples": len(scored)}
    tested = [j for j, i in enumerate(index) if problems[i].tests is not None]
    for k in ks:
        report[f"pass@{k}"] = _pass_at_k(per, index, tested, k, boot)
    report["compile_rate"] = bootstrap(
        lambda counts: (counts @ compiled) / (counts @ n), len(index),
        compiled.sum() / n.sum(), **boot).to_dict()
    if corpus is None:
        corpus = corpus_scores(problems, [(s.problem, s.completion) for s in scored], cfg)
    report.update(corpus)
    for name in ("exact_match", "edit_sim"):
        values = [[getattr(s, name) for s in per[i]] for i in index]
        if all(v is not None for group in values for v in group):
            report[name] = mean_interval([float(np.mean(v)) for v in values], **boot).to_dict()
        else:
            report[name] = None
    report["outcomes"] = dict(sorted(Counter(s.outcome for s in scored).items()))
    levels = sorted({problems[i].difficulty for i in index if problems[i].difficulty})
    if levels:
        report["by_difficulty"] = {
            level: _group_report(per, [i for i in index if problems[i].difficulty == level], ks, boot)
            for level in levels}
    report["confidence"] = cfg.confidence
    return report


def _pass_at_k(per: dict[int, list[ScoredSample]], index: list[int], tested: list[int], k: int,
               boot: dict[str, Any]) -> dict[str, float] | None:
    if not tested:
        return None
    # a problem whose tests could not run (outcome test_error, the tests' fault) is left out
    problems = [index[j] for j in tested if all(s.outcome != "test_error" for s in per[index[j]])]
    if not problems:
        return None
    values = pass_at_k([len(per[i]) for i in problems], [sum(s.passed for s in per[i]) for i in problems], k)
    return mean_interval(values, **boot).to_dict()


def _group_report(per: dict[int, list[ScoredSample]], index: list[int], ks: Sequence[int],
                  boot: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"n_problems": len(index)}
    for k in ks:
        out[f"pass@{k}"] = _pass_at_k(per, index, list(range(len(index))), k, boot)
    rates = [np.mean([s.compiled for s in per[i]]) for i in index]
    out["compile_rate"] = mean_interval(rates, **boot).to_dict()
    return out


def corpus_scores(problems: Sequence[TaskExample], samples: Sequence[tuple[int, str]],
                  cfg: EvalConfig) -> dict[str, Any]:
    """Corpus BLEU and CodeBLEU of the whole programs ((problem index, completion) pairs),
    intervals by resampling problems. Needs no execution results: it runs beside scoring."""
    from rewards.codebleu_metric import codebleu_resampled

    boot = _boot(cfg)
    with_ref = [(i, c) for i, c in samples if problems[i].reference is not None]
    languages = {problems[i].language for i, _ in with_ref}
    if not with_ref or len(languages) != 1:
        return {"bleu": None, "codebleu": None}  # no references, or languages mixed
    position = {i: j for j, i in enumerate(sorted({i for i, _ in samples}))}
    owner = np.array([position[i] for i, _ in with_ref])  # sample -> problem column
    draws = np.concatenate(bootstrap_counts(len(position), boot["resamples"], boot["seed"]))
    counts = np.vstack([np.ones((1, len(with_ref))), draws[:, owner]])  # row 0: the data itself
    found = codebleu_resampled([problems[i].reference for i, _ in with_ref],
                               [problems[i].code_prefix + response_code(problems[i], c)
                                for i, c in with_ref],
                               counts, lang=languages.pop(), threads=1)
    out = {}
    for name, attr in (("bleu", "ngram_match_score"), ("codebleu", "codebleu")):
        values = [getattr(r, attr) for r in found]
        out[name] = percentile_interval(values[0], values[1:], boot["confidence"]).to_dict()
    return out


def _boot(cfg: EvalConfig) -> dict[str, Any]:
    return {"confidence": cfg.confidence, "resamples": cfg.resamples, "seed": cfg.seed}


def per_sample_records(problems: Sequence[TaskExample],
                       scored: Sequence[ScoredSample]) -> list[dict[str, Any]]:
    """One JSON record per sample: its problem, completion and how it scored."""
    seen: Counter[int] = Counter()
    out = []
    for s in scored:
        out.append({"id": problems[s.problem].id, "sample": seen[s.problem],
                    "outcome": s.outcome, "passed": s.passed, "compiled": s.compiled,
                    "pass_ratio": s.pass_ratio, "exact_match": s.exact_match,
                    "edit_sim": s.edit_sim, "errors": s.errors, "completion": s.completion,
                    **({"reply": s.reply} if s.reply is not None else {})})
        seen[s.problem] += 1
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (metric, value, interval)."""
    pct = round(100 * report["confidence"])
    lines = [f"{report['n_problems']} problems, {report['n_samples']} samples", "",
             f"| metric | value | {pct}% CI |", "|---|---|---|"]
    for key, value in report.items():
        if isinstance(value, dict) and "value" in value:
            lines.append(f"| {key} | {value['value']:.4f} | [{value['low']:.4f}, {value['high']:.4f}] |")
    outcomes = ", ".join(f"{k} {v}" for k, v in report["outcomes"].items())
    lines += ["", f"outcomes: {outcomes}"]
    if "by_difficulty" in report:
        ks = [k for k in report if k.startswith("pass@")]
        lines += ["", "| difficulty | problems | " + " | ".join(ks) + " | compile_rate |",
                  "|---|---|" + "---|" * (len(ks) + 1)]
        for level, group in report["by_difficulty"].items():
            cells = [f"{group[k]['value']:.4f}" if group.get(k) else "-" for k in ks]
            lines.append(f"| {level} | {group['n_problems']} | " + " | ".join(cells)
                         + f" | {group['compile_rate']['value']:.4f} |")
    return "\n".join(lines)
