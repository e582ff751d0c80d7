"""`TestSpec.parse` (every published test shape) and call-based tests (APPS with fn_name)."""

import json

import pytest

from rewards import Sample, TestSpec, run_tests, score

CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
ADD_IO = {"inputs": [[1, 2], [3, 4], [5, 0]], "outputs": [[3], [7], [5]], "fn_name": "add"}


# --------------------------------------------------------------------- parse


def test_humaneval_shapes():
    assert TestSpec.parse(CHECK, "add") == TestSpec(test=CHECK, entry_point="add")
    record = {"task_id": "HumanEval/0", "prompt": "def add(a, b):\n", "test": CHECK,
              "entry_point": "add", "canonical_solution": "    return a + b\n"}
    assert TestSpec.parse(record) == TestSpec(test=CHECK, entry_point="add")
    assert TestSpec.parse({"test": CHECK, "entry_point": "add", "timeout_s": 2}).timeout_s == 2
    with pytest.raises(ValueError, match="entry_point"):
        TestSpec.parse(CHECK)  # check() without the function it is called with


def test_mbpp_shapes():
    asserts = ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]
    assert TestSpec.parse(asserts).asserts == tuple(asserts)
    assert TestSpec.parse(json.dumps(asserts)).asserts == tuple(asserts)  # a CSV column
    record = {"task_id": 2, "text": "add", "code": "def add(a, b): return a + b",
              "test_list": asserts, "test_setup_code": "", "challenge_test_list": []}
    assert TestSpec.parse(record).asserts == tuple(asserts)
    setup = TestSpec.parse({**record, "test_setup_code": "import math"})
    assert setup.test == "import math\n" + "\n".join(asserts) + "\n" and not setup.asserts
    sanitized = TestSpec.parse({"prompt": "add", "test_imports": ["import math"], "test_list": asserts})
    assert sanitized.test == "\nimport math\n" + "\n".join(asserts) + "\n"


