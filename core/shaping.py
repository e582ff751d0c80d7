"""Token-level reward shaping, advantage estimators and line-level credit for RL on sequences.

A language model writes a response one token at a time; the reward model gives one
score for the whole response. PPO needs a reward per token, so (as in Ziegler et al.
2019 and the PPOCoder paper) each token gets a KL penalty that keeps the policy near
a frozen reference model, and the sequence score is added on the last real token:

    rewards[b, t] = -kl_coef * kl[b, t]                 for real tokens t
    rewards[b, last_real(b)] += scores[b]               EOS or truncation point

Generalised Advantage Estimation (Schulman et al. 2016) then turns per-token rewards
and the value head's estimates into advantages and returns, and `whiten` normalises
advantages over the whole batch.

Critic-free estimators need no value head: with k samples per prompt, `grpo` (score
standardised within the prompt's group) and `rloo` (score minus the mean of the other
k - 1) give each sample one advantage, put on all its tokens; the KL then goes into
the loss as `token_kl` (k3) instead of into the reward.

Line-level credit: `token_lines` maps tokens to program lines through the tokenizer's
offsets, and `line_penalty` subtracts a penalty on the tokens of the lines execution
feedback names (`rewards.RewardBreakdown.error_lines`).

Every function takes NumPy arrays or torch tensors and returns the same kind, with the
same floating dtype (integer inputs come back as float64; float16/bfloat16 are computed
in float32 and cast back). Shapes: ``scores`` (B,), or (G, k) for the group estimators
(B = G * k); everything else (B, T).

Implementations: each function exists once, in the form that won its benchmark
(`bench/shaping.py`, 64 x 512 float32 tokens, one CPU thread):
  * `gae` is a sequential recurrence: a Numba loop (`_gae_kernel`), ~140-250x the
    Python loop over timesteps. Tensors are read on the CPU (one copy from a GPU) and
    come back on their device; the result carries no gradient (advantages are targets).
  * `grpo` / `rloo`: two small Numba kernels, the (G, k) group statistics in float64
    (`_group_values`, with the finite check and the exact zero of a tied group) and one
    pass that writes each advantage on its sample's real tokens (`_broadcast_rows`,
    cheaper than torch's multiply by a float mask, which also trusts the mask to be 0/1);
    2.3-3.5x / 1.1-1.7x TRL's / OpenRLHF's tensor code. A mask on a GPU gets the
    advantages by one multiply on its device instead.
  * `token_kl`: NumPy when nothing needs a gradient and everything is on the CPU
    (`np.subtract(where=)` and `np.expm1` cost half of torch's CPU `where` and `expm1`),
    otherwise torch, which runs where the tensors are and keeps the gradient.
  * everything else is plain torch tensor code with no Python loop (NumPy input is
    viewed as a tensor and returned as NumPy), and `token_rewards` puts exactly
    `token_kl`'s value beside its rewards.
What was tried and dropped:
  * Numba for `token_kl`, and NumPy or torch ops for the group estimators: each op
    costs 1-5 us of dispatch on (G, k) = (8, 8) numbers, 0.4-0.9x the bare tensor code.
  * torch for GAE, a reverse Hillis-Steele scan (ceil(log2 T) steps composing
    X_t = c_t * X_{t+1} + d_t, stable for any gamma, lam): 7x the loop against Numba's
    140-250x on CPU; a one-batch copy to the CPU costs less than that on a GPU too.
  * Numba `parallel=True` with `prange` over rows: at 64 x 512 the serial GAE kernel
    takes ~50 us, the parallel one ~1.2 ms (thread-pool start and sync exceed the work;
    the cores are also shared with reward workers) plus a slower compile.
A plain-Python reference of each function is in `tests/shaping_reference.py`; the
tests check that each function agrees with it, on random inputs too.

Mask convention: mask (B, T) is non-zero for real response tokens. Responses are
normally right-padded; padding holds arbitrary values (even NaN/inf) and never
contributes. Padding is transparent: the successor of a real token is the next real
token of its row, and after the last real token the episode ends (next value 0).
With right padding this is the textbook GAE. An all-padding row (empty response)
gets no score, zero rewards, zero KL, zero advantages and returns. Non-finite values
on real tokens (or in the score of a non-empty row) propagate to the outputs, so the
caller's NaN guard sees them; the group estimators instead reject a non-finite score
(it would poison every advantage of its group).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
import torch
from numba import njit

ArrayT = TypeVar("ArrayT")
ESTIMATORS = ("k1", "k2", "k3")
WHITEN_EPS = 1e-8
GROUP_EPS = 1e-6
"""Added to the group standard deviation in `grpo` (as veRL)."""

__all__ = [
    "AdaptiveKLController",
    "FixedKLController",
    "gae",
    "grpo",
    "line_penalty",
    "make_kl_controller",
    "rloo",
    "token_kl",
    "token_lines",
    "token_rewards",
    "whiten",
]


# ---------------------------------------------------------------------------- helpers


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


def _check_2d(name: str, x: Any, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    got = tuple(x.shape)
    if len(got) != 2:
        raise ValueError(f"{name} must have shape (B, T), got {got}")
    if shape is not None and got != shape:
        raise ValueError(f"{name} has shape {got}, expected {shape} like the other inputs")
    return got


def _check_batch(**arrays: Any) -> tuple[int, ...]:
    """The (B, T) shape every named array must share; ValueError naming the first that differs."""
    shape = None
    for name, x in arrays.items():
        shape = _check_2d(name, x, shape)
    assert shape is not None
    return shape


def _as_array(x: Any) -> Any:
    """Tensors pass through; anything else (lists, arrays) becomes a real-valued NumPy array."""
    if isinstance(x, torch.Tensor):
        if x.dtype.is_complex:
            raise ValueError(f"expected a real-valued tensor, got dtype {x.dtype}")
        return x
    x = np.asarray(x)
    if x.dtype.kind not in "biuf":
        raise ValueError(f"expected a real-valued array, got dtype {x.dtype}")
    return x


def _compute_dtype(dtype: Any) -> torch.dtype:
    """float32/float64 as given, float16/bfloat16 in float32, integers and booleans in float64."""
    if dtype in (torch.float32, torch.float64, np.float32, np.float64):
        return torch.float64 if dtype in (torch.float64, np.float64) else torch.float32
    if dtype in (torch.float16, torch.bfloat16, np.float16):
        return torch.float32
    return torch.float64


def _start(lead: Any, mask: Any) -> tuple[torch.device, torch.dtype, torch.Tensor]:
    """(device, compute dtype, boolean real-token mask on that device) decided by `lead`."""
    device = lead.device if isinstance(lead, torch.Tensor) else torch.device("cpu")
    if isinstance(mask, torch.Tensor):
        real = mask.to(device).bool()  # == (mask != 0), several times faster on CPU
    else:
        real = torch.from_numpy(np.asarray(mask) != 0).to(device)
    return device, _compute_dtype(lead.dtype), real


_NP_DTYPES = {torch.float32: np.dtype(np.float32), torch.float64: np.dtype(np.float64)}


def _t(x: Any, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """`x` (array or tensor) as a tensor of `dtype` on `device`."""
    if not isinstance(x, torch.Tensor):
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=_NP_DTYPES[dtype]))
    return x.to(device=device, dtype=dtype)


def _back(out: torch.Tensor, given: Any) -> Any:
    """A result in the caller's type: a tensor in given's float dtype, or a NumPy array."""
    if isinstance(given, torch.Tensor):
        return out.to(given.dtype if given.dtype.is_floating_point else torch.float64)
    dtype = given.dtype if given.dtype.kind == "f" else np.dtype(np.float64)
    return out.cpu().numpy().astype(dtype, copy=False)


def _kl(r: Any, estimator: str) -> Any:
    """Per-token KL estimate (see `token_kl`) of r = ref_logp - logp, elementwise, for a
    tensor (differentiable) or a NumPy array."""
    if estimator == "k1":
        return -r
    if estimator == "k2":
        return 0.5 * r**2
    # expm1, not exp(r) - 1: near the reference (|r| ~ 1e-3) float32 exp(r) - 1 - r keeps
    # 1-2 significant digits of k3 ~ r^2 / 2 (5% off at r = 1e-3); expm1 costs ~1.4x exp
    return (np.expm1(r) if isinstance(r, np.ndarray) else torch.expm1(r)) - r


def _check_estimator(estimator: str) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown KL estimator {estimator!r}; expected one of {ESTIMATORS}")


def _np_for_numba(x: Any, dtype: np.dtype) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        if x.device.type == "cpu" and x.dtype in _NP_DTYPES:
            x = _cpu_array(x)  # a view: no torch dispatch (µs each on a few dozen numbers)
        else:
            x = x.detach().cpu()
            if not x.dtype.is_floating_point or x.itemsize < 4:  # bool/int/bf16: NumPy-safe
                x = x.double()
            x = x.numpy()
    return np.ascontiguousarray(x, dtype=dtype)


@njit(cache=True, nogil=True)
def _gae_kernel(rewards, values, mask, gamma, lam):  # pragma: no cover - compiled
    """The loop of the reference, compiled (lazily per dtype, cached on disk). Accumulates
    in the arrays' dtype: gamma and lam are cast first, a float literal would promote."""
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


