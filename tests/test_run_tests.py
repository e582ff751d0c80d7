"""Unit-test feedback: outcome classes, rewards, pass ratio, lines, both test shapes, 7 languages."""

import pytest

from rewards import RewardValues, TestResult, TestSpec, run_tests
from rewards.execution import isolation_level
from rewards.execution.sandbox import memory_guard

CHECK = TestSpec(
    test="def check(candidate):\n"
         "    assert candidate(1, 2) == 3\n"
         "    assert candidate(2, 2) == 4\n"
         "    assert candidate(0, 0) == 0\n",
    entry_point="add")
# for samples meant to time out; the others get a budget no loaded machine runs out of
CHECK_SHORT = TestSpec(test=CHECK.test, entry_point="add", timeout_s=1)


def outcomes(results):
    return [r.outcome for r in results]


def test_assert_style_outcome_classes_and_rewards():
    codes = ["def add(a, b):\n    return a + b\n",
             "def add(a, b):\n    return a * b\n",
             "def add(a, b):\n    return [][a]\n",
             "def add(a, b):\n    while True:\n        pass\n",
             "def add(a, b)\n    return a\n"]
    res = run_tests("python", codes, [CHECK, CHECK, CHECK, CHECK_SHORT, CHECK], timeout_s=20)
    assert outcomes(res) == ["passed", "failed", "runtime_error", "timeout", "compile_error"]
    assert [r.reward for r in res] == [1.0, -0.3, -0.6, -0.6, -1.0]
    assert all(isinstance(r, TestResult) for r in res)
    # a * b: 1*2 != 3 fails (line 2), 2*2 == 4 and 0*0 == 0 pass
    assert (res[1].passed, res[1].total, res[1].first_failing_line) == (2, 3, 2)
    assert res[1].pass_ratio == pytest.approx(2 / 3)
    assert res[0].pass_ratio == 1.0 and res[0].total == 3
    assert res[2].first_failing_line == 2  # the line of the error in the candidate
    assert "IndexError" in res[2].messages[0].text
    assert res[4].first_failing_line == 1
    guard = memory_guard(isolation_level())
    assert res[0].isolation == f"{isolation_level()}+rlimit" + (f"+{guard}" if guard else "")
    assert 0 < res[0].peak_memory_mb < 1024


def test_mbpp_style_asserts_name_the_function():
    spec = TestSpec(asserts=("assert square(3) == 9", "assert square(-2) == 4", "assert square(0) == 1"))
    res = run_tests("python", ["def square(x):\n    return x * x\n"], [spec])[0]
    assert res.outcome == "failed"
    assert (res.passed, res.total) == (2, 3)


def test_helpers_of_the_candidate_are_visible_to_the_test():
    spec = TestSpec(test="def check(candidate):\n    assert candidate(helper(2)) == 5\n",
                    entry_point="inc")
    code = "def helper(x):\n    return x * 2\n\ndef inc(x):\n    return x + 1\n"
    assert run_tests("python", [code], [spec])[0].outcome == "passed"


def test_values_cross_as_plain_data():
    spec = TestSpec(test="def check(candidate):\n"
                         "    assert candidate() == ([1, (2, 3)], {'a': {4}}, b'x', 1.5, None, 2j)\n",
                    entry_point="f")
    good = "def f():\n    return ([1, (2, 3)], {'a': {4}}, b'x', 1.5, None, 2j)\n"
    tuple_not_list = "def f():\n    return ((1, (2, 3)), {'a': {4}}, b'x', 1.5, None, 2j)\n"
    res = run_tests("python", [good, tuple_not_list], [spec, spec])
    assert outcomes(res) == ["passed", "failed"]


def test_top_level_error_and_early_exit_are_runtime_errors():
    codes = ["raise RuntimeError('boom')\n", "import sys\nsys.exit(0)\n", "import os\nos._exit(0)\n",
             "def add(a, b):\n    raise SystemExit(0)\n"]
    res = run_tests("python", codes, [CHECK] * len(codes), timeout_s=3)
    assert outcomes(res) == ["runtime_error"] * 4


IO = TestSpec.from_io(["1 2\n", "10 -3\n", "0 0\n"], ["3\n", "7\n", "0\n"])

