"""Numba kernels behind `core.shaping` for NumPy arrays (and CPU tensors).

Each kernel is the loop of `core._shaping_reference`, compiled. They are compiled
lazily on first use per dtype and cached on disk (``cache=True``), so only the first
process on a machine pays the compile. They run serially over rows. Performance note:
`parallel=True` with `prange` over rows was tried and dropped: at 64 x 512 the serial
GAE kernel takes ~50 us while the parallel one took ~1.2 ms (thread-pool start and
sync exceed the work; the cores are also shared with reward workers) plus a slower
compile.

Contract (checked by the caller, `core.shaping`): 2-D C-contiguous float32/float64
arrays of equal shape, a boolean mask, a 1-D (or, for the group estimators, (G, k))
score array of the same float dtype, int64 line numbers. Accumulation happens in the
input dtype, like the torch path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ESTIMATORS = {"k1": 0, "k2": 1, "k3": 2}
GROUP_ESTIMATORS = {"grpo": 0, "rloo": 1}


@njit(cache=True, nogil=True, inline="always")
def _kl_one(logprob, ref_logprob, estimator, half):  # pragma: no cover - compiled
    # `half` is 0.5 in the arrays' dtype: a float literal would promote float32 to float64
    if estimator == 0:
        return logprob - ref_logprob
    if estimator == 1:
        d = logprob - ref_logprob
        return half * d * d
    r = ref_logprob - logprob
    return np.expm1(r) - r


@njit(cache=True, nogil=True)
def token_rewards_kernel(scores, logprobs, ref_logprobs, mask, kl_coef, estimator):  # pragma: no cover - compiled
    n_rows, n_steps = logprobs.shape
    rewards = np.zeros_like(logprobs)
    kl = np.zeros_like(logprobs)
    coef = logprobs.dtype.type(kl_coef)
    half = logprobs.dtype.type(0.5)
    for b in range(n_rows):
        last_real = -1
        for t in range(n_steps):
            if mask[b, t] != 0:
                k = _kl_one(logprobs[b, t], ref_logprobs[b, t], estimator, half)
                kl[b, t] = k
                rewards[b, t] = -coef * k
                last_real = t
        if last_real >= 0:
            rewards[b, last_real] += scores[b]
    return rewards, kl


@njit(cache=True, nogil=True)
def token_kl_kernel(logprobs, ref_logprobs, mask, estimator):  # pragma: no cover - compiled
    n_rows, n_steps = logprobs.shape
    kl = np.zeros_like(logprobs)
    half = logprobs.dtype.type(0.5)
    for b in range(n_rows):
        for t in range(n_steps):
            if mask[b, t] != 0:
                kl[b, t] = _kl_one(logprobs[b, t], ref_logprobs[b, t], estimator, half)
    return kl


@njit(cache=True, nogil=True)
def gae_kernel(rewards, values, mask, gamma, lam):  # pragma: no cover - compiled
    n_rows, n_steps = rewards.shape
    advantages = np.zeros_like(rewards)
    returns = np.zeros_like(rewards)
    g = rewards.dtype.type(gamma)
    gl = rewards.dtype.type(gamma * lam)
    zero = rewards.dtype.type(0.0)
    for b in range(n_rows):
        next_value = zero
        next_adv = zero
        for t in range(n_steps - 1, -1, -1):
            if mask[b, t] == 0:
                continue
            value = values[b, t]
            delta = rewards[b, t] + g * next_value - value
            next_adv = delta + gl * next_adv
            next_value = value
            advantages[b, t] = next_adv
            returns[b, t] = next_adv + value
    return advantages, returns


@njit(cache=True, nogil=True)
def group_advantages_kernel(scores, mask, estimator, eps):  # pragma: no cover - compiled
    """scores (G, k), mask (G * k, T); estimator 0 = grpo, 1 = rloo (see the reference)."""
    n_groups, k = scores.shape
    n_steps = mask.shape[1]
    out = np.zeros((n_groups * k, n_steps), dtype=scores.dtype)
    advantages = np.zeros(k, dtype=scores.dtype)
    eps_t = scores.dtype.type(eps)
    k_t = scores.dtype.type(k)  # an int divisor would promote float32 to float64
    others = scores.dtype.type(k - 1)
    for g in range(n_groups):
        total = scores.dtype.type(0.0)
        low = scores[g, 0]
        high = scores[g, 0]
        for j in range(k):
            v = scores[g, j]
            total += v
            low = min(low, v)
            high = max(high, v)
        if low == high:
            continue  # all equal: advantage 0 (and no 0 / 0)
        if estimator == 0:
            mean = total / k_t
            sq = scores.dtype.type(0.0)
            for j in range(k):
                d = scores[g, j] - mean
                sq += d * d
            std = np.sqrt(sq / others)
            for j in range(k):
                advantages[j] = (scores[g, j] - mean) / (std + eps_t)
        else:
            for j in range(k):
                advantages[j] = scores[g, j] - (total - scores[g, j]) / others
        for j in range(k):
            row = g * k + j
            for t in range(n_steps):
                if mask[row, t] != 0:
                    out[row, t] = advantages[j]
    return out


@njit(cache=True, nogil=True)
def line_penalty_kernel(rewards, lines, error_lines, mask, penalty):  # pragma: no cover - compiled
    """error_lines (B, E): each row's flagged lines (>= 1), padded with -1."""
    n_rows, n_steps = rewards.shape
    n_flagged = error_lines.shape[1]
    out = np.zeros_like(rewards)
    pen = rewards.dtype.type(penalty)
    for b in range(n_rows):
        for t in range(n_steps):
            if mask[b, t] == 0:
                continue
            value = rewards[b, t]
            line = lines[b, t]
            if line >= 1:
                for e in range(n_flagged):
                    if error_lines[b, e] == line:
                        value -= pen
                        break
            out[b, t] = value
    return out
