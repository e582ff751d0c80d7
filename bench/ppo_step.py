"""Wall time and memory of one default PPO step on this machine, per advantage estimator.

    python bench/ppo_step.py [--steps 4] [any trainer.ppo flag ...]     # one run
    python bench/ppo_step.py --modes [gae gae-separate-critic grpo rloo] [--rounds 2] [--steps 3]

Runs the embedded default (`python -m trainer.ppo` settings: SmolLM2-135M + LoRA, stdlib
completion task, PPOCoder reward) in a temporary folder and reads its metrics.jsonl.
Step 1 carries one-time warm-up (worker start-up, allocator growth), so the time summary
is over steps 2.. . Scoring runs in a worker process overlapped with the rollout; the
report gives both the scoring time itself and the time the trainer actually waited.
Memory is the trainer process's peak resident memory (the kernel's high-water mark
VmHWM, reset where each phase starts) per phase of a step: the rollout (generation,
log-probs, values) and the update (PPO epochs, logging, checkpoint).

``--modes`` compares advantage estimators (`MODES`; all of them when no name follows).
Every round runs, for each mode in turn (A B C A B C ...), in fresh processes with the
same seed and prompts (2 prompts x 2 samples per step unless flags say otherwise: the
default's 4 responses):

* a memory run: step 1 only, with glibc's ``MALLOC_MMAP_THRESHOLD_=65536``, so that
  every large tensor is returned to the kernel when freed and the resident peak is the
  peak of live memory (with glibc's adaptive default, identical runs differ by hundreds
  of MiB; with it, by < 1 MiB). It makes steps about twice as slow, so
* a timing run: ``--steps`` steps with the default allocator.

Step 1 is the like-for-like comparison: every mode samples the same responses from the
same initial model, so only the estimator differs (later steps follow each mode's own
updates and sample other lengths). The summary gives each mode's medians over rounds and
the median over rounds of its per-round ratio to the first mode. Reward workers are
separate processes, not counted.
"""

from __future__ import annotations

import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

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


def _rss_peak_mib() -> float:
    """This process's resident-memory high-water mark since the last reset (VmHWM), MiB."""
    status = Path("/proc/self/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+)", status).group(1)) / 1024


def _reset_rss_peak() -> float:
    """The high-water mark so far (MiB), then reset it to the current RSS (Linux >= 4.0)."""
    peak = _rss_peak_mib()
    Path("/proc/self/clear_refs").write_text("5")
    return peak


def run_once(steps: int, argv: list[str]) -> dict[str, Any]:
    """Train `steps` steps in this process; returns its metrics rows, with each step's
    peak resident memory per phase added (``mem/rollout``, ``mem/update``, MiB)."""
    import trainer.ppo as ppo

    collect = ppo.collect
    phases: list[tuple[str, float]] = []

    def measured_collect(*args: Any, **kwargs: Any) -> Any:
        # collect() is a step's rollout; its update (and logging) runs until the next one
        phases.append(("update" if phases else "loaded", _reset_rss_peak()))
        out = collect(*args, **kwargs)
        phases.append(("rollout", _reset_rss_peak()))
        return out

    ppo.collect = measured_collect
    try:
        with tempfile.TemporaryDirectory() as out:
            cfg = parse_cli(["--run.output-dir", out, "--ppo.steps", str(steps), "--run.no-plot",
                             "--run.eval-examples", "0", "--run.no-progress", *argv])
            start = time.perf_counter()
            ppo.train(cfg)
            phases.append(("update", _reset_rss_peak()))  # the last step's, export included
            total = time.perf_counter() - start
            rows = read_jsonl(f"{out}/metrics.jsonl")
    finally:
        ppo.collect = collect
    rollouts = [v for k, v in phases if k == "rollout"]
    updates = [v for k, v in phases if k == "update"]
    for row, r, u in zip(rows, rollouts, updates):
        row["mem/rollout"], row["mem/update"] = r, u
    load = next((v for k, v in phases if k == "loaded"), None)
    return {"rows": rows, "total_s": total, "mem_load": load}


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
    print(f"peak RSS per step:    {peak:.0f} MiB ({result['mem_load']:.0f} MiB while loading "
          f"the model)")


