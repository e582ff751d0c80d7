"""Advantage estimators in the trainer (gae, grpo, rloo) and line-level credit.

Config errors, whole groups (minibatch shuffles, ranks), critic-free policies with no
value head, each mode end to end with an exact resume, line credit on a real rollout of
a model whose responses span lines, and a learning check for grpo and rloo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from core.shaping import grpo, rloo, token_kl
from rewards import RewardBreakdown, Sample
from tests.tiny_models import build_code_tokenizer, build_tiny_model
from trainer.advantages import estimate_advantages, grouped
from trainer.config import Config, ConfigError, PPOSettings, validate
from trainer.data import TaskExample
from trainer.distributed import Dist
from trainer.generation import StopRules
from trainer.policy import Policy
from trainer.ppo import train
from trainer.rollout import RewardWorkers, Rollout, collect, response_lines
from trainer.update import minibatch_order, ppo_loss

torch.set_num_threads(1)

MODES = ("gae", "grpo", "rloo")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> str:
    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "causal", "causal")


def _example(prompt: str, code_prefix: str = "") -> TaskExample:
    return TaskExample(prompt=prompt, language="python", code_prefix=code_prefix,
                       reference=None, tests=None)


def count_x(samples: list[Sample]) -> list[float]:
    """Toy reward: share of the response's words that are "x"."""
    return [s.code.split().count("x") / max(len(s.code.split()), 1) for s in samples]


def distinct_words(samples: list[Sample]) -> list[float]:
    """Toy reward that differs between the samples of a prompt: share of distinct words."""
    return [len(set(s.code.split())) / max(len(s.code.split()), 1) for s in samples]


def _cfg(model: str, out: Path, mode: str, **ppo: object) -> Config:
    cfg = Config()
    cfg.model.name_or_path = model
    cfg.model.lora = False
    cfg.run.output_dir = str(out)
    cfg.run.progress = cfg.run.tensorboard = cfg.run.plot = False
    cfg.run.threads = 1
    cfg.reward.workers = 0
    cfg.generation.max_new_tokens = 6
    cfg.generation.samples_per_prompt = 2
    cfg.ppo.advantage = mode
    for k, v in ppo.items():
        setattr(cfg.ppo, k, v)
    return cfg


def _rows(run: Path) -> list[dict]:
    return [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]


# ------------------------------------------------------------------------ config


@pytest.mark.parametrize("mode", ["grpo", "rloo"])
@pytest.mark.parametrize("change, pattern", [
    ({"generation.samples_per_prompt": 1}, r"needs generation\.samples_per_prompt >= 2.*got 1"),
    ({"ppo.minibatch_size": 3}, r"ppo\.minibatch_size=3 must be a multiple of "
                                r"generation\.samples_per_prompt=2"),
    ({"model.separate_critic": True}, r"model\.separate_critic needs a critic"),
    ({"reward.line_credit": -0.1}, r"reward\.line_credit must be a finite number >= 0"),
    ({"reward.line_credit": float("nan")}, r"reward\.line_credit must be a finite number"),
])
def test_config_errors_are_one_line(mode: str, change: dict, pattern: str) -> None:
    cfg = Config()
    cfg.ppo.advantage = mode
    cfg.generation.samples_per_prompt = 2
    for key, value in change.items():
        section, name = key.split(".")
        setattr(getattr(cfg, section), name, value)
    with pytest.raises(ConfigError, match=pattern) as err:
        validate(cfg)
    assert "\n" not in str(err.value)


