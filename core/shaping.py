"""Token-level reward shaping, GAE and whitening for PPO on sequences.

A language model writes a response one token at a time; the reward model gives one
score for the whole response. PPO needs a reward per token, so (as in Ziegler et al.
2019 and the PPOCoder paper) each token gets a KL penalty that keeps the policy near
a frozen reference model, and the sequence score is added on the last real token:

    rewards[b, t] = -kl_coef * kl[b, t]                 for real tokens t
    rewards[b, last_real(b)] += scores[b]               EOS or truncation point

Generalised Advantage Estimation (Schulman et al. 2016) then turns per-token rewards
and the value head's estimates into advantages and returns, and `whiten` normalises
advantages over the whole batch.

Every function takes NumPy arrays or torch tensors and returns the same kind, with the
same floating dtype (integer inputs come back as float64; float16/bfloat16 are computed
in float32 and cast back). Shapes: ``scores`` (B,); everything else (B, T).

Backends (``backend=``):
  * ``"numba"``: compiled loops (`core._shaping_numba`), for NumPy arrays and CPU
    tensors (zero-copy). ``"auto"`` picks it for those inputs when the tensor does not
    require grad and its dtype is float32/float64.
  * ``"torch"``: vectorised tensor ops on any device with no Python loop over
    timesteps; ``"auto"`` picks it for CUDA/MPS tensors. GAE is a first-order linear
    recurrence ``X_t = c_t * X_{t+1} + d_t`` solved by a reverse Hillis-Steele scan:
    ceil(log2 T) steps, each composing every position with the one 2^k to its right
    (``d <- d + c * shift(d); c <- c * shift(c)``). Only products of the factors
    c_t in [0, 1] appear (no division, no logs), so it is stable for any gamma, lam;
    it agrees with the sequential loop to rounding (summation order differs).
A plain-Python reference of each function is in `core._shaping_reference`.

Mask convention: mask (B, T) is non-zero for real response tokens. Responses are
normally right-padded; padding holds arbitrary values (even NaN/inf) and never
contributes. Padding is transparent: the successor of a real token is the next real
token of its row, and after the last real token the episode ends (next value 0).
With right padding this is the textbook GAE. An all-padding row (empty response)
gets no score, zero rewards, zero KL, zero advantages and returns. Non-finite values
on real tokens (or in the score of a non-empty row) propagate to the outputs, so the
caller's NaN guard sees them.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from core._shaping_numba import ESTIMATORS, gae_kernel, token_rewards_kernel

ArrayT = TypeVar("ArrayT")
BACKENDS = ("auto", "numba", "torch")
WHITEN_EPS = 1e-8

__all__ = [
    "AdaptiveKLController",
    "FixedKLController",
    "gae",
    "make_kl_controller",
    "token_rewards",
    "whiten",
]


# --------------------------------------------------------------------------- dispatch


def _torch_module() -> Any:
    # torch is only looked up, never imported here: if it is not loaded yet, no
    # argument can be a tensor, and NumPy-only users skip its import cost.
    return sys.modules.get("torch")


def _is_tensor(x: Any) -> bool:
    torch = _torch_module()
    return torch is not None and isinstance(x, torch.Tensor)


def _pick_backend(lead: Any, backend: str, *others: Any) -> str:
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; expected one of {BACKENDS}")
    if not _is_tensor(lead):
        return "numba" if backend == "auto" else backend
    if backend == "numba" and lead.device.type != "cpu":
        raise ValueError(f"backend='numba' needs CPU tensors, got device {lead.device}")
    if backend != "auto":
        return backend
    torch = _torch_module()
    numba_ok = (
        lead.device.type == "cpu"
        and not any(_is_tensor(x) and x.requires_grad for x in (lead, *others))
        and lead.dtype in (torch.float32, torch.float64)
    )
    return "numba" if numba_ok else "torch"


def _arr(x: Any) -> Any:
    """Tensors pass through; anything else (lists, arrays) becomes a NumPy array."""
    return x if _is_tensor(x) else np.asarray(x)


def _check_2d(name: str, x: Any, shape: tuple[int, ...] | None) -> tuple[int, ...]:
    got = tuple(x.shape)
    if len(got) != 2:
        raise ValueError(f"{name} must have shape (B, T), got {got}")
    if shape is not None and got != shape:
        raise ValueError(f"{name} has shape {got}, expected {shape} like the other inputs")
    return got


def _check_unit(name: str, value: float) -> float:
    value = float(value)
    if not (0.0 <= value <= 1.0):
        raise ValueError(f"{name} must be in [0, 1], got {value}")
    return value


# -------------------------------------------------------------- NumPy / Numba helpers


def _np_dtypes(x: Any) -> tuple[np.dtype, np.dtype]:
    """(compute dtype, output dtype) for a NumPy input."""
    dtype = np.asarray(x).dtype
    if dtype in (np.float32, np.float64):
        return dtype, dtype
    if dtype == np.float16:
        return np.dtype(np.float32), dtype
    if dtype.kind in "biu":
        return np.dtype(np.float64), np.dtype(np.float64)
    raise ValueError(f"expected a real-valued array, got dtype {dtype}")


def _np(x: Any, dtype: np.dtype) -> np.ndarray:
    if _is_tensor(x):
        x = x.detach().cpu()
        if not x.dtype.is_floating_point or x.itemsize < 4:  # bool/int/bf16: NumPy-safe
            x = x.double()
        x = x.numpy()
    return np.ascontiguousarray(x, dtype=dtype)


def _np_mask(mask: Any) -> np.ndarray:
    if _is_tensor(mask):
        return np.ascontiguousarray((mask.detach() != 0).cpu().numpy())
    return np.ascontiguousarray(np.asarray(mask) != 0)


def _back(x: np.ndarray, like: Any, out_dtype: Any) -> Any:
    """Return a Numba result as the caller's type: array, or tensor on like's device."""
    if _is_tensor(like):
        torch = _torch_module()
        return torch.from_numpy(x).to(device=like.device, dtype=like.dtype)
    return x.astype(out_dtype, copy=False)


# --------------------------------------------------------------------- torch helpers


def _t_compute_dtype(x: Any) -> Any:
    torch = _torch_module()
    if x.dtype in (torch.float32, torch.float64):
        return x.dtype
    if x.dtype in (torch.float16, torch.bfloat16):
        return torch.float32
    if x.dtype.is_complex:
        raise ValueError(f"expected a real-valued tensor, got dtype {x.dtype}")
    return torch.float64


def _as_t(x: Any, like: Any, dtype: Any) -> Any:
    torch = _torch_module()
    return torch.as_tensor(x, device=like.device).to(dtype)


def _t_out_dtype(x: Any) -> Any:
    torch = _torch_module()
    return x.dtype if x.dtype.is_floating_point else torch.float64


def _reverse_linear_scan(coef: Any, inp: Any) -> Any:
    """Solve X_t = coef_t * X_{t+1} + inp_t (X_T = 0) along the last dim, in log2(T) steps.

    After the step with span s, (coef_t, inp_t) is the composition of positions
    t .. t+2s-1, i.e. X_t = coef_t * X_{t+2s} + inp_t; positions past the end are
    (0, 0), so once 2s >= T, inp_t is X_t.
    """
    torch = _torch_module()
    n_steps = inp.shape[-1]
    span = 1
    while span < n_steps:
        pad = (0, span)
        inp_next = torch.nn.functional.pad(inp[..., span:], pad)  # (B, T): value at t+span
        coef_next = torch.nn.functional.pad(coef[..., span:], pad)
        inp = inp + coef * inp_next
        coef = coef * coef_next
        span *= 2
    return inp


def _shift_left(x: Any) -> Any:
    """x[..., t+1] at position t, 0 at the end."""
    torch = _torch_module()
    return torch.nn.functional.pad(x[..., 1:], (0, 1))


# -------------------------------------------------------------------------- public API


def token_rewards(
    scores: ArrayT,
    logprobs: ArrayT,
    ref_logprobs: ArrayT,
    mask: ArrayT,
    kl_coef: float,
    estimator: str = "k1",
    backend: str = "auto",
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
        backend: "auto", "numba" or "torch" (see the module docstring).

    Returns:
        (rewards, kl), both (B, T), zero on padding. An all-padding row receives no
        score: its rewards are all zero.
    """
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown KL estimator {estimator!r}; expected one of {tuple(ESTIMATORS)}")
    scores, logprobs, ref_logprobs, mask = map(_arr, (scores, logprobs, ref_logprobs, mask))
    kl_coef = float(kl_coef)
    if not (math.isfinite(kl_coef) and kl_coef >= 0.0):
        raise ValueError(f"kl_coef must be a finite number >= 0, got {kl_coef}")
    shape = _check_2d("logprobs", logprobs, None)
    _check_2d("ref_logprobs", ref_logprobs, shape)
    _check_2d("mask", mask, shape)
    if tuple(scores.shape) != shape[:1]:
        raise ValueError(f"scores must have shape ({shape[0]},), got {tuple(scores.shape)}")
    chosen = _pick_backend(logprobs, backend, scores, ref_logprobs)

    if chosen == "numba":
        if _is_tensor(logprobs):
            dtype = out_dtype = np.dtype(str(logprobs.dtype).removeprefix("torch."))
        else:
            dtype, out_dtype = _np_dtypes(logprobs)
        rewards, kl = token_rewards_kernel(
            _np(scores, dtype), _np(logprobs, dtype), _np(ref_logprobs, dtype),
            _np_mask(mask), kl_coef, ESTIMATORS[estimator],
        )
        return _back(rewards, logprobs, out_dtype), _back(kl, logprobs, out_dtype)

    torch = _torch_module()
    if torch is None:
        import torch  # noqa: F811 - backend="torch" on NumPy input
    lead = logprobs if _is_tensor(logprobs) else torch.from_numpy(np.asarray(logprobs))
    out_dtype = _t_out_dtype(lead)
    dtype = _t_compute_dtype(lead)
    lp = _as_t(logprobs, lead, dtype)
    ref = _as_t(ref_logprobs, lead, dtype)
    real = _as_t(mask, lead, torch.bool) if not _is_tensor(mask) else (mask.to(lead.device) != 0)
    sc = _as_t(scores, lead, dtype)
    if estimator == "k1":
        kl = lp - ref
    elif estimator == "k2":
        kl = 0.5 * (lp - ref) ** 2
    else:
        r = ref - lp
        kl = torch.expm1(r) - r
    zero = torch.zeros((), dtype=dtype, device=lead.device)
    kl = torch.where(real, kl, zero)  # where, not *: padding may hold NaN/inf
    rewards = torch.where(real, -kl_coef * kl, zero)
    if shape[0] and shape[1]:
        positions = torch.arange(shape[1], device=lead.device).expand(shape)
        last = torch.where(real, positions, -1).amax(dim=1)  # (B,) -1 for an empty row
        bonus = torch.where(last >= 0, sc, zero)
        rows = torch.arange(shape[0], device=lead.device)
        rewards = rewards.index_put((rows, last.clamp(min=0)), bonus, accumulate=True)
    if _is_tensor(logprobs):
        return rewards.to(out_dtype), kl.to(out_dtype)
    out_np = _np_dtypes(logprobs)[1]
    return rewards.numpy().astype(out_np), kl.numpy().astype(out_np)


