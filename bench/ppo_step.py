"""Wall time and memory of one default PPO step on this machine, per advantage estimator.

    python bench/ppo_step.py [--steps 4] [any trainer.ppo flag ...]     # one run
    python bench/ppo_step.py --modes [gae gae-separate-critic grpo rloo] [--rounds 2] [--steps 3]

Runs the embedded default (`python -m trainer.ppo` settings: SmolLM2-135M + LoRA, stdlib
completion task, PPOCoder reward) in a temporary folder and reads its metrics.jsonl.
Step 1 carries one-time warm-up (worker start-up, allocator growth), so the summary is
over steps 2.. . Scoring runs in a worker process overlapped with the rollout; the
report gives both the scoring time itself and the time the trainer actually waited.

``--modes`` compares advantage estimators (`MODES`; all of them when no name follows):
every round trains each mode once, in a fresh process, in the same order (A B C A B C
...), on the same prompts (same seed; 2 prompts x 2 samples per step unless flags say
otherwise: the default's 4 responses). Per run: the median seconds and CPU seconds per
step and the peak resident memory of steps 2.. (the kernel's high-water mark VmHWM,
reset where each phase starts), for the whole step and for its rollout (generation,
log-probs, values) and update (PPO epochs) phases, plus the process's peak over the
whole run (model loading included). The summary gives each mode's medians over rounds
and the median over rounds of its per-round ratio to the first mode. Reward workers are
separate processes and not counted.
"""

from __future__ import annotations

import json
import os
import re
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from trainer.config import parse_cli
from trainer.metrics import read_jsonl

MODES = {
    "gae": ["--ppo.advantage", "gae"],
    "gae-separate-critic": ["--ppo.advantage", "gae", "--model.separate-critic"],
    "grpo": ["--ppo.advantage", "grpo"],
    "rloo": ["--ppo.advantage", "rloo"],
}
"""Modes `--modes` can compare: gae with the default shared backbone, gae with its own
critic backbone (the layout of TRL's and OpenRLHF's PPO), and the critic-free two."""


def _take(argv: list[str], flag: str, default: Any, n: int = 1) -> Any:
    """Remove ``flag VALUE`` (``n`` values; -1: every value up to the next flag) from argv."""
    if flag not in argv:
        return default
    i = argv.index(flag)
    end = i + 1 + n if n >= 0 else next(
        (j for j in range(i + 1, len(argv)) if argv[j].startswith("--")), len(argv))
    values = argv[i + 1: end]
    del argv[i: end]
    return values[0] if n == 1 else values


def _peak_kib() -> int:
    """This process's resident-memory high-water mark (VmHWM), KiB."""
    return int(re.search(r"VmHWM:\s+(\d+)", Path("/proc/self/status").read_text()).group(1))