def test_kl_estimator_defaults_and_grpo_k1() -> None:
    assert [PPOSettings(advantage=m).kl_estimator_used() for m in MODES] == ["k1", "k3", "k1"]
    assert PPOSettings(advantage="grpo", kl_estimator="k2").kl_estimator_used() == "k2"
    cfg = Config()
    cfg.ppo.advantage, cfg.ppo.kl_estimator, cfg.generation.samples_per_prompt = "grpo", "k1", 2
    with pytest.raises(ConfigError, match="k1 as grpo's KL loss term has zero expected gradient"):
        validate(cfg)
    cfg.ppo.advantage = "rloo"  # k1 is rloo's own choice: the KL goes into the score
    validate(cfg)
    cfg.ppo.advantage = "gae"
    cfg.generation.samples_per_prompt = 1
    validate(cfg)  # gae needs no group and any minibatch size
    cfg.ppo.advantage = "ppo"
    with pytest.raises(ConfigError, match="ppo.advantage must be one of"):
        validate(cfg)


def test_cli_reports_a_missing_group_in_one_line(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-m", "trainer.ppo", "--ppo.advantage", "rloo"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 2
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in out.stderr, out.stderr
    assert "ppo.advantage=rloo needs generation.samples_per_prompt >= 2" in lines[0]


def test_learning_bench_variants_are_valid_configs_with_the_default_budget() -> None:
    import importlib.util

    from trainer.config import parse_cli

    path = Path(__file__).parents[1] / "bench" / "learning.py"
    spec = importlib.util.spec_from_file_location("learning_bench", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    default = Config()
    per_step = default.ppo.prompts_per_step * default.generation.samples_per_prompt
    for name in ("grpo", "rloo", "gae-line-credit", "grpo-line-credit", "rloo-line-credit"):
        cfg = parse_cli(bench.VARIANTS[name])
        validate(cfg)
        assert cfg.ppo.advantage == name.split("-")[0], name
        assert cfg.ppo.prompts_per_step * cfg.generation.samples_per_prompt == per_step, name
        assert cfg.reward.line_credit == (bench.LINE_CREDIT if "line-credit" in name else 0.0)


# ------------------------------------------------------------------ whole groups


def test_minibatch_order_permutes_groups_not_rows() -> None:
    torch.manual_seed(0)
    orders = [minibatch_order(12, 3) for _ in range(50)]
    for order in orders:
        assert sorted(order.tolist()) == list(range(12))
        groups = order.reshape(4, 3)
        assert (groups[:, 0] % 3 == 0).all()  # each group starts at a multiple of 3 ...
        assert torch.equal(groups - groups[:, :1], torch.arange(3).expand(4, 3))  # ... in order
    assert len({tuple(o.tolist()) for o in orders}) > 10  # and the groups really are shuffled
    torch.manual_seed(1)
    plain = torch.randperm(7)
    torch.manual_seed(1)
    assert torch.equal(minibatch_order(7), plain)  # group_size 1: gae's shuffle, unchanged
    with pytest.raises(ValueError, match="do not split into groups of 3"):
        minibatch_order(8, 3)


def test_grouped_checks_that_a_group_holds_one_prompt() -> None:
    q = torch.tensor([[5, 6], [5, 6], [7, 8], [7, 8]])
    assert grouped(torch.arange(4.0), q, 2).tolist() == [[0.0, 1.0], [2.0, 3.0]]
    with pytest.raises(ValueError, match=r"group 0 \(rows 0\.\.1\) holds different prompts"):
        grouped(torch.arange(4.0), q[[0, 2, 1, 3]], 2)
    with pytest.raises(ValueError, match="do not form groups of 3"):
        grouped(torch.arange(4.0), q, 3)


DDP_SCRIPT = r'''
import json, os, sys, hashlib
import torch
torch.set_num_threads(1)
from trainer.config import Config
from trainer.policy import Policy
from trainer.ppo import train
from trainer.data import TaskExample

cfg = Config()
cfg.model.name_or_path, cfg.model.lora = sys.argv[1], True
cfg.run.output_dir, cfg.run.progress, cfg.run.save_every = sys.argv[2], False, 10
cfg.run.tensorboard = cfg.run.plot = False
cfg.reward.workers = 0
cfg.generation.max_new_tokens, cfg.generation.samples_per_prompt = 5, 2
cfg.ppo.advantage = "grpo"
cfg.ppo.steps, cfg.ppo.prompts_per_step, cfg.ppo.minibatch_size, cfg.ppo.lr = 2, 4, 2, 1e-3
prompts = ["def f ( x ) :", "x =", "print (", "def g ( a , b ) :", "return", "y = x +", "z", "a ="]
data = [TaskExample(prompt=p, language="python", code_prefix="", reference=None, tests=None)
        for p in prompts]
scored, minibatches = [], []
def spy(samples):  # one call per step: this rank's rollout
    scored.append([s.prompt for s in samples])
    return [s.code.split().count("x") / max(len(s.code.split()), 1) for s in samples]
real = Policy.token_stats
def stats(self, q, *args, **kwargs):
    if kwargs.get("with_entropy"):  # the update's forward pass: one call per minibatch
        minibatches.append(q.tolist())
    return real(self, q, *args, **kwargs)
Policy.token_stats = stats
policy = train(cfg, reward_fn=spy, train_data=data, eval_data=[])
h = hashlib.sha256()
for name, t in sorted(policy.trainable_state_dict().items()):
    h.update(name.encode()); h.update(t.detach().cpu().numpy().tobytes())
rank = torch.distributed.get_rank()
with open(os.path.join(sys.argv[2], f"rank{rank}.json"), "w") as f:
    json.dump({"digest": h.hexdigest(), "scored": scored, "minibatches": minibatches}, f)
torch.distributed.destroy_process_group()
'''


def test_groups_never_split_across_ranks_or_minibatches(tiny: str, tmp_path: Path) -> None:
    script = tmp_path / "ddp_grpo.py"
    script.write_text(DDP_SCRIPT)
    out = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
         str(script), tiny, str(out)], cwd=tmp_path, env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((out / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert ranks[0]["digest"] == ranks[1]["digest"]  # the ranks stayed in lockstep
    for step in range(2):
        shards = [r["scored"][step] for r in ranks]
        for shard in shards:  # whole prompts: each one's 2 samples, consecutive
            assert len(shard) == 4 and shard[0::2] == shard[1::2], shard
        assert not set(shards[0]) & set(shards[1])  # no prompt on both ranks
    for r in ranks:
        assert len(r["minibatches"]) == 2 * 2 * 2  # steps x epochs x (4 rows / 2 per minibatch)
        for rows in r["minibatches"]:
            assert len(rows) == 2 and rows[0] == rows[1]  # a minibatch = one whole group


# ------------------------------------------------------------ the estimators alone


def _fake_batch(scores: list[float], kl_per_token: float = 0.0, T: int = 3) -> Rollout:
    B = len(scores)
    mask = torch.ones(B, T, dtype=torch.long)
    mask[0, -1] = 0
    logp = torch.full((B, T), -1.0) * mask
    return Rollout(query_ids=torch.arange(B // 2).repeat_interleave(2)[:, None],
                   query_mask=torch.ones(B, 1, dtype=torch.long),
                   response_ids=torch.ones(B, T, dtype=torch.long), response_mask=mask,
                   logprobs=logp, kl_logprobs=logp, ref_logprobs=(logp - kl_per_token) * mask,
                   values=torch.zeros(B, T), scores=torch.tensor(scores),
                   scored=[RewardBreakdown(total=s) for s in scores], texts=[""] * B,
                   ends=["eos"] * B)


def test_estimators_put_the_kl_where_their_docstrings_say() -> None:
    batch = _fake_batch([1.0, 0.0, 0.5, 0.5], kl_per_token=0.2)
    mask = batch.response_mask
    kl = token_kl(batch.kl_logprobs, batch.ref_logprobs, mask, "k1")
    for coef in (0.0, 0.5):
        g = estimate_advantages(batch, PPOSettings(advantage="grpo"), 2, coef, Dist())
        assert torch.equal(g.advantages, grpo(batch.scores.view(2, 2), mask))  # KL not in it
        assert g.returns is None and g.rewards is None
        assert torch.equal(g.kl, token_kl(batch.kl_logprobs, batch.ref_logprobs, mask, "k3"))
        r = estimate_advantages(batch, PPOSettings(advantage="rloo"), 2, coef, Dist())
        regularised = batch.scores - coef * kl.sum(1)  # row 0 has 2 tokens, the others 3
        torch.testing.assert_close(r.advantages, rloo(regularised.view(2, 2), mask))
    assert r.advantages[0, 0].item() == pytest.approx(1.1)  # (1 - 0.5 * 2 * 0.2) - (0 - 0.3)
    assert r.advantages[2:].abs().max() == 0  # equal scores and equal KL: no signal
    # gae: today's path (token rewards, GAE, whitening) with returns for the value loss
    e = estimate_advantages(batch, PPOSettings(), 1, 0.5, Dist())
    assert e.returns is not None and e.rewards is not None
    assert e.rewards[1].tolist() == pytest.approx([-0.1, -0.1, -0.1])  # score 0, KL 0.2 * 0.5


# ------------------------------------------------------------- critic-free policy


def test_a_critic_free_policy_has_no_value_head(tiny: str, tmp_path: Path) -> None:
    from trainer.ppo import _export

    torch.manual_seed(0)
    policy = Policy.load(tiny, lora=True, value_head=False)
    assert policy.value_head is None
    assert not [n for n, _ in policy.named_parameters() if "value_head" in n]
    seen = []
    policy.model.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs.get("output_hidden_states")),
        with_kwargs=True)
    q = policy.tokenizer(["def f ( x ) :", "x ="], return_tensors="pt", padding=True)
    ids, mask = policy.finish_responses(policy.generate(q["input_ids"], q["attention_mask"],
                                                        max_new_tokens=4))
    seen.clear()
    stats = policy.token_stats(q["input_ids"], q["attention_mask"], ids, mask, with_values=False)
    policy.ref_logprobs(q["input_ids"], q["attention_mask"], ids, mask)
    assert stats.values is None and seen == [False, False]  # no hidden states kept for a head
    with pytest.raises(ValueError, match="no value head"):
        policy.token_stats(q["input_ids"], q["attention_mask"], ids, mask)
    with pytest.raises(ValueError, match="needs a value head"):
        Policy.load(tiny, lora=False, separate_critic=True, value_head=False)
    # The exported folder has no value head file and loads back either way.
    _export(policy, tmp_path / "final")
    assert not (tmp_path / "final" / "value_head.safetensors").exists()
    again = Policy.load(str(tmp_path / "final"), lora=True, value_head=False)
    torch.testing.assert_close(
        again.token_stats(q["input_ids"], q["attention_mask"], ids, mask, with_values=False).logprobs,
        stats.logprobs)
    assert Policy.load(str(tmp_path / "final"), lora=True).value_head is not None
    # A gae checkpoint does not load into a critic-free policy, and the error says why.
    with pytest.raises(ValueError, match="value head and the other not"):
        policy.load_trainable_state_dict(Policy.load(tiny, lora=True).trainable_state_dict())


def test_ppo_loss_without_critic_adds_the_kl_term() -> None:
    torch.manual_seed(0)
    lp = torch.randn(2, 4, requires_grad=True)
    adv, ref = torch.randn(2, 4), torch.randn(2, 4)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]])
    kl = token_kl(lp, ref, mask, "k3")
    loss, stats = ppo_loss(lp, None, lp.detach(), None, adv, None, mask, clip_range=0.2,
                           clip_range_value=0.2, vf_coef=0.1, kl=kl, kl_coef=0.3)
    real = mask.bool()
    assert "loss/value" not in stats and "ppo/value_clipfrac" not in stats
    assert stats["loss/kl"].item() == pytest.approx(kl[real].mean().item(), abs=1e-6)
    assert loss.item() == pytest.approx(-adv[real].mean().item() + 0.3 * kl[real].mean().item(),
                                        abs=1e-5)
    with pytest.raises(ValueError, match="values need old_values and returns"):
        ppo_loss(lp, lp, lp.detach(), None, adv, None, mask, clip_range=0.2,
                 clip_range_value=0.2, vf_coef=0.1)