# -------------------------------------------------------------------------- public API


def token_rewards(
    scores: ArrayT,
    logprobs: ArrayT,
    ref_logprobs: ArrayT,
    mask: ArrayT,
    kl_coef: float,
    estimator: str = "k1",
) -> tuple[ArrayT, ArrayT]:
    """Per-token PPO rewards: KL penalty on every real token, sequence score on the last.

    Args:
        scores: (B,) one scalar reward per response (from `rewards.score`).
        logprobs: (B, T) log-probabilities of the sampled response tokens under the policy.
        ref_logprobs: (B, T) the same tokens' log-probabilities under the reference model.
        mask: (B, T) non-zero on real response tokens (right padding expected; any
            pattern is accepted, the score goes to the last non-zero position).
        kl_coef: weight of the KL penalty (>= 0), e.g. `AdaptiveKLController.value`.
        estimator: per-token KL estimate, with r = ref_logp - logp:
            "k1" = -r (unbiased, may be negative), "k2" = r^2 / 2,
            "k3" = exp(r) - 1 - r (unbiased and non-negative).

    Returns:
        (rewards, kl), both (B, T), zero on padding. An all-padding row receives no
        score: its rewards are all zero.
    """
    _check_estimator(estimator)
    scores, logprobs, ref_logprobs, mask = map(_as_array, (scores, logprobs, ref_logprobs, mask))
    kl_coef = float(kl_coef)
    if not (math.isfinite(kl_coef) and kl_coef >= 0.0):
        raise ValueError(f"kl_coef must be a finite number >= 0, got {kl_coef}")
    shape = _check_batch(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    if tuple(scores.shape) != shape[:1]:
        raise ValueError(f"scores must have shape ({shape[0]},), got {tuple(scores.shape)}")
    device, dtype, real = _start(logprobs, mask)
    if _plain_cpu(logprobs, ref_logprobs, mask):  # exactly token_kl's values, whichever path
        kl = torch.from_numpy(_numpy_kl(logprobs, ref_logprobs, mask, estimator))
    else:
        kl = _masked_kl(logprobs, ref_logprobs, real, estimator, device, dtype)
    rewards = -kl_coef * kl  # (B, T), 0 on padding
    if shape[0] and shape[1]:
        positions = torch.arange(shape[1], device=device).expand(shape)
        last = torch.where(real, positions, -1).amax(dim=1)  # (B,) -1 for an empty row
        bonus = torch.where(last >= 0, _t(scores, device, dtype), 0.0)
        rows = torch.arange(shape[0], device=device)
        rewards = rewards.index_put((rows, last.clamp(min=0)), bonus, accumulate=True)
    return _back(rewards, logprobs), _back(kl, logprobs)


def gae(
    rewards: ArrayT,
    values: ArrayT,
    mask: ArrayT,
    gamma: float,
    lam: float,
) -> tuple[ArrayT, ArrayT]:
    """Generalised Advantage Estimation over a masked (B, T) batch.

    For a real token t whose next real token in its row is n (none after the last):
        delta_t = rewards_t + gamma * values_n - values_t    (values_n = 0 if no n)
        A_t     = delta_t + gamma * lam * A_n                (A_n = 0 if no n)
        returns_t = A_t + values_t
    i.e. the episode ends after the last real token. Padding gets A = returns = 0.

    Args:
        rewards: (B, T) per-token rewards, e.g. from `token_rewards`.
        values: (B, T) value-head estimates for the same positions.
        mask: (B, T) non-zero on real tokens.
        gamma: discount in [0, 1] (1.0 is usual for LM responses).
        lam: GAE lambda in [0, 1] (0.95 is usual).

    Returns:
        (advantages, returns), both (B, T). Whiten advantages with `whiten`.
    """
    gamma = _check_unit("gamma", gamma)
    lam = _check_unit("lam", lam)
    rewards, values, mask = map(_as_array, (rewards, values, mask))
    _check_batch(rewards=rewards, values=values, mask=mask)
    dtype = _NP_DTYPES[_compute_dtype(rewards.dtype)]
    real = mask.detach().bool().cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask) != 0
    adv, ret = _gae_kernel(_np_for_numba(rewards, dtype), _np_for_numba(values, dtype), real, gamma, lam)
    return _from_numpy(adv, rewards), _from_numpy(ret, rewards)


