"""Token rewards, GAE, whitening and KL controllers: core.shaping == the plain-Python reference."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core import shaping
from tests import shaping_reference as ref

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
def test_token_rewards_agree_with_reference(d: dict) -> None:
    args = (d["scores"], d["logprobs"], d["ref_logprobs"], d["mask"], d["kl_coef"], d["estimator"])
    want_r, want_kl = ref.token_rewards(*args)
    got_r, got_kl = shaping.token_rewards(*args)
    close(got_r, want_r)
    close(got_kl, want_kl)
    for device in DEVICES:
        targs = tuple(t(a, device) for a in args[:4]) + args[4:]
        tr, tkl = shaping.token_rewards(*targs)
        assert tr.device.type == device and tr.dtype == torch.float64
        close(tr, want_r)
        close(tkl, want_kl)
    assert np.isfinite(got_r).all() and np.isfinite(got_kl).all()


@settings(max_examples=150, deadline=None)
@given(batches())
def test_gae_agree_with_reference(d: dict) -> None:
    rewards = np.array(ref.token_rewards(d["scores"], d["logprobs"], d["ref_logprobs"],
                                         d["mask"], d["kl_coef"], d["estimator"])[0])
    rewards = rewards.reshape(d["mask"].shape)
    args = (rewards, d["values"], d["mask"], d["gamma"], d["lam"])
    want_adv, want_ret = ref.gae(*args)
    adv, ret = shaping.gae(*args)
    close(adv, want_adv)
    close(ret, want_ret)
    for device in DEVICES:
        tadv, tret = shaping.gae(t(rewards, device), t(d["values"], device), t(d["mask"], device),
                                 d["gamma"], d["lam"])
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
    adv_t, _ = shaping.gae(t(rewards), t(values), t(m), d["gamma"], d["lam"])
    assert adv_np.dtype == np.float32 and adv_t.dtype == torch.float32
    close(adv_np, want_adv, rtol=1e-4, atol=1e-4)
    close(adv_t, want_adv, rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------- behaviour, derived by hand


def test_score_sits_on_last_real_token_never_on_padding() -> None:
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [0, 0, 0, 0, 0]])
    zeros = np.zeros(mask.shape)
    scores = np.array([2.0, -3.0, 7.0])
    rewards, kl = shaping.token_rewards(scores, zeros, zeros, mask, 0.5)
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
        rewards, kl = shaping.token_rewards(scores, logp, refp, mask, 0.1, est)
        np.testing.assert_allclose(kl, want, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(rewards, -0.1 * want, rtol=1e-12, atol=1e-15)
    _, k3 = shaping.token_rewards(scores, logp, refp, mask, 0.1, "k3")
    assert (k3 >= 0).all()


def test_gae_special_cases_by_hand() -> None:
    rewards = np.array([[1.0, 2.0, 3.0, 99.0]])
    values = np.array([[0.5, -1.0, 2.0, 99.0]])
    mask = np.array([[1, 1, 1, 0]])
    # gamma = lam = 1: returns are the undiscounted reward-to-go (Monte Carlo).
    adv, ret = shaping.gae(rewards, values, mask, 1.0, 1.0)
    np.testing.assert_allclose(ret, [[6.0, 5.0, 3.0, 0.0]])
    np.testing.assert_allclose(adv, [[5.5, 6.0, 1.0, 0.0]])
    # lam = 0: one-step TD error, the episode ends after the last real token.
    adv, _ = shaping.gae(rewards, values, mask, 0.9, 0.0)
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
    adv, _ = shaping.gae(rewards, values, mask, 0.99, 0.95)
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


def test_mixed_dtypes_and_mask_types() -> None:
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


def test_gae_gives_targets_without_grad_and_token_rewards_keep_it() -> None:
    values = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    rewards = torch.randn(3, 6, dtype=torch.float64)
    mask = torch.ones(3, 6)
    adv, ret = shaping.gae(rewards, values, mask, 0.99, 0.95)
    assert not adv.requires_grad and not ret.requires_grad  # advantages and returns are targets
    want, _ = ref.gae(rewards.numpy(), values.detach().numpy(), mask.numpy(), 0.99, 0.95)
    close(adv, want)
    logp = torch.randn(3, 6, dtype=torch.float64, requires_grad=True)
    shaped, _ = shaping.token_rewards(torch.ones(3), logp, logp.detach() + 0.1, mask, 0.5, "k3")
    shaped.sum().backward()
    assert logp.grad is not None and torch.isfinite(logp.grad).all() and (logp.grad != 0).all()


def test_empty_batches() -> None:
    for shape in ((0, 5), (3, 0), (0, 0)):
        for box in (np.zeros, torch.zeros):
            z = box(shape)
            r, kl = shaping.token_rewards(box(shape[0]), z, z, z, 0.1)
            adv, ret = shaping.gae(z, z, z, 1.0, 0.95)
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


# ------------------------------------------------------- critic-free estimators (GRPO, RLOO)

EXECUTION_VALUES = [1.0, -0.3, -0.6, -1.0]  # the discrete scores execution feedback gives


@st.composite
def groups(draw: st.DrawFn) -> dict:
    """(G, k) scores (ties, all-equal groups, continuous values) and a (G * k, T) mask."""
    n_groups = draw(st.integers(0, 5))
    k = draw(st.integers(2, 6))
    n_steps = draw(st.integers(0, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["discrete", "continuous", "mixed"]))
    scores = rng.normal(0.0, 2.0, size=(n_groups, k))
    if kind != "continuous":
        discrete = rng.choice(EXECUTION_VALUES, size=(n_groups, k))
        scores = discrete if kind == "discrete" else discrete + rng.choice([0.0, 0.25, 1.0], size=(n_groups, k))
    if n_groups and draw(st.booleans()):
        scores[rng.integers(n_groups)] = draw(st.sampled_from([0.1, -1.0, 0.0, 3.7]))  # all equal
    rows = n_groups * k
    if draw(st.booleans()):
        lengths = rng.integers(0, n_steps + 1, size=rows)
        mask = (np.arange(n_steps)[None, :] < lengths[:, None]).astype(np.int64)
    else:
        mask = (rng.random((rows, n_steps)) < draw(st.floats(0.0, 1.0))).astype(np.int64)
    return {"scores": scores, "mask": mask, "eps": draw(st.sampled_from([0.0, 1e-6, 1e-4]))}


def group_estimator(name: str, scores, mask, eps: float):
    if name == "grpo":
        return shaping.grpo(scores, mask, eps=eps)
    return shaping.rloo(scores, mask)


@settings(max_examples=150, deadline=None)
@given(groups(), st.sampled_from(["grpo", "rloo"]))
def test_group_advantages_agree_with_reference(d: dict, name: str) -> None:
    scores, mask, eps = d["scores"], d["mask"], d["eps"]
    want = ref.group_advantages(scores, mask, name, eps)
    got = group_estimator(name, scores, mask, eps)
    assert got.shape == mask.shape and got.dtype == np.float64
    close(got, want)
    for device in DEVICES:
        tgot = group_estimator(name, t(scores, device), t(mask, device), eps)
        assert tgot.device.type == device and tgot.dtype == torch.float64
        close(tgot, want)
    assert np.isfinite(got).all() and (got[mask == 0] == 0).all()
    # each sample's advantage sits on every real token of its row; a group's sum is 0
    k = scores.shape[1]
    per_sample = np.array([row[m != 0][0] if (m != 0).any() else np.nan for row, m in zip(got, mask)],
                          dtype=np.float64)
    full = np.array(ref.group_advantages(scores, np.ones((len(mask), 1)), name, eps)).reshape(-1)
    seen = ~np.isnan(per_sample)
    np.testing.assert_allclose(per_sample[seen], full[seen], rtol=1e-12, atol=1e-12)
    assert np.allclose(full.reshape(-1, k).sum(axis=1), 0.0, atol=1e-9)
    equal = scores.max(axis=1) == scores.min(axis=1)
    assert (full.reshape(-1, k)[equal] == 0.0).all()  # exactly 0, never NaN


@settings(max_examples=40, deadline=None)
@given(groups(), st.sampled_from(["grpo", "rloo"]))
def test_group_advantages_float32_paths(d: dict, name: str) -> None:
    scores = d["scores"].astype(np.float32)
    want = ref.group_advantages(scores, d["mask"], name, 1e-6)
    got = group_estimator(name, scores, d["mask"], 1e-6)
    tgot = group_estimator(name, t(scores), t(d["mask"]), 1e-6)
    assert got.dtype == np.float32 and tgot.dtype == torch.float32
    close(got, want, rtol=1e-4, atol=1e-4)
    close(tgot, want, rtol=1e-4, atol=1e-4)


def test_group_advantages_read_any_score_kind() -> None:
    """Scores reach the kernel as a NumPy view where they can (CPU float32/float64, with or
    without a gradient, strided) and converted where they cannot (integers, bfloat16):
    every kind gives the reference's advantages."""
    rng = np.random.default_rng(5)
    scores = rng.integers(-2, 3, size=(3, 4)).astype(np.float64)
    mask = rng.random((12, 7)) < 0.7
    for name in ("grpo", "rloo"):
        want = np.asarray(ref.group_advantages(scores, mask.astype(int), name, 1e-6))
        kinds = [t(scores), t(scores).float(), t(scores).requires_grad_(), t(scores).long(),
                 t(scores).to(torch.bfloat16), t(np.stack([scores, -scores], axis=2))[:, :, 0]]
        for sc in kinds:
            got = group_estimator(name, sc, mask, 1e-6)
            assert not got.requires_grad
            tol = 1e-2 if sc.dtype == torch.bfloat16 else 1e-6  # a bf16 result holds 3 digits
            close(got.double(), want, rtol=tol, atol=tol)


