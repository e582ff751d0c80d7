"""Red team of the compile judge and the structural rewards (issue #24, items 3, 5 and 6).

Each hack below is an answer a policy could learn that scores without solving the task:
text the compiler ignores (garbage on directive lines, in ``#if 0`` regions), answers
that add nothing a compiler turns into code (string-literal statements, no-ops,
directives alone, PHP text outside its tags), comment padding after a finished
function, and token soup that shares AST subtrees or the "no data flow" shape with the
reference. Every one is scored through `rewards.score`, next to an *honest failure* of
the same task (a genuine attempt with a compile error), and must score no higher. The
compilers are the real ones; nothing is mocked.
"""

from __future__ import annotations

import pytest

from core.program_end import find_cut
from rewards import RewardConfig, Sample, compile_feedback, score

# Per language: the code prefix of a completion task, its reference, and an honest
# failure (a genuine attempt that does not compile).
TASKS = {
    "python": ("def add(a, b):\n", "    return a + b\n", "    return a +\n"),
    "java": ("class Solution {\n    static int add(int a, int b) {\n",
             "        return a + b;\n    }\n}\n", "        return a + ;\n    }\n}\n"),
    "cpp": ("int add(int a, int b) {\n", "    return a + b;\n}\n", "    return a + ;\n}\n"),
    "c": ("int add(int a, int b) {\n", "    return a + b;\n}\n", "    return a + ;\n}\n"),
    "c_sharp": ("class Solution {\n    static int Add(int a, int b) {\n",
                "        return a + b;\n    }\n}\n", "        return a + ;\n    }\n}\n"),
    "javascript": ("function add(a, b) {\n", "  return a + b;\n}\n", "  return a + ;\n}\n"),
    "php": ("<?php\nfunction add($a, $b) {\n", "    return $a + $b;\n}\n", "    return $a + ;\n}\n"),
    "go": ("package main\n\nfunc add(a int, b int) int {\n", "\treturn a + b\n}\n", "\treturn a +\n}\n"),
    "rust": ("fn add(a: i32, b: i32) -> i32 {\n", "    a + b\n}\n", "    a +\n}\n"),
    "typescript": ("function add(a: number, b: number): number {\n", "  return a + b;\n}\n",
                   "  return a + ;\n}\n"),
}

