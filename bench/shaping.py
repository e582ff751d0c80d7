"""Benchmark: `core.shaping` kernels vs the code PPO/GRPO trainers usually write, side by side.

    python bench/shaping.py [--batch 64] [--steps 512] [--k 8] [--rounds 15] [--threads 1]

Anchors (over torch tensors, with a response mask):
  * GAE: a Python loop over reversed timesteps, one vector step per timestep
    (as in CleanRL / TRL's PPO trainers).
  * token rewards: the KL penalty in tensor ops, then a Python loop over rows that
    finds each row's last real token and adds the score there (TRL's compute_rewards).
  * grpo / rloo: a Python loop over the prompts' groups; and the tensor ops TRL
    (grpo: view, mean, std, repeat_interleave) and OpenRLHF (rloo: leave-one-out sum)
    write, broadcast to tokens by the mask.
  * token_kl (k3): TRL's one tensor expression ``exp(ref - logp) - (ref - logp) - 1``.
  * line penalty: a Python loop over rows and tokens testing each token's line.
  * token lines: a Python loop over tokens counting newlines before each start.
Ours: `core.shaping` (Numba for GAE, GRPO and RLOO, NumPy or tensor code for the rest), on
NumPy arrays and on CPU tensors.

Timing: rounds alternate anchor and ours (A B A B ...); each round times every function
over enough calls to last ~5 ms of this process's CPU time (one thread everywhere); the
ratio reported is the median of the per-round ratios anchor / ours, so load that comes
and goes hits both sides alike.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

from core import shaping

CLOCK = time.process_time
"""CPU time of this process: every path here runs on one thread, and on a shared machine
wall time mostly measures the other processes."""


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


def loop_group_advantages(scores, mask, estimator: str, eps: float = 1e-6):
    """One group at a time, the way a first implementation reads."""
    n_groups, k = scores.shape
    adv = torch.zeros(n_groups * k, dtype=scores.dtype)
    for g in range(n_groups):
        group = scores[g]
        if estimator == "grpo":
            adv[g * k:(g + 1) * k] = (group - group.mean()) / (group.std() + eps)
        else:
            adv[g * k:(g + 1) * k] = group - (group.sum() - group) / (k - 1)
    return adv[:, None] * mask


def trl_grpo(scores, mask, eps: float = 1e-6):
    """TRL GRPOTrainer's normalisation, broadcast to tokens."""
    k = scores.shape[1]
    rewards = scores.reshape(-1)
    mean = scores.mean(dim=1).repeat_interleave(k)
    std = scores.std(dim=1).repeat_interleave(k)
    return ((rewards - mean) / (std + eps))[:, None] * mask


def openrlhf_rloo(scores, mask):
    """OpenRLHF's leave-one-out baseline, broadcast to tokens."""
    k = scores.shape[1]
    baseline = (scores.sum(dim=1, keepdim=True) - scores) / (k - 1)
    return (scores - baseline).reshape(-1)[:, None] * mask


def trl_k3(logprobs, ref_logprobs, mask):
    return (torch.exp(ref_logprobs - logprobs) - (ref_logprobs - logprobs) - 1) * mask


def loop_line_penalty(rewards, lines, error_lines, mask, penalty: float):
    out = rewards * mask
    for b in range(rewards.shape[0]):
        flagged = set(error_lines[b])
        for t in range(rewards.shape[1]):
            if mask[b, t] and int(lines[b, t]) in flagged:
                out[b, t] -= penalty
    return out


def loop_token_lines(text: str, offsets, first_line: int):
    return [0 if start == end else first_line + text.count("\n", 0, start) for start, end in offsets]


def calls_for(fn: Callable[[], object], target_s: float = 5e-3) -> int:
    fn()  # warm-up (Numba compile/cache load, allocator)
    start = CLOCK()
    fn()
    once = CLOCK() - start
    return max(1, int(target_s / max(once, 1e-7)))


def timed(fn: Callable[[], object], calls: int) -> float:
    start = CLOCK()
    for _ in range(calls):
        fn()
    return (CLOCK() - start) / calls