def _from_numpy(out: np.ndarray, given: Any) -> Any:
    if isinstance(given, torch.Tensor):
        return _back(torch.from_numpy(out).to(given.device), given)
    return _back(torch.from_numpy(out), given)


def whiten(x: ArrayT, mask: ArrayT, shift_mean: bool = True,
           all_reduce_sum: Callable[[Any], Any] | None = None) -> ArrayT:
    """Normalise x to zero mean and unit variance over the real positions of the WHOLE batch.

    Mean and variance (unbiased, n - 1) are taken over every position where mask is
    non-zero, across all rows, as PPO does for advantages; the result is
    (x - mean) / sqrt(var + 1e-8), plus the mean again when shift_mean is False.
    Padding positions come back as 0. With no real position the result is all zeros;
    with one, its variance is taken as 0. Works on NumPy arrays and torch tensors.

    `all_reduce_sum` (torch only) sums a tensor over processes, e.g. a
    ``torch.distributed.all_reduce`` wrapper: the statistics are then those of the union
    of every process's batch (data-parallel PPO), with the same formula.
    """
    x, mask = _as_array(x), _as_array(mask)
    _check_batch(x=x, mask=mask)
    if all_reduce_sum is not None and not isinstance(x, torch.Tensor):
        raise ValueError("whiten: all_reduce_sum needs torch tensors")
    device, dtype, real = _start(x, mask)
    xs = torch.where(real, _t(x, device, dtype), 0.0)
    total = all_reduce_sum or (lambda t: t)
    count, sum_x = total(torch.stack([real.sum().to(dtype), xs.sum()]))
    mean = sum_x / count.clamp(min=1)
    sq = total(torch.where(real, (xs - mean) ** 2, 0.0).sum())
    var = torch.where(count > 1, sq / (count - 1).clamp(min=1), 0.0)
    out = (xs - mean) * torch.rsqrt(var + WHITEN_EPS)
    if not shift_mean:
        out = out + mean
    return _back(torch.where(real, out, 0.0), x)


