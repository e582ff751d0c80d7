"""Checkpoints: atomic save / load, and exact resume of a run killed with SIGKILL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import torch
import yaml
from safetensors.torch import load_file

from tests.tiny_models import build_tiny_model
from trainer import checkpoint

torch.set_num_threads(1)


def test_save_load_roundtrip_latest_and_keep_last(tmp_path: Path) -> None:
    w = torch.nn.Parameter(torch.randn(3))
    opt = torch.optim.Adam([w], lr=0.1)
    w.grad = torch.ones(3)
    opt.step()
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 ** s)
    sched.step()
    torch.manual_seed(5)
    rng = checkpoint.rng_state()
    expected_draw = torch.rand(4)
    for step in (1, 2, 3):
        checkpoint.save(tmp_path, step, trainable={"w": w}, optimizer=opt, scheduler=sched,
                        state={"sampler": {"epoch": step}}, rng_states=[rng], keep_last=2)
    (tmp_path / ".tmp_step_000009_x").mkdir()  # a half-written checkpoint is ignored
    (tmp_path / "step_000010").mkdir()  # so is one without state.json
    assert checkpoint.latest(tmp_path) == tmp_path / "step_000003"
    assert not (tmp_path / "step_000001").exists()
    ck = checkpoint.load(checkpoint.latest(tmp_path))
    assert torch.equal(ck["trainable"]["w"], w.detach())
    assert ck["state"] == {"step": 3, "sampler": {"epoch": 3}}
    assert ck["scheduler"]["last_epoch"] == 1
    assert ck["optimizer"]["state"][0]["step"] == opt.state_dict()["state"][0]["step"]
    torch.manual_seed(123)
    checkpoint.set_rng_state(ck["rng"])
    assert torch.equal(torch.rand(4), expected_draw)
    with pytest.raises(ValueError, match="not a complete checkpoint"):
        checkpoint.load(tmp_path / "step_000010")
    with pytest.raises(ValueError, match="rank 1"):
        checkpoint.load(tmp_path / "step_000003", rank=1)
    assert checkpoint.latest(tmp_path / "missing") is None


REWARD_MODULE = '''
import time

def slow_count_x(samples):
    time.sleep(0.4)  # slow enough that the test can kill the run mid-way
    return [s.code.split().count("x") / max(len(s.code.split()), 1) for s in samples]
'''


def _write_run(tmp_path: Path, model: str, name: str, steps: int) -> Path:
    data = tmp_path / "prompts.jsonl"
    if not data.exists():
        rows = ["def f ( x ) :", "x =", "print (", "def g ( a , b ) :", "return", "y = x +"]
        data.write_text("".join(json.dumps({"prompt": p, "id": str(i)}) + "\n"
                                for i, p in enumerate(rows)))
        (tmp_path / "toy_reward.py").write_text(REWARD_MODULE)
    cfg = {
        "model": {"name_or_path": model, "lora": True},
        "data": {"task": "synthesis", "source": "jsonl", "path": str(data), "eval_fraction": 0.0},
        "generation": {"max_new_tokens": 6, "samples_per_prompt": 2},
        "reward": {"function": "toy_reward:slow_count_x", "workers": 1},
        "ppo": {"steps": steps, "prompts_per_step": 2, "minibatch_size": 2, "lr": 1e-3,
                "kl_target": 1.0, "lr_schedule": "linear"},
        "run": {"output_dir": str(tmp_path / name), "save_every": 1, "keep_last": 0,
                "progress": False, "threads": 1, "seed": 7},
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


def _cmd(cfg: Path) -> list[str]:
    return [sys.executable, "-m", "trainer.ppo", "--config", str(cfg)]


def _metrics(run: Path) -> list[dict]:
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    return [{k: v for k, v in r.items() if not k.startswith("time/")} for r in rows]


def test_sigkill_then_resume_equals_uninterrupted_run(tmp_path: Path) -> None:
    model = build_tiny_model(tmp_path / "tiny", "causal")
    steps = 6
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    ref_cfg = _write_run(tmp_path, model, "straight", steps)
    first = subprocess.run(_cmd(ref_cfg), cwd=tmp_path, env=env, check=True, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert f"for {steps} steps" in first.stderr and f"writing to {tmp_path / 'straight'}" \
        in first.stderr

    cfg = _write_run(tmp_path, model, "killed", steps)
    run = tmp_path / "killed"
    proc = subprocess.Popen(_cmd(cfg), cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while checkpoint.latest(run / "checkpoints") is None or \
            int(checkpoint.latest(run / "checkpoints").name[5:]) < 2:
        assert proc.poll() is None, "the run ended before it could be killed"
        assert time.time() < deadline
        time.sleep(0.05)
    workers = psutil.Process(proc.pid).children(recursive=True)  # the reward worker(s)
    assert workers, "the run scores rewards in a worker process"
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    # The orphaned reward workers notice that the trainer is gone and exit.
    _, alive = psutil.wait_procs(workers, timeout=15)
    assert alive == []
    killed_at = int(checkpoint.latest(run / "checkpoints").name[5:])
    assert killed_at < steps
    resumed = subprocess.run(_cmd(cfg), cwd=tmp_path, env=env, check=True, timeout=300,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert f"resumed from step {killed_at} of {steps}" in resumed.stderr
    again = subprocess.run(_cmd(cfg), cwd=tmp_path, env=env, check=True, timeout=300,
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    assert f"already finished at step {steps} of {steps}" in again.stderr

    straight = tmp_path / "straight"
    assert _metrics(run) == _metrics(straight)
    assert [r["step"] for r in _metrics(run)] == list(range(1, steps + 1))
    assert (run / "samples.jsonl").read_text() == (straight / "samples.jsonl").read_text()
    final = f"checkpoints/step_{steps:06d}/trainable.safetensors"
    a, b = load_file(str(straight / final)), load_file(str(run / final))
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    # The run really trained (the weights moved away from the first checkpoint).
    first = load_file(str(straight / "checkpoints/step_000001/trainable.safetensors"))
    assert any(not torch.equal(first[k], a[k]) for k in a)