def alternating(anchor: Callable[[], object], ours: dict[str, Callable[[], object]],
                rounds: int) -> tuple[float, dict[str, tuple[float, float]]]:
    """Median anchor time and, per variant, (median time, median per-round ratio anchor / ours)."""
    calls = {"anchor": calls_for(anchor)} | {label: calls_for(fn) for label, fn in ours.items()}
    anchor_times: list[float] = []
    times: dict[str, list[float]] = {label: [] for label in ours}
    ratios: dict[str, list[float]] = {label: [] for label in ours}
    for _ in range(rounds):
        for label, fn in ours.items():  # A B A C ...: the anchor is timed next to each variant
            a = timed(anchor, calls["anchor"])
            b = timed(fn, calls[label])
            anchor_times.append(a)
            times[label].append(b)
            ratios[label].append(a / b)
    return statistics.median(anchor_times), {
        label: (statistics.median(times[label]), statistics.median(ratios[label])) for label in ours}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=512)
    parser.add_argument("--k", type=int, default=8, help="samples per prompt (grpo / rloo)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.batch % args.k:
        parser.error("--batch must be a multiple of --k")

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
    # group scores: the discrete execution values plus a structural part, as rewards.score gives
    group_np = (rng.choice([1.0, -0.3, -0.6, -1.0], size=(args.batch // args.k, args.k))
                + rng.random((args.batch // args.k, args.k))).astype(np.float32)
    group = torch.from_numpy(group_np)
    # line credit: ~12 tokens a line, one or two error lines per failing program
    lines_np = (np.arange(args.steps)[None, :] // 12 + 1).repeat(args.batch, 0).astype(np.int64)
    lines_np = np.where(mask_np != 0, lines_np, 0)
    lines = torch.from_numpy(lines_np)
    error_lines = [sorted(set(rng.integers(1, 40, size=rng.integers(0, 3)).tolist()))
                   for _ in range(args.batch)]
    text = "".join(rng.choice(list("abc =()+\n"), size=args.steps * 4))
    cuts = np.sort(rng.choice(np.arange(1, len(text)), size=args.steps - 1, replace=False))
    offsets = list(zip([0, *cuts.tolist()], [*cuts.tolist(), len(text)]))

    # Same answers first: the benchmark compares equal work.
    want = anchor_gae(rewards, values, mask, gamma, lam)[0].numpy()
    np.testing.assert_allclose(shaping.gae(rewards_np, values_np, mask_np, gamma, lam)[0], want,
                               rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(shaping.gae(rewards, values, mask, gamma, lam)[0], want,
                               rtol=1e-4, atol=1e-3)
    want_r = anchor_token_rewards(scores, logp, ref, mask, coef)[0].numpy()
    np.testing.assert_allclose(
        shaping.token_rewards(scores_np, logp_np, ref_np, mask_np, coef)[0], want_r, atol=1e-5)
    for ours, theirs, loop in ((shaping.grpo(group_np, mask_np), trl_grpo(group, mask), "grpo"),
                               (shaping.rloo(group_np, mask_np), openrlhf_rloo(group, mask), "rloo")):
        np.testing.assert_allclose(ours, theirs, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(ours, loop_group_advantages(group, mask, loop), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(shaping.token_kl(logp_np, ref_np, mask_np), trl_k3(logp, ref, mask),
                               rtol=1e-3, atol=1e-6)
    np.testing.assert_allclose(shaping.line_penalty(rewards_np, lines_np, error_lines, mask_np, 0.1),
                               loop_line_penalty(rewards, lines, error_lines, mask, 0.1), atol=1e-6)
    assert shaping.token_lines(text, offsets, 3).tolist() == loop_token_lines(text, offsets, 3)

    def both(fn: Callable[..., object], *args: object, **kw: object) -> dict[str, Callable[[], object]]:
        """Ours on NumPy arrays and on CPU tensors (the same arguments as tensors)."""
        arrays = [a.numpy() if isinstance(a, torch.Tensor) else a for a in args]
        return {"ours (numpy)": lambda: fn(*arrays, **kw), "ours (cpu tensor)": lambda: fn(*args, **kw)}

    cases = {
        "gae  vs python loop over timesteps": (
            lambda: anchor_gae(rewards, values, mask, gamma, lam),
            both(shaping.gae, rewards, values, mask, gamma, lam)),
        "token_rewards  vs python loop over rows (TRL)": (
            lambda: anchor_token_rewards(scores, logp, ref, mask, coef),
            both(shaping.token_rewards, scores, logp, ref, mask, coef)),
        "grpo  vs python loop over groups": (
            lambda: loop_group_advantages(group, mask, "grpo"), both(shaping.grpo, group, mask)),
        "grpo  vs TRL's tensor ops": (lambda: trl_grpo(group, mask), both(shaping.grpo, group, mask)),
        "rloo  vs python loop over groups": (
            lambda: loop_group_advantages(group, mask, "rloo"), both(shaping.rloo, group, mask)),
        "rloo  vs OpenRLHF's tensor ops": (lambda: openrlhf_rloo(group, mask), both(shaping.rloo, group, mask)),
        "token_kl k3  vs TRL's tensor expression": (
            lambda: trl_k3(logp, ref, mask), both(shaping.token_kl, logp, ref, mask)),
        "line_penalty  vs python loop over tokens": (
            lambda: loop_line_penalty(rewards, lines, error_lines, mask, 0.1),
            both(shaping.line_penalty, rewards, lines, error_lines, mask, 0.1)),
        f"token_lines ({args.steps} tokens)  vs python loop over tokens": (
            lambda: loop_token_lines(text, offsets, 3),
            {"numpy": lambda: shaping.token_lines(text, offsets, 3)},
        ),
    }
    print(f"batch {args.batch} x {args.steps} tokens (groups of k = {args.k}), float32, CPU, "
          f"torch threads {args.threads}, {args.rounds} alternating rounds, median ratio anchor / ours")
    for name, (anchor, ours) in cases.items():
        anchor_s, results = alternating(anchor, ours, args.rounds)
        print(f"{name}: anchor {anchor_s * 1e3:9.3f} ms")
        for label, (ours_s, ratio) in results.items():
            print(f"  {label:20s} {ours_s * 1e3:9.3f} ms   ratio {ratio:8.1f}x")


if __name__ == "__main__":
    main()
