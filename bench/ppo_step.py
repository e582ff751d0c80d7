"""Wall time and memory of one default PPO step on this machine, per advantage estimator.

    python bench/ppo_step.py [--steps 4] [any trainer.ppo flag ...]     # one run
    python bench/ppo_step.py --modes [gae gae-separate-critic grpo rloo] [--rounds 2] [--steps 3]

Runs the embedded default (`python -m trainer.ppo` settings: SmolLM2-135M + LoRA, stdlib
completion task, PPOCoder reward) in a temporary folder and reads its metrics.jsonl.
Step 1 carries one-time warm-up (worker start-up, allocator growth), so the time summary
is over steps 2.. . Scoring runs in a worker process overlapped with the rollout; the
report gives both the scoring time itself and the time the trainer actually waited.

Memory is the trainer process's anonymous resident memory (RssAnon: activations,
gradients, optimizer state, weights copied into memory; not file pages, which the kernel
may drop and reread under pressure from other processes), sampled every 5 ms; its peak
is taken per phase of each step: the rollout (generation, log-probs, values) and the
update (PPO epochs, logging), and "loaded" is its value when step 1 starts.

``--modes`` compares advantage estimators (`MODES`; all of them when no name follows):
every round trains each mode once, in a fresh process, in the same order (A B C A B C
...), with the same seed and prompts (2 prompts x 2 samples per step unless flags say
otherwise: the default's 4 responses). Step 1 is the like-for-like comparison: every
mode samples the same responses from the same initial model, so only the estimator
differs (later steps follow each mode's own updates and sample different lengths). The
summary gives each mode's medians over rounds and the median over rounds of its
per-round ratio to the first mode. Reward workers are separate processes, not counted.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
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


def _anon_mib() -> float:
    """This process's anonymous resident memory (RssAnon), MiB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"RssAnon:\s+(\d+)", status).group(1)) / 1024


class AnonPeak:
    """Samples RssAnon every 5 ms in a background thread; `take` returns the peak since
    the previous `take` and starts a new interval."""

    def __init__(self) -> None:
        self.peak = _anon_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, _anon_mib())

    def take(self) -> float:
        now = _anon_mib()
        peak, self.peak = max(self.peak, now), now
        return peak

    def close(self) -> None:
        self._stop.set()
        self._thread.join()


def run_once(steps: int, argv: list[str]) -> dict[str, Any]:
    """Train `steps` steps in this process; returns its metrics rows, with each step's
    peak anonymous memory per phase added (``mem/rollout``, ``mem/update``, MiB)."""
    import trainer.ppo as ppo

    collect = ppo.collect
    phases: list[tuple[str, float]] = []
    sampler: list[AnonPeak] = []

    def measured_collect(*args: Any, **kwargs: Any) -> Any:
        # collect() is a step's rollout; its update (and logging) runs until the next one
        if not sampler:
            sampler.append(AnonPeak())
            phases.append(("loaded", sampler[0].take()))
        else:
            phases.append(("update", sampler[0].take()))
        out = collect(*args, **kwargs)
        phases.append(("rollout", sampler[0].take()))
        return out

    ppo.collect = measured_collect
    try:
        with tempfile.TemporaryDirectory() as out:
            cfg = parse_cli(["--run.output-dir", out, "--ppo.steps", str(steps), "--run.no-plot",
                             "--run.eval-examples", "0", "--run.no-progress", *argv])
            start = time.perf_counter()
            ppo.train(cfg)
            if sampler:
                phases.append(("update", sampler[0].take()))  # the last step's, export included
            total = time.perf_counter() - start
            rows = read_jsonl(f"{out}/metrics.jsonl")
    finally:
        ppo.collect = collect
        for s in sampler:
            s.close()
    rollouts = [v for k, v in phases if k == "rollout"]
    updates = [v for k, v in phases if k == "update"]
    for row, r, u in zip(rows, rollouts, updates):
        row["mem/rollout"], row["mem/update"] = r, u
    loaded = next((v for k, v in phases if k == "loaded"), None)
    return {"rows": rows, "total_s": total, "mem_loaded": loaded}


