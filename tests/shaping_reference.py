"""Plain-Python reference of the shaping kernels in `core.shaping`.

Readable loops over Python floats, one row and one timestep at a time. They define
what `core.shaping` (a Numba loop for GAE, tensor code for the rest) must compute;
the tests check the two agree. Used by the tests only. Inputs are nested
sequences or arrays of shape (B,) / (B, T); outputs are lists of lists of floats.

Mask convention (shared by every path): a position is *real* when its mask value is
non-zero. Padding positions are transparent: the successor of a real token is the next
real token of the same row, and after the last real token the episode ends (value 0).
With the usual right padding this is exactly the textbook definition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence


def kl_penalty(logprob: float, ref_logprob: float, estimator: str) -> float:
    """Per-token KL estimate between the policy and the reference model.

    k1 = logp - ref_logp (unbiased, can be negative);
    k2 = (logp - ref_logp)^2 / 2 (biased, non-negative);
    k3 = exp(r) - 1 - r with r = ref_logp - logp (unbiased, non-negative).
    """
    if estimator == "k1":
        return logprob - ref_logprob
    if estimator == "k2":
        return 0.5 * (logprob - ref_logprob) ** 2
    if estimator == "k3":
        r = ref_logprob - logprob
        return math.expm1(r) - r
    raise ValueError(f"unknown KL estimator {estimator!r}; expected 'k1', 'k2' or 'k3'")


def token_rewards(
    scores: Sequence[float],
    logprobs: Sequence[Sequence[float]],
    ref_logprobs: Sequence[Sequence[float]],
    mask: Sequence[Sequence[float]],
    kl_coef: float,
    estimator: str = "k1",
) -> tuple[list[list[float]], list[list[float]]]:
    """Reference of `core.shaping.token_rewards`: (rewards, kl), both (B, T)."""
    rewards: list[list[float]] = []
    kls: list[list[float]] = []
    for b in range(len(logprobs)):
        row_r: list[float] = []
        row_kl: list[float] = []
        last_real = -1
        for t in range(len(logprobs[b])):
            if mask[b][t] != 0:
                kl = kl_penalty(float(logprobs[b][t]), float(ref_logprobs[b][t]), estimator)
                row_kl.append(kl)
                row_r.append(-kl_coef * kl)
                last_real = t
            else:
                row_kl.append(0.0)
                row_r.append(0.0)
        if last_real >= 0:  # an all-padding row receives no score
            row_r[last_real] += float(scores[b])
        rewards.append(row_r)
        kls.append(row_kl)
    return rewards, kls


def gae(
    rewards: Sequence[Sequence[float]],
    values: Sequence[Sequence[float]],
    mask: Sequence[Sequence[float]],
    gamma: float,
    lam: float,
) -> tuple[list[list[float]], list[list[float]]]:
    """Reference of `core.shaping.gae`: (advantages, returns), both (B, T).

    For a real token t with next real token n (none after the last one):
        delta_t = r_t + gamma * V_n - V_t          (V_n = 0 when there is no n)
        A_t     = delta_t + gamma * lam * A_n      (A_n = 0 when there is no n)
        R_t     = A_t + V_t
    Padding positions get A = R = 0.
    """
    advantages: list[list[float]] = []
    returns: list[list[float]] = []
    for b in range(len(rewards)):
        n_steps = len(rewards[b])
        adv = [0.0] * n_steps
        ret = [0.0] * n_steps
        next_value = 0.0
        next_adv = 0.0
        for t in reversed(range(n_steps)):
            if mask[b][t] == 0:
                continue
            value = float(values[b][t])
            delta = float(rewards[b][t]) + gamma * next_value - value
            next_adv = delta + gamma * lam * next_adv
            next_value = value
            adv[t] = next_adv
            ret[t] = next_adv + value
        advantages.append(adv)
        returns.append(ret)
    return advantages, returns


def whiten(
    x: Sequence[Sequence[float]], mask: Sequence[Sequence[float]], shift_mean: bool = True
) -> list[list[float]]:
    """Reference of `core.shaping.whiten` (masked statistics over the whole batch)."""
    real = [float(v) for row, mrow in zip(x, mask) for v, m in zip(row, mrow) if m != 0]
    n = len(real)
    if n == 0:
        return [[0.0] * len(row) for row in x]
    mean = sum(real) / n
    sq = sum((v - mean) ** 2 for v in real)
    var = sq / (n - 1) if n > 1 else 0.0
    scale = 1.0 / math.sqrt(var + 1e-8)
    out = []
    for row, mrow in zip(x, mask):
        out_row = []
        for v, m in zip(row, mrow):
            if m == 0:
                out_row.append(0.0)
            else:
                w = (float(v) - mean) * scale
                out_row.append(w if shift_mean else w + mean)
        out.append(out_row)
    return out


def token_kl(
    logprobs: Sequence[Sequence[float]],
    ref_logprobs: Sequence[Sequence[float]],
    mask: Sequence[Sequence[float]],
    estimator: str = "k3",
) -> list[list[float]]:
    """Reference of `core.shaping.token_kl`: the per-token KL estimate, 0 on padding."""
    return [[kl_penalty(float(lp), float(rp), estimator) if m != 0 else 0.0
             for lp, rp, m in zip(lrow, rrow, mrow)]
            for lrow, rrow, mrow in zip(logprobs, ref_logprobs, mask)]


def group_advantages(
    scores: Sequence[Sequence[float]],
    mask: Sequence[Sequence[float]],
    estimator: str,
    eps: float = 1e-6,
) -> list[list[float]]:
    """Reference of `core.shaping.grpo` / `core.shaping.rloo`: (G * k, T) token advantages.

    scores is (G, k): k samples of each of G prompts; row g * k + j of mask is sample j
    of prompt g. Per group, with mean m and sample standard deviation s (k - 1):
        grpo: A_j = (score_j - m) / (s + eps)
        rloo: A_j = score_j - (sum of the other k - 1 scores) / (k - 1)
    A group whose scores are all equal gets A = 0. A_j goes on every real token of row
    g * k + j, 0 on padding.
    """
    out: list[list[float]] = []
    for group in scores:
        k = len(group)
        values = [float(v) for v in group]
        total = 0.0
        for v in values:
            total += v
        if min(values) == max(values):
            advantages = [0.0] * k
        elif estimator == "grpo":
            mean = total / k
            sq = 0.0
            for v in values:
                sq += (v - mean) ** 2
            std = math.sqrt(sq / (k - 1))
            advantages = [(v - mean) / (std + eps) for v in values]
        elif estimator == "rloo":
            advantages = [v - (total - v) / (k - 1) for v in values]
        else:
            raise ValueError(f"unknown group estimator {estimator!r}")
        for adv in advantages:
            out.append([adv if m != 0 else 0.0 for m in mask[len(out)]])
    return out


def line_penalty(
    rewards: Sequence[Sequence[float]],
    lines: Sequence[Sequence[int]],
    error_lines: Sequence[Sequence[int]],
    mask: Sequence[Sequence[float]],
    penalty: float,
) -> list[list[float]]:
    """Reference of `core.shaping.line_penalty`: rewards minus `penalty` on the real tokens
    whose line (>= 1) is one of their row's error lines; 0 on padding."""
    out = []
    for b in range(len(rewards)):
        flagged = {int(n) for n in error_lines[b]}
        row = []
        for t in range(len(rewards[b])):
            if mask[b][t] == 0:
                row.append(0.0)
                continue
            value = float(rewards[b][t])
            line = int(lines[b][t])
            if line >= 1 and line in flagged:
                value -= penalty
            row.append(value)
        out.append(row)
    return out


def token_lines(text: str, offsets: Sequence[Sequence[int]], first_line: int = 1) -> list[int]:
    """Reference of `core.shaping.token_lines`: the line of each token's first character
    (first_line + newlines before it), 0 for a token with an empty span."""
    out = []
    for start, end in offsets:
        if start == end:
            out.append(0)
            continue
        line = first_line
        for ch in text[:start]:
            if ch == "\n":
                line += 1
        out.append(line)
    return out
