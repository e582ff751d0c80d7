"""trainer.data: the embedded stdlib completion task, JSONL and Hugging Face sources, splits."""

from __future__ import annotations

import ast
import io
import json
import os
import re
import sys
import tokenize
from pathlib import Path

import pytest

from rewards.execution import TestSpec
from trainer.config import DataConfig
from trainer.data import TaskExample, load, load_task, split_completion, stdlib

# ------------------------------------------------------------------ completion cutting


def test_split_completion_tokens_by_hand() -> None:
    code = "def f(a, b):\n    return a + b\n"
    # leaves: def f ( a , b ) : return a + b  -> the last 3 are "a + b"
    assert split_completion(code, "python", "tokens", 3) == ("def f(a, b):\n    return", " a + b\n")
    # comments are not counted as tokens, and they stay in the held-out part
    commented = "def f(a, b):\n    x = a  # keep\n    return x\n"
    assert split_completion(commented, "python", "tokens", 3) == (
        "def f(a, b):\n    x =", " a  # keep\n    return x\n")
    # too short: at least as many tokens must stay in the prompt as are held out
    assert split_completion(code, "python", "tokens", 7) is None
    assert split_completion("def f(:\n", "python", "tokens", 1) is None  # syntax error


def test_split_completion_other_languages_and_lines() -> None:
    java = "int add(int a, int b) {\n    return a + b;\n}\n"
    prefix, rest = split_completion(java, "java", "tokens", 4)
    assert (prefix, rest) == ("int add(int a, int b) {\n    return a", " + b;\n}\n")
    lines = "line1\nline2\nline3\nline4\nline5\n"
    assert split_completion(lines, "python", "lines", 2) == ("line1\nline2\nline3\n", "line4\nline5\n")
    assert split_completion(lines, "python", "lines", 3) is None
    # a string literal is one token, however many grammar leaves it has
    unicode = "def f():\n    return 'héllo wörld' + f'ü{x}'\n"
    assert split_completion(unicode, "python", "tokens", 2) == (
        "def f():\n    return 'héllo wörld'", " + f'ü{x}'\n")
    js = "function g(a) {\n  const s = `t ${a}`;\n  return s + 'x';\n}\n"
    assert split_completion(js, "javascript", "tokens", 4) == (
        "function g(a) {\n  const s = `t ${a}`;\n  return s", " + 'x';\n}\n")


# ------------------------------------------------------------------ stdlib default task


def fake_stdlib(root: Path) -> None:
    """A small stdlib-like tree: modules, a package, and folders that must be skipped."""
    body = "\n".join(f"    v{i} = x * {i} + {i}" for i in range(6))
    for name in ("alpha.py", "beta.py", "pkg/gamma.py", "pkg/delta.py"):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        stem = path.stem
        funcs = [f"def {stem}_{k}(x):\n{body}\n    return v{k % 6}\n" for k in range(4)]
        funcs.append(f"class {stem.title()}:\n    def method(self, x):\n{textwrap_indent(body)}\n"
                     f"        return x\n")
        funcs.append(f"def {stem}_tiny():\n    return 1\n")  # below min_lines
        path.write_text("\n\n".join(funcs))
    for skipped in ("test/test_alpha.py", "site-packages/third.py", "tests/t.py"):
        path = root / skipped
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def skipped_fn(x):\n{body}\n    return x\n")
    (root / "broken.py").write_text("def py2():\n    print 'old syntax'\n")


def textwrap_indent(body: str) -> str:
    return "\n".join("    " + line for line in body.splitlines())