def gae(
    rewards: ArrayT,
    values: ArrayT,
    mask: ArrayT,
    gamma: float,
    lam: float,
    backend: str = "auto",
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
        backend: "auto", "numba" or "torch".

    Returns:
        (advantages, returns), both (B, T). Whiten advantages with `whiten`.
    """
    gamma = _check_unit("gamma", gamma)
    lam = _check_unit("lam", lam)
    rewards, values, mask = map(_arr, (rewards, values, mask))
    shape = _check_2d("rewards", rewards, None)
    _check_2d("values", values, shape)
    _check_2d("mask", mask, shape)
    chosen = _pick_backend(rewards, backend, values)

    if chosen == "numba":
        if _is_tensor(rewards):
            dtype = out_dtype = np.dtype(str(rewards.dtype).removeprefix("torch."))
        else:
            dtype, out_dtype = _np_dtypes(rewards)
        adv, ret = gae_kernel(_np(rewards, dtype), _np(values, dtype), _np_mask(mask), gamma, lam)
        return _back(adv, rewards, out_dtype), _back(ret, rewards, out_dtype)

    torch = _torch_module()
    if torch is None:
        import torch  # noqa: F811 - backend="torch" on NumPy input
    lead = rewards if _is_tensor(rewards) else torch.from_numpy(np.asarray(rewards))
    out_dtype = _t_out_dtype(lead)
    dtype = _t_compute_dtype(lead)
    real = _as_t(mask, lead, torch.bool) if not _is_tensor(mask) else (mask.to(lead.device) != 0)
    zero = torch.zeros((), dtype=dtype, device=lead.device)
    one = torch.ones((), dtype=dtype, device=lead.device)
    r = torch.where(real, _as_t(rewards, lead, dtype), zero)
    v = torch.where(real, _as_t(values, lead, dtype), zero)
    # Value of the first real token at or after t: padding passes the later one through.
    pass_through = torch.where(real, zero, one)  # (B, T)
    value_from = _reverse_linear_scan(pass_through, v)
    next_value = _shift_left(value_from)  # value of the next real token after t, else 0
    delta = torch.where(real, r + gamma * next_value - v, zero)
    decay = torch.where(real, torch.full_like(r, gamma * lam), one)
    adv = torch.where(real, _reverse_linear_scan(decay, delta), zero)
    ret = torch.where(real, adv + v, zero)
    if _is_tensor(rewards):
        return adv.to(out_dtype), ret.to(out_dtype)
    out_np = _np_dtypes(rewards)[1]
    return adv.numpy().astype(out_np), ret.numpy().astype(out_np)


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
    x, mask = _arr(x), _arr(mask)
    shape = _check_2d("x", x, None)
    _check_2d("mask", mask, shape)
    if _is_tensor(x):
        torch = _torch_module()
        dtype = _t_compute_dtype(x)
        out_dtype = _t_out_dtype(x)
        real = mask.to(x.device) != 0
        zero = torch.zeros((), dtype=dtype, device=x.device)
        xs = torch.where(real, x.to(dtype), zero)
        total = all_reduce_sum or (lambda t: t)
        count, sum_x = total(torch.stack([real.sum().to(dtype), xs.sum()]))
        mean = sum_x / count.clamp(min=1)
        sq = total(torch.where(real, (xs - mean) ** 2, zero).sum())
        var = torch.where(count > 1, sq / (count - 1).clamp(min=1), zero)
        out = (xs - mean) * torch.rsqrt(var + WHITEN_EPS)
        if not shift_mean:
            out = out + mean
        return torch.where(real, out, zero).to(out_dtype)

    if all_reduce_sum is not None:
        raise ValueError("whiten: all_reduce_sum needs torch tensors")
    dtype, out_dtype = _np_dtypes(x)
    xs = np.asarray(x, dtype=dtype)
    real = np.asarray(mask) != 0
    count = int(real.sum())
    if count == 0:
        return np.zeros(shape, dtype=out_dtype)
    vals = xs[real]
    mean = vals.mean(dtype=dtype)
    var = ((vals - mean) ** 2).sum(dtype=dtype) / (count - 1) if count > 1 else dtype.type(0)
    out = (xs - mean) / np.sqrt(var + dtype.type(WHITEN_EPS))
    if not shift_mean:
        out = out + mean
    return np.where(real, out, dtype.type(0)).astype(out_dtype)


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