def test_group_advantages_read_any_mask_kind() -> None:
    """The mask is read as non-zero, whatever its dtype or memory layout: bool, integers,
    float16/bfloat16 tensors (no NumPy/Numba view), weights other than 1, strided views."""
    rng = np.random.default_rng(3)
    scores = rng.choice(EXECUTION_VALUES, size=(3, 4)) + rng.random((3, 4))
    real = rng.random((12, 9)) < 0.6
    for name in ("grpo", "rloo"):
        want = np.asarray(ref.group_advantages(scores, real.astype(int), name, 1e-6))
        masks = [real, real.astype(np.int32), real * 2.5, np.asfortranarray(real.astype(np.float32)),
                 real.astype(np.float16), real.astype(">f4"),
                 real.T.copy().T,
                 t(real), t(real).to(torch.bfloat16), t(real).to(torch.float16) * 3,
                 t(np.stack([real, ~real], axis=2).astype(np.float32))[:, :, 0]]
        for mask in masks:
            got = group_estimator(name, scores, mask, 1e-6)
            close(got, want)
            tgot = group_estimator(name, t(scores), mask, 1e-6)
            assert tgot.dtype == torch.float64
            close(tgot, want)


def test_grpo_and_rloo_by_hand() -> None:
    scores = np.array([[2.0, 4.0], [1.0, -1.0]])
    mask = np.array([[1, 1, 0], [1, 0, 0], [1, 1, 1], [0, 0, 0]])  # 2 groups of k = 2
    # k = 2: mean 3, sample std sqrt(2): advantages -+ 1 / sqrt(2)
    got = shaping.grpo(scores, mask, eps=0.0)
    s = 1 / math.sqrt(2)
    np.testing.assert_allclose(got, [[-s, -s, 0], [s, 0, 0], [s, s, s], [0, 0, 0]], rtol=1e-12)
    got = shaping.rloo(scores, mask)
    np.testing.assert_allclose(got, [[-2, -2, 0], [2, 0, 0], [2, 2, 2], [0, 0, 0]])
    # three samples, one differs: rloo = s_j - mean of the other two
    got = shaping.rloo(np.array([[1.0, -1.0, -1.0]]), np.ones((3, 1)))
    np.testing.assert_allclose(got[:, 0], [2.0, -1.0, -1.0])


