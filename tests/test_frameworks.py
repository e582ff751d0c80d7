"""The adapters driven by the frameworks' own code: TRL's GRPOTrainer (2 steps on a tiny
model, with a ``tests`` column), veRL's reward loader and reward manager, and OpenRLHF's
single-turn executor (its HTTP client against the real server, and its loader of a
Python reward-function file). veRL and OpenRLHF are installed with ``--no-deps`` (see
scripts/test.sh): their full installs pin other transformers/ray versions and need CUDA
builds (vLLM, DeepSpeed, flash-attn). Only vLLM's generation is stood in for, by a
scripted engine that returns fixed token ids."""

from __future__ import annotations

import asyncio
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

REF = "def add(a, b):\n    total = a + b\n    return total\n"
WRONG = "def add(a, b):\n    return a - b\n"
MBPP = {"test_list": ["assert add(1, 2) == 3", "assert add(2, 2) == 4"]}
HUMANEVAL = {"test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"}
JAVA = "class A { int add(int a, int b) { return a + b; } }\n"


def byte_level_tokenizer():
    """A small byte-level BPE tokenizer with chat special tokens (like Qwen's), built
    locally: it round-trips any text, so decoded responses are exact."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=400, special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator([REF, WRONG, JAVA, "Write add in Python."], trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|im_end|>", pad_token="<|endoftext|>")


# --- TRL ------------------------------------------------------------------------------------

def test_trl_grpo_trainer_two_steps_with_a_tests_column(tmp_path):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from rewards import RewardConfig
    from rewards.adapters import trl_async_reward_func, trl_reward_func
    from tests.tiny_models import build_tiny_model

    torch.set_num_threads(1)
    model = build_tiny_model(tmp_path / "tiny", "causal")
    # The tiny model may only write ";" (every other token suppressed), which ends the
    # statement the PHP prefix began: each completion is code that compiles, and each
    # row's reward is decided by its tests alone (APPS's stdin/stdout shape, as a JSON
    # string). Text after "?>" would add nothing (outcome `empty`).
    prints = '<?php echo 1 + {}, "\\n"'.format
    apps = json.dumps({"inputs": [""], "outputs": ["3\n"]})
    rows = [
        {"prompt": "def f ( x ) :", "language": "php", "code_prefix": prints(2), "tests": apps},  # +1
        {"prompt": "x = y +", "language": None, "code_prefix": prints(1), "tests": apps},  # -0.3
    ]
    dataset = Dataset.from_list(rows)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(model)
    [semicolon] = tokenizer(";", add_special_tokens=False)["input_ids"]
    suppressed = [t for t in range(len(tokenizer)) if t != semicolon]
    execution_only = RewardConfig(use_ast=False, use_dfg=False)
    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=4, num_generations=2,
                      max_completion_length=6, max_steps=2, learning_rate=1e-4, beta=0.0, logging_steps=1,
                      report_to="none", save_strategy="no", use_cpu=True, bf16=False, seed=0,
                      dataloader_num_workers=0,
                      generation_kwargs={"min_new_tokens": 6, "suppress_tokens": suppressed})
    trainer = GRPOTrainer(model=model, args=args, train_dataset=dataset,
                          reward_funcs=[trl_reward_func(language="php", config=execution_only),
                                        trl_async_reward_func(language="php", config=execution_only,
                                                              component="execution")])
    trainer.train()
    logged = [h for h in trainer.state.log_history if "rewards/ppocoder_total/mean" in h]
    assert len(logged) == 2  # two optimizer steps, each scored by both reward functions
    for h in logged:
        assert h["rewards/ppocoder_total/mean"] == pytest.approx((1.0 - 0.3) / 2)
        assert h["rewards/ppocoder_execution/mean"] == pytest.approx((1.0 - 0.3) / 2)


# --- veRL -----------------------------------------------------------------------------------

def _verl_item(tokenizer, data_source, response, ground_truth, extra_info):
    import torch
    from verl import DataProto

    prompt_ids = tokenizer("Write add in Python.")["input_ids"]
    response_ids = tokenizer(response)["input_ids"] + [tokenizer.eos_token_id]
    pad = 4  # right padding after the response, masked out
    responses = torch.tensor([response_ids + [tokenizer.pad_token_id] * pad])
    mask = torch.tensor([[1] * (len(prompt_ids) + len(response_ids)) + [0] * pad])
    return DataProto.from_dict(
        tensors={"prompts": torch.tensor([prompt_ids]), "responses": responses, "attention_mask": mask},
        non_tensors={"data_source": np.array([data_source], dtype=object),
                     "reward_model": np.array([{"ground_truth": ground_truth}], dtype=object),
                     "extra_info": np.array([extra_info], dtype=object)})


def test_verl_reward_loader_and_manager():
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import load_reward_manager

    config = OmegaConf.create({"reward": {
        "custom_reward_function": {"path": "pkg://rewards.adapters", "name": "verl_compute_score",
                                   "reward_kwargs": {"return_dict": True, "timeout_s": 30}},
        "reward_manager": {"source": "register", "name": "naive"}}})
    tokenizer = byte_level_tokenizer()
    manager = load_reward_manager(config, tokenizer)
    cases = [
        # data_source names the dataset, not the language; tests as HumanEval fields, None prefix
        ("openai_humaneval", REF, REF, {"tests": HUMANEVAL, "code_prefix": None, "index": 0}, 3.0, 1.0),
        # MBPP tests as a parquet column gives them (a numpy array), a wrong program
        ("mbpp", WRONG, None, {"tests": np.array(MBPP["test_list"], dtype=object)}, -0.3, -0.3),
        # ground truth as an object, the language from the fence tag
        ("my_dataset", f"```java\n{JAVA}```", json.dumps({"reference": JAVA}), {}, 3.0, 1.0),
    ]
    for data_source, response, truth, extra, total, execution in cases:
        item = _verl_item(tokenizer, data_source, response, truth, extra)
        out = manager.loop.run_until_complete(manager.run_single(item))
        assert out["reward_score"] == pytest.approx(total), (data_source, out)
        assert out["reward_extra_info"]["execution"] == pytest.approx(execution)


# --- OpenRLHF -------------------------------------------------------------------------------

class ScriptedEngine:
    """Stands in for vLLM: answers every prompt with the given text and the EOS token."""

    def __init__(self, tokenizer, text: str) -> None:
        self.ids = tokenizer(text, add_special_tokens=False)["input_ids"] + [tokenizer.eos_token_id]
        self.text = text

    async def generate(self, prompt_token_ids, sampling_params, multi_modal_data=None):
        out = SimpleNamespace(token_ids=self.ids, text=self.text, finish_reason="stop", logprobs=None)
        return SimpleNamespace(outputs=[out])


OPENRLHF_CASES = [
    # (response, label, reward): unfenced + EOS text; tests in a JSON label; a java fence
    # on a python task, then on a java task
    (REF, REF, 3.0),
    (WRONG, json.dumps({"tests": MBPP}), -0.3),
    (f"```java\n{JAVA}```", "", -1.0),  # the task's language (python) wins over the fence tag
    (f"```java\n{JAVA}```", {"language": "java"}, 1.0),
    (REF, {"reference": REF, "tests": json.dumps(HUMANEVAL), "language": "python"}, 3.0),
]


def _run_executor(remote, tokenizer, response, label):
    from openrlhf.utils.agent import SingleTurnAgentExecutor

    prompt = "<|im_start|>user\nWrite add in Python.<|im_end|>\n<|im_start|>assistant\n"
    executor = SingleTurnAgentExecutor(remote_rm_url=remote)
    params = SimpleNamespace(max_tokens=64, logprobs=None)
    return asyncio.run(executor.execute(prompt, label, params, 256, tokenizer,
                                        ScriptedEngine(tokenizer, response)))


def test_openrlhf_client_against_the_server():
    from rewards.server import serve_in_thread

    tokenizer = byte_level_tokenizer()
    srv = serve_in_thread(default_language="python")
    try:
        for response, label, reward in OPENRLHF_CASES:
            out = _run_executor(f"{srv.url}/get_reward", tokenizer, response, label)
            assert tokenizer.decode(out["observation_tokens"]).endswith("<|im_end|>")
            assert out["reward"] == pytest.approx([reward]), (response, label, out)
            assert out["scores"] == out["reward"]
            assert set(out["extra_logs"]) == {"execution", "ast", "dfg"}
    finally:
        srv.stop()


def test_openrlhf_python_reward_function_file(monkeypatch):
    import rewards.openrlhf_reward

    monkeypatch.setenv("PPOCODER_LANGUAGE", "python")
    monkeypatch.setenv("PPOCODER_REWARD_CONFIG", json.dumps({"timeout_s": 30}))
    tokenizer = byte_level_tokenizer()
    path = rewards.openrlhf_reward.__file__
    assert path.endswith(".py") and os.path.isfile(path)
    for response, label, reward in OPENRLHF_CASES:
        out = _run_executor(path, tokenizer, response, label)
        assert out["reward"] == pytest.approx([reward]), (response, label, out)
