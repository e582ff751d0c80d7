"""Token rewards, GAE, whitening and KL controllers: Numba == torch == plain Python."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core import _shaping_reference as ref
from core import shaping

torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
ESTIMATORS = ["k1", "k2", "k3"]


# ----------------------------------------------------------------------------- data


@st.composite
def batches(draw: st.DrawFn) -> dict:
    """A random (B, T) batch: right-padded or arbitrary masks, all-padding rows, garbage padding."""
    n_rows = draw(st.integers(0, 6))
    n_steps = draw(st.integers(0, 40))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):  # right padding, the trainer's layout
        lengths = rng.integers(0, n_steps + 1, size=n_rows)
        if n_rows and draw(st.booleans()):
            lengths[rng.integers(n_rows)] = 0  # an empty response
        mask = (np.arange(n_steps)[None, :] < lengths[:, None]).astype(np.int64)
    else:  # any pattern, holes included
        mask = (rng.random((n_rows, n_steps)) < draw(st.floats(0.0, 1.0))).astype(np.int64)
    shape = (n_rows, n_steps)
    logprobs = -rng.exponential(2.0, size=shape)
    ref_logprobs = logprobs + rng.normal(0.0, 0.5, size=shape)
    values = rng.normal(0.0, 1.0, size=shape)
    garbage = draw(st.sampled_from([0.0, np.nan, np.inf, -np.inf, 1e30]))
    for arr in (logprobs, ref_logprobs, values):
        arr[mask == 0] = garbage  # padding must never leak into results
    return {
        "scores": rng.normal(0.0, 2.0, size=n_rows),
        "logprobs": logprobs,
        "ref_logprobs": ref_logprobs,
        "values": values,
        "mask": mask,
        "kl_coef": draw(st.floats(0.0, 1.0)),
        "gamma": draw(st.floats(0.0, 1.0)),
        "lam": draw(st.floats(0.0, 1.0)),
        "estimator": draw(st.sampled_from(ESTIMATORS)),
    }


def t(x: np.ndarray, device: str = "cpu") -> torch.Tensor:
    return torch.as_tensor(x, device=device)


def close(a, b, rtol: float = 1e-9, atol: float = 1e-9) -> None:
    a = a.cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)
    b = b.cpu().numpy() if isinstance(b, torch.Tensor) else np.asarray(b, dtype=np.float64)
    if a.size == b.size == 0:  # the reference returns [] for an empty batch
        b = b.reshape(a.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ------------------------------------------------------------------ three-way parity


@settings(max_examples=150, deadline=None)
@given(batches())
def test_token_rewards_numba_torch_reference_agree(d: dict) -> None:
    args = (d["scores"], d["logprobs"], d["ref_logprobs"], d["mask"], d["kl_coef"], d["estimator"])
    want_r, want_kl = ref.token_rewards(*args)
    got_r, got_kl = shaping.token_rewards(*args, backend="numba")
    close(got_r, want_r)
    close(got_kl, want_kl)
    for device in DEVICES:
        targs = tuple(t(a, device) for a in args[:4]) + args[4:]
        tr, tkl = shaping.token_rewards(*targs, backend="torch")
        assert tr.device.type == device and tr.dtype == torch.float64
        close(tr, want_r)
        close(tkl, want_kl)
    assert np.isfinite(got_r).all() and np.isfinite(got_kl).all()


@settings(max_examples=150, deadline=None)
@given(batches())
def test_gae_numba_torch_reference_agree(d: dict) -> None:
    rewards = np.array(ref.token_rewards(d["scores"], d["logprobs"], d["ref_logprobs"],
                                         d["mask"], d["kl_coef"], d["estimator"])[0])
    rewards = rewards.reshape(d["mask"].shape)
    args = (rewards, d["values"], d["mask"], d["gamma"], d["lam"])
    want_adv, want_ret = ref.gae(*args)
    adv, ret = shaping.gae(*args, backend="numba")
    close(adv, want_adv)
    close(ret, want_ret)
    for device in DEVICES:
        tadv, tret = shaping.gae(t(rewards, device), t(d["values"], device), t(d["mask"], device),
                                 d["gamma"], d["lam"], backend="torch")
        close(tadv, want_adv)
        close(tret, want_ret)
    assert np.isfinite(adv).all() and (adv[d["mask"] == 0] == 0).all()


@settings(max_examples=100, deadline=None)
@given(batches(), st.booleans())
def test_whiten_numpy_torch_reference_agree(d: dict, shift_mean: bool) -> None:
    x = np.where(d["mask"] != 0, d["values"], 0.0)
    want = ref.whiten(x, d["mask"], shift_mean)
    close(shaping.whiten(x, d["mask"], shift_mean), want, rtol=1e-7, atol=1e-7)
    for device in DEVICES:
        close(shaping.whiten(t(x, device), t(d["mask"], device), shift_mean), want,
              rtol=1e-7, atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(batches())
def test_float32_paths_agree_with_float64_reference(d: dict) -> None:
    m = d["mask"]
    rewards = np.where(m != 0, d["values"], 0.0).astype(np.float32)
    values = np.where(m != 0, d["ref_logprobs"], 0.0).astype(np.float32)
    want_adv, _ = ref.gae(rewards, values, m, d["gamma"], d["lam"])
    adv_np, _ = shaping.gae(rewards, values, m, d["gamma"], d["lam"])
    adv_t, _ = shaping.gae(t(rewards), t(values), t(m), d["gamma"], d["lam"], backend="torch")
    assert adv_np.dtype == np.float32 and adv_t.dtype == torch.float32
    close(adv_np, want_adv, rtol=1e-4, atol=1e-4)
    close(adv_t, want_adv, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------- behaviour, derived by hand


def test_score_sits_on_last_real_token_never_on_padding() -> None:
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    zeros = np.zeros(mask.shape)
    scores = np.array([2.0, -3.0, 7.0])
    for backend in ("numba", "torch"):
        rewards, kl = shaping.token_rewards(scores, zeros, zeros, mask, 0.5, backend=backend)
        expected = np.zeros(mask.shape)
        expected[0, 2] = 2.0  # last real token of a padded response
        expected[1, 4] = -3.0  # truncated response: the last position
        # the all-padding row gets nothing at all
        np.testing.assert_array_equal(rewards, expected)
        np.testing.assert_array_equal(kl, zeros)


def test_kl_estimators_by_hand() -> None:
    logp = np.array([[-1.0, -2.0, -0.5]])
    refp = np.array([[-1.5, -2.0, -0.25]])
    mask = np.ones((1, 3))
    scores = np.zeros(1)
    d = logp - refp  # 0.5, 0, -0.25
    expected = {"k1": d, "k2": 0.5 * d**2, "k3": np.exp(-d) - 1 + d}
    for est, want in expected.items():
        for backend in ("numba", "torch"):
            rewards, kl = shaping.token_rewards(scores, logp, refp, mask, 0.1, est, backend=backend)
            np.testing.assert_allclose(kl, want, rtol=1e-12, atol=1e-15)
            np.testing.assert_allclose(rewards, -0.1 * want, rtol=1e-12, atol=1e-15)
    _, k3 = shaping.token_rewards(scores, logp, refp, mask, 0.1, "k3")
    assert (k3 >= 0).all()


def test_gae_special_cases_by_hand() -> None:
    rewards = np.array([[1.0, 2.0, 3.0, 99.0]])
    values = np.array([[0.5, -1.0, 2.0, 99.0]])
    mask = np.array([[1, 1, 1, 0]])
    for backend in ("numba", "torch"):
        # gamma = lam = 1: returns are the undiscounted reward-to-go (Monte Carlo).
        adv, ret = shaping.gae(rewards, values, mask, 1.0, 1.0, backend=backend)
        np.testing.assert_allclose(ret, [[6.0, 5.0, 3.0, 0.0]])
        np.testing.assert_allclose(adv, [[5.5, 6.0, 1.0, 0.0]])
        # lam = 0: one-step TD error, the episode ends after the last real token.
        adv, _ = shaping.gae(rewards, values, mask, 0.9, 0.0, backend=backend)
        np.testing.assert_allclose(adv, [[1 + 0.9 * -1.0 - 0.5, 2 + 0.9 * 2.0 + 1.0, 3 - 2.0, 0]])


def textbook_gae(rewards: np.ndarray, values: np.ndarray, gamma: float, lam: float) -> np.ndarray:
    """CleanRL-style loop over one unpadded response (terminal after the last token)."""
    n = len(rewards)
    adv = np.zeros(n)
    last = 0.0
    for step in reversed(range(n)):
        next_value = values[step + 1] if step + 1 < n else 0.0
        delta = rewards[step] + gamma * next_value - values[step]
        last = delta + gamma * lam * last
        adv[step] = last
    return adv


def test_right_padded_batch_equals_per_response_textbook_gae() -> None:
    rng = np.random.default_rng(3)
    lengths = [7, 1, 12, 0, 12]
    mask = (np.arange(12)[None, :] < np.array(lengths)[:, None]).astype(np.float32)
    rewards, values = rng.normal(size=(2, 5, 12))
    for backend in ("numba", "torch"):
        adv, _ = shaping.gae(rewards, values, mask, 0.99, 0.95, backend=backend)
        for row, n in enumerate(lengths):
            np.testing.assert_allclose(adv[row, :n], textbook_gae(rewards[row, :n], values[row, :n],
                                                                  0.99, 0.95), rtol=1e-10)
            assert (adv[row, n:] == 0).all()


def test_whiten_statistics() -> None:
    rng = np.random.default_rng(5)
    x = rng.normal(3.0, 4.0, size=(8, 30))
    mask = rng.random((8, 30)) < 0.6
    for arr, m in ((x, mask), (t(x), t(mask))):
        w = np.asarray(shaping.whiten(arr, m))
        assert abs(w[mask].mean()) < 1e-9 and abs(w[mask].std(ddof=1) - 1) < 1e-6
        assert (w[~mask] == 0).all()
        kept = np.asarray(shaping.whiten(arr, m, shift_mean=False))
        np.testing.assert_allclose(kept[mask].mean(), x[mask].mean(), rtol=1e-9)
    empty = np.zeros((2, 3), dtype=bool)
    assert (shaping.whiten(x[:2, :3], empty) == 0).all()
    one = empty.copy()
    one[1, 2] = True
    assert (shaping.whiten(x[:2, :3], one) == 0).all()
    assert (shaping.whiten(t(x[:2, :3]), t(one)) == 0).all()


def test_dtypes_and_container_types_are_preserved() -> None:
    mask = np.array([[1, 1, 0]])
    for dtype in (np.float32, np.float64):
        x = np.ones((1, 3), dtype=dtype)
        out = shaping.gae(x, x, mask, 1.0, 0.9)
        assert all(isinstance(o, np.ndarray) and o.dtype == dtype for o in out)
        out = shaping.token_rewards(np.ones(1, dtype=dtype), x, x, mask, 0.1)
        assert all(o.dtype == dtype for o in out)
        assert shaping.whiten(x, mask).dtype == dtype
    assert shaping.gae(np.ones((1, 3), dtype=np.int64), np.ones((1, 3)), mask, 1, 1)[0].dtype == np.float64
    assert shaping.gae(np.ones((1, 3), dtype=np.float16), np.ones((1, 3)), mask, 1, 1)[0].dtype == np.float16
    for dtype in (torch.float32, torch.float64, torch.bfloat16, torch.float16):
        x = torch.ones((1, 3), dtype=dtype)
        adv, ret = shaping.gae(x, x, torch.tensor(mask), 1.0, 1.0)
        assert isinstance(adv, torch.Tensor) and adv.dtype == dtype and ret.dtype == dtype
        close(ret, [[1.0 + 1.0, 1.0, 0.0]], rtol=1e-2)  # reward-to-go
        r, _ = shaping.token_rewards(torch.ones(1, dtype=dtype), x, x, torch.tensor(mask), 0.1)
        assert r.dtype == dtype
        assert shaping.whiten(x, torch.tensor(mask)).dtype == dtype


def test_mixed_dtypes_and_mask_types_on_the_numba_path() -> None:
    rng = np.random.default_rng(2)
    rewards = torch.tensor(rng.normal(size=(3, 5)), dtype=torch.float32)
    values = torch.tensor(rng.normal(size=(3, 5)), dtype=torch.bfloat16)  # cast to rewards' dtype
    lengths = torch.tensor([5, 2, 0])
    for mask in (torch.arange(5)[None] < lengths[:, None],  # bool
                 (torch.arange(5)[None] < lengths[:, None]).to(torch.bfloat16),
                 (torch.arange(5)[None] < lengths[:, None]).long()):
        adv, ret = shaping.gae(rewards, values, mask, 0.9, 0.8)
        want_adv, want_ret = ref.gae(rewards.numpy(), values.float().numpy(),
                                     mask.float().numpy(), 0.9, 0.8)
        assert adv.dtype == torch.float32
        close(adv, want_adv, rtol=1e-5, atol=1e-5)
        close(ret, want_ret, rtol=1e-5, atol=1e-5)


def test_grad_tensors_take_the_torch_path_and_stay_differentiable() -> None:
    values = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    rewards = torch.randn(3, 6, dtype=torch.float64)
    mask = torch.ones(3, 6)
    adv, ret = shaping.gae(rewards, values, mask, 0.99, 0.95)
    ret.sum().backward()
    assert values.grad is not None and torch.isfinite(values.grad).all()
    want, _ = ref.gae(rewards.numpy(), values.detach().numpy(), mask.numpy(), 0.99, 0.95)
    close(adv.detach(), want)


def test_empty_batches() -> None:
    for shape in ((0, 5), (3, 0), (0, 0)):
        z = np.zeros(shape)
        for backend in ("numba", "torch"):
            r, kl = shaping.token_rewards(np.zeros(shape[0]), z, z, z, 0.1, backend=backend)
            adv, ret = shaping.gae(z, z, z, 1.0, 0.95, backend=backend)
            assert r.shape == kl.shape == adv.shape == ret.shape == shape


def test_bad_inputs_raise_value_error() -> None:
    z = np.zeros((2, 3))
    cases = [
        lambda: shaping.token_rewards(np.zeros(2), z, z, z, 0.1, "k4"),
        lambda: shaping.token_rewards(np.zeros(3), z, z, z, 0.1),
        lambda: shaping.token_rewards(np.zeros(2), z, np.zeros((2, 4)), z, 0.1),
        lambda: shaping.token_rewards(np.zeros(2), z, z, z, -1.0),
        lambda: shaping.token_rewards(np.zeros(2), z, z, z, float("nan")),
        lambda: shaping.token_rewards(np.zeros(2), np.zeros(3), np.zeros(3), np.zeros(3), 0.1),
        lambda: shaping.gae(z, z, z, 1.5, 0.9),
        lambda: shaping.gae(z, z, z, 0.9, float("nan")),
        lambda: shaping.gae(z, z, np.zeros((3, 2)), 0.9, 0.9),
        lambda: shaping.gae(z, z, z, 0.9, 0.9, backend="jax"),
        lambda: shaping.gae(z.astype(complex), z, z, 0.9, 0.9),
        lambda: shaping.whiten(np.zeros(3), np.zeros(3)),
    ]
    for case in cases:
        with pytest.raises(ValueError):
            case()


# -------------------------------------------------------------------- KL controllers


def test_adaptive_kl_controller_follows_ziegler_update() -> None:
    ctl = shaping.AdaptiveKLController(0.2, target=6.0, horizon=10000)
    assert ctl.update(12.0, 256) == pytest.approx(0.2 * (1 + 0.2 * 256 / 10000))  # clipped +20%
    before = ctl.value
    assert ctl.update(5.4, 100) == pytest.approx(before * (1 - 0.1 * 100 / 10000))
    before = ctl.value
    assert ctl.update(0.0, 50) == pytest.approx(before * (1 - 0.2 * 50 / 10000))  # clipped -20%
    before = ctl.value
    assert ctl.update(6.0, 1000) == before
    with pytest.raises(ValueError):
        ctl.update(float("nan"), 1)
    with pytest.raises(ValueError):
        shaping.AdaptiveKLController(0.1, target=0.0, horizon=10)


def test_kl_controller_state_resumes_exactly() -> None:
    rng = np.random.default_rng(11)
    kls = rng.exponential(6.0, size=40)
    full = shaping.make_kl_controller(0.1, target=6.0, horizon=500)
    for kl in kls:
        full.update(kl, 64)
    first = shaping.make_kl_controller(0.1, target=6.0, horizon=500)
    for kl in kls[:17]:
        first.update(kl, 64)
    saved = json.loads(json.dumps(first.state_dict()))  # survives a text checkpoint
    resumed = shaping.make_kl_controller(0.3, target=1.0, horizon=7)
    resumed.load_state_dict(saved)
    for kl in kls[17:]:
        resumed.update(kl, 64)
    assert resumed.value == full.value  # bit for bit
    assert resumed.state_dict() == full.state_dict()
    fixed = shaping.make_kl_controller(0.05)
    assert isinstance(fixed, shaping.FixedKLController)
    assert fixed.update(100.0, 64) == 0.05
    with pytest.raises(ValueError):
        fixed.load_state_dict(saved)  # an adaptive state does not fit a fixed controller
    assert math.isfinite(full.value) and full.value > 0
