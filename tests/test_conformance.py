"""The conformance matrix: every published test format x every entry point, one verdict.

For each format, one hand-written record in the format's published field layout (our own
problem: triple a number), and four answers: right, wrong, crashing and looping. Each
answer is scored through `rewards.score`, ``python -m rewards score``, HTTP ``/score`` and
``/get_reward`` (the record as OpenRLHF's label), TRL's reward function inside a real
``GRPOTrainer`` step (the record's fields as the dataset's own columns), veRL's
``load_reward_manager`` with `verl_compute_score` (the record as ``ground_truth``) and the
Ray pool. The verdict -- passed, failed, runtime_error, timeout -- must be the same
everywhere. One server, one trainer step and one Ray pool serve all records.

The execution values are made distinct per verdict (timeout -0.7, runtime error -0.6) so
that entry points that return only a number still show which verdict it was.
"""

from __future__ import annotations

import base64
import json
import os
import pickle
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from rewards import RewardConfig, RewardValues, Sample, score

VALUES = RewardValues(passed=1.0, failed=-0.3, runtime_error=-0.6, timeout=-0.7, compile_error=-1.0)
CONFIG = RewardConfig(use_ast=False, use_dfg=False, timeout_s=2.0, execution_values=VALUES)
CONFIG_FIELDS = {"use_ast": False, "use_dfg": False, "timeout_s": 2.0,
                 "execution_values": {"timeout": -0.7, "runtime_error": -0.6}}
VERDICT_OF = {1.0: "passed", -0.3: "failed", -0.6: "runtime_error", -0.7: "timeout"}

# --- answers -------------------------------------------------------------------------------

FUNCTION = {
    "passed": "def triple(x):\n    return 3 * x\n",
    "failed": "def triple(x):\n    return x + 3\n",
    "runtime_error": "def triple(x):\n    raise ValueError('no')\n",
    "timeout": "def triple(x):\n    while True:\n        pass\n",
}
METHOD = {verdict: "class Solution:\n" + "".join("    " + line + "\n" for line in code.splitlines())
          .replace("def triple(x)", "def triple(self, x)") for verdict, code in FUNCTION.items()}
STDIN = {
    "passed": "print(3 * int(input()))\n",
    "failed": "print(int(input()) + 3)\n",
    "runtime_error": "print(1 // (int(input()) - int('2')))\n",
    "timeout": "while True:\n    pass\n",
}

# --- records in the published layouts ------------------------------------------------------

CASES = [("2\n", "6\n"), ("5\n", "15\n")]


