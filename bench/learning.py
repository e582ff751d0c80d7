"""Does training with PPOCoder make the model better? The default run, before and after.

    python bench/learning.py                       # seeds 0 1; every variant below
    python bench/learning.py --seeds 0 1 2 --variants default
    python bench/learning.py --only-report         # read finished runs, print the tables

For every (variant, seed) this runs the README's training command, ``python -m
trainer.ppo`` with the variant's flags, into ``<out>/<variant>/seed<k>`` and times it (a
finished run is reused, not retrained). The run evaluates the model on the held-out
split before any update (step 0) and after its last step, greedily, with its stop rules,
and writes every response to ``eval_samples.jsonl``. This script pairs the two
evaluations example by example: per metric, the mean before and after and the mean
difference with a 95% paired bootstrap interval over the examples
(`trainer.evaluate.stats.paired_bootstrap`). With several seeds an example's "after" is its mean
over the seeds, and every seed is also reported alone. A difference whose interval
contains 0 is marked "n.s." (not significant). CodeBLEU is a corpus score: its interval
resamples the examples of both corpora together (`rewards.codebleu_metric.codebleu_resampled`).

Variants, on the same budget (same steps, batch, lengths; only the named setting differs):

    default       the defaults of trainer/config.py
    no-stop       --generation.no-function-end: responses end only at EOS or the length
                  limit, as in the published PPOCoder code. Reported twice: evaluated as it
                  was trained, and with the stop rule (its own evaluation cannot tell better
                  code from a luckier cut).
    whole-match   --reward.no-structural-gain: AST/DFG match of the whole program
                  (prefix included) instead of what the response adds to the prefix
    grpo, rloo    --ppo.advantage grpo | rloo (no value head): GROUP_SIZE samples of half
                  as many prompts per step, so a step draws and trains on as many
                  responses as the default's, for as many steps (the same sampling
                  budget; on the default model a step takes as long with or without
                  the value head: `bench/ppo_step.py --modes`)
    <estimator>-line-credit   gae, grpo or rloo with --reward.line-credit LINE_CREDIT:
                  the tokens of the lines compile/test feedback names get that penalty

Per-example metrics: compile failure (1 if the program does not compile or the response
added nothing), exact match and edit similarity of the written part (`core.text_metrics`),
reward (the training reward without KL) and KL to the base model (sum over the response).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

from trainer.evaluate import RAN

GROUP_SIZE = 2
"""Samples per prompt of grpo/rloo: the smallest group, so a step still sees half as many
prompts as the default (prompts_per_step x samples_per_prompt stays the default's)."""
LINE_CREDIT = 0.1
"""Penalty per token of a named line: a 10-token line loses 1, half the gap between a
program that compiles (+1) and one that does not (-1)."""


def _estimator(mode: str) -> list[str]:
    """Flags of an advantage estimator with the default's responses per step."""
    if mode == "gae":
        return []
    from trainer.config import Config

    default = Config()
    responses = default.ppo.prompts_per_step * default.generation.samples_per_prompt
    return ["--ppo.advantage", mode, "--generation.samples-per-prompt", str(GROUP_SIZE),
            "--ppo.prompts-per-step", str(max(1, responses // GROUP_SIZE))]


VARIANTS = {
    "default": [],
    "no-stop": ["--generation.no-function-end"],
    "whole-match": ["--reward.no-structural-gain"],
    "grpo": _estimator("grpo"),
    "rloo": _estimator("rloo"),
    **{f"{mode}-line-credit": [*_estimator(mode), "--reward.line-credit", str(LINE_CREDIT)]
       for mode in ("gae", "grpo", "rloo")},
}
METRICS = ("compile_failure", "exact_match", "edit_sim", "reward", "kl")


def run(variant: str, seed: int, out: Path, extra: list[str]) -> dict[str, Any]:
    """Train one (variant, seed) with `python -m trainer.ppo` unless it already finished;
    returns its timing (seconds of the run that trained it)."""
    run_dir = out / variant / f"seed{seed}"
    timing = run_dir / "bench_timing.json"
    if timing.is_file():
        return json.loads(timing.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "trainer.ppo", "--run.output-dir", str(run_dir),
           "--run.seed", str(seed), "--run.no-progress", *VARIANTS[variant], *extra]
    print(f"[learning] {variant} seed {seed}: {' '.join(cmd[1:])}", flush=True)
    start, cpu = time.perf_counter(), os.times()
    with open(run_dir / "bench_log.txt", "w") as log:
        proc = subprocess.run(cmd, cwd=run_dir, stdout=log, stderr=subprocess.STDOUT)
    end_cpu = os.times()
    if proc.returncode != 0:
        raise SystemExit(f"{variant} seed {seed} failed; see {run_dir / 'bench_log.txt'}")
    info = {"wall_s": time.perf_counter() - start,
            "cpu_s": (end_cpu.children_user + end_cpu.children_system)
            - (cpu.children_user + cpu.children_system),
            "cores": len(os.sched_getaffinity(0)), "load_1min_after": os.getloadavg()[0]}
    timing.write_text(json.dumps(info))
    return info


def eval_records(run_dir: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The records of the first (step 0) and the last evaluation of a run, in example order."""
    rows = [json.loads(x) for x in (run_dir / "eval_samples.jsonl").read_text().splitlines()]
    steps = sorted({r["step"] for r in rows})
    if len(steps) < 2 or steps[0] != 0:
        raise SystemExit(f"{run_dir}: needs an evaluation at step 0 and after training")
    first = [r for r in rows if r["step"] == steps[0]]
    last = [r for r in rows if r["step"] == steps[-1]]
    if [r["id"] for r in first] != [r["id"] for r in last]:
        raise SystemExit(f"{run_dir}: the two evaluations are not on the same examples")
    return first, last


def per_example(records: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Each metric as one number per example."""
    return {
        "compile_failure": np.array([r["outcome"] not in RAN for r in records], dtype=float),
        "exact_match": np.array([bool(r["exact_match"]) for r in records], dtype=float),
        "edit_sim": np.array([r["edit_sim"] for r in records], dtype=float),
        "reward": np.array([r["reward"] for r in records], dtype=float),
        "kl": np.array([r["kl"] for r in records], dtype=float),
    }


def evaluate_with_stop_rule(run_dir: Path, examples: list[Any]) -> list[dict[str, Any]]:
    """Re-evaluate a run's final model with the default stop rules (same greedy sampling)."""
    import torch

    from rewards import RewardConfig
    from trainer.config import Config
    from trainer.evaluate import evaluate_policy
    from trainer.policy import Policy
    from trainer.rollout import RewardWorkers

    cached = run_dir / "bench_eval_with_stop_rule.jsonl"
    if cached.is_file():
        return [json.loads(x) for x in cached.read_text().splitlines()]
    torch.manual_seed(0)
    gc = Config().generation
    policy = Policy.load(str(run_dir / "final"), lora=True)
    scorer = RewardWorkers(RewardConfig(), workers=1)
    try:
        records = evaluate_policy(policy, examples, scorer, max_prompt_tokens=gc.max_prompt_tokens,
                                  max_new_tokens=gc.max_new_tokens, rules=gc.stop_rules(),
                                  truncation_side=gc.truncation_side, chunk_size=16)
    finally:
        scorer.close()
    cached.write_text("".join(json.dumps(r) + "\n" for r in records))
    return records


def codebleu_interval(before: list[dict[str, Any]], after: list[dict[str, Any]],
                      examples: list[Any]) -> tuple[float, float, Any]:
    """Corpus CodeBLEU before and after, and the paired bootstrap interval of the change."""
    from rewards import codebleu
    from rewards.codebleu_metric import codebleu_resampled
    from trainer.evaluate.stats import bootstrap_counts, percentile_interval

    refs = [ex.reference for ex in examples]
    cands = {k: [ex.code_prefix + r["response"] for ex, r in zip(examples, recs)]
             for k, recs in (("before", before), ("after", after))}
    point = {k: codebleu(refs, c, lang="python").codebleu for k, c in cands.items()}
    diffs = []
    for counts in bootstrap_counts(len(refs), resamples=1000):
        b = codebleu_resampled(refs, cands["before"], counts, lang="python")
        a = codebleu_resampled(refs, cands["after"], counts, lang="python")
        diffs.extend(x.codebleu - y.codebleu for x, y in zip(a, b))
    return point["before"], point["after"], percentile_interval(
        point["after"] - point["before"], diffs)


def table(title: str, before: dict[str, np.ndarray], afters: list[dict[str, np.ndarray]],
          codebleu_row: tuple[float, float, Any] | None = None, codebleu_of: str = "") -> str:
    """Markdown rows: metric | before | after | difference [95% CI]."""
    from trainer.evaluate.stats import paired_bootstrap

    lines = [f"**{title}**", "", "| metric | before | after | after - before [95% CI] |",
             "|---|---|---|---|"]
    for name in METRICS:
        after = np.mean([a[name] for a in afters], axis=0)
        ci = paired_bootstrap(before[name], after)
        mark = "" if ci.low > 0 or ci.high < 0 else " n.s."
        lines.append(f"| {name} | {before[name].mean():.3f} | {after.mean():.3f} | "
                     f"{ci.value:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]{mark} |")
    if codebleu_row is not None:
        b, a, ci = codebleu_row
        mark = "" if ci.low > 0 or ci.high < 0 else " n.s."
        lines.append(f"| codebleu (corpus{codebleu_of}) | {b:.3f} | {a:.3f} | "
                     f"{ci.value:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]{mark} |")
    return "\n".join(lines)


def end_shares(records: list[dict[str, Any]]) -> str:
    ends = [r["end"] for r in records]
    return ", ".join(f"{e} {ends.count(e) / len(ends):.0%}"
                     for e in ("eos", "stop", "function_end", "truncated") if e in ends)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--out", type=Path, default=Path("runs/learning"))
    parser.add_argument("--only-report", action="store_true", help="train nothing")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="flags passed to every training run (after the variant's)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    timings = {}
    for variant in args.variants:
        for seed in args.seeds:
            if not args.only_report:
                timings[variant, seed] = run(variant, seed, out, args.extra)
            elif (out / variant / f"seed{seed}" / "bench_timing.json").is_file():
                timings[variant, seed] = json.loads(
                    (out / variant / f"seed{seed}" / "bench_timing.json").read_text())

    from trainer.config import Config
    from trainer.data import load_task

    _, held_out = load_task(Config().data)
    by_id = {ex.id: ex for ex in held_out}
    report = [f"# Learning benchmark ({out})", ""]
    for variant in args.variants:
        runs = [out / variant / f"seed{s}" for s in args.seeds
                if (out / variant / f"seed{s}" / "eval_samples.jsonl").is_file()]
        if not runs:
            continue
        pairs = [eval_records(r) for r in runs]
        before_recs = pairs[0][0]
        examples = [by_id[r["id"]] for r in before_recs]
        before = per_example(before_recs)
        for (b, _), r in zip(pairs, runs):
            if [x["response"] for x in b] != [x["response"] for x in before_recs]:
                report.append(f"warning: {r} evaluated the base model differently")
        afters = [per_example(a) for _, a in pairs]
        seeds = ", ".join(r.name for r in runs)
        times = [timings.get((variant, int(r.name[4:]))) for r in runs]
        wall = ", ".join(f"{t['wall_s'] / 60:.1f} min" for t in times if t)
        report.append(table(f"{variant}: {len(examples)} held-out examples, {len(runs)} seed(s) "
                            f"({seeds}), after = mean over seeds; wall time per run: {wall}",
                            before, afters, codebleu_interval(before_recs, pairs[0][1], examples),
                            codebleu_of=f", {runs[0].name} only" if len(runs) > 1 else ""))
        report.append("")
        report.append(f"how responses ended: before {end_shares(before_recs)}; after "
                      + "; ".join(f"{r.name} {end_shares(a)}" for r, (_, a) in zip(runs, pairs)))
        report.append("")
        if len(runs) > 1:
            for r, a in zip(runs, afters):
                report.append(table(f"{variant}, {r.name} alone", before, [a]))
                report.append("")
        if variant == "no-stop":
            stop_before = None
            default_runs = out / "default" / f"seed{args.seeds[0]}"
            if (default_runs / "eval_samples.jsonl").is_file():
                stop_before = per_example(eval_records(default_runs)[0])
            if stop_before is not None:
                ruled = [per_example(evaluate_with_stop_rule(r, examples)) for r in runs]
                report.append(table("no-stop, its final models evaluated with the stop rule "
                                    "(before = the base model with the stop rule)",
                                    stop_before, ruled))
                report.append("")
    text = "\n".join(report)
    print(text)
    (out / "report.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