# --------------------------------------------------------------- end to end


@pytest.mark.parametrize("mode", MODES)
def test_each_mode_trains_end_to_end_and_resumes_exactly(tiny: str, tmp_path: Path,
                                                          mode: str) -> None:
    data = [_example(p) for p in ("def f ( x ) :", "x =", "print (", "def g ( a , b ) :")]

    def run(name: str, steps: int) -> Policy:
        cfg = _cfg(tiny, tmp_path / name, mode, steps=steps, prompts_per_step=4,
                   minibatch_size=4, kl_coef=0.1)
        cfg.model.lora = True
        cfg.generation.chunk_size = 3  # generation chunks cut through groups; no harm
        cfg.run.save_every = 2
        return train(cfg, reward_fn=distinct_words, train_data=data, eval_data=data[:2])

    straight = run("straight", 3)
    run("resumed", 2)
    resumed = run("resumed", 3)
    rows = _rows(tmp_path / "straight")
    assert [r["step"] for r in rows] == [0, 1, 2, 3]
    for r in rows[1:]:
        for key in ("reward/total", "kl/mean", "loss/policy", "ppo/clipfrac", "response/length"):
            assert isinstance(r[key], float), key
        assert ("loss/value" in r) == ("value/mean" in r) == (mode == "gae")
        assert ("loss/kl" in r) == (mode == "grpo")
    assert isinstance(rows[-1]["eval/reward"], float)
    assert all(r["ppo/grad_norm"] > 0 and r["ppo/approx_kl"] > 0 for r in rows[1:])  # it learns
    ckpt = load_file(str(tmp_path / "straight/checkpoints/step_000003/trainable.safetensors"))
    assert any("lora" in k for k in ckpt)
    assert any("value_head" in k for k in ckpt) == (mode == "gae")
    assert (tmp_path / "straight/final/value_head.safetensors").exists() == (mode == "gae")
    assert (straight.value_head is None) == (mode != "gae")
    # Stopped after step 2 and run again: the same weights and metrics as straight through.
    a, b = straight.trainable_state_dict(), resumed.trainable_state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    def plain(r: dict) -> dict:  # the resumed run also evaluated at step 2, where it stopped
        return {k: v for k, v in r.items() if not k.startswith(("time/", "eval/"))}

    again = _rows(tmp_path / "resumed")
    assert [plain(r) for r in again] == [plain(r) for r in rows]
    assert again[-1]["eval/reward"] == rows[-1]["eval/reward"]


