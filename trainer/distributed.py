"""Data-parallel helpers: who this process is, averaging over ranks, global whitening.

A run launched by ``torchrun`` (or ``accelerate launch``) has ``WORLD_SIZE > 1`` in its
environment; `init_distributed` then joins the process group (NCCL on GPU, gloo on CPU).
With one process every helper here is the identity, so the training loop reads the same
either way.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from typing import Any

import torch

from core.shaping import whiten


@dataclass
class Dist:
    """This process's rank and the number of processes (1 when not distributed)."""

    rank: int = 0
    world: int = 1

    def sum(self, x: torch.Tensor) -> torch.Tensor:
        """Sum of `x` over ranks (a new tensor; identity on one process)."""
        if self.world > 1:
            x = x.clone()
            torch.distributed.all_reduce(x)
        return x

    def max(self, x: torch.Tensor) -> torch.Tensor:
        """Elementwise maximum of `x` over ranks (a new tensor; identity on one process)."""
        if self.world > 1:
            x = x.clone()
            torch.distributed.all_reduce(x, op=torch.distributed.ReduceOp.MAX)
        return x

    def mean_metrics(self, metrics: dict[str, float]) -> dict[str, float]:
        """Average each metric over the ranks that have it (ranks may lack some keys,
        e.g. no tested sample in their shard), in sorted key order."""
        if self.world == 1:
            return {k: float(metrics[k]) for k in sorted(metrics)}
        gathered: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(gathered, {k: float(v) for k, v in metrics.items()})
        keys = sorted({k for g in gathered for k in g})
        return {k: math.fsum(g[k] for g in gathered if k in g) / sum(k in g for g in gathered)
                for k in keys}

    def gather(self, items: list[Any]) -> list[Any]:
        """Every rank's `items`, concatenated in rank order (picklable objects)."""
        if self.world == 1:
            return list(items)
        gathered: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(gathered, list(items))
        return [x for part in gathered for x in part]


def init_distributed(device: torch.device) -> Dist:
    """Join the process group when launched by torchrun / accelerate (WORLD_SIZE > 1)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist()
    if not torch.distributed.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        torch.distributed.init_process_group(backend=backend)
    return Dist(torch.distributed.get_rank(), torch.distributed.get_world_size())


def global_whiten(x: torch.Tensor, mask: torch.Tensor, dist: Dist) -> torch.Tensor:
    """`core.shaping.whiten` over the real positions of all ranks' batches together."""
    return whiten(x, mask, all_reduce_sum=dist.sum if dist.world > 1 else None)
