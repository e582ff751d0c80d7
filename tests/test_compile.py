"""Compile feedback for the 7 languages: outcomes, messages with lines, fragments, warnings."""

import pytest

from core import languages
from rewards import CompileResult, RewardValues, compile_feedback
from rewards.execution import isolation_level
from rewards.execution.sandbox import memory_guard

# (language, compiles, has a syntax/type error on line 3 of the sample)
PROGRAMS = {
    "python": ("def f(x):\n    return x + 1\n", "def f(x):\n    y = 1\n    return (x +\n"),
    "java": ("public class Main {\n  public static void main(String[] a) {\n    System.out.println(1);\n  }\n}\n",
             "public class Main {\n  static int f() {\n    int x = ;\n    return x;\n  }\n}\n"),
    "cpp": ("#include <vector>\nint main() {\n  std::vector<int> v{1};\n  return v[0];\n}\n",
            "#include <vector>\nint main() {\n  std::vector<int> v = undefined_name;\n  return 0;\n}\n"),
    "c": ("#include <stdio.h>\nint main(void) {\n  printf(\"%d\\n\", 1);\n  return 0;\n}\n",
          "#include <stdio.h>\nint main(void) {\n  int x = ;\n  return 0;\n}\n"),
    "c_sharp": ("using System;\nclass P {\n  static void Main() { Console.WriteLine(1); }\n}\n",
                "using System;\nclass P {\n  static void Main() { int x = ; }\n}\n"),
    "javascript": ("function f(x) {\n  return x + 1;\n}\nconsole.log(f(1));\n",
                   "function f(x) {\n  let y = 1;\n  return x +* y;\n}\n"),
    "php": ("<?php\nfunction f($x) {\n  return $x + 1;\n}\n",
            "<?php\nfunction f($x) {\n  return $x +;\n}\n"),
}


@pytest.mark.parametrize("lang", sorted(PROGRAMS))
def test_good_and_bad_programs(lang):
    good, bad = PROGRAMS[lang]
    res = compile_feedback(lang, [good, bad, good])
    assert [r.outcome for r in res] == ["ok", "compile_error", "ok"]
    assert [r.reward for r in res] == [1.0, -1.0, 1.0]
    errors = [m for m in res[1].messages if m.severity == "error"]
    assert errors, res[1]
    assert errors[0].line == 3, [str(m) for m in res[1].messages]
    assert res[1].first_failing_line == 3
    assert not [m for m in res[0].messages if m.severity == "error"]
    assert all(isinstance(r, CompileResult) and r.timings["compile"] >= 0 for r in res)
    bound = languages.get(lang).execution.memory_bound
    guard = memory_guard(isolation_level())
    bound += f"+{guard}" if guard else ""
    assert res[0].isolation == ("in-process" if lang == "python" else f"{isolation_level()}+{bound}")


def test_python_is_in_process():
    assert compile_feedback("py", ["x = 1"])[0].isolation == "in-process"


@pytest.mark.parametrize("lang,code", [
    ("c", "#include <stdio.h>\nint main(void) {\n  int *p = 5;\n  return 0;\n}\n"),
    ("cpp", "int f() {\n  int unused;\n}\n"),
    ("java", "import java.util.*;\npublic class Main {\n  List raw = new ArrayList();\n"
             "  void f() { raw.add(1); new Integer(3); }\n}\n"),
    ("python", "x = 1\nif x is 1:\n    pass\n"),
    ("c_sharp", "class P {\n  static void Main() { int unused = 1; }\n}\n"),
])
def test_warnings_are_not_errors(lang, code):
    res = compile_feedback(lang, [code])[0]
    assert res.outcome == "ok", [str(m) for m in res.messages]


def test_java_class_names_never_collide():
    a = "public class GFG {\n  static int f() { return 1; }\n}\n"
    b = "public class GFG {\n  static String f() { return \"x\"; }\n  public static void main(String[] s) {}\n}\n"
    broken = "public class GFG {\n  static int f() { return \"x\"; }\n}\n"
    res = compile_feedback("java", [a, b, broken, a])
    assert [r.outcome for r in res] == ["ok", "ok", "compile_error", "ok"]
    assert "incompatible types" in res[2].messages[0].text


def test_java_public_class_takes_its_own_file_name():
    res = compile_feedback("java", ["public class Solution {\n  int f() { return 1; }\n}\n"])
    assert res[0].outcome == "ok"


