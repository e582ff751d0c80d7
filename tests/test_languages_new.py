"""Go, Rust and TypeScript as languages of the whole toolkit: compile feedback with the
sample's own line numbers (fragments too), stdin/stdout tests in the sandbox (right,
wrong, crashing, looping, not compiling), the composite reward, and red-team attempts
to read the host's secrets through the compiler."""

from __future__ import annotations

import os
import uuid

import pytest

from core import languages
from rewards import RewardConfig, Sample, TestSpec, compile_feedback, run_tests, score

SUM = {
    "go": "package main\n\nimport \"fmt\"\n\nfunc main() {\n\tvar a, b int\n\tfmt.Scan(&a, &b)\n\tfmt.Println(a + b)\n}\n",
    "rust": "use std::io::Read;\n\nfn main() {\n    let mut s = String::new();\n"
            "    std::io::stdin().read_to_string(&mut s).unwrap();\n"
            "    let v: Vec<i64> = s.split_whitespace().map(|x| x.parse().unwrap()).collect();\n"
            "    println!(\"{}\", v[0] + v[1]);\n}\n",
    "typescript": "import * as fs from 'fs';\n\nconst [a, b] = fs.readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
                  "console.log(a + b);\n",
}
# an error on line 3 of each
BROKEN = {
    "go": "package main\n\nfunc main() { x := undefinedName }\n",
    "rust": "fn main() {\n    let x: i32 = 1;\n    let y: i32 = \"text\";\n}\n",
    "typescript": "let a: number = 1;\nlet b: number = 2;\nlet c: number = 'text';\n",
}
FRAGMENTS = {  # a function alone: no package clause, no main
    "go": "import \"strings\"\n\nfunc Shout(s string) string { return strings.ToUpper(s) + \"!\" }\n",
    "rust": "fn shout(s: &str) -> String { format!(\"{}!\", s.to_uppercase()) }\n",
    "typescript": "function shout(s: string): string { return s.toUpperCase() + '!'; }\n",
}
WRONG = {lang: code.replace("a + b", "a - b").replace("v[0] + v[1]", "v[0] - v[1]") for lang, code in SUM.items()}
CRASH = {"go": "package main\n\nfunc main() {\n\tvar s []int\n\t_ = s[3]\n}\n",
         "rust": "fn main() {\n    let v: Vec<i32> = Vec::new();\n    println!(\"{}\", v[3]);\n}\n",
         "typescript": "throw new Error('boom');\n"}
LOOP = {"go": "package main\n\nfunc main() {\n\tfor {\n\t}\n}\n", "rust": "fn main() {\n    loop {}\n}\n",
        "typescript": "while (true) {}\n"}
LANGS = list(SUM)
CASES = TestSpec(stdio=(("1 2\n", "3\n"), ("40 2\n", "42\n")), timeout_s=2)


def test_registered_with_aliases_and_grammars():
    for name, alias in (("go", "golang"), ("rust", "rs"), ("typescript", "ts")):
        spec = languages.get(alias)
        assert spec.name == name and spec.execution is not None
        assert spec.grammar() is not None
    assert {"go", "rust", "typescript"} <= set(languages.names())


@pytest.mark.parametrize("lang", LANGS)
def test_compile_feedback_with_line_numbers(lang):
    good, bad, fragment = compile_feedback(lang, [SUM[lang], BROKEN[lang], FRAGMENTS[lang]])
    assert good.outcome == "ok" and good.reward == 1.0, [str(m) for m in good.messages]
    assert not [m for m in good.messages if m.severity == "error"]
    assert bad.outcome == "compile_error" and bad.reward == -1.0
    assert bad.first_failing_line == 3, [str(m) for m in bad.messages]
    assert fragment.outcome == "ok", [str(m) for m in fragment.messages]
    assert good.isolation.startswith(("namespaces+", "userns+", "uid+", "rlimits+"))


def test_a_go_fragment_keeps_its_own_line_numbers():
    res = compile_feedback("go", ["func f() int {\n\treturn 1\n}\n\nfunc g() int { return missing }\n"])[0]
    assert res.outcome == "compile_error" and res.first_failing_line == 5


@pytest.mark.parametrize("lang", LANGS)
def test_stdin_stdout_tests(lang):
    right, wrong, crash, loop, broken = run_tests(
        lang, [SUM[lang], WRONG[lang], CRASH[lang], LOOP[lang], BROKEN[lang]], [CASES] * 5)
    assert (right.outcome, right.pass_ratio, right.reward) == ("passed", 1.0, 1.0)
    assert wrong.outcome == "failed" and wrong.pass_ratio == 0.0 and wrong.reward == -0.3
    assert crash.outcome == "runtime_error" and crash.reward == -0.6
    assert loop.outcome == "timeout"
    assert broken.outcome == "compile_error" and broken.first_failing_line == 3


@pytest.mark.parametrize("lang", LANGS)
def test_function_tests_are_refused_clearly(lang):
    with pytest.raises(ValueError, match="stdin/stdout tests only"):
        run_tests(lang, [FRAGMENTS[lang]], [TestSpec(calls=(((1,), 1),), entry_point="f")])


@pytest.mark.parametrize("lang", LANGS)
def test_the_composite_reward(lang):
    full, empty = score([Sample(language=lang, code=SUM[lang], reference=SUM[lang],
                                tests={"inputs": ["1 2\n"], "outputs": ["3\n"]}),
                         Sample(language=lang, code="// nothing here\n", reference=SUM[lang])],
                        RewardConfig())
    assert full.outcome == "passed" and full.ast == 1.0 and full.dfg == 1.0 and full.total == 3.0
    assert empty.outcome == "empty" and empty.total < 0


# --- red team: the compiler as a way to read the host


@pytest.fixture
def secret():
    path = f"/var/tmp/ppocoder-secret-{uuid.uuid4().hex[:8]}"
    text = f"SECRET-{uuid.uuid4().hex}"
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, 0o600)
    yield path, text
    os.unlink(path)


def test_compile_time_reads_of_a_root_only_file_fail_and_leak_nothing(secret):
    path, text = secret
    attempts = {
        "rust": [f'const S: &str = include_str!("{path}");\nconst _: () = panic!("{{}}", S);\n',
                 f'fn main() {{ let x: i32 = include_str!("{path}"); }}\n'],
        "typescript": [f'/// <reference path="{path}" />\nconsole.log(1);\n',
                       f'import secret = require("{path}");\nconsole.log(secret);\n'],
        "go": [f'package main\n\nimport _ "{path}"\n\nfunc main() {{}}\n'],
    }
    for lang, codes in attempts.items():
        for res in compile_feedback(lang, codes):
            assert res.outcome == "compile_error", (lang, [str(m) for m in res.messages])
            assert not any(text in m.text for m in res.messages), lang
        for res in run_tests(lang, codes, [TestSpec(stdio=(("", text + "\n"),))] * len(codes)):
            assert res.outcome != "passed" and not any(text in m.text for m in res.messages), lang