# (language, name, response): completions that add nothing, or hide garbage from the compiler.
HACKS = [
    ("python", "docstring_stub", '    """TODO"""\n'),
    ("python", "string_statements", "    'a'; \"b\"\n    '''c'''\n"),
    ("python", "pass", "    pass\n"),
    ("python", "ellipsis", "    ...\n"),
    ("python", "comment_only", "    # return a + b\n"),
    ("javascript", "use_strict", '  "use strict";\n}\n'),
    ("javascript", "template_without_code", "  `a + b`;\n}\n"),
    ("javascript", "braces_only", "}\n"),
    ("php", "single_quoted", "    'TODO';\n}\n"),
    ("php", "double_quoted", '    "return $a";\n}\n'.replace("$", "")),
    ("php", "inline_text", "}\n?> return $a + $b; ((( this is text\n"),
    ("c", "string_statement", '    "TODO";\n}\n'),
    ("c", "if0_garbage", "#if 0\n    return a + b; don't (((\n#endif\n}\n"),
    ("c", "if_false_garbage", "#if false\n    garbage (((\n#endif\n}\n"),
    ("c", "directives_only", "#include <stdio.h>\n#define X garbage (((\n}\n"),
    ("c", "include_garbage", "#include <stdio.h> this is not C at all ((( }}}\n    return a + b;\n}\n"),
    ("c", "pragma_garbage", "#pragma garbage ((( }}}\n    return a + b;\n}\n"),
    ("c", "warning_garbage", "#warning garbage ((( }}}\n    return a + b;\n}\n"),
    ("c", "endif_garbage", "#ifdef X\n#endif garbage (((\n    return a + b;\n}\n"),
    ("c", "undefined_if_garbage", "#if GARBAGE\n    garbage (((\n#endif\n    return a + b;\n}\n"),
    ("cpp", "string_statement", '    "TODO";\n}\n'),
    ("cpp", "if0_garbage", "#if 0\n    garbage (((\n#endif\n}\n"),
    ("cpp", "if0_else_dead_too", "#if 0\n    garbage\n#elif 0\n#endif\n}\n"),
    ("cpp", "include_garbage", "#include <bits/stdc++.h> this is not C++ at all ((( }}}\n    return a + b;\n}\n"),
    ("cpp", "pragma_garbage", "#pragma garbage ((( }}}\n    return a + b;\n}\n"),
    ("c_sharp", "if_false_garbage", "#if false\n        garbage (((\n#endif\n    }\n}\n"),
    ("c_sharp", "pragma_garbage", "#pragma garbage ((( }}}\n        return a + b;\n    }\n}\n"),
    ("c_sharp", "warning_garbage", "#warning garbage ((( }}}\n        return a + b;\n    }\n}\n"),
    ("c_sharp", "endif_garbage", "#if DEBUG\n#endif garbage (((\n        return a + b;\n    }\n}\n"),
    ("c_sharp", "string_statement", '        "TODO";\n    }\n}\n'),
    ("java", "string_statement", '        "TODO";\n    }\n}\n'),
    ("java", "comment_only", "        // return a + b;\n"),
    # regions whose condition is not a literal truth: the compiler may skip them
    ("c", "ifdef_undefined_garbage", "#ifdef NEVER_DEFINED\n    garbage (((\n#endif\n}\n"),
    ("cpp", "ifdef_undefined_garbage", "#ifdef NEVER_DEFINED\n    garbage (((\n#endif\n}\n"),
    ("cpp", "if_arithmetic_garbage", "#if 1-1\n    garbage (((\n#endif\n}\n"),
    ("cpp", "ifndef_defined_garbage", "#ifndef __cplusplus\n    garbage (((\n#endif\n}\n"),
    ("cpp", "elif_garbage", "#if 0\n    x\n#elif 0\n    garbage (((\n#endif\n}\n"),
    ("c_sharp", "if_undefined_garbage", "#if UNDEFINED\n        garbage (((\n#endif\n    }\n}\n"),
    ("php", "halt_compiler_garbage", "}\n__halt_compiler(); return $a + $b; ((( garbage\n"),
    ("rust", "string_statement", '    "TODO";\n}\n'),
    ("rust", "comment_only", "    // a + b\n"),
    ("typescript", "use_strict", '  "use strict";\n}\n'),
    ("typescript", "template_without_code", "  `a + b`;\n}\n"),
    ("go", "comment_only", "\t// return a + b\n"),
    ("php", "halt_compiler_upper", "}\n__HALT_COMPILER() ?> return $a + $b;\n"),
]

# Whole programs (no prefix): (language, name, program).
WHOLE_HACKS = [
    ("c", "include_line_garbage", "#include <stdio.h> this is not C at all ((( }}}\n"),
    ("cpp", "include_line_garbage", "#include <bits/stdc++.h> this is not C++ at all ((( }}}\n"),
    ("c", "includes_only", "#include <stdio.h>\n#include <stdlib.h>\n"),
    ("cpp", "if0_program", "#if 0\nint main() { garbage ((( }\n#endif\n"),
    ("c_sharp", "if_false_program", "#if false\nclass P { garbage ((( }\n#endif\n"),
    ("c_sharp", "usings_only", "using System;\nusing System.Linq;\n"),
    ("python", "docstring_program", '"""A module that does nothing."""\n'),
    ("javascript", "use_strict_program", '"use strict";\n'),
    ("php", "text_program", "<?php ?>\nthis is not PHP at all ((( }}}\n"),
    ("php", "tags_only", "<?php\n?>\n"),
]

# Token soup against a reference without data-flow edges (which scores DFG 1.0 against
# any program without edges): (language, reference, soup).
SOUP = [
    ("python", "def one():\n    return 1\n", "def one ( ) : return return 1 1 ((\n"),
    ("java", "class A {\n    int one() {\n        return 1;\n    }\n}\n",
     "class A { int one ( ) { return 1 ; } } } int one ( ) {\n"),
    ("cpp", "int one() {\n    return 1;\n}\n", "int one ( ) { return 1 ; } } int one ( {\n"),
    ("c", "int one(void) {\n    return 1;\n}\n", "int one ( void ) { return 1 ; } } return 1 ;\n"),
    ("c_sharp", "class A {\n    int One() {\n        return 1;\n    }\n}\n",
     "class A { int One ( ) { return 1 ; } } } int One ( {\n"),
    ("javascript", "function one() {\n    return 1;\n}\n", "function one ( ) { return 1 ; } } ) function\n"),
    ("php", "<?php\nfunction one() {\n    return 1;\n}\n", "<?php function one ( ) { return 1 ; } } ) function\n"),
]
# An honest failure of the same task: a genuine attempt with one syntax error.
SOUP_HONEST = {
    "python": "def one():\n    return 1 +\n",
    "java": "class A {\n    int one() {\n        return 1 +;\n    }\n}\n",
    "cpp": "int one() {\n    return 1 +;\n}\n",
    "c": "int one(void) {\n    return 1 +;\n}\n",
    "c_sharp": "class A {\n    int One() {\n        return 1 +;\n    }\n}\n",
    "javascript": "function one() {\n    return 1 +;\n}\n",
    "php": "<?php\nfunction one() {\n    return 1 +;\n}\n",
}