# ------------------------------------------------------------- critic-free estimators


def token_kl(
    logprobs: ArrayT,
    ref_logprobs: ArrayT,
    mask: ArrayT,
    estimator: str = "k3",
) -> ArrayT:
    """Per-token KL estimate between the policy and the reference model, as a loss term.

    GRPO keeps the KL out of the reward and adds ``beta * mean(token_kl(...))`` to the
    loss instead. With r = ref_logp - logp on a real token:

        k1 = -r                 gradient (in logp)  1                 expected gradient 0
        k2 = r^2 / 2            gradient           -r                 = grad KL(policy || ref)
        k3 = exp(r) - 1 - r     gradient  1 - exp(r) = 1 - p_ref / p  = grad KL(ref || policy)

    (expected over tokens sampled from the policy, the usual case). k3 is GRPO's
    (Shao et al. 2024): non-negative, an unbiased estimate of KL(policy || ref), and 0
    with zero gradient where the two models agree. k1 as a loss has zero expected
    gradient, so it only makes sense as a reward (`token_rewards`). Large r overflows
    exp(r) to inf on that token, which the caller's NaN guard sees; nothing is clamped.

    Args:
        logprobs: (B, T) log-probabilities of the sampled tokens under the policy (with
            grad when used as a loss: the result keeps it).
        ref_logprobs: (B, T) the same tokens under the frozen reference model.
        mask: (B, T) non-zero on real response tokens.
        estimator: "k1", "k2" or "k3" (the values `token_rewards` puts in its `kl`).

    Returns:
        (B, T) KL estimate, 0 on padding; padding may hold NaN/inf, and its gradient
        is exactly 0 there too.
    """
    _check_estimator(estimator)
    logprobs, ref_logprobs, mask = map(_as_array, (logprobs, ref_logprobs, mask))
    _check_batch(logprobs=logprobs, ref_logprobs=ref_logprobs, mask=mask)
    if _plain_cpu(logprobs, ref_logprobs, mask):
        return _from_numpy(_numpy_kl(logprobs, ref_logprobs, mask, estimator), logprobs)
    device, dtype, real = _start(logprobs, mask)
    return _back(_masked_kl(logprobs, ref_logprobs, real, estimator, device, dtype), logprobs)


