"""Numba kernels behind `core.shaping` for NumPy arrays (and CPU tensors).

Each kernel is the loop of `core._shaping_reference`, compiled. They are compiled
lazily on first use per dtype and cached on disk (``cache=True``), so only the first
process on a machine pays the compile. They run serially over rows. Performance note:
`parallel=True` with `prange` over rows was tried and dropped: at 64 x 512 the serial
GAE kernel takes ~50 us while the parallel one took ~1.2 ms (thread-pool start and
sync exceed the work; the cores are also shared with reward workers) plus a slower
compile.

Contract (checked by the caller, `core.shaping`): 2-D C-contiguous float32/float64
arrays of equal shape, a uint8 mask, a 1-D score array of the same float dtype.
Accumulation happens in the input dtype, like the torch path.
"""

from __future__ import annotations

import numpy as np
from numba import njit

ESTIMATORS = {"k1": 0, "k2": 1, "k3": 2}


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
                if estimator == 0:
                    k = logprobs[b, t] - ref_logprobs[b, t]
                elif estimator == 1:
                    d = logprobs[b, t] - ref_logprobs[b, t]
                    k = half * d * d
                else:
                    r = ref_logprobs[b, t] - logprobs[b, t]
                    k = np.expm1(r) - r
                kl[b, t] = k
                rewards[b, t] = -coef * k
                last_real = t
        if last_real >= 0:
            rewards[b, last_real] += scores[b]
    return rewards, kl


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