def report_one(result: dict[str, Any]) -> None:
    rows = result["rows"]
    timed = rows[1:] or rows
    step = statistics.median(r["time/step"] for r in timed)
    reward = statistics.median(r["time/reward"] for r in timed)
    wait = statistics.median(r["time/reward_wait"] for r in timed)
    print(f"steps run: {len(rows)} (whole run incl. model/data load: {result['total_s']:.1f} s)")
    print(f"first step (warm-up): {rows[0]['time/step']:.2f} s")
    print(f"median step (2..):    {step:.2f} s  "
          f"(rollout {statistics.median(r['time/rollout'] for r in timed):.2f} s, "
          f"update {statistics.median(r['time/update'] for r in timed):.2f} s)")
    cpu = statistics.median(r["time/step_cpu"] for r in timed)
    print(f"CPU time per step:    {cpu:.2f} s (all threads of the trainer process; "
          f"robust to other load on the machine)")
    print(f"reward scoring:       {reward:.3f} s = {100 * reward / step:.1f}% of a step "
          f"(blocking wait {wait:.3f} s = {100 * wait / step:.1f}%)")
    peak = max(max(r["mem/rollout"], r["mem/update"]) for r in rows)
    print(f"peak anonymous RSS:   {peak:.0f} MiB ({result['mem_loaded']:.0f} MiB with the "
          f"model loaded, before step 1)")


def summarize(res: dict[str, Any]) -> dict[str, float]:
    """One run's numbers: step 1 (like for like) and the median of steps 2.. ."""
    rows = res["rows"]
    first, later = rows[0], rows[1:] or rows
    return {
        "cpu_1": first["time/step_cpu"],
        "peak_1": max(first["mem/rollout"], first["mem/update"]),
        "rollout_1": first["mem/rollout"], "update_1": first["mem/update"],
        "loaded": res["mem_loaded"],
        "cpu_later": statistics.median(r["time/step_cpu"] for r in later),
        "wall_later": statistics.median(r["time/step"] for r in later),
        "peak_later": max(max(r["mem/rollout"], r["mem/update"]) for r in later),
    }


def compare(modes: list[str], rounds: int, steps: int, argv: list[str]) -> None:
    """Each mode once per round, each run in a fresh process; prints medians and ratios."""
    flags = list(argv)
    if not any(f.startswith("--generation.samples-per-prompt") for f in flags):
        flags += ["--generation.samples-per-prompt", "2"]
    if not any(f.startswith("--ppo.prompts-per-step") for f in flags):
        flags += ["--ppo.prompts-per-step", "2"]
    print(f"modes {modes}, {rounds} round(s) x {steps} steps, flags: {' '.join(flags)}; "
          f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores", flush=True)
    results: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes:
            cmd = [sys.executable, __file__, "--child", "--steps", str(steps), *MODES[mode],
                   *flags]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
            line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
            s = json.loads(line[len("RESULT "):])
            results[mode].append(s)
            print(f"round {r + 1} {mode:<20} step 1: CPU {s['cpu_1']:6.2f} s, peak "
                  f"{s['peak_1']:5.0f} MiB (rollout {s['rollout_1']:.0f}, update "
                  f"{s['update_1']:.0f}; loaded {s['loaded']:.0f}); steps 2..: CPU "
                  f"{s['cpu_later']:6.2f} s, wall {s['wall_later']:6.2f} s, peak "
                  f"{s['peak_later']:5.0f} MiB; load {os.getloadavg()[0]:.1f}", flush=True)
    base = modes[0]
    print(f"\n| mode | step 1: peak anon. RSS, MiB (rollout / update) | step 1: CPU s | "
          f"peak / {base} | CPU / {base} | steps 2..: CPU s / step | s / step |")
    print("|---|---|---|---|---|---|---|")
    for mode in modes:
        runs = results[mode]

        def med(key: str, runs: list[dict[str, float]] = runs) -> float:
            return statistics.median(x[key] for x in runs)

        def ratio(key: str, mode: str = mode) -> float:
            return statistics.median(a[key] / b[key] for a, b in zip(results[mode], results[base]))

        print(f"| {mode} | {med('peak_1'):.0f} ({med('rollout_1'):.0f} / {med('update_1'):.0f}) | "
              f"{med('cpu_1'):.1f} | {ratio('peak_1'):.3f} | {ratio('cpu_1'):.2f} | "
              f"{med('cpu_later'):.1f} | {med('wall_later'):.1f} |")


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
        print("RESULT " + json.dumps(summarize(result)), flush=True)
    else:
        report_one(result)


if __name__ == "__main__":
    main(sys.argv[1:])