def test_grpo_matches_trl_openrlhf_formula() -> None:
    """The sample std: advantages equal (s - mean) / (torch.std(s) + eps) as those frameworks compute."""
    rng = np.random.default_rng(7)
    scores = torch.tensor(rng.choice(EXECUTION_VALUES, size=(16, 8)) + rng.normal(0, 0.1, (16, 8)))
    mask = torch.ones(16 * 8, 1)
    theirs = (scores - scores.mean(dim=1, keepdim=True)) / (scores.std(dim=1, keepdim=True) + 1e-4)
    ours = shaping.grpo(scores, mask, eps=1e-4)
    close(ours[:, 0], theirs.reshape(-1), rtol=1e-12, atol=1e-12)


def test_equal_scores_give_zero_never_nan() -> None:
    mask = np.ones((8, 4))
    for value in (0.1, -1.0, 0.0, 1e300):  # 0.1 * 4 / 4 != 0.1 in floating point
        scores = np.full((2, 4), value)
        for name in ("grpo", "rloo"):
            got = group_estimator(name, scores, mask, 0.0)
            assert (np.asarray(got) == 0.0).all()
            got32 = group_estimator(name, scores.astype(np.float32) if value < 1e38 else scores,
                                    mask, 0.0)
            assert (np.asarray(got32) == 0.0).all()


