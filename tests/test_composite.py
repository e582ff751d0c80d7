"""The composite PPOCoder reward: components, weights, switches, alignment, errors."""

from __future__ import annotations

import pytest

from rewards import RewardConfig, Sample, score

PY_REF = "def total(xs):\n    s = 0\n    for x in xs:\n        s = s + x\n    return s\n"
PY_RENAMED = "def total(values):\n    acc = 0\n    for v in values:\n        acc = acc + v\n    return acc\n"
PY_OTHER = "def total(xs):\n    return len(xs) * 2\n"
PY_BROKEN = "def total(xs):\n    return (xs\n"
JAVA_REF = "class A { int f(int a) { int b = a + 1; return b; } }"


def test_identical_and_renamed_programs_get_full_structural_reward():
    same, renamed = score([
        Sample("python", PY_REF, reference=PY_REF),
        Sample("python", PY_RENAMED, reference=PY_REF),
    ])
    for r in (same, renamed):
        assert r.execution == 1.0 and r.outcome == "ok"
        assert r.ast == 1.0 and r.dfg == 1.0
        assert r.total == pytest.approx(3.0)


def test_a_different_program_scores_lower_on_structure():
    other = score([Sample("python", PY_OTHER, reference=PY_REF)])[0]
    assert other.execution == 1.0
    assert 0.0 <= other.ast < 1.0 and 0.0 <= other.dfg < 1.0
    assert other.total < 3.0


def test_compile_error_is_minus_one_with_a_line_number():
    r = score([Sample("python", PY_BROKEN, reference=PY_REF)])[0]
    assert r.outcome == "compile_error"
    assert r.execution == -1.0
    assert r.errors and any("2" in e for e in r.errors)
    assert r.total < 1.0


def test_switches_and_weights():
    cfg = RewardConfig(use_dfg=False, ast_weight=0.5, execution_weight=2.0)
    r = score([Sample("python", PY_OTHER, reference=PY_REF)], cfg)[0]
    assert r.dfg is None and "dfg" not in r.components()
    assert r.total == pytest.approx(2.0 * r.execution + 0.5 * r.ast)
    off = score([Sample("python", PY_BROKEN, reference=PY_REF)], RewardConfig(use_execution=False))[0]
    assert off.execution is None and off.outcome == "not_run"


def test_without_reference_only_execution_applies():
    r = score([Sample("python", PY_REF)])[0]
    assert r.components() == {"execution": 1.0}
    assert r.total == 1.0


def test_mixed_languages_keep_the_order_of_the_batch():
    batch = [
        Sample("java", JAVA_REF, reference=JAVA_REF),
        Sample("py", PY_BROKEN, reference=PY_REF),
        Sample("Java", "class A { int f( }", reference=JAVA_REF),
        Sample("python", PY_REF, reference=PY_REF),
    ]
    out = score(batch)
    assert [r.outcome for r in out] == ["ok", "compile_error", "compile_error", "ok"]
    assert out[0].ast == 1.0 and out[3].ast == 1.0


def test_same_inputs_same_rewards():
    batch = [Sample("python", c, reference=PY_REF) for c in (PY_REF, PY_RENAMED, PY_OTHER, PY_BROKEN)]
    first = [r.total for r in score(batch)]
    again = [r.total for r in score(list(reversed(batch)))]
    assert first == list(reversed(again))


def test_bad_input_raises_clear_errors():
    with pytest.raises(ValueError, match="unsupported language"):
        score([Sample("cobol", "x", reference="x")])
    with pytest.raises(ValueError, match="expected rewards.Sample"):
        score([{"language": "python", "code": "x"}])  # type: ignore[list-item]
    assert score([]) == []


def test_execution_values_are_configurable():
    from rewards import RewardValues, TestSpec

    cfg = RewardConfig(execution_values=RewardValues(failed=-0.5, compile_error=-2.0, compile_ok=0.25))
    failing = Sample("python", "def f(x):\n    return x\n", tests=TestSpec(asserts=("assert f(1) == 2",)))
    out = score([failing, Sample("python", PY_BROKEN), Sample("python", PY_REF)], cfg)
    assert [r.execution for r in out] == [-0.5, -2.0, 0.25]
    assert [r.outcome for r in out] == ["failed", "compile_error", "ok"]