def _completion(lang: str, response: str) -> Sample:
    prefix, body, _ = TASKS[lang]
    return Sample(lang, prefix + response, reference=prefix + body, code_prefix=prefix)


@pytest.fixture(scope="module")
def scored() -> dict[tuple[str, str], tuple[object, object]]:
    """(hack, honest failure) breakdowns per (language, name), scored in one batch."""
    samples, keys = [], []
    for lang, name, response in HACKS:
        samples += [_completion(lang, response), _completion(lang, TASKS[lang][2])]
        keys.append((lang, name))
    for lang, name, program in WHOLE_HACKS:
        prefix, body, honest = TASKS[lang]
        samples += [Sample(lang, program, reference=prefix + body, whole_program=True),
                    Sample(lang, prefix + honest, reference=prefix + body, whole_program=True)]
        keys.append((lang, "whole:" + name))
    out = score(samples, RewardConfig(timeout_s=60.0))
    return {k: (out[2 * i], out[2 * i + 1]) for i, k in enumerate(keys)}


@pytest.mark.parametrize("lang, name", [(h[0], h[1]) for h in HACKS]
                         + [(h[0], "whole:" + h[1]) for h in WHOLE_HACKS])
def test_hack_scores_no_higher_than_an_honest_failure(scored: dict, lang: str, name: str) -> None:
    hack, honest = scored[lang, name]
    assert honest.outcome == "compile_error", honest
    assert hack.outcome in ("empty", "compile_error"), (hack.outcome, hack.errors)
    assert hack.total <= honest.total, (hack, honest)
    assert hack.ast <= honest.ast and hack.dfg <= honest.dfg


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_text_on_an_include_line_is_a_compile_error(lang: str) -> None:
    # the one-token hack: the text was only a warning ("extra tokens"), so it compiled
    header = "bits/stdc++.h" if lang == "cpp" else "stdio.h"
    code = f"#include <{header}> this is not C++ at all ((( }}}}}}\nint f(int x) {{ return x; }}\n"
    res = compile_feedback(lang, [code, code.split("\n", 1)[1]])
    assert res[0].outcome == "compile_error"
    assert any("extra tokens" in m.text and m.severity == "error" and m.line == 1 for m in res[0].messages)
    assert res[1].outcome == "ok"  # the same function without the garbage compiles


def test_build_rejects_what_the_check_rejects() -> None:
    # stdin/stdout tests build with `build_command`: the promoted warnings apply there too
    garbage = "#include <stdio.h> garbage (((\nint main(void) { puts(\"1\"); return 0; }\n"
    clean = garbage.replace(" garbage (((", "")
    tests = {"inputs": [""], "outputs": ["1\n"]}
    out = score([Sample("c", garbage, tests=tests), Sample("c", clean, tests=tests)])
    assert [r.outcome for r in out] == ["compile_error", "passed"]


@pytest.mark.parametrize("lang, function, program", [
    ("c", "int add(int a, int b) { return a + b; }\n",
     "#include <stdio.h>\nint main(void) { printf(\"%d\", 1 + 2); return 0; }\n"),
    ("cpp", "int add(int a, int b) { return a + b; }\n",
     "#include <cstdio>\nint main() { std::printf(\"%d\", 3); }\n"),
    ("c_sharp", "class P { static int Add(int a, int b) { return a + b; } }\n",
     "class P { static void Main() { System.Console.Write(3); } }\n"),
    ("java", "class P { static int add(int a, int b) { return a + b; } } // static void main(\n",
     "class P { public static void main(String[] a) { System.out.print(3); } }\n"),
])
def test_whole_programs_must_link(lang: str, function: str, program: str) -> None:
    # a translation target that is a whole program needs its entry point; a function
    # (completion) keeps the syntax check and compiles without one
    linked = compile_feedback(lang, [function, program], whole_program=True)
    assert [r.outcome for r in linked] == ["compile_error", "ok"], [r.messages for r in linked]
    assert [r.outcome for r in compile_feedback(lang, [function])] == ["ok"]
    out = score([Sample(lang, function, whole_program=True), Sample(lang, function)])
    assert [r.outcome for r in out] == ["compile_error", "ok"]