def test_group_estimator_inputs_are_validated() -> None:
    mask = np.ones((4, 3))
    cases = [
        ("k >= 2", lambda: shaping.grpo(np.zeros((4, 1)), mask)),
        ("(G, k)", lambda: shaping.rloo(np.zeros(4), mask)),
        ("(G, k)", lambda: shaping.rloo(np.zeros((1, 2, 2)), mask)),
        ("G * k", lambda: shaping.grpo(np.zeros((2, 3)), mask)),
        ("scores[0, 1] is nan", lambda: shaping.grpo(np.array([[0.0, np.nan], [1.0, 2.0]]), mask)),
        ("sample 0 of group 1", lambda: shaping.rloo(torch.tensor([[0.0, 1.0], [np.inf, 2.0]]), t(mask))),
        ("eps", lambda: shaping.grpo(np.zeros((2, 2)), mask, eps=-1.0)),
        ("mask must have shape", lambda: shaping.grpo(np.zeros((2, 2)), np.ones(4))),
    ]
    for needle, case in cases:
        with pytest.raises(ValueError, match=re.escape(needle)):
            case()
    # the k >= 2 error says what to change
    with pytest.raises(ValueError, match="at least 2 samples per prompt"):
        shaping.rloo(torch.zeros(3, 1), torch.ones(3, 2))


def test_group_estimators_empty_and_dtypes() -> None:
    assert shaping.grpo(np.zeros((0, 4)), np.zeros((0, 7))).shape == (0, 7)
    assert shaping.rloo(torch.zeros(0, 2), torch.zeros(0, 5)).shape == (0, 5)
    assert shaping.rloo(np.zeros((1, 2)), np.zeros((2, 0))).shape == (2, 0)
    ints = shaping.rloo(np.array([[1, 0]]), np.ones((2, 1)))
    assert ints.dtype == np.float64 and ints[:, 0].tolist() == [1.0, -1.0]
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        got = shaping.grpo(torch.tensor([[1.0, 0.0]], dtype=dtype), torch.ones(2, 3))
        assert got.dtype == dtype
        close(got[:, 0], [1 / math.sqrt(2), -1 / math.sqrt(2)], rtol=1e-2)


# --------------------------------------------------------------------- KL as a loss term


@settings(max_examples=100, deadline=None)
@given(batches())
def test_token_kl_agree_with_reference(d: dict) -> None:
    args = (d["logprobs"], d["ref_logprobs"], d["mask"], d["estimator"])
    want = ref.token_kl(*args)
    got = shaping.token_kl(*args)
    close(got, want)
    for device in DEVICES:
        tgot = shaping.token_kl(t(args[0], device), t(args[1], device), t(args[2], device), args[3])
        close(tgot, want)
    # one formula: the KL that token_rewards puts beside its rewards
    _, kl = shaping.token_rewards(np.zeros(len(d["mask"])), *args[:3], 0.1, d["estimator"])
    close(got, kl, rtol=0, atol=0)
    assert np.isfinite(got).all()


