"""Benchmark: `core.shaping` kernels vs the loops common PPO code uses, side by side.

    python bench/shaping.py [--batch 64] [--steps 512] [--repeats 20] [--threads 1]

Anchors (what PPO trainers usually write, over torch tensors, with a response mask):
  * GAE: a Python loop over reversed timesteps, one vector step per timestep
    (as in CleanRL / TRL's PPO trainers).
  * token rewards: the KL penalty in tensor ops, then a Python loop over rows that
    finds each row's last real token and adds the score there (TRL's compute_rewards).
Ours: the Numba kernels on NumPy arrays, the same on CPU tensors via `backend="auto"`
(zero-copy), and the vectorised torch path (`backend="torch"`, the one used on GPUs).
Each is timed as the best of --repeats runs after a warm-up; ratios are anchor / ours.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from core import shaping


def anchor_gae(rewards, values, mask, gamma: float, lam: float):
    """The usual reversed-timestep loop, masked: padding ends the episode."""
    n_steps = rewards.shape[1]
    last = torch.zeros_like(rewards[:, 0])
    reversed_adv = []
    for t in reversed(range(n_steps)):
        next_values = values[:, t + 1] * mask[:, t + 1] if t < n_steps - 1 else 0.0
        next_mask = mask[:, t + 1] if t < n_steps - 1 else 0.0
        delta = rewards[:, t] + gamma * next_values - values[:, t]
        last = (delta + gamma * lam * last * next_mask) * mask[:, t]
        reversed_adv.append(last)
    advantages = torch.stack(reversed_adv[::-1], dim=1)
    returns = (advantages + values) * mask
    return advantages, returns


def anchor_token_rewards(scores, logprobs, ref_logprobs, mask, kl_coef: float):
    kl = (logprobs - ref_logprobs) * mask
    rewards = -kl_coef * kl
    for i in range(rewards.shape[0]):
        real = mask[i].nonzero()
        if len(real):
            rewards[i, real[-1]] += scores[i]
    return rewards, kl


def best_time(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up (Numba compile/cache load, allocator)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    rng = np.random.default_rng(0)
    shape = (args.batch, args.steps)
    lengths = rng.integers(1, args.steps + 1, size=args.batch)
    mask_np = (np.arange(args.steps)[None, :] < lengths[:, None]).astype(np.float32)
    rewards_np = rng.normal(size=shape).astype(np.float32) * mask_np
    values_np = rng.normal(size=shape).astype(np.float32)
    logp_np = -rng.exponential(1.0, size=shape).astype(np.float32)
    ref_np = logp_np + rng.normal(0, 0.1, size=shape).astype(np.float32)
    scores_np = rng.normal(size=args.batch).astype(np.float32)
    rewards, values, mask, logp, ref, scores = map(
        torch.from_numpy, (rewards_np, values_np, mask_np, logp_np, ref_np, scores_np))
    gamma, lam, coef = 1.0, 0.95, 0.05

    # Same answers first: the benchmark compares equal work.
    want = anchor_gae(rewards, values, mask, gamma, lam)[0].numpy()
    got = shaping.gae(rewards_np, values_np, mask_np, gamma, lam)[0]
    got_t = shaping.gae(rewards, values, mask, gamma, lam, backend="torch")[0].numpy()
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got_t, want, rtol=1e-4, atol=1e-3)
    want_r = anchor_token_rewards(scores, logp, ref, mask, coef)[0].numpy()
    np.testing.assert_allclose(
        shaping.token_rewards(scores_np, logp_np, ref_np, mask_np, coef)[0], want_r, atol=1e-5)

    cases = {
        "gae": (
            lambda: anchor_gae(rewards, values, mask, gamma, lam),
            {
                "numba (numpy)": lambda: shaping.gae(rewards_np, values_np, mask_np, gamma, lam),
                "numba (cpu tensor)": lambda: shaping.gae(rewards, values, mask, gamma, lam),
                "torch scan": lambda: shaping.gae(rewards, values, mask, gamma, lam,
                                                  backend="torch"),
            },
        ),
        "token_rewards": (
            lambda: anchor_token_rewards(scores, logp, ref, mask, coef),
            {
                "numba (numpy)": lambda: shaping.token_rewards(
                    scores_np, logp_np, ref_np, mask_np, coef),
                "numba (cpu tensor)": lambda: shaping.token_rewards(scores, logp, ref, mask, coef),
                "torch vectorised": lambda: shaping.token_rewards(
                    scores, logp, ref, mask, coef, backend="torch"),
            },
        ),
    }
    print(f"batch {args.batch} x {args.steps} tokens, float32, CPU, torch threads {args.threads}")
    for name, (anchor, ours) in cases.items():
        anchor_s = best_time(anchor, args.repeats)
        print(f"{name}: python loop over torch tensors {anchor_s * 1e3:9.3f} ms")
        for label, fn in ours.items():
            ours_s = best_time(fn, args.repeats)
            print(f"  {label:20s} {ours_s * 1e3:9.3f} ms   ratio {anchor_s / ours_s:8.1f}x")


if __name__ == "__main__":
    main()