def summarize(res: dict[str, Any]) -> dict[str, float]:
    """One run's numbers: step 1 (like for like) and the median of steps 2.. ."""
    rows = res["rows"]
    first, later = rows[0], rows[1:] or rows
    return {
        "cpu_1": first["time/step_cpu"],
        "peak_1": max(first["mem/rollout"], first["mem/update"]),
        "rollout_1": first["mem/rollout"], "update_1": first["mem/update"],
        "load": res["mem_load"],
        "cpu_later": statistics.median(r["time/step_cpu"] for r in later),
        "wall_later": statistics.median(r["time/step"] for r in later),
    }


def _child(mode: str, steps: int, flags: list[str], env: dict[str, str]) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--child", "--steps", str(steps), *MODES[mode], *flags]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, **env})
    if proc.returncode != 0:
        raise SystemExit(f"{mode} failed:\n{proc.stderr[-3000:]}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def compare(modes: list[str], rounds: int, steps: int, argv: list[str]) -> None:
    """Per round, a memory run and a timing run of each mode; prints medians and ratios."""
    flags = list(argv)
    if not any(f.startswith("--generation.samples-per-prompt") for f in flags):
        flags += ["--generation.samples-per-prompt", "2"]
    if not any(f.startswith("--ppo.prompts-per-step") for f in flags):
        flags += ["--ppo.prompts-per-step", "2"]
    print(f"modes {modes}, {rounds} round(s), timing runs of {steps} steps, flags: "
          f"{' '.join(flags)}; load average at start {os.getloadavg()[0]:.1f} on "
          f"{os.cpu_count()} cores", flush=True)
    memory: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    timing: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for r in range(rounds):
        for mode in modes:
            m = _child(mode, 1, flags, {"MALLOC_MMAP_THRESHOLD_": "65536"})
            t = _child(mode, steps, flags, {})
            memory[mode].append(m)
            timing[mode].append(t)
            print(f"round {r + 1} {mode:<20} step 1: peak {m['peak_1']:5.0f} MiB (rollout "
                  f"{m['rollout_1']:.0f}, update {m['update_1']:.0f}; loading {m['load']:.0f}), "
                  f"CPU {t['cpu_1']:6.2f} s; steps 2..: CPU {t['cpu_later']:6.2f} s, wall "
                  f"{t['wall_later']:6.2f} s; load {os.getloadavg()[0]:.1f}", flush=True)
    base = modes[0]
    print(f"\n| mode | step 1: peak RSS, MiB (rollout / update) | peak / {base} | step 1: "
          f"CPU s | CPU / {base} | steps 2..: CPU s / step | s / step |")
    print("|---|---|---|---|---|---|---|")

    def med(runs: dict[str, list[dict[str, float]]], mode: str, key: str) -> float:
        return statistics.median(x[key] for x in runs[mode])

    def ratio(runs: dict[str, list[dict[str, float]]], mode: str, key: str) -> float:
        return statistics.median(a[key] / b[key] for a, b in zip(runs[mode], runs[base]))

    for mode in modes:
        print(f"| {mode} | {med(memory, mode, 'peak_1'):.0f} ({med(memory, mode, 'rollout_1'):.0f}"
              f" / {med(memory, mode, 'update_1'):.0f}) | {ratio(memory, mode, 'peak_1'):.3f} | "
              f"{med(timing, mode, 'cpu_1'):.1f} | {ratio(timing, mode, 'cpu_1'):.2f} | "
              f"{med(timing, mode, 'cpu_later'):.1f} | {med(timing, mode, 'wall_later'):.1f} |")


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