STDIO_PROGRAMS = {
    "python": "a, b = map(int, input().split())\nprint(a + b)\n",
    "cpp": "#include <iostream>\nint main() {\n  long a, b;\n  std::cin >> a >> b;\n  std::cout << a + b << std::endl;\n}\n",
    "c": "#include <stdio.h>\nint main(void) {\n  long a, b;\n  scanf(\"%ld %ld\", &a, &b);\n  printf(\"%ld\\n\", a + b);\n  return 0;\n}\n",
    "java": "import java.util.*;\npublic class Main {\n  public static void main(String[] x) {\n"
            "    Scanner s = new Scanner(System.in);\n    System.out.println(s.nextLong() + s.nextLong());\n  }\n}\n",
    "c_sharp": "using System;\nclass P {\n  static void Main() {\n    var p = Console.ReadLine().Split(' ');\n"
               "    Console.WriteLine(long.Parse(p[0]) + long.Parse(p[1]));\n  }\n}\n",
    "javascript": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
                  "console.log(a + b);\n",
    "php": "<?php\n[$a, $b] = array_map('intval', explode(' ', trim(fgets(STDIN))));\necho $a + $b, \"\\n\";\n",
}
WRONG = {"php": ("echo $a + $b", "echo $a * $b"), "c_sharp": (") + long", ") * long"),
         "java": ("() + s", "() * s")}
CRASH = {
    "python": "import sys\nsys.exit(3)\n",
    "cpp": "int main() { return 3; }\n",
    "c": "int main(void) { int *p = 0; return *p; }\n",
    "java": "public class Main {\n  public static void main(String[] x) {\n    int[] a = new int[1];\n    a[2] = 1;\n  }\n}\n",
    "c_sharp": "class P {\n  static void Main() { throw new System.Exception(\"boom\"); }\n}\n",
    "javascript": "throw new Error('boom');\n",
    "php": "<?php\nthrow new Exception('boom');\n",
}
BROKEN = {
    "python": "print(\n", "cpp": "int main() { return }\n", "c": "int main(void) { return }\n",
    "java": "public class Main { void f() { int x = ; } }\n", "c_sharp": "class P { void F() { int x = ; } }\n",
    "javascript": "function (\n", "php": "<?php\necho 1 +;\n",
}


@pytest.mark.parametrize("lang", sorted(STDIO_PROGRAMS))
def test_stdio_tests_every_language(lang):
    good = STDIO_PROGRAMS[lang]
    old, new = WRONG.get(lang, ("a + b", "a * b"))
    wrong = good.replace(old, new)
    assert wrong != good
    res = run_tests(lang, [good, wrong, CRASH[lang], BROKEN[lang]], [IO] * 4, timeout_s=10)
    assert outcomes(res) == ["passed", "failed", "runtime_error", "compile_error"], \
        [[str(m) for m in r.messages] for r in res]
    assert res[0].pass_ratio == 1.0 and res[0].total == 3
    # a * b: 1*2 != 3, 10*-3 != 7, 0*0 == 0
    assert (res[1].passed, res[1].total) == (1, 3)
    assert [r.reward for r in res] == [1.0, -0.3, -0.6, -1.0]


def test_stdio_timeout_and_float_tolerance():
    spec = TestSpec.from_io(["2\n"], ["0.6666666667\n"])
    short = TestSpec(stdio=spec.stdio, timeout_s=1)
    codes = ["print(2 / 3)\n", "print(0.67)\n", "while True:\n    pass\n",
             "import time\nprint(1, flush=True)\ntime.sleep(60)\n"]
    res = run_tests("python", codes, [spec, spec, short, short], timeout_s=20)
    assert outcomes(res) == ["passed", "failed", "timeout", "timeout"]


def test_output_is_compared_without_trailing_blanks():
    spec = TestSpec.from_io(["", ""], ["a b\nc\n", "x"])
    res = run_tests("python", ["print('a b   ')\nprint('c')\nprint()\n"], [TestSpec(stdio=spec.stdio[:1])])
    assert res[0].outcome == "passed"
    # token by token, whitespace between tokens does not matter; the tokens do
    res = run_tests("python", ["print('a  b')\nprint('c')\n", "print('a b')\nprint('C')\n"],
                    [TestSpec(stdio=spec.stdio[:1])] * 2)
    assert outcomes(res) == ["passed", "failed"]


def test_determinism():
    code = "import random\ndef add(a, b):\n    return a + b + (random.random() > 2)\n"
    specs = [CHECK, TestSpec(test="import random\ndef check(c):\n    for _ in range(5):\n"
                                  "        x = random.randint(0, 9)\n        assert c(x, 0) == x\n",
                             entry_point="add")]
    first = run_tests("python", [code, code], specs)
    second = run_tests("python", [code, code], specs)
    assert [(r.outcome, r.passed, r.total, r.reward) for r in first] == \
           [(r.outcome, r.passed, r.total, r.reward) for r in second]
    assert outcomes(first) == ["passed", "passed"]


def test_reward_values_are_configurable():
    values = RewardValues(passed=2.0, failed=-0.1, runtime_error=-0.5, timeout=-0.9, compile_error=-3.0)
    codes = ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n",
             "def add(a, b):\n    return 1 / 0\n", "def add(a, b):\n    while 1: pass\n", "def add(\n"]
    res = run_tests("python", codes, [CHECK, CHECK, CHECK, CHECK_SHORT, CHECK], timeout_s=20, rewards=values)
    assert [r.reward for r in res] == [2.0, -0.1, -0.5, -0.9, -3.0]