def _numpy_kl(logprobs: Any, ref_logprobs: Any, mask: Any, estimator: str) -> np.ndarray:
    """`token_kl` in NumPy, for inputs that need no gradient on the CPU (torch's CPU
    where/expm1 cost 2-3x more); `token_rewards` takes the same values from here."""
    lp, ref, real = (_cpu_array(x) for x in (logprobs, ref_logprobs, mask))
    dtype = _NP_DTYPES[_compute_dtype(logprobs.dtype)]
    r = np.subtract(ref, lp, where=real != 0, out=np.zeros(lp.shape, dtype), casting="same_kind")
    return _kl(r, estimator)


def _plain_cpu(*xs: Any) -> bool:
    """NumPy arrays, or CPU tensors that need no gradient, all in dtypes NumPy holds."""
    return all(isinstance(x, np.ndarray) or (x.device.type == "cpu" and not x.requires_grad
                                             and x.dtype not in (torch.bfloat16, torch.float16))
               for x in xs)


def _cpu_array(x: Any) -> np.ndarray:
    """A NumPy view of a CPU tensor (no copy), or the array itself."""
    if isinstance(x, torch.Tensor):
        return (x.detach() if x.requires_grad else x).numpy()
    return np.asarray(x)


def _masked_kl(logprobs: Any, ref_logprobs: Any, real: torch.Tensor, estimator: str,
               device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    # r = 0 on padding before the formula: every estimator is then exactly 0 there, and no
    # NaN/inf of the padding reaches the backward pass (where, not *)
    r = torch.where(real, _t(ref_logprobs, device, dtype) - _t(logprobs, device, dtype), 0.0)
    return _kl(r, estimator)


def grpo(scores: ArrayT, mask: ArrayT, eps: float = GROUP_EPS) -> ArrayT:
    """GRPO advantages: each sample's score standardised within its prompt's group.

    For the k samples of one prompt with scores s_1..s_k, mean m and standard deviation
    sd (the sample standard deviation, divided by k - 1):

        A_j = (s_j - m) / (sd + eps)

    and A_j is the advantage of every real token of sample j (Shao et al. 2024, "outcome
    supervision"). No value head: the group is the baseline. A group whose scores are
    all equal (all pass, all fail) carries no signal and gets A = 0 exactly, never 0/0.

    Why the sample std (k - 1): TRL, OpenRLHF and veRL all use it (`torch.std`'s
    default), so advantages here equal theirs for the same scores and eps. The
    population std (k) would only rescale every advantage by sqrt(k / (k - 1)), a
    constant for a fixed k that the learning rate absorbs; with k = 2 the sample std
    gives A = +-1/sqrt(2) (before eps), the population std +-1. Without the division
    by sd (Dr. GRPO) the advantages are `rloo`'s times (k - 1) / k.

    Args:
        scores: (G, k) sequence scores: row g holds the k samples of prompt g. This
            layout is the guarantee that groups are whole: a trainer that shards or
            shuffles must move rows of this array (whole groups), never single samples.
            k >= 2; every score must be finite.
        mask: (G * k, T) non-zero on real response tokens; row g * k + j is sample j of
            prompt g (the order of ``scores.reshape(-1)``, which is how
            ``generate(num_return_sequences=k)`` and repeated prompts lay samples out).
        eps: added to sd (>= 0); 1e-6 as in veRL (TRL uses 1e-4).

    Returns:
        (G * k, T) token advantages, 0 on padding, in the dtype/kind of `scores`. Do not
        whiten them again over the batch: that would mix the groups.

    Raises:
        ValueError: scores not (G, k) with k >= 2, a NaN/inf score, or a mask whose
            row count is not G * k.
    """
    eps = float(eps)
    if not (math.isfinite(eps) and eps >= 0.0):
        raise ValueError(f"eps must be a finite number >= 0, got {eps}")
    return _group_advantages(scores, mask, "grpo", eps)


def rloo(scores: ArrayT, mask: ArrayT) -> ArrayT:
    """RLOO advantages: each sample's score minus the mean score of the other k - 1.

        A_j = s_j - (sum_i s_i - s_j) / (k - 1)

    (Kool et al. 2019, "Buy 4 REINFORCE samples, get a baseline for free"; Ahmadian et
    al. 2024). The baseline never includes the sample itself, so the estimate of the
    policy gradient stays unbiased; A_j = k / (k - 1) * (s_j - mean). Same layout,
    validation and token broadcast as `grpo`; equal scores in a group give A = 0.

    Args:
        scores: (G, k) sequence scores, k >= 2, all finite (see `grpo`).
        mask: (G * k, T) non-zero on real response tokens, row g * k + j = sample j of g.

    Returns:
        (G * k, T) token advantages, 0 on padding.
    """
    return _group_advantages(scores, mask, "rloo", 0.0)


def _group_advantages(scores: Any, mask: Any, estimator: str, eps: float) -> Any:
    scores, mask = _as_array(scores), _as_array(mask)
    if len(scores.shape) != 2:
        raise ValueError("scores must have shape (G, k): k samples of each of G prompts, "
                         f"got shape {tuple(scores.shape)}")
    n_groups, k = tuple(scores.shape)
    if k < 2:
        raise ValueError(f"{estimator} needs at least 2 samples per prompt (k >= 2) to form a "
                         f"baseline, got scores of shape {tuple(scores.shape)}")
    shape = _check_2d("mask", mask, None)
    if shape[0] != n_groups * k:
        raise ValueError(f"mask has {shape[0]} rows, expected G * k = {n_groups} * {k} = "
                         f"{n_groups * k} (one per sample, groups in order)")
    sc = _np_for_numba(scores, np.dtype(np.float64))
    adv = _group_values(sc, estimator == "grpo", eps)  # (G * k,) float64
    if adv is None:
        _raise_not_finite(sc)
    dtype = _compute_dtype(scores.dtype)
    if isinstance(mask, torch.Tensor) and mask.device.type != "cpu":
        # adv is finite, so a product with the 0/1 mask is exact (and cheaper than a where)
        out = torch.from_numpy(adv.astype(_NP_DTYPES[dtype])).to(mask.device)[:, None]
        return _back(out * mask.bool().view(torch.uint8), scores)
    if isinstance(mask, torch.Tensor):  # NumPy has no bf16 and Numba no f16: compare those first
        m = _cpu_array(mask.bool() if mask.dtype in (torch.bfloat16, torch.float16) else mask)
    else:
        m = mask if mask.dtype.isnative and mask.dtype != np.float16 else mask != 0
    out = _broadcast_rows(adv, m, np.empty(m.shape, _NP_DTYPES[dtype]))
    if isinstance(scores, np.ndarray):
        return out if out.dtype == scores.dtype else _back(torch.from_numpy(out), scores)
    result = torch.from_numpy(out)  # on the mask's device, the CPU
    return result if result.dtype == scores.dtype else _back(result, scores)


@njit(cache=True, nogil=True)
def _group_values(scores, grpo, eps):  # pragma: no cover - compiled
    """(G, k) float64 scores -> (G * k,) advantages, a tied group's exactly 0; None if a
    score is NaN/inf."""
    n_groups, k = scores.shape
    out = np.zeros(n_groups * k)
    for g in range(n_groups):
        row = scores[g]
        for j in range(k):
            if not np.isfinite(row[j]):
                return None
        if row.min() == row.max():
            continue
        total = 0.0
        for j in range(k):
            total += row[j]
        if grpo:
            mean = total / k
            sq = 0.0
            for j in range(k):
                sq += (row[j] - mean) ** 2
            std = np.sqrt(sq / (k - 1))
            for j in range(k):
                out[g * k + j] = (row[j] - mean) / (std + eps)
        else:
            for j in range(k):
                out[g * k + j] = row[j] - (total - row[j]) / (k - 1)
    return out


@njit(cache=True, nogil=True)
def _broadcast_rows(values, mask, out):  # pragma: no cover - compiled
    """out[i, t] = values[i] on real tokens (mask != 0), 0 on padding: one pass, no product."""
    zero = out.dtype.type(0.0)
    for i in range(mask.shape[0]):
        v = out.dtype.type(values[i])
        for t in range(mask.shape[1]):
            out[i, t] = v if mask[i, t] != 0 else zero
    return out


def _raise_not_finite(scores: np.ndarray) -> None:
    """ValueError naming the first NaN/inf score (scores are (G, k), float64)."""
    g, j = np.argwhere(~np.isfinite(scores))[0].tolist()
    raise ValueError(f"scores must be finite; scores[{g}, {j}] is {scores[g, j]} "
                     f"(sample {j} of group {g})")


# ----------------------------------------------------------------- line-level credit


def token_lines(text: str, offsets: Any, first_line: int = 1) -> np.ndarray:
    """The program line of each token: the line of the token's first character.

    Args:
        text: the text the offsets index into (the decoded response).
        offsets: (T, 2) character spans [start, end) of the tokens in `text`, as a
            Hugging Face fast tokenizer returns them (``return_offsets_mapping=True``,
            or `tokenizers`' ``Encoding.offsets``); a list of pairs or an array.
        first_line: the 1-based line of the program on which `text` starts. Feedback
            counts lines in the scored program ``code_prefix + response``, so this is
            ``code_prefix.count("\n") + 1``.

    Returns:
        (T,) int64: ``first_line`` + the number of newlines before the token's first
        character. A token that ends a line with its newline belongs to that line. A
        token with an empty span (special tokens: HF gives them (0, 0)) belongs to no
        line: 0, which `line_penalty` never penalises.

    Raises:
        ValueError: offsets not (T, 2) integers with 0 <= start <= end <= len(text), or
            first_line < 1.
    """
    if not isinstance(text, str):
        raise ValueError(f"text must be a str, got {type(text).__name__}")
    if isinstance(first_line, bool) or not isinstance(first_line, (int, np.integer)) or first_line < 1:
        raise ValueError(f"first_line must be an int >= 1, got {first_line!r}")
    spans = offsets.detach().cpu().numpy() if isinstance(offsets, torch.Tensor) else np.asarray(offsets)
    if spans.size == 0:
        return np.zeros(0, dtype=np.int64)
    if spans.ndim != 2 or spans.shape[1] != 2:
        raise ValueError(f"offsets must have shape (T, 2), got {spans.shape}")
    if spans.dtype.kind not in "iu":
        raise ValueError(f"offsets must be integers, got dtype {spans.dtype}")
    start, end = spans[:, 0].astype(np.int64), spans[:, 1].astype(np.int64)
    bad = np.flatnonzero((start < 0) | (end < start) | (end > len(text)))
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"offsets[{i}] = ({start[i]}, {end[i]}) is not a span of a text of "
                         f"{len(text)} characters")
    # newlines_before[c] = newlines in text[:c]; one pass over the text
    chars = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    newlines_before = np.concatenate(([0], np.cumsum(chars == ord("\n"))))
    lines = int(first_line) + newlines_before[start]
    return np.where(start == end, 0, lines).astype(np.int64)


