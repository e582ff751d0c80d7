"""The one request schema (`rewards.schema`): JSON, dataset rows and model responses ->
`Sample` and `RewardConfig`, with errors that name the field."""

from __future__ import annotations

import json

import numpy as np
import pytest

from rewards import RewardConfig, RewardValues, TestSpec
from rewards.schema import (
    ForeignAnswer,
    RequestError,
    Unreadable,
    label_fields,
    parse_config,
    parse_reward_request,
    parse_score_request,
    read_fields,
    response_code,
    score_items,
    strip_prompt,
    to_sample,
)

REF = "def add(a, b):\n    total = a + b\n    return total\n"
HUMANEVAL = {"test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"}
MBPP = {"test_list": ["assert add(1, 2) == 3"]}
APPS_CALL = {"input_output": json.dumps({"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"})}
APPS_STDIO = {"input_output": {"inputs": ["1 2\n"], "outputs": ["3\n"]}}


@pytest.mark.parametrize("tests", [HUMANEVAL, MBPP, APPS_CALL, APPS_STDIO, MBPP["test_list"]])
@pytest.mark.parametrize("as_json", [False, True])
def test_tests_in_every_published_shape_as_values_or_json(tests, as_json):
    raw = json.dumps(tests) if as_json else tests
    samples, _ = parse_score_request({"samples": [{"language": "py", "code": REF, "tests": raw}]})
    assert isinstance(samples[0].tests, TestSpec)
    assert samples[0].tests == TestSpec.parse(tests)
    assert samples[0].language == "python"  # aliases resolve to the canonical id


def test_humaneval_test_code_with_a_separate_entry_point():
    [sample], _ = parse_score_request({"samples": [
        {"language": "python", "code": REF, "tests": HUMANEVAL["test"], "entry_point": "add"}]})
    assert sample.tests == TestSpec.parse(HUMANEVAL)


def test_arrow_and_parquet_rows_none_keys_and_numpy_arrays():
    # a datasets column of structs gives every row every key (None where absent);
    # veRL's parquet rows hold numpy arrays
    arrow_row = {"test_list": ["assert add(1, 2) == 3"], "test": None, "entry_point": None,
                 "input_output": None}
    parquet_row = {"inputs": np.array([np.array([1, 2])], dtype=object), "outputs": np.array([3]),
                   "fn_name": "add"}
    fields = read_fields({"tests": arrow_row, "reference": None, "language": None, "other": 1})
    assert TestSpec.parse(fields.tests) == TestSpec.parse(MBPP)
    assert fields.reference is None and fields.language is None
    assert read_fields({"tests": parquet_row}).tests == {"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"}


def test_none_for_every_optional_field():
    [sample], config = parse_score_request({"samples": [
        {"language": "python", "code": "x = 1\n", "reference": None, "tests": None, "entry_point": None,
         "code_prefix": None, "prompt": None}], "config": None, "language": None})
    assert (sample.reference, sample.tests, sample.prompt, sample.code) == (None, None, None, "x = 1\n")
    assert config == RewardConfig()


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"[]", "Input should be an object"),
        ({"samples": "x"}, "samples: Input should be a valid array"),
        ({"samples": [1]}, "samples[0]: Input should be an object"),
        ({"samples": [{"language": "cobol", "code": "x"}]}, "samples[0].language: unsupported language"),
        ({"samples": [{"language": "python"}]}, "samples[0]: give exactly one of 'code'"),
        ({"samples": [{"language": "python", "code": 1}]}, "samples[0].code: Input should be a valid string"),
        ({"samples": [{"language": 3, "code": "x"}]}, "samples[0].language: Input should be a valid string"),
        ({"samples": [{"language": "python", "code": "x", "reference": 1}]}, "samples[0].reference"),
        ({"samples": [{"language": "python", "code": "x", "tests": 5}]}, "samples[0].tests: expected an object"),
        ({"samples": [{"language": "python", "code": "x", "tests": {"nope": 1}}]}, "samples[0].tests: "),
        ({"samples": [{"language": "python", "code": "x", "entry_point": []}]}, "samples[0].entry_point"),
        ({"samples": [{"language": "python", "code": "x", "code_prefix": 2}]}, "samples[0].code_prefix"),
        ({"samples": [{"language": "python", "code": "x", "extra": 1}]}, "samples[0].extra: Extra inputs"),
        ({"samples": [{"code": "x"}]}, "samples[0]: no language"),
        ({"samples": [], "config": {"nope": 1}}, "config.nope: Extra inputs"),
        ({"samples": [], "config": {"use_ast": "yes"}}, "config.use_ast: Input should be a valid boolean"),
        ({"samples": [], "config": {"use_ast": 1}}, "config.use_ast: Input should be a valid boolean"),
        ({"samples": [], "config": {"ast_weight": "2"}}, "config.ast_weight: Input should be a valid number"),
        ({"samples": [], "config": {"ast_weight": True}}, "config.ast_weight: Input should be a valid number"),
        ({"samples": [], "config": {"threads": 1.5}}, "config.threads: Input should be a valid integer"),
        ({"samples": [], "config": {"execution_values": {"nope": 1}}}, "config.execution_values.nope"),
        ({"samples": [], "config": {"execution_values": {"failed": "x"}}}, "config.execution_values.failed"),
        ({"samples": [], "config": []}, "config: Input should be"),
    ],
)
def test_every_malformed_or_wrongly_typed_field_is_named(body, fragment):
    raw = body if isinstance(body, bytes) else json.dumps(body)
    if fragment.startswith("samples["):  # a sample that cannot be read is that sample's error
        [item], _ = parse_score_request(raw)
        assert isinstance(item, Unreadable) and fragment in item.message
        [result] = score_items([item])
        assert (result.outcome, result.total) == ("invalid", -1.0) and fragment in result.errors[0]
        return
    with pytest.raises(RequestError) as err:
        parse_score_request(raw)
    assert fragment in str(err.value)