def test_stdlib_task_from_a_fake_tree(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdlib(tmp_path)
    monkeypatch.setattr(stdlib, "_stdlib_root", lambda: tmp_path)
    cfg = DataConfig(completion_holdout=5, max_per_file=3, eval_fraction=0.25, max_examples=None)
    train, evals = load_task(cfg)
    everything = train + evals
    assert len(everything) == 4 * 3  # 4 files x max_per_file; skipped folders contribute none
    assert len(evals) == 3
    assert not any("skipped" in ex.id or "tiny" in ex.id for ex in everything)
    assert {ex.id.split(":")[1] for ex in everything} == {"alpha.py", "beta.py", "pkg/gamma.py",
                                                         "pkg/delta.py"}
    for ex in everything:
        assert ex.language == "python" and ex.tests is None and ex.source_language is None
        assert ex.prompt == ex.code_prefix and ex.reference.startswith(ex.code_prefix)
        ast.parse(ex.reference)
        held_out = ex.reference[len(ex.code_prefix):]
        assert len(re.findall(r"\w+|[^\w\s]", held_out)) == 5  # tokens of this simple code
    # methods are dedented into standalone functions
    methods = [ex for ex in everything if ex.id.endswith(".method")]
    assert all(ex.reference.startswith("def method(self, x):") for ex in methods)


def test_stdlib_task_ignores_file_system_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdlib(tmp_path)
    monkeypatch.setattr(stdlib, "_stdlib_root", lambda: tmp_path)
    cfg = DataConfig(completion_holdout=5, max_per_file=2, max_examples=5)
    first = load_task(cfg)
    real_walk = os.walk

    def reversed_walk(top, *args, **kwargs):
        for dirpath, dirnames, filenames in real_walk(top, *args, **kwargs):
            dirnames.reverse()
            yield dirpath, dirnames, list(reversed(filenames))

    monkeypatch.setattr(stdlib.os, "walk", reversed_walk)
    assert load_task(cfg) == first
    other_seed = load_task(DataConfig(completion_holdout=5, max_per_file=2, max_examples=5, seed=1))
    assert [e.id for e in other_seed[0] + other_seed[1]] != [e.id for e in first[0] + first[1]]


def test_real_stdlib_default_is_deterministic_and_well_formed() -> None:
    cfg = DataConfig(max_examples=120)
    train, evals = load_task(cfg)
    assert (train, evals) == load_task(cfg)
    assert len(train) + len(evals) == 120 and len(evals) == 12
    assert not {e.id for e in train} & {e.id for e in evals}
    for ex in train + evals:
        assert ex.id.startswith("stdlib:") and "/test/" not in ex.id
        assert ex.reference.startswith(ex.prompt) and len(ex.prompt) < len(ex.reference)
        n_lines = ex.reference.count("\n")
        assert cfg.min_lines <= n_lines <= cfg.max_lines
        ast.parse(ex.reference)
    # the held-out part has exactly completion_holdout tokens, counted here by Python's
    # own tokenizer (trainer.data counts tree-sitter leaves)
    for ex in train + evals:
        assert python_tokens_from(ex.reference, len(ex.code_prefix)) == cfg.completion_holdout, ex.id


def python_tokens_from(code: str, offset: int) -> int:
    """Number of Python tokens (no layout or comments) starting at or after `offset`."""
    line_starts = [0]
    for line in code.splitlines(keepends=True):
        line_starts.append(line_starts[-1] + len(line))
    layout = {tokenize.NEWLINE, tokenize.NL, tokenize.INDENT, tokenize.DEDENT,
              tokenize.COMMENT, tokenize.ENDMARKER}
    count = 0
    for tok in tokenize.generate_tokens(io.StringIO(code).readline):
        if tok.type not in layout and line_starts[tok.start[0] - 1] + tok.start[1] >= offset:
            count += 1
    return count


def test_line_unit_holds_out_lines(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_stdlib(tmp_path)
    monkeypatch.setattr(stdlib, "_stdlib_root", lambda: tmp_path)
    train, evals = load_task(DataConfig(completion_unit="lines", completion_holdout=2,
                                        eval_fraction=0.0))
    assert evals == [] and train
    for ex in train:
        assert ex.code_prefix.endswith("\n")
        assert ex.reference[len(ex.code_prefix):].count("\n") == 2


# ---------------------------------------------------------------------------- JSONL


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n")
    return str(path)


FUNC = "def add(a, b):\n    total = a + b\n    return total\n"


def test_jsonl_completion_with_field_mapping(tmp_path: Path) -> None:
    rows = [{"func_code_string": FUNC, "lang": "py", "name": f"f{i}"} for i in range(10)]
    rows.append({"func_code_string": "x = 1\n", "lang": "python", "name": "short"})
    path = write_jsonl(tmp_path / "c.jsonl", rows)
    cfg = DataConfig(source="jsonl", path=path, code_field="func_code_string",
                     language_field="lang", id_field="name", completion_holdout=3,
                     eval_fraction=0.2)
    train, evals = load_task(cfg)
    assert len(train) == 8 and len(evals) == 2  # the too-short record is dropped
    assert {e.id for e in train + evals} == {f"f{i}" for i in range(10)}
    assert all(e.language == "python" and e.prompt == "def add(a, b):\n    total = a +"
               for e in train)
    assert load_task(cfg) == (train, evals)


def test_jsonl_translation_codexglue_style(tmp_path: Path) -> None:
    rows = [{"java": f"int f{i}() {{ return {i}; }}", "cs": f"int F{i}() {{ return {i}; }}"}
            for i in range(4)]
    train_path = write_jsonl(tmp_path / "train.jsonl", rows[:3])
    eval_path = write_jsonl(tmp_path / "eval.jsonl", rows[3:])
    cfg = DataConfig(task="translation", source="jsonl", path=train_path, eval_path=eval_path,
                     source_field="java", reference_field="cs", source_language="java",
                     language="c#")
    train, evals = load_task(cfg)
    assert [e.reference for e in train] == [r["cs"] for r in rows[:3]]
    assert [e.reference for e in evals] == [rows[3]["cs"]]
    ex = train[1]
    assert ex.language == "c_sharp" and ex.source_language == "java" and ex.code_prefix == ""
    assert rows[1]["java"] in ex.prompt and "java" in ex.prompt and "c_sharp" in ex.prompt
    assert train[0].id == "train.jsonl:1" and evals[0].id == "eval.jsonl:1"
    with pytest.raises(ValueError, match="source language"):
        load_task(DataConfig(task="translation", source="jsonl", path=train_path,
                             source_field="java", reference_field="cs"))


def test_jsonl_synthesis_humaneval_style(tmp_path: Path) -> None:
    check = "def check(candidate):\n    assert candidate(1) == 2\n"
    rows = [{"task_id": "HE/0", "prompt": "def inc(x):\n", "canonical_solution": "    return x + 1\n",
             "test": check, "entry_point": "inc"},
            {"task_id": "HE/1", "prompt": "def two():\n", "canonical_solution": None}]
    path = write_jsonl(tmp_path / "he.jsonl", rows)
    cfg = DataConfig(task="synthesis", source="jsonl", path=path, id_field="task_id",
                     reference_field="canonical_solution", tests_field="test",
                     prompt_is_code=True, eval_fraction=0.0)
    train, evals = load_task(cfg)
    assert evals == [] and [e.id for e in train] == ["HE/0", "HE/1"]
    assert train[0].code_prefix == "def inc(x):\n"
    assert train[0].reference == "def inc(x):\n    return x + 1\n"
    assert isinstance(train[0].tests, TestSpec)
    assert (train[0].tests.test, train[0].tests.entry_point) == (check, "inc")
    assert train[1].tests is None and train[1].reference is None
    plain = load_task(DataConfig(task="synthesis", source="jsonl", path=path, eval_fraction=0.0,
                                 reference_field="canonical_solution", tests_field="test"))[0]
    assert plain[0].code_prefix == "" and plain[0].reference == "    return x + 1\n"


def test_synthesis_test_shapes_become_test_specs(tmp_path: Path) -> None:
    rows = [
        {"text": "add two numbers", "test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]},
        {"text": "echo", "test_list": json.dumps({"inputs": ["1\n", "2\n"], "outputs": ["1", "2"]})},
        {"text": "echo", "test_list": {"inputs": ["3\n"], "outputs": ["3"]}},
        {"text": "echo", "test_list": [["4\n", "4"], ["5\n", "5"]]},
        {"text": "sum", "test_list": {"asserts": ["assert f() == 1"], "timeout_s": 2.0}},
    ]
    path = write_jsonl(tmp_path / "mbpp.jsonl", rows)
    train, _ = load_task(DataConfig(task="synthesis", source="jsonl", path=path,
                                    prompt_field="text", tests_field="test_list",
                                    eval_fraction=0.0))
    specs = [ex.tests for ex in train]
    assert all(isinstance(spec, TestSpec) for spec in specs)
    assert specs[0].asserts == ("assert add(1, 2) == 3", "assert add(0, 0) == 0")
    assert specs[1].stdio == (("1\n", "1"), ("2\n", "2"))
    assert specs[2].stdio == (("3\n", "3"),)
    assert specs[3].stdio == (("4\n", "4"), ("5\n", "5"))
    assert specs[4].asserts == ("assert f() == 1",) and specs[4].timeout_s == 2.0
    assert train[0].prompt == "add two numbers" and train[0].code_prefix == ""
    for bad in ({"nonsense": 1}, 17, {"inputs": ["1"], "outputs": []}, [1, 2]):
        path = write_jsonl(tmp_path / "bad.jsonl", [{"text": "x", "test_list": bad}])
        with pytest.raises(ValueError, match="bad.jsonl:1"):
            load_task(DataConfig(task="synthesis", source="jsonl", path=path,
                                 prompt_field="text", tests_field="test_list"))


def test_jsonl_errors_are_clear(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"code": "x"}\n{not json\n')
    with pytest.raises(ValueError, match="bad.jsonl:2"):
        load_task(DataConfig(source="jsonl", path=str(bad)))
    path = write_jsonl(tmp_path / "m.jsonl", [{"src": FUNC}])
    with pytest.raises(ValueError, match="'code'"):
        load_task(DataConfig(source="jsonl", path=path))
    path = write_jsonl(tmp_path / "l.jsonl", [{"code": FUNC, "language": "cobol"}])
    with pytest.raises(ValueError, match="unsupported language"):
        load_task(DataConfig(source="jsonl", path=path, completion_holdout=2))
    path = write_jsonl(tmp_path / "t.jsonl", [{"code": 12}])
    with pytest.raises(ValueError, match="must be a string"):
        load_task(DataConfig(source="jsonl", path=path))
    with pytest.raises(ValueError, match="does not exist"):
        load_task(DataConfig(source="jsonl", path=str(tmp_path / "missing.jsonl")))
    path = write_jsonl(tmp_path / "s.jsonl", [{"code": "x = 1\n"}])
    with pytest.raises(ValueError, match="no usable"):
        load_task(DataConfig(source="jsonl", path=path))


@pytest.mark.parametrize("kwargs", [
    {"task": "translation"},  # stdlib is completion only
    {"task": "summarise"},
    {"source": "ftp"},
    {"source": "jsonl"},  # no path
    {"completion_unit": "chars"},
    {"completion_holdout": 0},
    {"eval_fraction": 1.0},
    {"language": "klingon"},
    {"min_lines": 10, "max_lines": 5},
    {"max_examples": 0},
])
def test_bad_config_raises_value_error(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        load_task(DataConfig(**kwargs))


# ---------------------------------------------------------------------- splitting


def examples(ids: list[str]) -> list[TaskExample]:
    return [TaskExample(prompt=i, language="python", code_prefix="", reference=None, tests=None,
                        id=i) for i in ids]


def test_split_depends_only_on_ids_seed_and_fraction() -> None:
    ids = [f"ex{i}" for i in range(50)]
    cfg = DataConfig(eval_fraction=0.2)
    train, evals = load.split_train_eval(examples(ids), cfg)
    assert len(evals) == 10 and len(train) == 40
    assert [e.id for e in train] == [i for i in ids if i in {e.id for e in train}]  # order kept
    shuffled = load.split_train_eval(examples(ids[::-1]), cfg)
    assert {e.id for e in shuffled[1]} == {e.id for e in evals}
    reseeded = load.split_train_eval(examples(ids), DataConfig(eval_fraction=0.2, seed=7))
    assert {e.id for e in reseeded[1]} != {e.id for e in evals}
    assert load.split_train_eval(examples(ids[:2]), DataConfig(eval_fraction=0.01))[1] != []
    assert load.split_train_eval(examples(ids[:1]), DataConfig(eval_fraction=0.5))[1] == []


# ------------------------------------------------------------------- Hugging Face


def test_hf_save_to_disk_folder_and_local_json(tmp_path: Path) -> None:
    import datasets  # a test dependency: pip install datasets
    rows = [{"code": FUNC, "id": f"r{i}"} for i in range(6)]
    folder = tmp_path / "ds"
    datasets.DatasetDict({
        "train": datasets.Dataset.from_list(rows[:4]),
        "validation": datasets.Dataset.from_list(rows[4:]),
    }).save_to_disk(str(folder))
    train, evals = load_task(DataConfig(source="hf", path=str(folder), eval_split="validation",
                                        completion_holdout=2))
    assert [e.id for e in train] == ["r0", "r1", "r2", "r3"] and [e.id for e in evals] == ["r4", "r5"]
    assert train[0].reference == FUNC and train[0].prompt == "def add(a, b):\n    total = a + b\n"
    single = tmp_path / "single"
    datasets.Dataset.from_list(rows).save_to_disk(str(single))
    train, evals = load_task(DataConfig(source="hf", path=str(single), eval_fraction=0.5,
                                        completion_holdout=2, max_examples=4))
    assert len(train) == 2 and len(evals) == 2
    json_file = write_jsonl(tmp_path / "local.jsonl", rows)
    train, _ = load_task(DataConfig(source="hf", path=json_file, eval_fraction=0.0,
                                    completion_holdout=2))
    assert [e.id for e in train] == [r["id"] for r in rows]
    with pytest.raises(ValueError, match="no split"):
        load_task(DataConfig(source="hf", path=str(folder), train_split="nope"))
    with pytest.raises(ValueError, match="does not exist"):
        load_task(DataConfig(source="hf", path=str(tmp_path / "missing")))
    # a plain folder of JSONL files goes through load_dataset's local builders
    (tmp_path / "files").mkdir()
    write_jsonl(tmp_path / "files" / "train.jsonl", rows)
    train, evals = load_task(DataConfig(source="hf", path=str(tmp_path / "files"),
                                        completion_holdout=2, eval_fraction=0.5))
    assert len(train) == len(evals) == 3


def test_hf_without_datasets_package_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "datasets", None)  # import datasets -> ImportError
    with pytest.raises(ValueError, match="pip install datasets"):
        load_task(DataConfig(source="hf", path=str(tmp_path)))


def test_hub_data_offline_fails_at_once_and_says_how_to_fix(tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache
    monkeypatch.delenv("HF_DATASETS_CACHE", raising=False)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(ValueError, match=r"dataset 'google-research-datasets/mbpp' is not in the "
                                         r"local Hugging Face cache and HF_HUB_OFFLINE is set: "
                                         r"give --data.path a local copy"):
        load_task(DataConfig(source="mbpp", eval_fraction=0.0))  # the hub's MBPP: no path given
    assert time.perf_counter() - start < 5  # no retries against an unreachable hub