# ------------------------------------------------------------------ line credit


def _rollout_of(rows: list[tuple[list[int], str, str]]) -> Rollout:
    """A Rollout holding hand-made responses: (token ids, program text, end reason)."""
    T = max(len(ids) for ids, _, _ in rows) + 1  # one padding column
    ids = torch.zeros(len(rows), T, dtype=torch.long)
    mask = torch.zeros(len(rows), T, dtype=torch.long)
    for b, (row, _, _) in enumerate(rows):
        ids[b, :len(row)], mask[b, :len(row)] = torch.tensor(row), 1
    zeros = torch.zeros(len(rows), T)
    return Rollout(query_ids=ids[:, :1], query_mask=mask[:, :1], response_ids=ids,
                   response_mask=mask, logprobs=zeros, kl_logprobs=zeros, ref_logprobs=zeros,
                   values=None, scores=torch.zeros(len(rows)), scored=[],
                   texts=[t for _, t, _ in rows], ends=[e for _, _, e in rows])


def test_response_lines_by_hand() -> None:
    tok = build_code_tokenizer()

    def enc(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    def pieces(ids: list[int]) -> list[str]:
        return [tok.decode([i]) for i in ids]

    body = "    s = 0\n    return s\n"
    # "  r = 'é'\n" one byte per token (GPT-2's byte alphabet: space = Ġ, newline = Ċ, and
    # é = bytes C3 A9 = Ã ©), which is not how BPE would encode it
    spelled = tok.convert_tokens_to_ids(["Ġ", "Ġ", "r", "Ġ", "=", "Ġ", "'", "Ã", "©", "'", "Ċ"])
    assert tok.decode(spelled) == "  r = 'é'\n" and enc("  r = 'é'\n") != spelled
    batch = _rollout_of([
        (enc(body) + [tok.eos_token_id], body, "eos"),
        (enc(body) + enc("def"), body, "function_end"),  # "def" decided the end: no line
        (enc("    s = 1\n") + enc("#") + enc("!"), "    s = 1\n", "stop"),  # stop string "#!"
        (spelled, "  r = 'é'\n", "truncated"),
    ])
    examples = [_example("", "def total(xs):\n"), _example("", "def total(xs):\n"),
                _example("", ""), _example("", "a\nb\nc")]
    lines = response_lines(tok, batch, examples)
    assert lines.dtype == torch.int64 and lines.shape == batch.response_ids.shape
    n = len(enc(body))
    want_body = [2 + "".join(pieces(enc(body))[:i]).count("\n") for i in range(n)]
    assert want_body[0] == 2 and want_body[-1] == 3
    assert lines[0, :n + 1].tolist() == want_body + [0]  # EOS: no line
    assert lines[1, :n + 1].tolist() == want_body + [0]  # the kept function-end token: no line
    m = len(enc("    s = 1\n"))
    assert lines[2, :m + 2].tolist() == [1] * m + [0, 0]  # "#" is past the cut; "!" stopped it
    # byte tokens: every byte of "é" sits on line 3 (the prefix's last line), "\n" too
    assert lines[3, :len(spelled)].tolist() == [3] * len(spelled)
    assert (lines[~batch.response_mask.bool()] == 0).all()  # padding


def line_feedback(samples: list[Sample]) -> list[RewardBreakdown]:
    """A reward that names lines as execution feedback does: the last written line of a
    response that wrote several; otherwise, by turns, a line of the code prefix (no
    response token is on it), no line (a clean program) or the one written line."""
    out = []
    for i, s in enumerate(samples):
        first = s.code_prefix.count("\n") + 1
        written = [n for n, text in enumerate(s.code.split("\n"), 1) if n >= first and text.strip()]
        named = [written[-1]] if len(written) >= 2 else [[1], [], written[-1:]][i % 3]
        out.append(RewardBreakdown(total=float(len(set(s.code)) % 5), error_lines=named))
    return out


def _credit_shift(batch: Rollout, mode: str, kl_coef: float, credit: float,
                  lines: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """What line credit changes: on the token rewards (gae) or the advantages (grpo,
    rloo), shaped minus plain; and the shaped run's metrics."""
    pc = PPOSettings(advantage=mode)
    plain, shaped = (estimate_advantages(batch, pc, 2, kl_coef, Dist(), line_credit=c,
                                         lines=lines) for c in (0.0, credit))
    before, after = (plain.rewards, shaped.rewards) if mode == "gae" else \
        (plain.advantages, shaped.advantages)
    return after - before, shaped.metrics


def test_line_credit_moves_only_the_named_lines_tokens(tmp_path: Path) -> None:
    """A real rollout of a model whose responses span lines: in every mode, the penalty
    lands on exactly the tokens of the named line (rewards before GAE for gae, advantages
    for grpo/rloo), and those tokens spell that line of the program."""
    model = build_tiny_model(tmp_path / "code", "causal", vocab="code")
    torch.manual_seed(0)
    policy = Policy.load(model, lora=False)
    prefix = "def total(xs):\n"
    examples = [_example(prefix, prefix)] * 16
    workers = RewardWorkers(line_feedback, workers=0)
    try:
        batch = collect(policy, examples, workers, max_prompt_tokens=32, max_new_tokens=48,
                        rules=StopRules(function_end=False))
    finally:
        workers.close()
    lines = response_lines(policy.tokenizer, batch, examples)
    mask = batch.response_mask.bool()
    named = [s.error_lines for s in batch.scored]
    expected = torch.stack([torch.isin(lines[b], torch.tensor(named[b], dtype=torch.long))
                            for b in range(len(named))]) & mask
    penalised = expected.any(1)
    assert any(n == [1] for n in named) and any(n == [] for n in named)
    assert not penalised[[n in ([1], []) for n in named]].any()  # a prefix line, a clean program
    several = [b for b in range(len(named)) if ((lines[b] >= 2) & mask[b] & ~expected[b]).any()
               and penalised[b]]
    assert several, "no response wrote several lines"
    for mode in MODES:
        delta, metrics = _credit_shift(batch, mode, 0.1, 0.5, lines)
        moved = delta != 0
        assert torch.equal(moved, expected), mode
        assert torch.allclose(delta[moved], torch.tensor(-0.5)), mode
        assert metrics["credit/penalised_tokens"] == pytest.approx(
            expected.sum(1).float().mean().item())
    for b in penalised.nonzero().flatten().tolist():
        code = prefix + batch.texts[b]
        wanted = code.split("\n")[named[b][0] - 1]
        got = policy.tokenizer.decode(batch.response_ids[b][expected[b]].tolist())
        assert got.strip() == wanted.strip(), (b, code)


def test_line_credit_gives_an_empty_response_the_worst_penalty_of_the_batch() -> None:
    """Stopping must not pay: a failed attempt with a named line loses line_credit per
    token of it, so an empty response (no line to name) loses the batch's largest such
    total on its last kept token; a batch without named lines leaves it alone."""
    T = 6
    batch = _fake_batch([-1.0, -1.0, -1.0, 0.5], T=T)
    batch.response_mask[0, -1] = 1
    batch.response_mask[1, 3:] = 0  # the empty response: 3 tokens kept, the last one decides
    batch.scored[1].outcome = "empty"
    batch.scored[0].error_lines = [2]  # 3 tokens on line 2
    batch.scored[2].error_lines = [1]  # 2 tokens on line 1
    lines = torch.tensor([[1, 1, 2, 2, 2, 3], [0, 0, 0, 0, 0, 0], [1, 1, 2, 2, 3, 3],
                          [1, 1, 1, 2, 2, 2]])
    for mode in MODES:
        delta, metrics = _credit_shift(batch, mode, 0.0, 0.25, lines)
        assert delta[0].sum().item() == pytest.approx(-0.75), mode  # 3 tokens x 0.25
        assert delta[2].sum().item() == pytest.approx(-0.5), mode
        assert delta[1].tolist() == pytest.approx([0, 0, -0.75, 0, 0, 0]), mode
        assert not delta[3].any(), mode
        assert metrics["credit/empty_penalty"] == pytest.approx(0.75)
    batch.scored[0].error_lines = batch.scored[2].error_lines = []
    assert not _credit_shift(batch, "gae", 0.0, 0.25, lines)[0].any()


# ---------------------------------------------------------------------- learning


@pytest.mark.parametrize("mode", ["grpo", "rloo"])
def test_critic_free_policy_learns_to_emit_a_token(tiny: str, tmp_path: Path, mode: str) -> None:
    cfg = _cfg(tiny, tmp_path / "run", mode, steps=30, prompts_per_step=2, minibatch_size=8,
               epochs=4, lr=2e-3, kl_coef=0.0)
    cfg.generation.samples_per_prompt = 4
    cfg.run.save_every = 1000
    train(cfg, reward_fn=count_x, train_data=[_example("def f ( x ) :")])
    rows = _rows(tmp_path / "run")
    first, last = rows[0]["reward/total"], max(r["reward/total"] for r in rows[-5:])
    assert first < 0.2  # a random policy rarely says "x" (1 word in ~45)
    assert last > 0.8, [round(r["reward/total"], 2) for r in rows]
    assert all("loss/value" not in r for r in rows)
