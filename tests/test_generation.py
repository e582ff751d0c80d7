"""Responses end where the program ends: stop rules in generation, masking after the cut,
log-probs of the sampling distribution, prompt truncation."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from tests.tiny_models import build_tiny_model
from trainer.data import TaskExample
from trainer.generation import StopRules, encode_prompts, generate
from trainer.policy import Policy, _cut_logits, _token_logprobs
from trainer.rollout import RewardWorkers, collect
from trainer.update import ppo_loss

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Policy]:
    root = tmp_path_factory.mktemp("tiny")
    torch.manual_seed(0)
    return {k: Policy.load(build_tiny_model(root / k, k), lora=False)
            for k in ("causal", "seq2seq")}


def java(prompt: str = "int f ( ) {", prefix: str = "int f() {") -> TaskExample:
    return TaskExample(prompt=prompt, language="java", code_prefix=prefix, reference=None,
                       tests=None)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_function_end_cuts_after_the_closing_brace(policies: dict[str, Policy], kind: str) -> None:
    policy = policies[kind]
    torch.manual_seed(1)
    # A hot temperature makes the random tiny model's words close to uniform.
    out = generate(policy, [java()] * 12, max_prompt_tokens=16, max_new_tokens=40,
                   temperature=5.0, rules=StopRules())
    tok = policy.tokenizer
    ended = 0
    for ids, mask, text, end in zip(out.response_ids, out.response_mask, out.texts, out.ends):
        n = int(mask.sum())
        kept = tok.decode(ids[:n].tolist(), skip_special_tokens=True)
        assert (ids[n:] == policy.pad_token_id).all()
        depth = [1]  # the prefix opened one brace
        for word in text.split():
            depth.append(depth[-1] + (word == "{") - (word == "}"))
        if end == "function_end":
            ended += 1
            # the brace that closes the function is the last kept token; the program ends there
            assert tok.convert_ids_to_tokens(int(ids[n - 1])) == "}"
            assert text.endswith("}") and depth[-1] == 0 and min(depth[:-1]) > 0
            assert kept.startswith(text)
        elif end == "eos":
            assert int(ids[n - 1]) in policy.eos_token_ids and min(depth) > 0
        else:
            assert end == "truncated" and n == 40 and min(depth) > 0
    assert ended >= 2  # "}" is 1 word in ~44: several of 12 rows of 40 tokens close the function


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_stop_strings_and_no_rule(policies: dict[str, Policy], kind: str) -> None:
    policy = policies[kind]
    torch.manual_seed(2)
    ex = java()
    out = generate(policy, [ex] * 8, max_prompt_tokens=16, max_new_tokens=30, temperature=5.0,
                   rules=StopRules(stop=("x",), function_end=False))
    assert "function_end" not in out.ends
    tok = policy.tokenizer
    for ids, text, end, mask in zip(out.response_ids, out.texts, out.ends, out.response_mask):
        assert "x" not in text
        if end == "stop":  # the token that completed the stop string is the last kept one
            assert tok.convert_ids_to_tokens(int(ids[int(mask.sum()) - 1])) == "x"
    assert out.ends.count("stop") >= 2
    torch.manual_seed(2)
    free = generate(policy, [ex] * 8, max_prompt_tokens=16, max_new_tokens=30, temperature=5.0,
                    rules=StopRules(function_end=False))
    assert set(free.ends) <= {"eos", "truncated"}


def test_generation_ends_early_when_every_row_has_stopped(policies: dict[str, Policy],
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    policy = policies["causal"]
    calls = []
    original = policy.model.forward

    def counted(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(policy.model, "forward", counted)
    torch.manual_seed(3)
    out = generate(policy, [java()] * 2, max_prompt_tokens=16, max_new_tokens=200,
                   rules=StopRules(stop=tuple(policy.tokenizer.get_vocab())))  # any word stops
    assert out.ends == ["stop", "stop"] and len(calls) <= 2
    assert out.response_mask.sum(1).tolist() == [1, 1]


def test_a_token_after_the_cut_changes_nothing(policies: dict[str, Policy]) -> None:
    policy = policies["causal"]
    workers = RewardWorkers(lambda samples: [float(len(s.code)) for s in samples], workers=0)
    torch.manual_seed(4)
    try:
        batch = collect(policy, [java()] * 6, workers, max_prompt_tokens=16, max_new_tokens=30)
    finally:
        workers.close()
    mask = batch.response_mask
    assert (mask.sum(1) < mask.shape[1]).any(), "some responses must end before the longest"
    # Rewrite everything after each cut: the loss, its gradient and the KL must not move.
    scrambled = batch.response_ids.clone()
    scrambled[mask == 0] = torch.randint(4, len(policy.tokenizer), (int((mask == 0).sum()),))

    def loss_and_grad(ids: torch.Tensor) -> tuple[float, list[torch.Tensor], torch.Tensor]:
        policy.zero_grad()
        stats = policy.token_stats(batch.query_ids, batch.query_mask, ids, mask)
        adv = torch.where(mask.bool(), torch.randn(mask.shape, generator=torch.Generator()
                                                   .manual_seed(0)), torch.zeros(mask.shape))
        loss, _ = ppo_loss(stats.logprobs, stats.values, batch.logprobs, batch.values, adv, adv,
                           mask, clip_range=0.2, clip_range_value=0.2, vf_coef=0.1)
        loss.backward()
        kl = (stats.kl_logprobs - policy.ref_logprobs(batch.query_ids, batch.query_mask, ids,
                                                      mask)) * mask
        grads = [p.grad.clone() for p in policy.parameters() if p.grad is not None]
        return float(loss), grads, kl.detach()

    loss_a, grads_a, kl_a = loss_and_grad(batch.response_ids)
    loss_b, grads_b, kl_b = loss_and_grad(scrambled)
    assert loss_a == pytest.approx(loss_b, rel=1e-6)
    torch.testing.assert_close(kl_a, kl_b)
    for a, b in zip(grads_a, grads_b):
        torch.testing.assert_close(a, b)


def test_cut_logits_match_the_transformers_sampler() -> None:
    from transformers.generation.logits_process import TopKLogitsWarper, TopPLogitsWarper

    torch.manual_seed(5)
    logits = torch.randn(3, 7, 50) * 3
    for top_k, top_p in ((5, 1.0), (0, 0.8), (10, 0.5), (1, 1.0), (0, 0.0)):
        want = logits.reshape(-1, 50).clone()
        if top_k:
            want = TopKLogitsWarper(top_k)(None, want)
        if top_p < 1.0:
            want = TopPLogitsWarper(max(top_p, 1e-9))(None, want) if top_p > 0 else \
                torch.where(want == want.max(-1, keepdim=True).values, want,
                            torch.full_like(want, float("-inf")))
        got = _cut_logits(logits, top_k, top_p)
        assert torch.equal(torch.isinf(got).reshape(-1, 50), torch.isinf(want)), (top_k, top_p)
    assert _cut_logits(logits, 0, 1.0) is None


def test_logprobs_are_those_of_the_sampling_distribution() -> None:
    torch.manual_seed(6)
    logits = torch.randn(2, 4, 30)
    tokens = logits.argmax(-1)  # the most likely token is always inside every cut
    lp, plain, ent = _token_logprobs(logits, tokens, 0.7, 3, 1.0, True)
    top3 = torch.topk(logits / 0.7, 3, dim=-1).values
    want = (logits / 0.7).gather(-1, tokens[..., None])[..., 0] - torch.logsumexp(top3, -1)
    torch.testing.assert_close(lp, want)
    torch.testing.assert_close(plain, torch.log_softmax(logits / 0.7, -1).gather(
        -1, tokens[..., None])[..., 0])
    assert torch.isfinite(ent).all() and (ent <= torch.log(torch.tensor(3.0)) + 1e-5).all()
    # a token outside the cut gets the floor, never -inf
    outside = torch.topk(logits, 30, dim=-1).indices[..., -1]
    low, _, _ = _token_logprobs(logits, outside, 1.0, 3, 1.0, False)
    assert (low == -100.0).all()


def test_prompt_truncation_keeps_what_matters(policies: dict[str, Policy]) -> None:
    tok = policies["causal"].tokenizer
    body = " ".join(["x"] * 20 + ["y"] * 20)
    head, tail = "print ( ", " ) def"
    ex = TaskExample(prompt=head + body + tail, language="java", code_prefix="", reference=None,
                     tests=None, prompt_keep_head=len(head), prompt_keep_tail=len(tail))
    ids, mask = encode_prompts(tok, [ex], 12, "right", seq2seq=False)
    text = tok.decode(ids[0][mask[0].bool()].tolist())
    assert text == "print ( x x x x x x x x ) def"  # instruction and cue kept, head of the body
    ids, mask = encode_prompts(tok, [ex], 12, "left", seq2seq=False)
    assert tok.decode(ids[0][mask[0].bool()].tolist()) == "print ( y y y y y y y y ) def"
    completion = TaskExample(prompt=body, language="java", code_prefix=body, reference=None,
                             tests=None)
    ids, mask = encode_prompts(tok, [completion], 4, "auto", seq2seq=False)
    assert tok.decode(ids[0][mask[0].bool()].tolist()) == "y y y y"  # the end, next to the answer
    # seq2seq inputs keep their </s> and are right-padded
    s2s = policies["seq2seq"].tokenizer
    ids, mask = encode_prompts(s2s, [ex, java()], 12, "right", seq2seq=True)
    assert ids[0, 11] == s2s.eos_token_id and mask[0].all() and mask[1, -1] == 0


def test_truncation_side_is_written_into_the_examples(tmp_path: Path) -> None:
    from trainer.config import DataConfig
    from trainer.data import load_task

    path = tmp_path / "pairs.jsonl"
    path.write_text('{"source": "int f() { return 1; }", "reference": "def f(): return 1"}\n' * 2)
    train, _ = load_task(DataConfig(task="translation", source="jsonl", path=str(path),
                                    source_language="java", eval_fraction=0.0))
    ex = train[0]
    assert ex.prompt[: ex.prompt_keep_head].startswith("// Translate this java program")
    assert ex.prompt[len(ex.prompt) - ex.prompt_keep_tail:] == "\n// python:\n"
    assert ex.prompt[ex.prompt_keep_head: len(ex.prompt) - ex.prompt_keep_tail] == \
        "int f() { return 1; }"
