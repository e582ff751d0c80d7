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


# --------------------------------------------------------- stopping at once never pays

PREFIX = "def total(xs):\n    s = 0\n    for x in xs:\n"


@pytest.mark.parametrize("language, code", [
    ("python", ""), ("python", "  \n\t"), ("java", ""), ("javascript", "\n"), ("c", " "),
])
def test_an_empty_program_is_a_failure_in_every_language(language: str, code: str) -> None:
    r = score([Sample(language, code, reference="int x = 1;")])[0]
    assert r.outcome == "empty" and r.execution == -1.0
    assert r.ast == 0.0 and r.dfg == 0.0 and r.total == -1.0
    assert r.errors == ["empty program"]


def test_a_response_that_adds_nothing_to_its_prefix_is_a_failure() -> None:
    # The prefix alone compiles and matches much of the reference: without the rule it
    # would score far above a real but imperfect completion.
    plain = RewardConfig(structural_gain=False)
    nothing, spaces, written = score([
        Sample("python", PREFIX, reference=PY_REF, code_prefix=PREFIX),
        Sample("python", PREFIX + "   \n", reference=PY_REF, code_prefix=PREFIX),
        Sample("python", PREFIX + "        s = s + x\n    return s\n", reference=PY_REF,
               code_prefix=PREFIX),
    ], plain)
    for r in (nothing, spaces):
        assert r.outcome == "empty" and r.total == -1.0
        assert "nothing but white space or comments was added" in r.errors[0]
    assert written.outcome == "ok" and written.total == pytest.approx(3.0)


def test_the_empty_value_is_configurable_and_defaults_to_compile_error() -> None:
    from rewards import RewardValues

    sample = Sample("python", "")
    assert score([sample], RewardConfig(execution_values=RewardValues(compile_error=-2.0)))[0] \
        .total == -2.0
    assert score([sample], RewardConfig(execution_values=RewardValues(empty=-0.5)))[0] \
        .total == -0.5
    off = score([sample], RewardConfig(use_execution=False))[0]
    assert off.outcome == "empty" and off.execution is None and off.total == 0.0


def test_structural_gain_measures_what_the_response_adds() -> None:
    from rewards.composite import structural_gain

    whole = RewardConfig(structural_gain=False)
    gain = RewardConfig(structural_gain=True)
    full = PREFIX + "        s = s + x\n    return s\n"
    half = PREFIX + "        s = s + x\n"
    samples = [Sample("python", code, reference=PY_REF, code_prefix=PREFIX)
               for code in (full, half)]
    prefix_alone = score([Sample("python", PREFIX + "        pass\n", reference=PY_REF)],
                         whole)[0]
    (w_full, w_half), (g_full, g_half) = score(samples, whole), score(samples, gain)
    assert w_full.ast == 1.0 and g_full.ast == 1.0 and g_full.dfg == 1.0
    assert 0.0 < g_half.ast < w_half.ast < 1.0  # the gain discounts what the prefix gave
    # the gain of a structure that only adds "pass" is small; the plain match is high
    added_pass = score([Sample("python", PREFIX + "        pass\n", reference=PY_REF,
                               code_prefix=PREFIX)], gain)[0]
    assert added_pass.ast < prefix_alone.ast
    # samples without a prefix are matched whole either way
    assert score([Sample("python", half, reference=PY_REF)], gain)[0].ast == w_half.ast
    assert structural_gain(0.5, 0.5) == 0.0 and structural_gain(1.0, 0.5) == 1.0
    assert structural_gain(0.0, 0.5) == -1.0 and structural_gain(1.0, 1.0) == 0.0
    assert structural_gain(0.75, 0.5) == 0.5


@pytest.mark.parametrize("language, prefix, response", [
    ("python", "def f(x):\n    return x\n", "\n# Example usage:\n\n# f(1)\n"),
    ("java", "class A { int f() { return 1; } ", "// done\n/* nothing\n more */ "),
    ("javascript", "function f() { return 1; }\n", "/* end */\n// more\n"),
    ("php", "<?php function f() { return 1; }\n", "# done\n"),
])
def test_a_response_of_comments_only_adds_nothing(language: str, prefix: str, response: str) -> None:
    # Found in a PPO run: after 20 steps the model answered 11 of 100 held-out prompts
    # with comment lines only (3 before training), which compile whenever the prefix does.
    r = score([Sample(language, prefix + response, code_prefix=prefix)])[0]
    assert r.outcome == "empty" and r.execution == -1.0
    program = score([Sample(language, response)])[0]
    assert program.outcome == "empty" and program.errors == ["empty program"]


def test_comment_markers_inside_strings_are_code() -> None:
    prefix, open_string = "def f():\n", 's = """a\n'
    hashed, closed = score([
        Sample("python", prefix + "    return '# not a comment'\n", code_prefix=prefix),
        Sample("python", open_string + '# still the string"""\n', code_prefix=open_string),
    ])
    assert hashed.outcome == "ok" and closed.outcome == "ok"


def test_stopping_never_scores_above_a_failed_attempt() -> None:
    # With the gain, a failed attempt can score below -1 (it broke what the prefix
    # matched); an empty response then has to be lower still, or stopping pays. A PPO
    # run learned to answer "\n" to prompts it was unsure of before this rule.
    gain = RewardConfig()
    empty = Sample("python", PREFIX + "\n", reference=PY_REF, code_prefix=PREFIX)
    broken = Sample("python", PREFIX + "        s = s +\n", reference=PY_REF, code_prefix=PREFIX)
    empty, broken = score([empty, broken], gain)
    plain_empty = score([Sample("python", PREFIX, reference=PY_REF, code_prefix=PREFIX)],
                        RewardConfig(structural_gain=False))[0]
    assert broken.outcome == "compile_error"
    assert (empty.ast, empty.dfg) == (-1.0, -1.0) and empty.total == -3.0
    assert empty.total <= broken.total
    # The whole-program match has 0 as its lowest value.
    assert (plain_empty.ast, plain_empty.dfg, plain_empty.total) == (0.0, 0.0, -1.0)