def test_fragments_are_wrapped_and_lines_refer_to_the_sample():
    java_method = "public int add(int a, int b) {\n  List<Integer> xs = new ArrayList<>();\n  return a + c;\n}\n"
    res = compile_feedback("java", [java_method, java_method.replace("+ c", "+ b")])
    assert [r.outcome for r in res] == ["compile_error", "ok"]
    assert res[0].messages[0].line == 3
    cs_method = "public int Add(int a, int b) {\n  var xs = new List<int>();\n  return a + c;\n}\n"
    res = compile_feedback("c_sharp", [cs_method, cs_method.replace("+ c", "+ b")])
    assert [r.outcome for r in res] == ["compile_error", "ok"]
    assert res[0].messages[0].line == 3
    cpp_function = "int add(int a, int b) {\n  vector<int> v{a};\n  return v[0] + c;\n}\n"
    res = compile_feedback("cpp", [cpp_function, cpp_function.replace("+ c", "+ b")])
    assert [r.outcome for r in res] == ["compile_error", "ok"]
    assert res[0].messages[0].line == 3
    res = compile_feedback("php", ["function f($x) {\n  return $x;\n}\n", "function f($x) {\n\n  return $x +;\n}"])
    assert [r.outcome for r in res] == ["ok", "compile_error"]
    assert res[1].messages[0].line == 3


def test_javascript_module_syntax_and_commonjs_return():
    res = compile_feedback("javascript", ["import fs from 'fs';\nexport const x = 1;\n",
                                          "const x = 1;\nif (x) return;\n",
                                          "export const = 1;\n"])
    assert [r.outcome for r in res] == ["ok", "ok", "compile_error"]


def test_bad_input_gets_a_defined_result():
    res = compile_feedback("python", ["x = 1\0", "(" * 10_000, "", "x = '\udcff'", "a = 1\n" * 100_000])
    # a lone surrogate is not encodable text: a compile error, not a crash
    assert [r.outcome for r in res] == ["compile_error", "compile_error", "ok", "compile_error", "ok"]
    res = compile_feedback("c", ["", "{" * 10_000, "int main(void) { return '\udcff'; }"])
    assert res[0].outcome == "ok"
    assert res[1].outcome == "compile_error"
    assert res[2].outcome in ("ok", "compile_error")
    res = compile_feedback("javascript", ["(" * 10_000, ""])
    assert [r.outcome for r in res] == ["compile_error", "ok"]
    assert compile_feedback("java", []) == []


def test_errors_for_misuse():
    with pytest.raises(ValueError, match="unsupported language"):
        compile_feedback("cobol", ["x"])
    with pytest.raises(ValueError, match="not str"):
        compile_feedback("python", [b"x = 1"])
    with pytest.raises(ValueError, match="single string"):
        compile_feedback("python", "x = 1")


def test_reward_values_are_configurable():
    values = RewardValues(compile_ok=0.5, compile_error=-2.0)
    res = compile_feedback("c", ["int main(void){return 0;}", "int main(void){return }"], rewards=values)
    assert [r.reward for r in res] == [0.5, -2.0]


def test_precompiled_headers_never_change_what_compiles():
    # <cstdio> does not declare std::map: an error every time, even once a PCH of the
    # unit's own include set is in use (it is built when a set is seen twice)
    missing = "#include <cstdio>\nint main() {\n  std::map<int, int> m;\n  return 0;\n}\n"
    fine = "#include <cstdio>\n#include <map>\nint main() {\n  std::map<int, int> m;\n  return 0;\n}\n"
    for _ in range(3):
        res = compile_feedback("cpp", [missing, fine, "#include <bits/stdc++.h>\nint main() { std::map<int, int> m; }\n"])
        assert [r.outcome for r in res] == ["compile_error", "ok", "ok"]
        assert res[0].messages[0].line == 3


def test_java_units_the_worker_cannot_finish_are_checked_cold():
    from rewards.execution import compile as compile_module
    from rewards.execution import workers

    good = "public class Main {\n  int f() { return 1; }\n}\n"
    bad = "public class Main {\n  int f() {\n    return \"x\";\n  }\n}\n"
    # a dead JVM worker answers nothing for the batch: each unit falls back to its own javac
    dead = [None, None]
    real = workers.java_compile
    try:
        compile_module.workers.java_compile = lambda ex, units, threads, timeout_s: dead  # type: ignore[assignment]
        res = compile_feedback("java", [good, bad])
    finally:
        compile_module.workers.java_compile = real
    assert [r.outcome for r in res] == ["ok", "compile_error"]
    assert res[1].messages[0].line == 3 and "incompatible types" in res[1].messages[0].text
