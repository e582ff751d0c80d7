"""DDP: two CPU processes (gloo) under torchrun train in lockstep."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import torch

from tests.tiny_models import build_tiny_model

torch.set_num_threads(1)

SCRIPT = r'''
import hashlib, json, os, sys
import torch
torch.set_num_threads(1)
from trainer.config import Config
from trainer.ppo import train
from trainer.data import TaskExample

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
    # Rollouts were sharded: each rank saw half of each step's prompts, and not the same ones;
    # the 3 eval prompts were split 2 + 1 at step 0 and at the end.
    assert len(r0["prompts"]) == 3 * 2 + 2 * 2 and len(r1["prompts"]) == 3 * 2 + 2 * 1
    assert r0["prompts"] != r1["prompts"]
    # Only rank 0 logs and checkpoints, with metrics averaged over ranks; every eval response
    # of both ranks is in its eval_samples.jsonl.
    rows = [json.loads(x) for x in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    assert "eval/reward" in rows[0] and "eval/reward" in rows[-1]
    evals = [json.loads(x) for x in (out / "eval_samples.jsonl").read_text().splitlines()]
    assert sorted((e["step"], e["prompt_tail"]) for e in evals) == sorted(
        (step, p) for step in (0, 3) for p in prompts_of(SCRIPT)[:3])
    assert sorted(p.name for p in (out / "checkpoints").iterdir()) == ["step_000003"]
    ck = out / "checkpoints" / "step_000003"
    assert (ck / "rng_rank0.pt").is_file() and (ck / "rng_rank1.pt").is_file()


def prompts_of(script: str) -> list[str]:
    line = next(x for x in script.splitlines() if x.startswith("prompts = "))
    return eval(line.split("=", 1)[1])  # noqa: S307 - our own literal list


TOKEN_MEAN = r'''
import os, sys
import torch
torch.set_num_threads(1)
from trainer.config import PPOSettings
from trainer.distributed import Dist, init_distributed
from trainer.policy import Policy
from trainer.rollout import Rollout
from trainer.update import ppo_update

dist = init_distributed(torch.device("cpu"))
torch.manual_seed(0)
policy = Policy.load(sys.argv[1], lora=False)
start = {k: v.clone() for k, v in policy.state_dict().items()}

def batch_of(lengths, seed):
    g = torch.Generator().manual_seed(seed)
    B, T = len(lengths), max(lengths)
    q = torch.randint(4, 30, (B, 3), generator=g)
    ids = torch.randint(4, 30, (B, T), generator=g)
    mask = (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None]).long()
    with torch.no_grad():
        st = policy.token_stats(q, torch.ones_like(q), ids, mask)
    adv = torch.randn((B, T), generator=g) * mask
    return Rollout(query_ids=q, query_mask=torch.ones_like(q), response_ids=ids, response_mask=mask,
                   logprobs=st.logprobs, kl_logprobs=st.logprobs, ref_logprobs=st.logprobs,
                   values=st.values, scores=torch.zeros(B), scored=[], texts=[], ends=[]), adv

# rank 0 holds two short responses, rank 1 two long ones
shards = [batch_of([1, 2], 1), batch_of([9, 12], 2)]
cfg = PPOSettings(epochs=1, minibatch_size=8, lr=1e-2)
batch, adv = shards[dist.rank]
ppo_update(policy, torch.optim.SGD(policy.parameters(), lr=1e-2), batch, adv, adv, cfg, 1.0, dist)
if dist.rank == 0:
    ddp = {k: v.clone() for k, v in policy.state_dict().items()}
    # one process, the union of both batches as one minibatch
    policy.load_state_dict(start)
    (b0, a0), (b1, a1) = shards
    T = max(b0.response_ids.shape[1], b1.response_ids.shape[1])
    pad = lambda x: torch.nn.functional.pad(x, (0, T - x.shape[1]))
    union = Rollout(query_ids=torch.cat([b0.query_ids, b1.query_ids]),
                    query_mask=torch.cat([b0.query_mask, b1.query_mask]),
                    response_ids=torch.cat([pad(b0.response_ids), pad(b1.response_ids)]),
                    response_mask=torch.cat([pad(b0.response_mask), pad(b1.response_mask)]),
                    logprobs=torch.cat([pad(b0.logprobs), pad(b1.logprobs)]),
                    kl_logprobs=torch.cat([pad(b0.logprobs), pad(b1.logprobs)]),
                    ref_logprobs=torch.cat([pad(b0.logprobs), pad(b1.logprobs)]),
                    values=torch.cat([pad(b0.values), pad(b1.values)]), scores=torch.zeros(4),
                    scored=[], texts=[], ends=[])
    adv = torch.cat([pad(a0), pad(a1)])
    ppo_update(policy, torch.optim.SGD(policy.parameters(), lr=1e-2), union, adv, adv, cfg, 1.0,
               Dist())
    worst = max((ddp[k] - v).abs().max().item() for k, v in policy.state_dict().items())
    moved = max((ddp[k] - start[k]).abs().max().item() for k in ddp)
    print(f"RESULT worst={worst:.3e} moved={moved:.3e}")
torch.distributed.destroy_process_group()
'''


def test_the_loss_is_the_global_token_mean_over_ranks(tmp_path: Path) -> None:
    """Two ranks with responses of very different lengths take exactly the step that one
    process takes on the union of their batches (a mean of per-rank means would not)."""
    model = build_tiny_model(tmp_path / "tiny", "causal")
    script = tmp_path / "token_mean.py"
    script.write_text(TOKEN_MEAN)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), model], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT"))
    worst, moved = (float(part.split("=")[1]) for part in line.split()[1:])
    assert moved > 1e-4 and worst < 1e-6 * max(1.0, moved / 1e-4), line