def test_misuse_raises_value_error():
    with pytest.raises(ValueError, match="test specs"):
        run_tests("python", ["x = 1"], [])
    with pytest.raises(ValueError, match=r"tests\[0\]: cannot read tests of type int"):
        run_tests("python", ["x = 1"], [17])
    with pytest.raises(ValueError, match=r"tests\[0\] is None"):
        run_tests("python", ["x = 1"], [None])
    with pytest.raises(ValueError, match="stdin/stdout tests only"):
        run_tests("java", ["class A {}"], [{"inputs": [[1]], "outputs": [1], "fn_name": "f"}])
    with pytest.raises(ValueError, match="stdin/stdout tests only"):
        run_tests("java", ["class A {}"], [CHECK])
    with pytest.raises(ValueError, match="unsupported language"):
        run_tests("brainfuck", ["+"], [IO])
    with pytest.raises(ValueError, match="exactly one kind"):
        TestSpec()
    with pytest.raises(ValueError, match="entry_point"):
        TestSpec(test="def check(candidate):\n    pass\n")
    with pytest.raises(ValueError, match="inputs but"):
        TestSpec.from_io(["1"], [])
    assert run_tests("python", [], []) == []


def test_java_cases_run_in_one_warm_jvm_with_fresh_static_state():
    cases = TestSpec.from_io([f"{i} {i + 1}\n" for i in range(10)], [f"{2 * i + 1}\n" for i in range(10)])
    # static state would leak between cases run in one JVM without a fresh class loader
    counted = ("import java.util.*;\npublic class Main {\n  static int calls = 0;\n"
               "  public static void main(String[] x) {\n    calls++;\n    Scanner s = new Scanner(System.in);\n"
               "    long a = s.nextLong(), b = s.nextLong();\n    if (calls > 1) System.exit(3);\n"
               "    System.out.println(a + b);\n    System.exit(0);\n  }\n}\n")
    exits = counted.replace("System.out.println(a + b);", "if (a == 4) System.exit(2);\n    System.out.println(a + b);")
    res = run_tests("java", [counted, exits], [cases, cases], timeout_s=10)
    assert [(r.outcome, r.passed, r.total) for r in res] == [("passed", 10, 10), ("runtime_error", 9, 10)]
    assert "exit status 2" in res[1].messages[0].text


def test_java_case_thread_state_does_not_reach_the_next_case():
    """The warm JVM runs every case on one reused thread: an interrupt that a case leaves
    behind is cleared before the next case, and System.exit is trapped whatever the
    case named its thread."""
    cases = TestSpec.from_io([f"{i}\n" for i in range(6)], [f"{i}\n" for i in range(6)])
    leaves = ("public class Main {\n  public static void main(String[] a) throws Exception {\n"
              "    Thread.sleep(1);\n    int n = new java.util.Scanner(System.in).nextInt();\n"
              "    System.out.println(n);\n    Thread.currentThread().setName(\"worker\");\n"
              "    Thread.currentThread().interrupt();\n    System.exit(0);\n  }\n}\n")
    res = run_tests("java", [leaves], [cases], timeout_s=10)
    assert (res[0].outcome, res[0].passed, res[0].total) == ("passed", 6, 6)


def test_bad_input_gets_a_defined_result():
    spec = TestSpec(asserts=("assert f() == 1",))
    io = TestSpec.from_io(["x\n"], ["x\n"])
    codes = ["", "\0", "x = '\udcff'\ndef f():\n    return 1\n", "(" * 10_000,
             "def f():\n    return 1\n" + "# padding\n" * 100_000, "def f():\n    return " + "[" * 5_000 + "]" * 5_000 + "\n"]
    res = run_tests("python", codes, [spec] * len(codes), timeout_s=20)
    # no f at all: the test itself raises NameError, which counts as a failed test
    assert [r.outcome for r in res] == ["failed", "compile_error", "compile_error", "compile_error",
                                        "passed", "compile_error"]
    # huge inputs and outputs, odd bytes in the expected output
    res = run_tests("python", ["import sys\nsys.stdout.write(sys.stdin.read())\n"],
                    [TestSpec(stdio=(("a" * 500_000, "a" * 500_000), ("\udcff\ud800\n", "\udcff\ud800\n")))],
                    timeout_s=20)
    assert res[0].outcome in ("passed", "failed") and res[0].total == 2
    res = run_tests("c", ["", "int main(void) { return 0; }"], [io, io], timeout_s=20)
    assert [r.outcome for r in res] == ["compile_error", "failed"]
