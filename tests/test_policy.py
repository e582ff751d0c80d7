"""Policy: causal and seq2seq behind one interface, value head, reference model."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_models import build_tiny_model
from trainer.policy import Policy

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny_paths(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("tiny")
    return {k: build_tiny_model(root / k, k) for k in ("causal", "seq2seq")}


def _queries(policy: Policy, prompts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
    enc = policy.tokenizer(prompts, return_tensors="pt", padding=True)
    return enc["input_ids"], enc["attention_mask"]


PROMPTS = ["def f ( x ) :", "x", "def add ( a , b ) : return a + b if"]


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
@pytest.mark.parametrize("lora", [True, False])
def test_generate_and_evaluate_shapes(tiny_paths: dict[str, str], kind: str, lora: bool) -> None:
    torch.manual_seed(0)
    policy = Policy.load(tiny_paths[kind], lora=lora)
    assert policy.is_seq2seq == (kind == "seq2seq")
    q, qm = _queries(policy, PROMPTS)
    ids, mask = policy.finish_responses(policy.generate(q, qm, max_new_tokens=6))
    assert ids.shape == mask.shape and ids.shape[0] == 3 and ids.shape[1] <= 6
    assert (mask.sum(1) >= 1).all()
    # Padding only after the real tokens, and it holds the pad id.
    assert torch.equal(mask, mask.cummin(dim=1).values)
    assert (ids[mask == 0] == policy.pad_token_id).all()
    stats = policy.token_stats(q, qm, ids, mask, with_entropy=True)
    for t in (stats.logprobs, stats.values, stats.entropy):
        assert t.shape == ids.shape
        assert torch.isfinite(t).all()
        assert (t[mask == 0] == 0).all()
    assert (stats.logprobs[mask == 1] <= 0).all()
    assert (stats.entropy[mask == 1] > 0).all()


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_greedy_tokens_are_the_argmax_of_evaluate(tiny_paths: dict[str, str], kind: str) -> None:
    # Alignment check: greedy decoding picks the most likely token at every step, so the
    # log-prob `evaluate` assigns to it must be the maximum of its distribution there.
    policy = Policy.load(tiny_paths[kind], lora=False)
    q, qm = _queries(policy, PROMPTS)
    ids, mask = policy.finish_responses(policy.generate(q, qm, max_new_tokens=6, temperature=0.0))
    logits, _ = policy._forward(policy.model, q, qm, ids, mask)
    best = torch.log_softmax(logits.float(), -1).max(-1).values
    stats = policy.token_stats(q, qm, ids, mask)
    real = mask.bool()
    torch.testing.assert_close(stats.logprobs[real], best[real], atol=1e-4, rtol=0)


@pytest.mark.parametrize("kind", ["causal", "seq2seq"])
def test_evaluate_does_not_depend_on_batch_padding(tiny_paths: dict[str, str], kind: str) -> None:
    policy = Policy.load(tiny_paths[kind], lora=True)
    torch.manual_seed(1)
    q, qm = _queries(policy, PROMPTS)
    ids, mask = policy.finish_responses(policy.generate(q, qm, max_new_tokens=6))
    together = policy.token_stats(q, qm, ids, mask)
    for i, prompt in enumerate(PROMPTS):
        qi, qmi = _queries(policy, [prompt])
        n = int(mask[i].sum())
        alone = policy.token_stats(qi, qmi, ids[i: i + 1, :n], mask[i: i + 1, :n])
        torch.testing.assert_close(alone.logprobs[0], together.logprobs[i, :n], atol=1e-4, rtol=0)
        torch.testing.assert_close(alone.values[0], together.values[i, :n], atol=1e-4, rtol=0)


def test_finish_responses_keeps_first_eos_and_masks_the_rest(tiny_paths: dict[str, str]) -> None:
    policy = Policy.load(tiny_paths["causal"], lora=False)
    eos, pad = policy.eos_token_id, policy.pad_token_id
    raw = torch.tensor([[7, eos, 8, eos], [eos, 9, 9, 9], [5, 6, 7, 8]])
    ids, mask = policy.finish_responses(raw)
    assert mask.tolist() == [[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]]
    assert ids.tolist() == [[7, eos, pad, pad], [eos, pad, pad, pad], [5, 6, 7, 8]]
    empty_ids, empty_mask = policy.finish_responses(torch.zeros((2, 0), dtype=torch.long))
    assert empty_ids.shape == (2, 0) and empty_mask.shape == (2, 0)


@pytest.mark.parametrize("lora", [True, False])
def test_reference_stays_frozen_while_policy_moves(tiny_paths: dict[str, str], lora: bool) -> None:
    torch.manual_seed(0)
    policy = Policy.load(tiny_paths["causal"], lora=lora)
    q, qm = _queries(policy, PROMPTS)
    ids, mask = policy.finish_responses(policy.generate(q, qm, max_new_tokens=5))
    ref_before = policy.ref_logprobs(q, qm, ids, mask)
    # At start the policy is the reference (LoRA's B matrices start at zero).
    torch.testing.assert_close(policy.token_stats(q, qm, ids, mask).logprobs, ref_before)
    with torch.no_grad():
        for p in policy.model.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.5)
    moved = policy.token_stats(q, qm, ids, mask).logprobs
    assert (moved - ref_before).abs().max() > 1e-3
    torch.testing.assert_close(policy.ref_logprobs(q, qm, ids, mask), ref_before)
    if lora:  # no second copy of the backbone
        n_base = sum(p.numel() for p in policy.parameters())
        assert not policy._reference
        assert n_base < 2 * sum(p.numel() for n, p in policy.named_parameters() if "lora" not in n)


def test_trainable_state_roundtrip_and_mismatch(tiny_paths: dict[str, str]) -> None:
    a = Policy.load(tiny_paths["seq2seq"], lora=True)
    state = {k: v.clone() + 1.0 for k, v in a.trainable_state_dict().items()}
    assert any("lora" in k for k in state) and any("value_head" in k for k in state)
    a.load_trainable_state_dict(state)
    for k, v in a.trainable_state_dict().items():
        assert torch.equal(v, state[k])
    with pytest.raises(ValueError, match="does not match"):
        a.load_trainable_state_dict({"nope": torch.zeros(1)})


@pytest.mark.parametrize("kind,lora", [("causal", False), ("seq2seq", True)])
def test_separate_critic_has_its_own_backbone(tiny_paths: dict[str, str], kind: str,
                                              lora: bool) -> None:
    policy = Policy.load(tiny_paths[kind], lora=lora, separate_critic=True)
    assert policy.critic is not None
    q, qm = _queries(policy, PROMPTS[:2])
    ids, mask = policy.finish_responses(policy.generate(q, qm, max_new_tokens=4))
    values = policy.token_stats(q, qm, ids, mask).values
    values.sum().backward()
    critic_grads = [p.grad for p in policy.critic.parameters() if p.grad is not None]
    actor_grads = [p.grad for p in policy.model.parameters() if p.grad is not None]
    assert critic_grads and not actor_grads  # the value loss trains the critic only


@pytest.mark.parametrize("lora", [True, False])
def test_exported_final_folder_loads_back(tiny_paths: dict[str, str], tmp_path, lora: bool) -> None:  # noqa: ANN001
    from trainer.ppo import _export

    torch.manual_seed(0)
    policy = Policy.load(tiny_paths["causal"], lora=lora)
    with torch.no_grad():
        for p in policy.parameters():
            if p.requires_grad:
                p.add_(torch.randn_like(p) * 0.1)
    q, qm = _queries(policy, PROMPTS)
    ids, mask = policy.finish_responses(policy.generate(q, qm, max_new_tokens=4))
    before = policy.token_stats(q, qm, ids, mask)
    _export(policy, tmp_path / "final")
    again = Policy.load(str(tmp_path / "final"), lora=lora)
    after = again.token_stats(q, qm, ids, mask)
    torch.testing.assert_close(after.logprobs, before.logprobs)
    torch.testing.assert_close(after.values, before.values)
    if lora:  # the reference is still the original base model
        torch.testing.assert_close(again.ref_logprobs(q, qm, ids, mask),
                                   policy.ref_logprobs(q, qm, ids, mask))
        with pytest.raises(ValueError, match="lora=True"):
            Policy.load(str(tmp_path / "final"), lora=False)