def _lcb_private(cases: list[dict]) -> str:
    """LiveCodeBench's encoding of private cases: base64(zlib(pickle(JSON string)))."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(cases)))).decode()


RECORDS: dict[str, tuple[dict, dict[str, str]]] = {
    # name: (record, answers)
    "HumanEval": ({"task_id": "Own/0", "prompt": "def triple(x):\n", "entry_point": "triple",
                   "canonical_solution": "    return 3 * x\n",
                   "test": "def check(candidate):\n    assert candidate(2) == 6\n    assert candidate(5) == 15\n"},
                  FUNCTION),
    "MBPP": ({"task_id": 1, "text": "Triple a number.", "code": "def triple(x):\n    return 3 * x\n",
              "test_list": ["assert triple(2) == 6", "assert triple(5) == 15"], "test_setup_code": "",
              "challenge_test_list": ["assert triple(-1) == -3"]}, FUNCTION),
    "APPS stdin": ({"problem_id": 1, "input_output": json.dumps(
        {"inputs": [i for i, _ in CASES], "outputs": [o for _, o in CASES]})}, STDIN),
    "APPS fn_name": ({"problem_id": 2, "input_output": json.dumps(
        {"fn_name": "triple", "inputs": [[2], [5]], "outputs": [[6], [15]]})}, FUNCTION),
    "CodeContests": ({"name": "triple", "public_tests": {"input": ["2\n"], "output": ["6\n"]},
                      "private_tests": {"input": ["5\n"], "output": ["15\n"]},
                      "generated_tests": {"input": ["0\n"], "output": ["0\n"]}}, STDIN),
    "LiveCodeBench stdin": ({"question_title": "triple",
                             "public_test_cases": json.dumps([{"input": "2\n", "output": "6\n", "testtype": "stdin"}]),
                             "private_test_cases": _lcb_private([{"input": "5\n", "output": "15\n",
                                                                  "testtype": "stdin"}]),
                             "metadata": "{}"}, STDIN),
    "LiveCodeBench functional": ({"question_title": "triple",
                                  "public_test_cases": json.dumps([{"input": "2", "output": "6",
                                                                    "testtype": "functional"}]),
                                  "private_test_cases": json.dumps([{"input": "5", "output": "15",
                                                                     "testtype": "functional"}]),
                                  "metadata": json.dumps({"func_name": "triple"})}, METHOD),
    "veRL prime_code call": ({"inputs": ["2", "5"], "outputs": ["6", "15"], "fn_name": "triple"}, FUNCTION),
    "veRL prime_code stdin": ({"inputs": ["2\n", "5\n"], "outputs": ["6\n", "15\n"]}, STDIN),
    "SandboxFusion assert_case": ({"inputs": ["", ""], "outputs": [None, None],
                                   "assert_case": ["assert triple(2) == 6", "assert triple(5) == 15"]}, FUNCTION),
    "KodCode pytest": ({"question_id": "k1", "question": "Triple a number.",
                        "test": "from solution import triple\n\ndef test_two():\n    assert triple(2) == 6\n\n"
                                "def test_five():\n    assert triple(5) == 15\n"}, FUNCTION),
    "Codeforces official_tests": ({"id": "1A", "official_tests": [{"input": i, "output": o} for i, o in CASES]},
                                  STDIN),
    "open-r1 verification_info": ({"verification_info": json.dumps({"language": "python", "test_cases": [
        {"input": i, "output": o, "type": "stdin_stdout"} for i, o in CASES]})}, STDIN),
    "LeetCodeDataset": ({"task_id": "triple", "entry_point": "Solution().triple",
                         "test": "def check(candidate):\n    assert candidate(x = 2) == 6\n"
                                 "    assert candidate(x = 5) == 15\n"}, METHOD),
    "MultiPL-E (Python)": ({"name": "HumanEval_0_triple", "language": "py",
                            "tests": "def check(candidate):\n    assert candidate(2) == 6\n\n"
                                     "def test_check():\n    check(triple)\n\ntest_check()\n"}, FUNCTION),
    "ours: stdin pairs": ({"tests": [list(c) for c in CASES]}, STDIN),
    "ours: TestSpec fields": ({"tests": {"asserts": ["assert triple(2) == 6"], "timeout_s": 2}}, FUNCTION),
}
VERDICTS = ("passed", "failed", "runtime_error", "timeout")
GRID = [(name, verdict) for name in RECORDS for verdict in VERDICTS]


def _tests_value(record: dict) -> object:
    """What goes in a ``tests`` field / label: our own forms' value, or the whole record."""
    return record["tests"] if set(record) == {"tests"} else record


def _verdicts(values: list[float]) -> dict[tuple[str, str], str]:
    return {cell: VERDICT_OF.get(round(v, 6), f"reward {v}") for cell, v in zip(GRID, values)}


EXPECTED = {cell: cell[1] for cell in GRID}


def test_rewards_score():
    samples = [Sample("python", RECORDS[name][1][verdict], tests=_tests_value(RECORDS[name][0]))
               for name, verdict in GRID]
    results = score(samples, CONFIG)
    assert {cell: r.outcome for cell, r in zip(GRID, results)} == EXPECTED


def test_cli_score(tmp_path: Path):
    lines = "".join(json.dumps({"language": "python", "code": RECORDS[name][1][verdict],
                                "tests": _tests_value(RECORDS[name][0])}) + "\n" for name, verdict in GRID)
    (tmp_path / "in.jsonl").write_text(lines)
    proc = subprocess.run([sys.executable, "-m", "rewards", "score", str(tmp_path / "in.jsonl"), "--no-ast",
                           "--no-dfg", "--timeout", "2"], capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])})
    assert proc.returncode == 0, proc.stderr
    outcomes = [json.loads(line)["outcome"] for line in proc.stdout.splitlines()]
    assert dict(zip(GRID, outcomes)) == EXPECTED


@pytest.fixture(scope="module")
def server():
    from rewards.server import serve_in_thread

    srv = serve_in_thread(default_language="python")
    yield srv.address
    srv.stop()


def _post(address, path: str, body: dict) -> dict:
    import http.client

    conn = http.client.HTTPConnection(*address, timeout=600)
    try:
        conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
        answer = conn.getresponse()
        data = json.loads(answer.read())
        assert answer.status == 200, data
        return data
    finally:
        conn.close()


def test_http_score(server):
    samples = [{"language": "python", "response": f"```python\n{RECORDS[name][1][verdict]}```",
                "tests": _tests_value(RECORDS[name][0])} for name, verdict in GRID]
    body = _post(server, "/score", {"samples": samples, "config": CONFIG_FIELDS})
    assert {cell: r["outcome"] for cell, r in zip(GRID, body["results"])} == EXPECTED