def line_penalty(
    rewards: ArrayT,
    lines: ArrayT,
    error_lines: Sequence[Iterable[int]],
    mask: ArrayT,
    penalty: float,
) -> ArrayT:
    """Line-level credit: subtract `penalty` from every token of a line the feedback names.

    Execution feedback names lines of the scored program (a compile error, a runtime
    error's line, see `rewards.RewardBreakdown.error_lines`). The tokens on those lines
    get ``-penalty`` each, on top of the rewards already there (RLTF-style fine-grained
    feedback); every other token keeps its reward. An error on line 3 moves only line
    3's tokens; a clean program (no lines) moves nothing; a line outside the response
    (in the code prefix) matches no token and moves nothing.

    Args:
        rewards: (B, T) per-token rewards (e.g. `token_rewards`), or the token
            advantages of `grpo` / `rloo` in a critic-free trainer.
        lines: (B, T) integer program line of each token (`token_lines` per row; 0 for
            padding and tokens on no line).
        error_lines: B collections of 1-based line numbers, one per row (may be empty).
        mask: (B, T) non-zero on real response tokens.
        penalty: how much to subtract per token (finite, >= 0).

    Returns:
        (B, T) rewards with the penalty applied, 0 on padding.
    """
    penalty = float(penalty)
    if not (math.isfinite(penalty) and penalty >= 0.0):
        raise ValueError(f"penalty must be a finite number >= 0, got {penalty}")
    rewards, lines, mask = map(_as_array, (rewards, lines, mask))
    shape = _check_batch(rewards=rewards, lines=lines, mask=mask)
    flagged = _padded_lines(error_lines, shape[0])  # (B, E) int64, -1 = none
    device, dtype, real = _start(rewards, mask)
    r = torch.where(real, _t(rewards, device, dtype), 0.0)
    line = _t_lines(lines, device)  # (B, T)
    err = torch.from_numpy(flagged).to(device)  # (B, E)
    hit = (line.unsqueeze(-1) == err.unsqueeze(1)).any(dim=-1) & (line >= 1)  # (B, T)
    return _back(torch.where(real, torch.where(hit, r - penalty, r), 0.0), rewards)


