"""The registry of published test formats (`rewards.test_formats`) and where values arrive:
detection, clear errors, LiveCodeBench's compressed cases read without running a pickle,
Hydra/numpy values, and the glue around it (labels, columns, prompts, server config)."""

from __future__ import annotations

import base64
import json
import pickle
import zlib

import numpy as np
import pytest
from omegaconf import OmegaConf

from rewards import TestSpec
from rewards.adapters import data_source_language, verl_compute_score
from rewards.schema import (
    label_fields,
    parse_reward_request,
    read_fields,
    score_items,
    strip_prompt,
)
from rewards.test_formats import decode_lcb_private, format_names, looks_like_tests, read_tests
from tests.test_conformance import FUNCTION, RECORDS


def _pack(obj: object) -> str:
    return base64.b64encode(zlib.compress(pickle.dumps(obj))).decode()


def test_lcb_private_cases_are_read_from_a_pickled_string():
    cases = [{"input": "1\n", "output": "2\n", "testtype": "stdin"}]
    assert decode_lcb_private(_pack(json.dumps(cases))) == cases


class _Boom:
    def __reduce__(self):
        return (print, ("pwned",))


@pytest.mark.parametrize("payload", [_Boom(), [{"input": "1", "output": "2"}], {"a": 1}])
def test_lcb_private_cases_refuse_anything_but_a_pickled_string(payload, capsys):
    with pytest.raises(ValueError, match="never run|not a JSON string"):
        decode_lcb_private(_pack(payload))
    assert "pwned" not in capsys.readouterr().out


def test_lcb_private_cases_refuse_garbage_and_bombs():
    with pytest.raises(ValueError, match="private_test_cases"):
        decode_lcb_private("not base64 at all!")
    bomb = base64.b64encode(zlib.compress(b"\0" * (300 * 2**20))).decode()
    with pytest.raises(ValueError, match="256 MB"):
        decode_lcb_private(bomb)


@pytest.mark.parametrize("raw", [
    '{"inputs": ["1\\n"], "outputs": ["2\\n"]',      # a malformed APPS input_output string
    '[["1", "2"]',                                     # a truncated JSON list
])
def test_tests_that_look_like_json_but_do_not_parse_are_an_error_naming_the_formats(raw):
    with pytest.raises(ValueError, match="not valid JSON; formats tried: .*MBPP"):
        read_tests(raw)
    with pytest.raises(ValueError, match="not valid JSON"):
        read_tests({"input_output": raw})


def test_a_malformed_value_in_a_known_format_names_the_format():
    with pytest.raises(ValueError, match="LiveCodeBench format cannot be read: .*func_name"):
        read_tests({"public_test_cases": json.dumps([{"input": "1", "output": "2", "testtype": "functional"}])})
    with pytest.raises(ValueError, match="CodeContests format cannot be read"):
        read_tests({"public_tests": {"input": ["1"], "output": []}})
    with pytest.raises(ValueError, match="only Python"):
        read_tests({"tests": "const assert = require('node:assert');", "language": "js"})
    with pytest.raises(ValueError, match="HumanEval-X .*only Python"):
        read_tests({"task_id": "CPP/0", "declaration": "int f();", "test": "int main() { assert(f() == 1); }"})
    assert read_tests({"task_id": "Python/0", "declaration": "def f():", "test": "def check(f):\n    assert f()\n"
                       "\ncheck(f)\n"}).entry_point == "f"
    with pytest.raises(ValueError, match="parametrize"):
        read_tests("import pytest\n@pytest.mark.parametrize('x', [1])\ndef test_x(x):\n    assert x\n")
    with pytest.raises(ValueError, match="stdin_stdout"):
        read_tests({"verification_info": {"language": "python", "test_cases": [
            {"input": "1", "output": "1", "type": "function_call"}]}})


def test_every_format_is_registered_and_reads_its_record():
    assert len(format_names()) >= 12
    for name, (record, _) in RECORDS.items():
        value = record["tests"] if set(record) == {"tests"} else record
        assert isinstance(read_tests(value), TestSpec), name
        assert looks_like_tests(value), name


@pytest.mark.parametrize("label", [
    json.dumps({"test": RECORDS["HumanEval"][0]["test"], "entry_point": "triple"}),
    "assert triple(2) == 6\nassert triple(5) == 15\n",  # asserts as a bare label
    json.dumps({"test_list": ["assert triple(2) == 6"]}),
    json.dumps(json.loads(RECORDS["APPS fn_name"][0]["input_output"])),
    json.dumps({"input": ["2\n"], "output": ["6\n"]}),  # a CodeContests split
    json.dumps({"assert_case": ["assert triple(2) == 6"]}),
])
def test_a_label_that_is_tests_is_read_as_tests_never_as_a_reference(label):
    fields = label_fields(label)
    assert fields.reference is None and fields.tests is not None
    items, config = parse_reward_request({"query": [FUNCTION["failed"]], "labels": [label]}, "python")
    [result] = score_items(items, config)
    assert result.outcome == "failed" and result.total <= -0.3  # a wrong answer never passes