def test_http_get_reward_with_the_record_as_label(server):
    prompt = "<|im_start|>user\nTriple it.<|im_end|>\n<|im_start|>assistant\n"
    queries = [prompt + f"<think>draft</think>```python\n{RECORDS[name][1][verdict]}```<|im_end|>"
               for name, verdict in GRID]
    labels = [_tests_value(RECORDS[name][0]) for name, _ in GRID]
    body = _post(server, "/get_reward", {"query": queries, "prompts": [prompt] * len(GRID), "labels": labels,
                                         "config": CONFIG_FIELDS})
    assert _verdicts(body["rewards"]) == EXPECTED


def _column_rows() -> list[dict]:
    """One dataset row per cell: the record's own fields as columns (values TRL users keep
    as JSON strings where Arrow needs one type per column), and the answer."""
    rows = []
    for name, verdict in GRID:
        record = dict(RECORDS[name][0])
        if set(record) == {"tests"} or "inputs" in record:
            record = {"tests": json.dumps(_tests_value(record))}
        for key in ("task_id", "problem_id", "id", "question_id", "name", "question_title", "question",
                    "text", "code", "canonical_solution"):
            record.pop(key, None)
        rows.append({"prompt": "Triple it.", "index": len(rows),
                     "answer": f"```python\n{RECORDS[name][1][verdict]}```", **record})
    return rows


def test_trl_reward_function_inside_a_grpo_trainer_step(tmp_path: Path):
    import torch
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from rewards.adapters import trl_reward_func
    from tests.tiny_models import build_tiny_model

    torch.set_num_threads(1)
    rows = _column_rows()
    columns = sorted({k for row in rows for k in row})
    dataset = Dataset.from_list([{k: row.get(k) for k in columns} for row in rows])
    seen: dict[int, float] = {}
    reward = trl_reward_func(language="python", config=CONFIG)

    def conformance(completions, answer, index, **columns):
        # the tiny model's completions are noise: score each row's answer, with the
        # dataset's columns exactly as TRL passes them
        values = reward(answer, **columns)
        seen.update(zip(index, values))
        return values

    model = build_tiny_model(tmp_path / "tiny", "causal")
    args = GRPOConfig(output_dir=str(tmp_path / "out"), per_device_train_batch_size=2 * len(rows),
                      num_generations=2, max_completion_length=2, max_steps=1, learning_rate=1e-4, beta=0.0,
                      report_to="none", save_strategy="no", use_cpu=True, bf16=False, seed=0,
                      dataloader_num_workers=0)
    GRPOTrainer(model=model, args=args, train_dataset=dataset, reward_funcs=[conformance]).train()
    assert sorted(seen) == list(range(len(rows))), "every row is scored in the one step"
    assert _verdicts([seen[k] for k in range(len(rows))]) == EXPECTED


def test_verl_reward_manager_with_the_record_as_ground_truth():
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import load_reward_manager

    from tests.test_frameworks import _verl_item, byte_level_tokenizer

    config = OmegaConf.create({"reward": {
        "custom_reward_function": {"path": "pkg://rewards.adapters", "name": "verl_compute_score",
                                   "reward_kwargs": {"return_dict": True, **CONFIG_FIELDS}},
        "reward_manager": {"source": "register", "name": "naive"}}})
    tokenizer = byte_level_tokenizer()
    manager = load_reward_manager(config, tokenizer)
    values = []
    for name, verdict in GRID:
        truth = _tests_value(RECORDS[name][0])
        item = _verl_item(tokenizer, "likaixin/TACO-verified", f"```python\n{RECORDS[name][1][verdict]}```",
                          json.dumps(truth), {"index": 0})
        values.append(manager.loop.run_until_complete(manager.run_single(item))["reward_score"])
    assert _verdicts(values) == EXPECTED


def test_ray_pool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import ray

    from rewards.ray_pool import RayRewardPool

    monkeypatch.chdir(tmp_path)  # Ray workers import from the driver's directory
    samples = [Sample("python", RECORDS[name][1][verdict], tests=_tests_value(RECORDS[name][0]))
               for name, verdict in GRID]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": str(Path(__file__).parents[1])}})
    try:
        with RayRewardPool(CONFIG, actors=2) as pool:
            results = pool.score(samples)
    finally:
        ray.shutdown()
    assert {cell: r.outcome for cell, r in zip(GRID, results)} == EXPECTED
