"""Rollouts: scoring overlaps generation; the real PPOCoder reward flows into metrics."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
import torch

from rewards import RewardConfig, Sample
from tests.tiny_models import build_tiny_model
from trainer.data import TaskExample
from trainer.policy import Policy
from trainer.ppo import rollout_metrics
from trainer.rollout import RewardWorkers, collect

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def policy(tmp_path_factory: pytest.TempPathFactory) -> Policy:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "causal", "causal")
    torch.manual_seed(0)
    return Policy.load(path, lora=False)


def test_scoring_of_a_chunk_overlaps_generation_of_the_next(policy: Policy,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[tuple[str, float, str]] = []
    real_generate = policy.generate

    def slow_generate(*args: object, **kwargs: object):  # noqa: ANN202
        events.append(("generate_start", time.monotonic(), threading.current_thread().name))
        time.sleep(0.3)
        out = real_generate(*args, **kwargs)
        events.append(("generate_end", time.monotonic(), threading.current_thread().name))
        return out

    def reward(samples: list[Sample]) -> list[float]:
        events.append(("score_start", time.monotonic(), threading.current_thread().name))
        return [1.0] * len(samples)

    monkeypatch.setattr(policy, "generate", slow_generate)
    workers = RewardWorkers(reward, workers=0)
    try:
        ex = TaskExample(prompt="x =", language="python", code_prefix="", reference=None, tests=None)
        batch = collect(policy, [ex] * 6, workers, max_prompt_tokens=8, max_new_tokens=3,
                        chunk_size=2)
    finally:
        workers.close()
    assert batch.scores.tolist() == [1.0] * 6
    scores = [e for e in events if e[0] == "score_start"]
    gen_ends = [e[1] for e in events if e[0] == "generate_end"]
    assert len(scores) == 3 and len(gen_ends) == 3
    # Chunk 1 was scored in another thread while chunk 2 or 3 was still being generated.
    assert scores[0][2] != threading.current_thread().name
    assert scores[0][1] < gen_ends[-1]


def test_ppocoder_reward_components_reach_the_metrics(policy: Policy, tmp_path: Path) -> None:
    reference = "def add(a, b):\n    return a + b\n"
    ex = TaskExample(prompt="def add ( a , b ) :", language="python",
                     code_prefix="def add(a, b):\n    return a + b\n#",
                     reference=reference, tests=None)
    # Whole-program match: the prefix alone already matches the reference fully.
    workers = RewardWorkers(RewardConfig(threads=1, structural_gain=False), workers=0)
    try:
        batch = collect(policy, [ex] * 2, workers, max_prompt_tokens=16, max_new_tokens=4)
    finally:
        workers.close()
    # The response lands in a comment after a complete function: it adds no code, so it
    # is "empty" (the compile-error value, the lowest structural match) whatever it says.
    for s in batch.scored:
        assert s.outcome == "empty" and s.components()["execution"] == -1.0
        assert s.components()["ast"] == 0.0 and s.components()["dfg"] == 0.0
        assert s.total == pytest.approx(sum(s.components().values()))
    kl = batch.logprobs - batch.ref_logprobs
    m = rollout_metrics(batch, [ex] * 2, kl)
    ok = [s.outcome == "ok" for s in batch.scored]
    assert m["rate/compile"] == sum(ok) / 2 and "rate/pass" not in m
    assert m["reward/total"] == pytest.approx(float(batch.scores.mean()))


def test_unit_tests_give_the_pass_rate(policy: Policy) -> None:
    from rewards import TestSpec

    # The prompt is the program's start, the response is appended to it: the model is
    # made to write ";", which ends the statement each prefix began (text after PHP's
    # "?>" or "__halt_compiler();" would add nothing: `empty`). The good program prints
    # the expected line and passes; the broken one fails to compile.
    tests = TestSpec(stdio=[("", "3\n")])
    good = TaskExample(prompt="x", language="php", reference=None, tests=tests,
                       code_prefix='<?php echo 1 + 2, "\\n"')
    bad = TaskExample(prompt="x", language="php", code_prefix="<?php echo ( ",
                      reference=None, tests=tests)
    semicolon = policy.tokenizer(";", add_special_tokens=False)["input_ids"]
    original, eos = policy.model.forward, policy.tokenizer.eos_token_id
    step = [0]

    def forward(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202 - writes ";" then EOS
        out = original(*args, **kwargs)
        logits = torch.full_like(out.logits[:, -1], -1e4)
        logits[:, semicolon[step[0]] if step[0] < len(semicolon) else eos] = 1e4
        out.logits[:, -1] = logits
        step[0] += 1
        return out

    workers = RewardWorkers(RewardConfig(threads=1, use_ast=False, use_dfg=False), workers=0)
    policy.model.forward = forward
    try:
        batch = collect(policy, [good, bad], workers, max_prompt_tokens=8, max_new_tokens=3)
    finally:
        policy.model.forward = original
        workers.close()
    assert [s.outcome for s in batch.scored] == ["passed", "compile_error"]
    m = rollout_metrics(batch, [good, bad], batch.logprobs - batch.ref_logprobs)
    assert m["rate/pass"] == 0.5 and m["rate/compile"] == 0.5
    assert batch.scores.tolist() == [1.0, -1.0]


def test_chunked_rollout_stats_match_the_whole_batch(policy: Policy) -> None:
    prompts = ["x", "def f ( x ) : return", "print ( a , b , c ) if", "y"]
    exs = [TaskExample(prompt=p, language="python", code_prefix="", reference=None, tests=None)
           for p in prompts]
    workers = RewardWorkers(lambda s: [0.0] * len(s), workers=0)
    try:
        torch.manual_seed(3)
        b = collect(policy, exs, workers, max_prompt_tokens=16, max_new_tokens=5, chunk_size=3)
    finally:
        workers.close()
    # Stats were computed per chunk; the PPO update re-evaluates the re-padded whole batch.
    again = policy.token_stats(b.query_ids, b.query_mask, b.response_ids, b.response_mask)
    torch.testing.assert_close(again.logprobs, b.logprobs, atol=1e-4, rtol=0)
    torch.testing.assert_close(again.values, b.values, atol=1e-4, rtol=0)
    ref = policy.ref_logprobs(b.query_ids, b.query_mask, b.response_ids, b.response_mask)
    torch.testing.assert_close(ref, b.ref_logprobs, atol=1e-4, rtol=0)
    assert (b.logprobs[b.response_mask == 0] == 0).all()