def _padded_lines(error_lines: Sequence[Iterable[int]], n_rows: int) -> np.ndarray:
    """Per-row line sets as a (B, E) int64 array padded with -1 (validated: ints >= 1)."""
    if isinstance(error_lines, (str, bytes)) or not hasattr(error_lines, "__len__"):
        raise ValueError("error_lines must be a sequence with one collection of lines per row")
    if len(error_lines) != n_rows:
        raise ValueError(f"error_lines has {len(error_lines)} rows, expected {n_rows}")
    rows: list[list[int]] = []
    for b, row in enumerate(error_lines):
        if isinstance(row, (str, bytes)):
            raise ValueError(f"error_lines[{b}] must be a collection of ints, got a string")
        found = set()
        for line in row:
            if isinstance(line, bool) or not isinstance(line, (int, np.integer)) or line < 1:
                raise ValueError(f"error_lines[{b}] holds {line!r}; lines are ints >= 1")
            found.add(int(line))
        rows.append(sorted(found))
    out = np.full((n_rows, max((len(r) for r in rows), default=0)), -1, dtype=np.int64)
    for b, row in enumerate(rows):
        out[b, :len(row)] = row
    return out


def _t_lines(lines: Any, device: torch.device) -> torch.Tensor:
    if isinstance(lines, torch.Tensor):
        bad = lines.dtype.is_floating_point or lines.dtype == torch.bool
    else:
        bad = lines.dtype.kind not in "iu" and lines.size > 0
        if not bad:
            lines = torch.from_numpy(np.ascontiguousarray(lines, dtype=np.int64))
    if bad:
        raise ValueError(f"lines must hold integers, got dtype {lines.dtype}")
    if lines.numel() and bool(lines.min() < 0):
        raise ValueError("lines must be >= 0 (0: no line)")
    return lines.to(device=device, dtype=torch.int64)