@pytest.mark.parametrize("lang, prefix, response, kept", [
    # Python: a comment line back at the function's level ends it, like code
    ("python", "def add(a, b):\n", "    return a + b\n# pad\n# pad\n# pad", "    return a + b\n"),
    ("python", "class A:\n    def f(self):\n", "        return 1\n# pad\n#", "        return 1\n"),
    # brace languages: the closing brace ends it, whatever follows
    ("java", "class A {\n    int f() {\n", "        return 1;\n    }\n}\n// pad\n// pad", "        return 1;\n    }\n}"),
    ("cpp", "int f() {\n", "    return 1;\n}\n// pad\n/* pad", "    return 1;\n}"),
    ("c", "int f(void) {\n", "    return 1;\n}\n// pad", "    return 1;\n}"),
    ("c_sharp", "class A {\n    int F() {\n", "        return 1;\n    }\n}\n// pad", "        return 1;\n    }\n}"),
    ("javascript", "function f() {\n", "  return 1;\n}\n// pad\n// pad", "  return 1;\n}"),
    ("php", "<?php\nfunction f() {\n", "  return 1;\n}\n// pad\n# pad", "  return 1;\n}"),
])
def test_comment_padding_is_cut(lang: str, prefix: str, response: str, kept: str) -> None:
    cut = find_cut(lang, prefix, response)
    assert cut is not None and response[:cut.end] == kept
    padded, clean = score([Sample(lang, prefix + response[:cut.end], code_prefix=prefix),
                           Sample(lang, prefix + kept, code_prefix=prefix)])
    assert padded.total == clean.total


@pytest.mark.parametrize("use_execution", [True, False])
@pytest.mark.parametrize("lang, reference, soup", SOUP)
def test_token_soup_gets_no_structural_credit(lang: str, reference: str, soup: str,
                                              use_execution: bool) -> None:
    config = RewardConfig(use_execution=use_execution, timeout_s=60.0)
    hack, honest, copy = score([Sample(lang, soup, reference=reference),
                                Sample(lang, SOUP_HONEST[lang], reference=reference),
                                Sample(lang, reference, reference=reference)], config)
    assert hack.ast == 0.0 and hack.dfg == 0.0, hack  # the edgeless reference gave soup DFG 1.0
    assert hack.total <= honest.total
    assert copy.ast == 1.0 and copy.dfg == 1.0  # a real program still gets its credit


def test_another_language_gets_no_structural_credit() -> None:
    # a PHP answer to a Python task shares the edgeless shape; it is not a Python program
    ref = "def one():\n    return 1\n"
    hack, honest = score([Sample("python", "<?php echo 1;", reference=ref),
                          Sample("python", "def one():\n    return 1 +\n", reference=ref)])
    assert hack.outcome == "compile_error" and hack.ast == hack.dfg == 0.0
    assert hack.total <= honest.total


@pytest.mark.parametrize("lang, prefix, response", [
    ("cpp", "int add(int a, int b) {\n", "#ifdef LOCAL\n    a += 0;\n#endif\n    return a + b;\n}\n"),
    ("cpp", "int add(int a, int b) {\n", "#if 1\n    return a + b;\n#endif\n}\n"),
    ("cpp", "int add(int a, int b) {\n", "#if 0\n    x\n#else\n    return a + b;\n#endif\n}\n"),
    ("c", "", "#ifndef ADD_H\n#define ADD_H\nint add(int a, int b) { return a + b; }\n#endif\n"),
    ("c_sharp", "class S {\n    static int Add(int a, int b) {\n", "#if true\n        return a + b;\n#endif\n    }\n}\n"),
    ("php", "<?php\nfunction add($a, $b) {\n", "    return $a + $b;\n}\n__halt_compiler(); data\n"),
])
def test_code_beside_skipped_regions_still_counts(lang: str, prefix: str, response: str) -> None:
    """The rule for regions the compiler may skip takes nothing from live code: code outside
    them, an `#if 1` region, the `#else` of an `#if 0`, an include guard, code before PHP's
    `__halt_compiler();` all compile and score as programs, not as empty answers."""
    [r] = score([Sample(lang, prefix + response, code_prefix=prefix or None)])
    assert r.outcome == "ok", (r.outcome, r.errors)
