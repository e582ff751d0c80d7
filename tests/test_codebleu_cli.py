"""``python -m rewards codebleu`` run as a real subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from codebleu import calc_codebleu

from rewards import codebleu

REFS = [
    "public int add(int a, int b) { return a + b; }",
    "public int max(int a, int b) { if (a > b) { return a; } return b; }",
    "public void loop(int n) { for (int i = 0; i < n; i++) { System.out.println(i); } }",
]
HYPS = [
    "public int add(int x, int y) { return x + y; }",
    "public int max(int a, int b) { return a > b ? a : b; }",
    "public void loop(int n) { int i = 0; while (i < n) { System.out.println(i); i++; } }",
]
OTHER_REFS = [
    "int add(int a, int b) { int s = a + b; return s; }",
    "public int max(int a, int b) { return Math.max(a, b); }",
    "void loop(int n) { }",
]


def run_cli(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "rewards", "codebleu", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120)


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_text_files_one_code_per_line(tmp_path: Path) -> None:
    write_lines(tmp_path / "refs.txt", REFS)
    write_lines(tmp_path / "hyps.txt", HYPS)
    proc = run_cli(tmp_path, "--lang", "java", "--refs", "refs.txt", "--hyps", "hyps.txt")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    expected = codebleu(REFS, HYPS, "java").as_dict()
    assert {k: out[k] for k in expected} == expected
    assert out["n_samples"] == 3 and out["lang"] == "java"
    oracle = calc_codebleu(REFS, HYPS, "java")
    assert out["ngram_match_score"] == oracle["ngram_match_score"]
    assert out["syntax_match_score"] == oracle["syntax_match_score"]
    assert 0.0 < out["codebleu"] < 1.0


def test_several_reference_files_and_weights(tmp_path: Path) -> None:
    write_lines(tmp_path / "a.txt", REFS)
    write_lines(tmp_path / "b.txt", OTHER_REFS)
    write_lines(tmp_path / "h.txt", HYPS)
    proc = run_cli(tmp_path, "--lang", "java", "--refs", "a.txt", "b.txt", "--hyp", "h.txt",
                   "--weights", "0.1,0.2,0.3,0.4")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    refs = [[a, b] for a, b in zip(REFS, OTHER_REFS)]
    expected = codebleu(refs, HYPS, "java", weights=(0.1, 0.2, 0.3, 0.4)).as_dict()
    assert {k: out[k] for k in expected} == expected
    assert out["weights"] == [0.1, 0.2, 0.3, 0.4]


def test_jsonl_data_with_per_sample_scores(tmp_path: Path) -> None:
    # Multi-line code is natural in JSONL; a reference field may list several references.
    refs = ["def f(x):\n    y = x + 1\n    return y", ["def g(a):\n    return a * 2", "g = 1"]]
    hyps = ["def f(x):\n    return x + 1", "def g(a):\n    return a * 2"]
    lines = [json.dumps({"reference": r, "candidate": h, "id": i})
             for i, (r, h) in enumerate(zip(refs, hyps))]
    write_lines(tmp_path / "pairs.jsonl", lines)
    proc = run_cli(tmp_path, "--lang", "py", "--data", "pairs.jsonl", "--per-sample")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["codebleu"] == codebleu(refs, hyps, "python").codebleu
    assert len(out["per_sample"]) == 2
    assert out["per_sample"][1]["codebleu"] == codebleu([refs[1]], [hyps[1]], "python").codebleu
    # The same data as separate JSONL files with custom field names.
    write_lines(tmp_path / "r.jsonl", [json.dumps({"code": r}) for r in refs])
    write_lines(tmp_path / "h.jsonl", [json.dumps(h) for h in hyps])
    proc = run_cli(tmp_path, "--lang", "python", "--refs", "r.jsonl", "--ref-field", "code",
                   "--hyps", "h.jsonl")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["codebleu"] == out["codebleu"]


def test_errors_exit_2_with_a_message(tmp_path: Path) -> None:
    write_lines(tmp_path / "refs.txt", REFS)
    write_lines(tmp_path / "short.txt", HYPS[:2])
    proc = run_cli(tmp_path, "--lang", "java", "--refs", "refs.txt", "--hyps", "short.txt")
    assert proc.returncode == 2 and "3 references but" in proc.stderr
    proc = run_cli(tmp_path, "--lang", "cobol", "--refs", "refs.txt", "--hyps", "refs.txt")
    assert proc.returncode == 2 and "unsupported language 'cobol'" in proc.stderr
    assert "javascript" in proc.stderr
    proc = run_cli(tmp_path, "--lang", "java", "--refs", "nope.txt", "--hyps", "refs.txt")
    assert proc.returncode == 2 and "nope.txt: no such file" in proc.stderr
    (tmp_path / "bad.jsonl").write_text('{"reference": "x", "candidate": "y"}\n{oops\n')
    proc = run_cli(tmp_path, "--lang", "java", "--data", "bad.jsonl")
    assert proc.returncode == 2 and "bad.jsonl:2: invalid JSON" in proc.stderr
    (tmp_path / "nofield.jsonl").write_text('{"reference": "x"}\n')
    proc = run_cli(tmp_path, "--lang", "java", "--data", "nofield.jsonl")
    assert proc.returncode == 2 and "nofield.jsonl:1: no field 'candidate'" in proc.stderr
    proc = run_cli(tmp_path, "--lang", "java", "--refs", "refs.txt", "--hyps", "refs.txt",
                   "--weights", "1,2")
    assert proc.returncode == 2 and "--weights" in proc.stderr
    (tmp_path / "latin1.txt").write_bytes(b"caf\xe9\n")
    proc = run_cli(tmp_path, "--lang", "java", "--refs", "latin1.txt", "--hyps", "latin1.txt")
    assert proc.returncode == 2 and "not valid UTF-8" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_scores_do_not_depend_on_the_hash_seed(tmp_path: Path, parity_data: Path) -> None:
    # Pairs on which codebleu's data-flow score changes with PYTHONHASHSEED.
    corpus = parity_data
    sensitive = {json.loads(line)["id"] for line in
                 (corpus / "reference_scores.jsonl").read_text().splitlines()
                 if json.loads(line)["dataflow_hash_sensitive"]}
    rows = [json.loads(line) for line in (corpus / "corpus.jsonl").read_text().splitlines()]
    rows = [row for row in rows if row["id"] in sensitive and row["lang"] == "java"]
    assert len(rows) >= 20
    write_lines(tmp_path / "pairs.jsonl", [json.dumps(row) for row in rows])
    outputs = []
    for seed in ("1", "2", "3"):
        proc = subprocess.run(
            [sys.executable, "-m", "rewards", "codebleu", "--lang", "java", "--data",
             "pairs.jsonl", "--per-sample"],
            cwd=tmp_path, capture_output=True, text=True, timeout=120,
            env={**os.environ, "PYTHONHASHSEED": seed})
        assert proc.returncode == 0, proc.stderr
        outputs.append(proc.stdout)
    assert outputs[0] == outputs[1] == outputs[2]
