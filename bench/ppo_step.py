"""Wall time of one default PPO step on this machine, and the share spent scoring rewards.

    python bench/ppo_step.py [--steps 4] [any trainer.ppo flag ...]

Runs the embedded default (`python -m trainer.ppo` settings: SmolLM2-135M + LoRA, stdlib
completion task, PPOCoder reward) in a temporary folder and reads its metrics.jsonl.
Step 1 carries one-time warm-up (worker start-up, allocator growth), so the summary is
over steps 2.. . Scoring runs in a worker process overlapped with the rollout; the
report gives both the scoring time itself and the time the trainer actually waited.
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time

from trainer.config import parse_cli
from trainer.metrics import read_jsonl
from trainer.ppo import train


def main(argv: list[str]) -> None:
    steps = 4
    if "--steps" in argv:
        i = argv.index("--steps")
        steps = int(argv[i + 1])
        del argv[i: i + 2]
    with tempfile.TemporaryDirectory() as out:
        cfg = parse_cli(["--run.output-dir", out, "--ppo.steps", str(steps), "--run.no-plot",
                   "--run.eval-examples", "0", *argv])
        start = time.perf_counter()
        train(cfg)
        total = time.perf_counter() - start
        rows = read_jsonl(f"{out}/metrics.jsonl")
    timed = rows[1:] or rows
    step = statistics.median(r["time/step"] for r in timed)
    reward = statistics.median(r["time/reward"] for r in timed)
    wait = statistics.median(r["time/reward_wait"] for r in timed)
    print(f"steps run: {len(rows)} (whole run incl. model/data load: {total:.1f} s)")
    print(f"first step (warm-up): {rows[0]['time/step']:.2f} s")
    print(f"median step (2..):    {step:.2f} s  "
          f"(rollout {statistics.median(r['time/rollout'] for r in timed):.2f} s, "
          f"update {statistics.median(r['time/update'] for r in timed):.2f} s)")
    cpu = statistics.median(r["time/step_cpu"] for r in timed)
    print(f"CPU time per step:    {cpu:.2f} s (all threads of the trainer process; robust to "
          f"other load on the machine)")
    print(f"reward scoring:       {reward:.3f} s = {100 * reward / step:.1f}% of a step "
          f"(blocking wait {wait:.3f} s = {100 * wait / step:.1f}%)")


if __name__ == "__main__":
    main(sys.argv[1:])
