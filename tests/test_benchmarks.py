"""Built-in benchmark sources: each read from small files written here in its published format."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from rewards import compile_feedback, run_tests
from trainer.config import DataConfig
from trainer.data import apps_prompt, detokenize_xlcost, load_task


def load(**kwargs) -> list:
    train, evals = load_task(DataConfig(eval_fraction=0.0, **kwargs))
    assert evals == []
    return train


def passes(examples) -> list[str]:
    res = run_tests("python", [e.reference for e in examples], [e.tests for e in examples],
                    timeout_s=20)
    return [r.outcome for r in res]


# ------------------------------------------------------------------------ HumanEval


def test_humaneval_offline_from_the_package():
    problems = load(source="humaneval")
    assert len(problems) == 164 and problems[0].id == "HumanEval/0"
    first = problems[0]
    assert first.code_prefix == first.prompt and first.reference.startswith(first.prompt)
    assert first.tests.entry_point == "has_close_elements" and "def check" in first.tests.test
    assert passes(problems[:5]) == ["passed"] * 5
    train, evals = load_task(DataConfig(source="humaneval", eval_fraction=0.25))
    assert (len(train), len(evals)) == (123, 41)
    with pytest.raises(ValueError, match="one split"):
        load_task(DataConfig(source="humaneval", eval_split="test"))


def test_humaneval_from_a_gzipped_file(tmp_path: Path):
    rows = [{"task_id": "X/0", "prompt": "def inc(x):\n", "canonical_solution": "    return x + 1\n",
             "test": "def check(candidate):\n    assert candidate(1) == 2\n", "entry_point": "inc"}]
    path = tmp_path / "he.jsonl.gz"
    with gzip.open(path, "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    problems = load(source="humaneval", path=str(path))
    assert [p.id for p in problems] == ["X/0"] and passes(problems) == ["passed"]
    with pytest.raises(ValueError, match="does not exist"):
        load(source="humaneval", path=str(tmp_path / "missing.jsonl"))


# ------------------------------------------------------------------------------ MBPP


def mbpp_row(task_id: int, **extra) -> dict:
    return {"task_id": task_id, "text": f"Write a function add{task_id} that adds two numbers.",
            "code": f"def add{task_id}(a, b):\n    return a + b",
            "test_list": [f"assert add{task_id}(1, 2) == 3", f"assert add{task_id}(0, 0) == 0"],
            "test_setup_code": "", "challenge_test_list": [], **extra}


def test_mbpp_original_file_and_published_splits(tmp_path: Path):
    path = tmp_path / "mbpp.jsonl"
    path.write_text("".join(json.dumps(mbpp_row(i)) + "\n" for i in (3, 11, 12, 600, 700)))
    test = load(source="mbpp", path=str(path), train_split="test")
    assert [e.id for e in test] == ["mbpp/11", "mbpp/12"]
    assert [e.aliases for e in test] == [("11",), ("12",)]  # MBPP's published integer task_id
    assert "Your code should pass these tests" in test[0].prompt
    assert "assert add11(1, 2) == 3" in test[0].prompt and test[0].code_prefix == ""
    assert passes(test) == ["passed", "passed"]
    train, evals = load_task(DataConfig(source="mbpp", path=str(path), eval_split="validation"))
    assert [e.id for e in train] == ["mbpp/700"] and [e.id for e in evals] == ["mbpp/600"]
    assert [e.id for e in load(source="mbpp", path=str(path), train_split="prompt")] == ["mbpp/3"]
    with pytest.raises(ValueError, match="no split 'dev2'"):
        load(source="mbpp", path=str(path), train_split="dev2")


def test_mbpp_sanitized_json_with_test_imports(tmp_path: Path):
    row = {"task_id": 20, "prompt": "Return the square root.", "source_file": "x",
           "code": "def root(x):\n    return math.sqrt(x)\n", "test_imports": ["import math"],
           "test_list": ["assert math.isclose(root(4), 2)"]}
    path = tmp_path / "sanitized-mbpp.json"
    path.write_text(json.dumps([row]))
    problems = load(source="mbpp", path=str(path), train_split="test")
    assert problems[0].prompt.startswith("Return the square root.")
    # test_imports serve the asserts (math.isclose), not the program, which runs apart
    assert passes(problems) == ["runtime_error"]
    row["code"] = "import math\n" + row["code"]
    path.write_text(json.dumps([row]))
    assert passes(load(source="mbpp", path=str(path), train_split="test")) == ["passed"]


# ------------------------------------------------------------------------------ APPS


def write_apps_problem(folder: Path, question: str, io: dict | None, solutions: list[str],
                       difficulty: str, starter: str = "") -> None:
    folder.mkdir(parents=True)
    (folder / "question.txt").write_text(question)
    if io is not None:
        (folder / "input_output.json").write_text(json.dumps(io))
    (folder / "solutions.json").write_text(json.dumps(solutions))
    (folder / "metadata.json").write_text(json.dumps({"difficulty": difficulty, "url": "u"}))
    if starter:
        (folder / "starter_code.py").write_text(starter)


@pytest.fixture
def apps_root(tmp_path: Path) -> Path:
    root = tmp_path / "APPS"
    write_apps_problem(root / "test" / "0000", "Add two numbers.",
                       {"fn_name": "add", "inputs": [[1, 2], [5, 5]], "outputs": [[3], [10]]},
                       ["class Solution:\n    def add(self, a, b):\n        return a + b\n"],
                       "interview", starter="class Solution:\n    def add(self, a, b):\n        ")
    write_apps_problem(root / "test" / "0001", "Double a number read from stdin.",
                       {"inputs": ["2\n", "21\n"], "outputs": ["4\n", "42\n"]},
                       ["print(int(input()) * 2)\n"], "introductory")
    write_apps_problem(root / "test" / "0002", "No tests here.", None, ["pass\n"], "competition")
    write_apps_problem(root / "train" / "0000", "Echo.", {"inputs": ["x\n"], "outputs": ["x\n"]},
                       ["print(input())\n"], "introductory")
    return root


def test_apps_folder_call_based_stdio_starter_and_difficulty(apps_root: Path):
    test = load(source="apps", path=str(apps_root), train_split="test")
    assert [e.id for e in test] == ["apps/test/0000", "apps/test/0001"]  # 0002 has no tests
    call, stdio = test
    assert call.tests.entry_point == "add" and call.tests.calls and not call.tests.stdio
    assert stdio.tests.stdio == (("2\n", "4\n"), ("21\n", "42\n"))
    assert call.prompt == apps_prompt("Add two numbers.", "class Solution:\n    def add(self, a, b):\n        ", True)
    assert "Use Call-Based format" in call.prompt and "Use Standard Input format" in stdio.prompt
    assert (call.difficulty, stdio.difficulty) == ("interview", "introductory")
    assert passes(test) == ["passed", "passed"]
    intro = load(source="apps", path=str(apps_root), train_split="test", difficulty="introductory")
    assert [e.id for e in intro] == ["apps/test/0001"]
    train, evals = load_task(DataConfig(source="apps", path=str(apps_root), eval_split="test"))
    assert [e.id for e in train] == ["apps/train/0000"] and len(evals) == 2


def test_apps_hub_style_jsonl(tmp_path: Path):
    row = {"problem_id": 4000, "question": "Add.", "difficulty": "interview", "url": "u",
           "starter_code": "", "solutions": json.dumps(["def add(a, b):\n    return a + b\n"]),
           "input_output": json.dumps({"fn_name": "add", "inputs": [[2, 2]], "outputs": [4]})}
    path = tmp_path / "apps.jsonl"
    path.write_text(json.dumps(row) + "\n")
    problems = load(source="apps", path=str(path))
    assert problems[0].id == "apps/train/4000" and passes(problems) == ["passed"]  # split asked for
    assert {"4000", "apps/4000"} <= set(problems[0].aliases)


def test_apps_ids_do_not_depend_on_how_the_data_was_read(tmp_path: Path):
    io = {"fn_name": "add", "inputs": [[2, 2]], "outputs": [4]}
    write_apps_problem(tmp_path / "APPS" / "test" / "4000", "Add.", io, ["x = 1\n"], "introductory")
    row = {"problem_id": 4000, "question": "Add.", "difficulty": "introductory",
           "starter_code": "", "solutions": json.dumps(["x = 1\n"]), "input_output": json.dumps(io)}
    (tmp_path / "test.jsonl").write_text(json.dumps(row) + "\n")  # codeparrot/apps's file name
    from_folder = load(source="apps", path=str(tmp_path / "APPS"), train_split="test")
    from_jsonl = load(source="apps", path=str(tmp_path / "test.jsonl"))
    assert from_folder[0].id == from_jsonl[0].id == "apps/test/4000"
    assert from_folder[0].aliases == from_jsonl[0].aliases


# --------------------------------------------------------------------- CodeSearchNet

LONG_FN = ("def mean(values):\n    \"\"\"Average.\"\"\"\n    total = 0\n    for v in values:\n"
           "        total += v\n    return total / len(values)\n")


def csn_record(code: str, language: str = "python", n: int = 0) -> dict:
    return {"repo": "o/r", "path": "m.py", "func_name": f"f{n}", "original_string": code,
            "language": language, "code": code, "code_tokens": code.split(),
            "docstring": "", "docstring_tokens": [], "sha": "0", "partition": "test",
            "url": f"https://example.invalid/{n}"}


def test_codesearchnet_folder_layout(tmp_path: Path):
    folder = tmp_path / "python" / "final" / "jsonl" / "test"
    folder.mkdir(parents=True)
    records = [csn_record(LONG_FN, n=1), csn_record("func f() {}", "go", 2),
               csn_record("def g(x):\n    return x\n", n=3)]
    with gzip.open(folder / "python_test_0.jsonl.gz", "wt") as f:
        f.write("".join(json.dumps(r) + "\n" for r in records))
    got = load(source="codesearchnet", path=str(tmp_path), train_split="test",
               completion_holdout=5, min_tokens=20)
    assert [e.id for e in got] == ["https://example.invalid/1"]  # go skipped, g too short
    ex = got[0]
    assert ex.reference == LONG_FN and ex.code_prefix == ex.prompt
    assert LONG_FN.startswith(ex.prompt) and ex.prompt.endswith("return total")
    assert compile_feedback("python", [ex.reference])[0].outcome == "ok"
    with pytest.raises(ValueError, match="no valid files"):
        load(source="codesearchnet", path=str(tmp_path), train_split="valid")


def test_codesearchnet_single_file(tmp_path: Path):
    path = tmp_path / "csn.jsonl"
    path.write_text(json.dumps({"whole_func_string": LONG_FN, "language": "python",
                                "func_code_url": "u1"}) + "\n")
    got = load(source="codesearchnet", path=str(path), completion_holdout=3)
    assert got[0].id == "u1" and got[0].reference == LONG_FN


# ---------------------------------------------------------------------------- XLCoST

PY_TOK = ("def count_setbit ( N ) : NEW_LINE INDENT result = 0 NEW_LINE for i in range ( 32 ) : "
          "NEW_LINE INDENT if ( ( 1 << i ) & N ) : NEW_LINE INDENT result = result + 1 NEW_LINE "
          "DEDENT DEDENT print ( result ) NEW_LINE DEDENT if __name__ == ' _ _ main _ _ ' : "
          "NEW_LINE INDENT N = 43 NEW_LINE count_setbit ( N ) NEW_LINE DEDENT")
JAVA_TOK = ("import java . util . * ; NEW_LINE class GFG { static void count_setbit ( int N ) { "
            "int result = 0 ; for ( int i = 0 ; i < 32 ; i ++ ) { if ( ( ( 1 << i ) & N ) > 0 ) "
            "{ result ++ ; } } System . out . println ( result ) ; } public static void main "
            "( String [ ] args ) { int N = 43 ; count_setbit ( N ) ; } }")


def test_xlcost_detokenizes_python_blocks():
    code = detokenize_xlcost(PY_TOK, "python")
    assert code.splitlines()[:4] == ["def count_setbit ( N ) :", "    result = 0",
                                     "    for i in range ( 32 ) :", "        if ( ( 1 << i ) & N ) :"]
    assert "    print ( result )" in code.splitlines()
    assert compile_feedback("python", [code])[0].outcome == "ok"
    assert detokenize_xlcost("echo ▁x ; NEW_LINE echo 1 ;", "php") == "<?php echo _x ;\necho 1 ;\n"


@pytest.mark.parametrize("level,folder", [("program", "pair_data_tok_full"), ("snippet", "pair_data_tok_1")])
def test_xlcost_pairs_in_both_directions(tmp_path: Path, level: str, folder: str):
    pair = tmp_path / "XLCoST_data" / folder / "Java-Python"
    pair.mkdir(parents=True)
    for split in ("train", "val", "test"):
        (pair / f"{split}-Java-Python-tok.java").write_text(JAVA_TOK + "\n" + JAVA_TOK + "\n")
        (pair / f"{split}-Java-Python-tok.py").write_text(PY_TOK + "\n" + PY_TOK + "\n")
    root = str(tmp_path / "XLCoST_data")
    to_python = load(source="xlcost", path=root, source_language="java", language="python",
                     xlcost_level=level, train_split="test")
    assert len(to_python) == 2 and to_python[0].id == f"xlcost/{level}/Java-Python/test:1"
    ex = to_python[0]
    assert ex.language == "python" and ex.source_language == "java"
    assert "class GFG {" in ex.prompt and ex.reference == detokenize_xlcost(PY_TOK, "python")
    to_java = load(source="xlcost", path=root, source_language="python", language="java",
                   xlcost_level=level)
    assert to_java[0].reference.startswith("import java . util . * ;\nclass GFG")
    assert compile_feedback("java", [to_java[0].reference])[0].outcome == "ok"
    train, evals = load_task(DataConfig(source="xlcost", path=root, source_language="java",
                                        language="python", xlcost_level=level,
                                        eval_split="validation"))
    assert len(train) == len(evals) == 2
    other = "snippet" if level == "program" else "program"
    with pytest.raises(ValueError, match="no Java-Python pair folder"):
        load(source="xlcost", path=root, source_language="java", language="python", xlcost_level=other)


def test_xlcost_errors(tmp_path: Path):
    pair = tmp_path / "C++-C"
    pair.mkdir()
    (pair / "train-C++-C-tok.cpp").write_text("int main ( ) { } NEW_LINE\nint x ;\n")
    (pair / "train-C++-C-tok.c").write_text("int main ( ) { }\n")
    with pytest.raises(ValueError, match="source-language"):
        load(source="xlcost", path=str(pair), language="c")
    with pytest.raises(ValueError, match="has 2 lines but"):
        load(source="xlcost", path=str(pair), language="c", source_language="cpp")
    with pytest.raises(ValueError, match="not on the Hugging Face hub"):
        load(source="xlcost", language="c", source_language="cpp")
    with pytest.raises(ValueError, match="both python"):
        load(source="xlcost", path=str(pair), language="python", source_language="python")


def xlcost_pair(tmp_path: Path, src: str, tgt: str) -> str:
    pair = tmp_path / "XLCoST_data" / "pair_data_tok_full" / "Java-Python"
    pair.mkdir(parents=True)
    for split in ("train", "val", "test"):
        (pair / f"{split}-Java-Python-tok.java").write_text(src + "\n")
        (pair / f"{split}-Java-Python-tok.py").write_text(tgt + "\n")
    return str(tmp_path / "XLCoST_data")


def test_xlcost_responses_are_detokenised_like_the_data(tmp_path: Path):
    from trainer.rollout import make_samples

    root = xlcost_pair(tmp_path, JAVA_TOK, PY_TOK)
    to_python = load(source="xlcost", path=root, source_language="java", language="python")[0]
    to_java = load(source="xlcost", path=root, source_language="python", language="java")[0]
    # a model fine-tuned on XLCoST answers in XLCoST's own form: read like the data
    assert to_python.response_code(PY_TOK) == to_python.reference
    assert to_java.response_code(JAVA_TOK) == to_java.reference
    samples = make_samples([to_python, to_java], [PY_TOK, JAVA_TOK])
    assert [s.code for s in samples] == [to_python.reference, to_java.reference]
    assert [f.outcome for f in (compile_feedback("python", [samples[0].code])
                                + compile_feedback("java", [samples[1].code]))] == ["ok", "ok"]
    assert compile_feedback("python", [PY_TOK])[0].outcome == "compile_error"  # read raw, it fails
    # a plain answer (no markers) is scored as written
    plain = "def f(x):\n    return x\n"
    assert to_python.response_code(plain) == plain
    # another task's answer is never rewritten, markers or not
    other = load_task(DataConfig(source="jsonl", task="translation", path=write_pairs(tmp_path),
                                 eval_fraction=0.0))[0][0]
    assert other.response_code(PY_TOK) == PY_TOK


def write_pairs(tmp_path: Path) -> str:
    path = tmp_path / "pairs.jsonl"
    path.write_text(json.dumps({"source": "int x;", "reference": "x = 1\n", "language": "python",
                                "source_language": "java"}) + "\n")
    return str(path)


@pytest.mark.parametrize("language,source", [("python", "java"), ("java", "python")])
def test_xlcost_markers_alone_score_as_empty(tmp_path: Path, language: str, source: str):
    """Red team: an answer of nothing but line markers must not pass as a program."""
    from rewards import RewardConfig, score
    from trainer.rollout import make_samples

    root = xlcost_pair(tmp_path, JAVA_TOK, PY_TOK)
    ex = load(source="xlcost", path=root, source_language=source, language=language)[0]
    config = RewardConfig(use_ast=False, use_dfg=False)
    for answer in ("NEW_LINE NEW_LINE", " NEW_LINE ", "NEW_LINE INDENT NEW_LINE DEDENT"):
        result = score(make_samples([ex], [answer]), config)[0]
        # Python drops the block markers (nothing is left); elsewhere they are stray words
        expected = {"empty"} if language == "python" or "INDENT" not in answer else {"compile_error"}
        assert result.outcome in expected, (answer, result.outcome)


def test_xlcost_raw_source_prompt_as_the_paper_feeds_codet5(tmp_path: Path):
    root = xlcost_pair(tmp_path, JAVA_TOK + " ▁x", PY_TOK)
    ex = load(source="xlcost", path=root, source_language="java", language="python",
              prompt_template="{source}", xlcost_tokenized_prompt=True)[0]
    assert ex.prompt == (JAVA_TOK + " _x").strip()  # XLCoST's line as published, ▁ read as _
    assert ex.reference == detokenize_xlcost(PY_TOK, "python")  # the reference stays source text