def test_config_fields_and_reward_values():
    config = parse_config({"use_dfg": False, "ast_weight": 2, "execution_values": {"compile_error": -5}})
    assert config.use_dfg is False and config.ast_weight == 2.0
    assert config.execution_values == RewardValues(compile_error=-5.0)


def test_labels_as_reference_object_or_json_string():
    assert label_fields("def f(): pass").reference == "def f(): pass"
    assert label_fields("").reference is None and label_fields(None).reference is None
    obj = {"reference": REF, "tests": MBPP, "language": "java", "code_prefix": "# p\n"}
    assert label_fields(obj).model_dump() == label_fields(json.dumps(obj)).model_dump()
    assert label_fields(json.dumps(obj)).language == "java"
    # a JSON-looking reference program that is not an object of label fields stays a reference
    assert label_fields('{"a": 1}').reference == '{"a": 1}'
    with pytest.raises(RequestError, match="labels\\[3\\].nope"):
        label_fields({"nope": 1}, "labels[3]")
    with pytest.raises(RequestError, match="expected a reference string"):
        label_fields(7)


def test_language_comes_from_the_sample_then_request_then_default_then_fence():
    fields = label_fields({"language": "java"})
    assert to_sample("x", fields, "s", language="cpp", fence_language="js", default_language="php").language == "java"
    blank = label_fields(None)
    assert to_sample("x", blank, "s", language="cpp", fence_language="js", default_language="php").language == "cpp"
    assert to_sample("x", blank, "s", fence_language="js", default_language="php").language == "php"
    assert to_sample("x", blank, "s", fence_language="js").language == "javascript"
    assert to_sample("x", blank, "s", default_language="php").language == "php"
    with pytest.raises(RequestError, match="no language"):
        to_sample("x", blank, "s")


def test_code_prefix_goes_before_the_code():
    sample = to_sample("return a + b\n", label_fields({"code_prefix": "def add(a, b):\n    "}), "s",
                       language="python")
    assert sample.code == "def add(a, b):\n    return a + b\n"
    assert sample.code_prefix == "def add(a, b):\n    "  # what the model was given


@pytest.mark.parametrize(
    ("response", "code", "tag"),
    [
        ("x = 1\n<|im_end|>", "x = 1\n", None),
        ("x = 1\n</s>", "x = 1\n", None),
        ("x = 1\n<|endoftext|><|endoftext|><|endoftext|>", "x = 1\n", None),
        ("<|im_start|>x = 1\n<|im_end|>\n<|im_start|>user\nmore", "x = 1\n", None),
        ("Here:\n```python\nx = 1\n```\nand ```js\ny\n```<|im_end|>", "x = 1\n", "python"),
        ("```java\nclass A {}\n```", "class A {}\n", "java"),
        ("```c++\nint x;\n```", "int x;\n", "cpp"),
        ("```text\nx = 1\n```", "x = 1\n", None),  # not a language
        ("```py\nx = 1\n<|im_end|>", "x = 1\n", "python"),  # truncated: the fence never closes
        ("no fences", "no fences", None),
    ],
)
def test_response_code_cuts_special_tokens_and_takes_the_fence(response, code, tag):
    assert response_code(response) == (code, tag)


def test_special_tokens_are_configurable():
    assert response_code("x = 1\n<|im_end|>", ())[0] == "x = 1\n<|im_end|>"
    assert response_code("x = 1\n[END] junk", ("[END]",))[0] == "x = 1\n"


def test_strip_prompt_survives_re_spacing_tokenizers():
    assert strip_prompt("Q: add\nA: x = 1", "Q: add\nA: ") == "x = 1"
    assert strip_prompt("Q : add A : x = 1", "Q: add\nA:") == " x = 1"  # decoded with other spacing
    assert strip_prompt("something else", "Q: add") == "something else"


def test_openrlhf_request():
    prompt = "<|im_start|>user\nWrite add<|im_end|>\n<|im_start|>assistant\n"
    samples, config = parse_reward_request({
        "query": [prompt + REF + "<|im_end|>", prompt + "```java\nclass A {}\n```<|im_end|>", prompt + REF],
        "prompts": [prompt] * 3,
        "labels": [REF, {"tests": MBPP}, json.dumps({"reference": REF, "tests": HUMANEVAL})],
        "config": {"use_dfg": False},
    }, default_language="python")
    assert [s.code for s in (samples[0], samples[1].sample, samples[2])] == [REF, "class A {}\n", REF]
    assert isinstance(samples[1], ForeignAnswer) and samples[1].fence_language == "java"
    # the server's language wins over a fence tag: the java answer is scored as python
    assert [s.language for s in (samples[0], samples[1].sample, samples[2])] == ["python"] * 3
    assert samples[0].reference == REF and samples[0].tests is None
    assert samples[1].sample.tests == TestSpec.parse(MBPP) and samples[1].sample.reference is None
    assert samples[2].tests == TestSpec.parse(HUMANEVAL)
    assert config.use_dfg is False
    with pytest.raises(RequestError, match="prompts: 2 entries for 1 queries"):
        parse_reward_request({"query": ["x"], "prompts": ["a", "b"]}, "python")
    with pytest.raises(RequestError, match="query\\[0\\]: Input should be a valid string"):
        parse_reward_request({"query": [1]}, "python")
    [item], _ = parse_reward_request({"query": ["x = 1"]})
    assert isinstance(item, Unreadable) and "no language" in item.message