def test_token_kl_gradient_by_hand_and_zero_on_nan_padding() -> None:
    rng = np.random.default_rng(4)
    mask = torch.tensor([[1, 1, 1, 0], [1, 0, 0, 0]])
    ref_lp = torch.tensor(-rng.exponential(1.0, (2, 4)))
    ref_lp[mask == 0] = float("nan")
    want_grad = {
        "k1": lambda lp, rp: torch.ones_like(lp),
        "k2": lambda lp, rp: lp - rp,
        "k3": lambda lp, rp: 1 - torch.exp(rp - lp),  # 1 - p_ref / p
    }
    for estimator, grad_fn in want_grad.items():
        lp = torch.tensor(-rng.exponential(1.0, (2, 4)))
        lp[mask == 0] = float("inf")
        lp.requires_grad_(True)
        kl = shaping.token_kl(lp, ref_lp, mask, estimator)  # differentiable
        kl.sum().backward()
        real = mask != 0
        assert (kl[~real] == 0).all() and (lp.grad[~real] == 0).all()  # no NaN leaks back
        close(lp.grad[real], grad_fn(lp.detach(), ref_lp)[real], rtol=1e-12, atol=1e-12)
    # where the two models agree, k3 and its gradient are 0
    same = torch.tensor([[-0.5, -2.0]], dtype=torch.float64, requires_grad=True)
    k3 = shaping.token_kl(same, same.detach(), torch.ones(1, 2))
    k3.sum().backward()
    assert (k3 == 0).all() and (same.grad == 0).all()


def test_token_kl_expected_gradients_are_the_kl_gradients() -> None:
    """Over tokens sampled from the policy (exact expectation over a small vocabulary):
    k3 is an unbiased estimate of KL(pi || ref) and its gradient is grad KL(ref || pi);
    k2's gradient is grad KL(pi || ref); k1's expected gradient is 0."""
    torch.manual_seed(0)
    vocab = 7
    ref_logits = torch.randn(vocab, dtype=torch.float64)
    ref_logp = torch.log_softmax(ref_logits, dim=0)
    mask = torch.ones(1, vocab)

    def expected(estimator: str) -> tuple[torch.Tensor, torch.Tensor]:
        theta = torch.randn(vocab, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        theta.requires_grad_(True)
        logp = torch.log_softmax(theta, dim=0)
        kl = shaping.token_kl(logp[None], ref_logp[None], mask, estimator)[0]  # one "token" per x
        value = (logp.exp().detach() * kl).sum()  # E_{x ~ pi}[k(x)], pi held fixed
        (grad,) = torch.autograd.grad(value, theta)
        return value.detach(), grad

    def kl_grad(forward: bool) -> tuple[torch.Tensor, torch.Tensor]:
        theta = torch.randn(vocab, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
        theta.requires_grad_(True)
        logp = torch.log_softmax(theta, dim=0)
        if forward:  # KL(pi || ref)
            kl = (logp.exp() * (logp - ref_logp)).sum()
        else:  # KL(ref || pi)
            kl = (ref_logp.exp() * (ref_logp - logp)).sum()
        (grad,) = torch.autograd.grad(kl, theta)
        return kl.detach(), grad

    forward_kl, forward_grad = kl_grad(True)
    _, reverse_grad = kl_grad(False)
    k3_value, k3_grad = expected("k3")
    close(k3_value, forward_kl, rtol=1e-12)
    close(k3_grad, reverse_grad, rtol=1e-10, atol=1e-12)
    k1_value, k1_grad = expected("k1")
    close(k1_value, forward_kl, rtol=1e-12)
    close(k1_grad, torch.zeros(vocab), atol=1e-12)
    _, k2_grad = expected("k2")
    close(k2_grad, forward_grad, rtol=1e-10, atol=1e-12)
    assert not torch.allclose(k3_grad, forward_grad)  # the two KL directions do differ here


def test_token_kl_bad_inputs() -> None:
    z = np.zeros((2, 3))
    for case in (lambda: shaping.token_kl(z, z, z, "k4"),
                 lambda: shaping.token_kl(z, np.zeros((2, 4)), z),
                 lambda: shaping.token_kl(np.zeros(3), np.zeros(3), np.zeros(3))):
        with pytest.raises(ValueError):
            case()
    assert shaping.token_kl(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros((0, 3))).shape == (0, 3)