def _reset_peak() -> bool:
    """Reset VmHWM to the current RSS (Linux >= 4.0); False where that is not allowed."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def run_once(steps: int, argv: list[str]) -> dict[str, Any]:
    """Train `steps` steps in this process; returns per-step timings and peak memory."""
    import trainer.ppo as ppo

    peaks: dict[str, list[int]] = {"rollout": [], "update": []}
    collect = ppo.collect
    calls = {"n": 0}

    def timed_collect(*args: Any, **kwargs: Any) -> Any:
        # collect() is each step's rollout; the update (and logging) runs until the next
        # one. Step 1 is warm-up: measured from step 2 on.
        calls["n"] += 1
        if calls["n"] >= 3:
            peaks["update"].append(_peak_kib())
        measured = _reset_peak()
        out = collect(*args, **kwargs)
        if calls["n"] >= 2 and measured:
            peaks["rollout"].append(_peak_kib())
        _reset_peak()
        return out

    ppo.collect = timed_collect
    with tempfile.TemporaryDirectory() as out:
        cfg = parse_cli(["--run.output-dir", out, "--ppo.steps", str(steps), "--run.no-plot",
                         "--run.eval-examples", "0", "--run.no-progress", *argv])
        start = time.perf_counter()
        ppo.train(cfg)
        if peaks["rollout"]:
            peaks["update"].append(_peak_kib())  # the last step's update, export included
        total = time.perf_counter() - start
        rows = read_jsonl(f"{out}/metrics.jsonl")
    ppo.collect = collect
    timed = rows[1:] or rows
    rollout = max(peaks["rollout"], default=0) / 1024 or None
    update = max(peaks["update"], default=0) / 1024 or None
    return {
        "rows": rows, "total_s": total,
        "step_s": statistics.median(r["time/step"] for r in timed),
        "cpu_s": statistics.median(r["time/step_cpu"] for r in timed),
        "rollout_peak_mib": rollout, "update_peak_mib": update,
        "step_peak_mib": max(rollout, update) if rollout and update else None,
        "maxrss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def report_one(result: dict[str, Any]) -> None:
    rows = result["rows"]
    timed = rows[1:] or rows
    step = result["step_s"]
    reward = statistics.median(r["time/reward"] for r in timed)
    wait = statistics.median(r["time/reward_wait"] for r in timed)
    print(f"steps run: {len(rows)} (whole run incl. model/data load: {result['total_s']:.1f} s)")
    print(f"first step (warm-up): {rows[0]['time/step']:.2f} s")
    print(f"median step (2..):    {step:.2f} s  "
          f"(rollout {statistics.median(r['time/rollout'] for r in timed):.2f} s, "
          f"update {statistics.median(r['time/update'] for r in timed):.2f} s)")
    print(f"CPU time per step:    {result['cpu_s']:.2f} s (all threads of the trainer process; "
          f"robust to other load on the machine)")
    print(f"reward scoring:       {reward:.3f} s = {100 * reward / step:.1f}% of a step "
          f"(blocking wait {wait:.3f} s = {100 * wait / step:.1f}%)")
    if result["step_peak_mib"] is not None:
        print(f"peak RSS, steps 2..:  {result['step_peak_mib']:.0f} MiB (rollout "
              f"{result['rollout_peak_mib']:.0f}, update {result['update_peak_mib']:.0f}; "
              f"whole run {result['maxrss_mib']:.0f} MiB)")


def compare(modes: list[str], rounds: int, steps: int, argv: list[str]) -> None:
    """Each mode once per round, each run in a fresh process; prints medians and ratios."""
    flags = list(argv)
    if not any(f.startswith("--generation.samples-per-prompt") for f in flags):
        flags += ["--generation.samples-per-prompt", "2"]
    if not any(f.startswith("--ppo.prompts-per-step") for f in flags):
        flags += ["--ppo.prompts-per-step", "2"]
    print(f"modes {modes}, {rounds} round(s) x {steps} steps, flags: {' '.join(flags)}; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes:
            cmd = [sys.executable, __file__, "--child", "--steps", str(steps), *MODES[mode],
                   *flags]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
            line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
            res = json.loads(line[len("RESULT "):])
            results[mode].append(res)
            print(f"round {r + 1} {mode:<20} step {res['step_s']:6.2f} s  cpu {res['cpu_s']:6.2f} s"
                  f"  peak RSS {res['step_peak_mib']:6.0f} MiB (rollout "
                  f"{res['rollout_peak_mib']:.0f}, update {res['update_peak_mib']:.0f}; "
                  f"whole run {res['maxrss_mib']:.0f})  load {os.getloadavg()[0]:.1f}", flush=True)
    base = modes[0]
    print(f"\n| mode | s / step | CPU s / step | peak RSS per step, MiB (rollout / update) | "
          f"whole run, MiB | CPU time / {base} | peak RSS / {base} |")
    print("|---|---|---|---|---|---|---|")
    for mode in modes:
        runs = results[mode]

        def med(key: str, runs: list[dict[str, Any]] = runs) -> float:
            return statistics.median(x[key] for x in runs)

        def ratio(key: str, mode: str = mode) -> float:
            return statistics.median(a[key] / b[key] for a, b in zip(results[mode], results[base]))

        print(f"| {mode} | {med('step_s'):.2f} | {med('cpu_s'):.2f} | {med('step_peak_mib'):.0f} "
              f"({med('rollout_peak_mib'):.0f} / {med('update_peak_mib'):.0f}) | "
              f"{med('maxrss_mib'):.0f} | {ratio('cpu_s'):.2f} | {ratio('step_peak_mib'):.3f} |")


def main(argv: list[str]) -> None:
    child = "--child" in argv
    if child:
        argv.remove("--child")
    modes = _take(argv, "--modes", None, n=-1)
    if modes == []:
        modes = list(MODES)
    unknown = sorted(set(modes or []) - set(MODES))
    if unknown:
        raise SystemExit(f"unknown mode {unknown[0]!r}; modes: {', '.join(MODES)}")
    rounds = int(_take(argv, "--rounds", 2))
    steps = int(_take(argv, "--steps", 3 if modes is not None else 4))
    if modes is not None:
        compare(modes, rounds, steps, argv)
        return
    result = run_once(steps, argv)
    if child:
        del result["rows"]
        print("RESULT " + json.dumps(result), flush=True)
    else:
        report_one(result)


if __name__ == "__main__":
    main(sys.argv[1:])
