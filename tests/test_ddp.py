"""DDP: two CPU processes (gloo) under torchrun train in lockstep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from trainer.tiny import build_tiny_model

torch.set_num_threads(1)

SCRIPT = r'''
import hashlib, json, os, sys
import torch
torch.set_num_threads(1)
from trainer.config import Config
from trainer.ppo import train
from trainer.tasks import TaskExample

def count_x(samples):
    return [s.code.split().count("x") / max(len(s.code.split()), 1) for s in samples]

cfg = Config()
cfg.model.name_or_path = sys.argv[1]
cfg.model.lora = True
cfg.run.output_dir = sys.argv[2]
cfg.run.progress = False
cfg.run.save_every = 3
cfg.reward.workers = 0
cfg.generation.max_new_tokens = 5
cfg.ppo.steps, cfg.ppo.prompts_per_step, cfg.ppo.minibatch_size, cfg.ppo.lr = 3, 4, 2, 1e-3
prompts = ["def f ( x ) :", "x =", "print (", "def g ( a , b ) :", "return", "y = x +"]
data = [TaskExample(prompt=p, language="python", code_prefix="", reference=None, tests=None)
        for p in prompts]
seen = []
def spy(samples):  # record which prompts this rank scored
    seen.extend(s.prompt for s in samples)
    return count_x(samples)
policy = train(cfg, reward_fn=spy, train_data=data, eval_data=data[:3])
h = hashlib.sha256()
for name, t in sorted(policy.trainable_state_dict().items()):
    h.update(name.encode()); h.update(t.detach().cpu().numpy().tobytes())
rank = torch.distributed.get_rank()
with open(os.path.join(sys.argv[2], f"rank{rank}.json"), "w") as f:
    json.dump({"digest": h.hexdigest(), "world": torch.distributed.get_world_size(),
               "prompts": seen}, f)
torch.distributed.destroy_process_group()
'''


def test_two_gloo_ranks_stay_in_sync(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "tiny", "causal")
    script = tmp_path / "ddp_run.py"
    script.write_text(SCRIPT)
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), model, str(out)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    r0 = json.loads((out / "rank0.json").read_text())
    r1 = json.loads((out / "rank1.json").read_text())
    assert r0["world"] == r1["world"] == 2
    assert r0["digest"] == r1["digest"]  # identical weights after 3 steps
    # Rollouts were sharded: each rank saw half of each step's prompts, and not the same ones.
    assert len(r0["prompts"]) == len(r1["prompts"]) == 3 * 2 + 1  # + one eval prompt each
    assert r0["prompts"] != r1["prompts"]
    # Only rank 0 logs and checkpoints, with metrics averaged over ranks.
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3]
    assert "eval/reward/total" in rows[-1]  # eval examples sharded too (3 -> 2, one per rank)
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000003"]
    ck = out / "checkpoints" / "step_000003"
    assert (ck / "rng_rank0.pt").is_file() and (ck / "rng_rank1.pt").is_file()
