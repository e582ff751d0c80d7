"""TRL / veRL adapters: signatures, columns, fenced code, components."""

from __future__ import annotations

import pytest

from rewards import RewardConfig
from rewards.adapters import extract_code, trl_reward_func, verl_compute_score

REF = "def inc(a):\n    b = a + 1\n    return b\n"


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


def test_trl_reward_components_columns_and_prefix():
    fn = trl_reward_func(component="ast", config=RewardConfig(use_execution=False))
    prefix, rest = REF[:14], REF[14:]
    out = fn([rest], reference=[REF], language=["python"], code_prefix=[prefix])
    assert out == [1.0]
    with pytest.raises(ValueError, match="no language"):
        fn([REF])
    with pytest.raises(ValueError, match="entries"):
        fn([REF, REF], reference=[REF], language=["python", "python"])
    with pytest.raises(ValueError, match="component"):
        trl_reward_func(component="bleu")


def test_verl_signature():
    assert verl_compute_score("python", f"```python\n{REF}```", REF) == pytest.approx(3.0)
    assert verl_compute_score("mbpp", REF, None, {"language": "python"}) == 1.0
