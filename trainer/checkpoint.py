"""Checkpoints that resume a run exactly.

A checkpoint is a folder ``<run>/checkpoints/step_000012/`` holding

    trainable.safetensors   every trainable tensor (LoRA adapters or full weights, value head)
    optimizer.pt            optimizer state          scheduler.pt   LR scheduler state
    rng_rank<r>.pt          torch / CUDA / NumPy / Python RNG states of each rank
    state.json              step, data position, KL controller, anything else JSON-able

It is written to a temporary folder and renamed into place, so a run killed at any
moment (SIGKILL included) leaves only complete checkpoints behind; `latest` finds the
newest one.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import load_file, save_file

_STEP_DIR = re.compile(r"^step_(\d{6,})$")


def rng_state() -> dict[str, Any]:
    """Every RNG a run draws from, as one picklable object."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what `rng_state` returned."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def step_dir(root: str | Path, step: int) -> Path:
    return Path(root) / f"step_{step:06d}"


def latest(root: str | Path) -> Path | None:
    """The newest complete checkpoint under `root`, or None."""
    root = Path(root)
    if not root.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in root.iterdir()
             if (m := _STEP_DIR.match(p.name)) and (p / "state.json").is_file()]
    return max(found)[1] if found else None


def step_of(path: str | Path) -> int:
    """The step number of a checkpoint folder made by `save`."""
    match = _STEP_DIR.match(Path(path).name)
    if match is None:
        raise ValueError(f"{path} is not a checkpoint folder")
    return int(match.group(1))


def save(
    root: str | Path,
    step: int,
    *,
    trainable: dict[str, torch.Tensor],
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    state: dict[str, Any],
    rng_states: list[dict[str, Any]],
    keep_last: int = 0,
) -> Path:
    """Write checkpoint `step` atomically (call on rank 0 only); returns its folder.

    `rng_states[r]` is rank r's `rng_state()`. With `keep_last > 0` older checkpoints
    beyond the newest `keep_last` are deleted.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    final = step_dir(root, step)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp_step_{step:06d}_", dir=root))
    try:
        save_file({k: v.detach().cpu().contiguous() for k, v in trainable.items()},
                  str(tmp / "trainable.safetensors"))
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict() if scheduler is not None else None, tmp / "scheduler.pt")
        for rank, rs in enumerate(rng_states):
            torch.save(rs, tmp / f"rng_rank{rank}.pt")
        (tmp / "state.json").write_text(json.dumps({"step": step, **state}, indent=1))
        for f in tmp.iterdir():
            _fsync(f)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    if keep_last > 0:
        steps = sorted(int(m.group(1)) for p in root.iterdir() if (m := _STEP_DIR.match(p.name)))
        for old in steps[:-keep_last]:
            shutil.rmtree(step_dir(root, old), ignore_errors=True)
    return final


def load(path: str | Path, rank: int = 0) -> dict[str, Any]:
    """Read a checkpoint folder: keys trainable, optimizer, scheduler, rng, state."""
    path = Path(path)
    if not (path / "state.json").is_file():
        raise ValueError(f"{path} is not a complete checkpoint (no state.json)")
    rng_file = path / f"rng_rank{rank}.pt"
    if not rng_file.is_file():
        raise ValueError(f"{path} has no RNG state for rank {rank}: it was saved by fewer ranks")
    return {
        "trainable": load_file(str(path / "trainable.safetensors")),
        "optimizer": torch.load(path / "optimizer.pt", weights_only=False),
        "scheduler": torch.load(path / "scheduler.pt", weights_only=False),
        "rng": torch.load(rng_file, weights_only=False),
        "state": json.loads((path / "state.json").read_text()),
    }


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