def test_apps_stdio_shapes():
    io = {"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]}
    expected = (("1 2\n", "3\n"), ("3 4\n", "7\n"))
    assert TestSpec.parse(io).stdio == expected
    assert TestSpec.parse(json.dumps(io)).stdio == expected
    assert TestSpec.parse({**io, "fn_name": None}).stdio == expected
    assert TestSpec.parse({"problem_id": 7, "input_output": json.dumps(io)}).stdio == expected
    # some APPS problems store a case as a list of lines
    lines = TestSpec.parse({"inputs": [["1", "2"]], "outputs": [["3", "4"]]})
    assert lines.stdio == (("1\n2", "3\n4"),)
    assert TestSpec.parse([["4\n", "4"], ("5\n", 5)]).stdio == (("4\n", "4"), ("5\n", "5"))


def test_apps_call_based_shape():
    spec = TestSpec.parse(json.dumps(ADD_IO))
    assert spec.entry_point == "add" and not spec.stdio
    assert spec.calls == (((1, 2), [3]), ((3, 4), [7]), ((5, 0), [5]))
    assert TestSpec.parse({"input_output": ADD_IO}) == spec


def test_testspec_fields_and_passthrough():
    spec = TestSpec(asserts=("assert f() == 1",))
    assert TestSpec.parse(spec) is spec
    assert TestSpec.parse(None) is None
    assert TestSpec.parse({"stdio": [["1", "1"]], "timeout_s": 3.0}) == TestSpec(stdio=(("1", "1"),),
                                                                              timeout_s=3.0)
    assert TestSpec.parse({"calls": [[[2], 4]], "entry_point": "sq"}).calls == (((2,), 4),)


@pytest.mark.parametrize("raw,message", [
    (17, "cannot read tests of type int"),
    ({"nonsense": 1}, "no known shape"),
    ({"inputs": ["1"], "outputs": []}, "1 inputs but 0 outputs"),
    ({"inputs": [1], "outputs": [1], "fn_name": "f"}, "list of arguments"),
    ([1, 2], "assert statements or"),
    ([], "empty"),
    ({"test_list": "assert f()"}, "list of assert"),
    ({"calls": [[[1], 1]]}, "entry_point"),
    ({"calls": [[[{1, 2}], 1]], "entry_point": "f"}, "JSON data"),
    ({"asserts": ["assert f()"], "stdio": [["", ""]]}, "exactly one kind"),
    ({"test": 5}, "must be a string"),
])
def test_bad_shapes_get_a_clear_value_error(raw, message):
    with pytest.raises(ValueError, match=message):
        TestSpec.parse(raw)


# --------------------------------------------------------------------- call-based runs


def test_call_based_plain_function_and_class_solution():
    codes = ["def add(a, b):\n    return a + b\n",
             "class Solution:\n    def add(self, a, b):\n        return a + b\n",
             "class Solution:\n    def __init__(self):\n        self.n = 0\n"
             "    def add(self, a, b):\n        self.n += 1\n        return a + b\n",
             "def add(a, b):\n    return (a + b,)\n",  # a tuple answers a list, as in APPS
             "def add(a, b):\n    return a - b\n",
             "def add(a, b):\n    return (a + b) // (b != 0)\n",
             "def plus(a, b):\n    return a + b\n",
             "def add(a, b)\n    return a + b\n"]
    res = run_tests("python", codes, [ADD_IO] * len(codes), timeout_s=20)
    got = [(r.outcome, r.passed, r.total) for r in res]
    assert got == [("passed", 3, 3), ("passed", 3, 3), ("passed", 3, 3), ("passed", 3, 3),
                   ("failed", 1, 3), ("runtime_error", 2, 3), ("runtime_error", 0, 3),
                   ("compile_error", 0, 0)]
    assert "ZeroDivisionError" in res[5].messages[0].text and res[5].first_failing_line == 2
    assert "no function 'add'" in res[6].messages[0].text


def test_call_based_value_rules():
    # JSON made the int keys strings; the first argument and the expected value get them back
    spec = {"inputs": [[{"1": "a", "2": "b"}, 2]], "outputs": [{"2": "b"}], "fn_name": "pick"}
    code = "def pick(d, k):\n    assert all(isinstance(x, int) for x in d)\n    return {k: d[k]}\n"
    # an expected list of two values is not unwrapped; one of one value is
    wrapped = {"inputs": [[1], [2]], "outputs": [[1, 1], [[2, 2]]], "fn_name": "pair"}
    pairs = ["def pair(x):\n    return [x, x]\n", "def pair(x):\n    return x\n"]
    res = run_tests("python", [code, *pairs], [spec, wrapped, wrapped], timeout_s=20)
    assert [(r.outcome, r.passed) for r in res] == [("passed", 1), ("passed", 2), ("failed", 0)]


def test_call_based_timeouts_and_exits_end_the_run():
    slow = TestSpec.parse({**ADD_IO, "fn_name": "add"})
    slow = TestSpec(calls=slow.calls, entry_point="add", timeout_s=1)
    codes = ["def add(a, b):\n    while True:\n        pass\n",
             "import os\ndef add(a, b):\n    os._exit(0)\n",
             "import sys\ndef add(a, b):\n    print('passed')\n    sys.exit(0)\n"]
    res = run_tests("python", codes, [slow] * 3, timeout_s=20)
    assert [(r.outcome, r.passed) for r in res] == [("timeout", 0), ("runtime_error", 0),
                                                    ("runtime_error", 0)]


def test_score_accepts_raw_shapes():
    code = "def add(a, b):\n    return a + b\n"
    samples = [Sample("python", code, tests=ADD_IO), Sample("python", code, tests=json.dumps(ADD_IO)),
               Sample("python", code, tests=["assert add(2, 2) == 4"]),
               Sample("python", code, tests={"test": CHECK, "entry_point": "add"})]
    assert [r.outcome for r in score(samples)] == ["passed"] * 4
    assert samples[0].tests is ADD_IO  # the caller's sample is left as it was
    with pytest.raises(ValueError, match="sample 1: cannot read tests"):
        score([samples[0], Sample("python", code, tests=3.5)])
