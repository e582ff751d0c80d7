"""TRL / veRL adapters: signatures, columns in the shapes datasets hold, fenced code,
components, None for optional fields. (The frameworks' own code drives them in
tests/test_frameworks.py.)"""

from __future__ import annotations

import asyncio
import json

import numpy as np
import pytest

from rewards import RewardConfig
from rewards.adapters import (
    data_source_language,
    extract_code,
    trl_async_reward_func,
    trl_reward_func,
    verl_compute_score,
)

REF = "def inc(a):\n    b = a + 1\n    return b\n"
WRONG = "def inc(a):\n    return a + 2\n"
HUMANEVAL = {"test": "def check(candidate):\n    assert candidate(1) == 2\n", "entry_point": "inc"}
MBPP = {"test_list": ["assert inc(1) == 2", "assert inc(5) == 6"]}
APPS_CALL = {"input_output": json.dumps({"inputs": [[1], [5]], "outputs": [2, 6], "fn_name": "inc"})}
EXEC_ONLY = RewardConfig(use_ast=False, use_dfg=False)


def test_extract_code_takes_the_first_fenced_block():
    assert extract_code("Here:\n```python\nx = 1\n```\nand ```js\ny\n```") == "x = 1\n"
    assert extract_code("no fences") == "no fences"


def test_trl_reward_scores_plain_and_conversational_completions():
    fn = trl_reward_func(language="python")
    plain = fn([REF, "def inc(a):\n    return (a\n"], reference=[REF, REF])
    assert plain[0] == pytest.approx(3.0)
    assert plain[1] < 0.0 + 2.0  # compile error (-1) plus at most partial structure
    chat = fn([[{"role": "assistant", "content": f"```python\n{REF}```"}]], reference=[REF])
    assert chat == pytest.approx([3.0])
    assert fn.__name__ == "ppocoder_total"


@pytest.mark.parametrize("tests", [HUMANEVAL, MBPP, APPS_CALL, MBPP["test_list"]])
@pytest.mark.parametrize("as_json", [False, True])
def test_trl_tests_column_in_every_published_shape(tests, as_json):
    fn = trl_reward_func(language="python", config=EXEC_ONLY)
    column = [json.dumps(tests) if as_json else tests] * 2
    assert fn([REF, WRONG], tests=column) == pytest.approx([1.0, -0.3])


def test_trl_columns_may_hold_none_and_other_keys():
    fn = trl_reward_func(language="python", config=EXEC_ONLY)
    out = fn([REF, REF, "return a + 1\n"],
             tests=[None, json.dumps(MBPP), None], reference=[None, None, None],
             code_prefix=[None, "", "def inc(a):\n    "], language=[None, None, "python"],
             entry_point=[None, None, None], prompts=["p"] * 3, trainer_state=object(), task_id=[1, 2, 3])
    assert out == [1.0, 1.0, 1.0]


def test_trl_components_columns_prefix_and_errors():
    fn = trl_reward_func(component="ast", config=RewardConfig(use_execution=False))
    prefix, rest = REF[:14], REF[14:]
    assert fn([rest], reference=[REF], language=["python"], code_prefix=[prefix]) == [1.0]
    # a row that cannot be read scores as "invalid" (the compile-error value); the others are scored
    assert trl_reward_func()([REF, REF], language=[None, "python"]) == [-1.0, 1.0]
    with pytest.raises(ValueError, match="entries"):
        fn([REF, REF], reference=[REF], language=["python", "python"])
    assert trl_reward_func(language="python")([REF], tests=[{"nope": 1}]) == [-1.0]
    with pytest.raises(ValueError, match="component"):
        trl_reward_func(component="bleu")


def test_trl_async_variant_matches_the_sync_one():
    sync = trl_reward_func(language="python")
    async_fn = trl_async_reward_func(language="python")
    assert asyncio.iscoroutinefunction(async_fn) and async_fn.__name__ == sync.__name__
    completions, tests = [REF, WRONG], [json.dumps(MBPP)] * 2
    got = asyncio.run(async_fn(completions, tests=tests, reference=[REF, REF]))
    assert got == sync(completions, tests=tests, reference=[REF, REF])


def test_verl_signature_kwargs_and_data_sources():
    assert verl_compute_score("python", f"```python\n{REF}```", REF) == pytest.approx(3.0)
    assert verl_compute_score("mbpp", REF, None, {"language": "python"}) == 1.0
    # veRL adds its own keys to extra_info and passes reward_kwargs and router settings
    extra = {"tests": HUMANEVAL, "code_prefix": None, "index": 3, "num_turns": None,
             "rollout_reward_scores": {}}
    assert verl_compute_score("openai_humaneval", WRONG, None, extra, reward_router_address=None,
                              reward_model_tokenizer=None, something_new=1) == pytest.approx(-0.3)
    # known reward settings are honoured
    assert verl_compute_score("openai_humaneval", REF, REF, use_dfg=False) == pytest.approx(2.0)
    assert verl_compute_score("openai_humaneval", REF, REF, component="dfg") == 1.0
    detail = verl_compute_score("openai_humaneval", REF, REF, {"tests": MBPP}, return_dict=True)
    assert detail == {"score": pytest.approx(3.0), "execution": 1.0, "ast": 1.0, "dfg": 1.0,
                      "pass_ratio": 1.0}
    with pytest.raises(ValueError, match="config.use_dfg"):
        verl_compute_score("python", REF, REF, use_dfg="no")


def test_verl_ground_truth_and_parquet_rows():
    truth = {"reference": REF, "tests": np.array(MBPP["test_list"], dtype=object)}
    assert verl_compute_score("mbpp", REF, truth) == pytest.approx(3.0)
    assert verl_compute_score("mbpp", WRONG, json.dumps({"tests": MBPP})) == pytest.approx(-0.3)
    # the language of the row beats the data source; the fence tag comes last
    java = "```java\nclass A { int f(int a) { return a; } }\n```"
    assert verl_compute_score("apps", java, None, {"language": "java"}) == 1.0
    assert verl_compute_score("my_dataset", java, None) == 1.0
    assert verl_compute_score("my_dataset", REF, None) == -1.0  # no language: outcome "invalid"


def test_data_source_language_table():
    assert data_source_language("openai_humaneval") == "python"
    assert data_source_language("google-research-datasets/mbpp") == "python"
    assert data_source_language("codeparrot/apps") == "python"
    assert data_source_language("java") == "java"
    assert data_source_language("nuprl/multipl-e/humaneval-cpp") == "cpp"
    assert data_source_language("gsm8k") is None and data_source_language(None) is None