def test_humaneval_check_code_without_its_entry_point_is_that_samples_error():
    label = RECORDS["HumanEval"][0]["test"]
    assert label_fields(label).tests == label
    items, config = parse_reward_request({"query": [FUNCTION["passed"]], "labels": [label]}, "python")
    [result] = score_items(items, config)
    assert result.outcome == "invalid" and "entry_point" in result.errors[0]


def test_a_reference_stays_program_text():
    ref = "def triple(x):\n    return 3 * x\n"
    assert label_fields(ref).reference == ref and label_fields(ref).tests is None
    assert not looks_like_tests(ref) and not looks_like_tests("x = {1: 2}\n")
    guarded = "def triple(x):\n    assert isinstance(x, int)\n    return 3 * x\n\nassert triple(1) == 3\n"
    assert not looks_like_tests(guarded) and label_fields(guarded).reference == guarded


def test_trl_columns_by_their_published_names():
    row = {"prompt": "p", "test_list": np.array(["assert triple(2) == 6"], dtype=object),
           "test_setup_code": "", "challenge_test_list": None, "input_output": None}
    assert TestSpec.parse(read_fields(row).tests) == TestSpec(asserts=("assert triple(2) == 6",))
    he = {"test": RECORDS["HumanEval"][0]["test"], "entry_point": "triple"}
    assert read_fields(he).tests == he
    assert read_fields({"metadata": "{}"}).tests is None  # a companion column alone is not tests


def test_hydra_and_numpy_values_are_accepted_where_dicts_and_lists_are():
    truth = OmegaConf.create({"inputs": ["2\n"], "outputs": ["6\n"]})
    assert verl_compute_score("codecontests", "print(3 * int(input()))\n", truth) == pytest.approx(1.0)
    kwargs = OmegaConf.create({"execution_values": {"failed": -0.5}, "use_ast": False})
    assert verl_compute_score("codecontests", "print(0)\n", {"inputs": np.array(["2\n"]),
                                                             "outputs": np.array(["6\n"])},
                              **kwargs) == pytest.approx(-0.5)


@pytest.mark.parametrize("source", ["codecontests", "codeforces", "likaixin/TACO-verified", "apps", "taco"])
def test_verl_data_sources_name_their_language(source):
    assert data_source_language(source) == "python"


def test_a_left_truncated_prompt_is_still_cut_off_the_query():
    prompt = "Write a function.\n```python\ndef starter(x):\n    pass\n```\n<|im_start|>assistant\n"
    answer = "```python\ndef triple(x):\n    return 3 * x\n```"
    assert strip_prompt(prompt[20:] + answer, prompt) == answer
    assert strip_prompt(prompt + answer, prompt) == answer
    assert strip_prompt("unrelated text", prompt) == "unrelated text"


def test_serve_config_is_the_default_of_requests_that_send_none():
    from rewards.schema import parse_score_request

    _, config = parse_score_request({"samples": []}, default_config={"use_dfg": False})
    assert config.use_dfg is False
    _, config = parse_score_request({"samples": [], "config": {"use_ast": False}}, default_config={"use_dfg": False})
    assert config.use_dfg is True and config.use_ast is False


def test_serve_config_reaches_the_server_and_a_bad_file_is_a_clear_error(tmp_path):
    import http.client
    import os
    import subprocess
    import sys
    from pathlib import Path

    from rewards.server import serve_in_thread

    srv = serve_in_thread(reward_config={"use_dfg": False})
    try:
        conn = http.client.HTTPConnection(*srv.address, timeout=60)
        body = {"samples": [{"language": "python", "code": "x = 1\n", "reference": "y = 1\n"}]}
        conn.request("POST", "/score", json.dumps(body))
        [result] = json.loads(conn.getresponse().read())["results"]
        assert result["dfg"] is None and result["ast"] is not None
    finally:
        srv.stop()
    (tmp_path / "bad.yaml").write_text("use_dfg: maybe\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    for args in (["--config", str(tmp_path / "missing.yaml")], ["--config", str(tmp_path / "bad.yaml")]):
        proc = subprocess.run([sys.executable, "-m", "rewards", "serve", "--port", "0", *args],
                              capture_output=True, text=True, timeout=120, env=env)
        assert proc.returncode == 2 and "--config" in proc.stderr, proc.stderr