# ------------------------------------------------------------------- KL controllers


class FixedKLController:
    """A constant KL coefficient. `update` does nothing; kept for a uniform interface."""

    def __init__(self, value: float) -> None:
        self.value = _check_coef(value)

    def update(self, current_kl: float, n_steps: int) -> float:
        """No-op; returns the (constant) coefficient."""
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (plain Python values)."""
        return {"kind": "fixed", "value": self.value}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()`."""
        _check_kind(state, "fixed")
        self.value = _check_coef(state["value"])


class AdaptiveKLController:
    """Adaptive KL coefficient of Ziegler et al. 2019 ("Fine-Tuning LMs from Human Preferences").

    After each batch, with the measured KL per sequence ``current_kl`` and the number
    of samples ``n_steps`` it was measured on:

        error = clip(current_kl / target - 1, -0.2, 0.2)
        value *= 1 + error * n_steps / horizon

    so the coefficient grows when the policy drifts past the target KL and shrinks
    when it stays below; ``horizon`` sets how fast (in samples).
    """

    def __init__(self, init_value: float, target: float, horizon: float) -> None:
        self.value = _check_coef(init_value)
        self.target = float(target)
        self.horizon = float(horizon)
        if not (math.isfinite(self.target) and self.target > 0):
            raise ValueError(f"target KL must be a finite number > 0, got {target}")
        if not (math.isfinite(self.horizon) and self.horizon > 0):
            raise ValueError(f"horizon must be a finite number > 0, got {horizon}")

    def update(self, current_kl: float, n_steps: int) -> float:
        """Adjust the coefficient from the KL measured on `n_steps` samples; returns it."""
        current_kl = float(current_kl)
        if not math.isfinite(current_kl):
            raise ValueError(f"current_kl must be finite, got {current_kl}")
        if n_steps < 0:
            raise ValueError(f"n_steps must be >= 0, got {n_steps}")
        error = min(max(current_kl / self.target - 1.0, -0.2), 0.2)
        self.value *= 1.0 + error * n_steps / self.horizon
        return self.value

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly (plain Python floats round-trip bit for bit)."""
        return {"kind": "adaptive", "value": self.value, "target": self.target,
                "horizon": self.horizon}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore from `state_dict()`."""
        _check_kind(state, "adaptive")
        self.value = _check_coef(state["value"])
        self.target = float(state["target"])
        self.horizon = float(state["horizon"])


def make_kl_controller(
    kl_coef: float, target: float | None = None, horizon: float = 10000.0
) -> FixedKLController | AdaptiveKLController:
    """A fixed controller when `target` is None, else an adaptive one aiming at `target`."""
    if target is None:
        return FixedKLController(kl_coef)
    return AdaptiveKLController(kl_coef, target, horizon)


def _check_coef(value: Any) -> float:
    value = float(value)
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"KL coefficient must be a finite number >= 0, got {value}")
    return value


def _check_kind(state: dict[str, Any], kind: str) -> None:
    if state.get("kind") != kind:
        raise ValueError(f"state_dict is for a {state.get('kind')!r} KL controller, not {kind!r}")
