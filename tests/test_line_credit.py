"""Line-level credit: feedback lines from real compilers and test runs, tokens -> lines, penalties."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from core import shaping
from rewards import Sample, TestSpec, score
from rewards.execution import compile_feedback
from tests import shaping_reference as ref

torch.set_num_threads(1)

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def close(a, b, rtol: float = 1e-12, atol: float = 1e-12) -> None:
    a = a.cpu().double().numpy() if isinstance(a, torch.Tensor) else np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64).reshape(a.shape)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


# ------------------------------------------------------------------- tokens -> lines


@st.composite
def tokenised_texts(draw: st.DrawFn) -> tuple[str, list[tuple[int, int]], int]:
    """A text over an alphabet with newlines and non-ASCII, cut into spans, with special tokens."""
    text = draw(st.text(alphabet=st.sampled_from(list("ab (\n\t=é𝔘")), max_size=60))
    cuts = sorted(draw(st.sets(st.integers(1, max(len(text) - 1, 1)), max_size=20)))
    bounds = [0] + [c for c in cuts if c < len(text)] + [len(text)]
    spans = [(a, b) for a, b in zip(bounds, bounds[1:]) if a < b]
    for _ in range(draw(st.integers(0, 3))):  # special tokens: HF gives them (0, 0)
        spans.insert(draw(st.integers(0, len(spans))), (0, 0))
    return text, spans, draw(st.integers(1, 50))


@settings(max_examples=200, deadline=None)
@given(tokenised_texts())
def test_token_lines_agree_with_reference(case) -> None:
    text, spans, first_line = case
    got = shaping.token_lines(text, spans, first_line)
    assert got.dtype == np.int64 and got.shape == (len(spans),)
    assert got.tolist() == ref.token_lines(text, spans, first_line)
    assert shaping.token_lines(text, np.array(spans, dtype=np.int32).reshape(-1, 2),
                               first_line).tolist() == got.tolist()


def test_token_lines_by_hand() -> None:
    text = "x = 1\ny = (\n    z)\n"
    spans = [(0, 1), (1, 5), (5, 6), (6, 7), (7, 11), (11, 16), (16, 18), (0, 0), (18, 19)]
    # the newline token ends line 1 and belongs to it; "\n    " starts on line 2; (0, 0) is no line
    assert shaping.token_lines(text, spans, first_line=4).tolist() == [4, 4, 4, 5, 5, 5, 6, 0, 6]
    assert shaping.token_lines("", []).tolist() == []
    assert shaping.token_lines("ab", torch.tensor([[0, 1], [1, 2]])).tolist() == [1, 1]


def test_token_lines_bad_input() -> None:
    for case in (lambda: shaping.token_lines("abc", [(0, 4)]),
                 lambda: shaping.token_lines("abc", [(2, 1)]),
                 lambda: shaping.token_lines("abc", [(-1, 1)]),
                 lambda: shaping.token_lines("abc", [(0, 1, 2)]),
                 lambda: shaping.token_lines("abc", [(0.0, 1.0)]),
                 lambda: shaping.token_lines("abc", [(0, 1)], first_line=0),
                 lambda: shaping.token_lines(b"abc", [(0, 1)])):
        with pytest.raises(ValueError):
            case()


def byte_level_tokenizer():
    """A real byte-level BPE tokenizer (the GPT-2 / SmolLM kind), trained here on code."""
    from tests.tiny_models import build_code_tokenizer

    return build_code_tokenizer()


def test_token_lines_from_a_hugging_face_tokenizer() -> None:
    tok = byte_level_tokenizer()
    response = "    y = x * 2\n    zeta = y +\n    return zeta\n"
    enc = tok(response, return_offsets_mapping=True, add_special_tokens=False)
    lines = shaping.token_lines(response, enc["offset_mapping"], first_line=2)
    pieces = [response[a:b] for a, b in enc["offset_mapping"]]
    assert "".join(pieces) == response  # byte-level offsets tile the text
    for piece, line in zip(pieces, lines):
        if "zeta =" in piece or piece.strip() == "+":
            assert line == 3
        if "return" in piece:
            assert line == 4
    assert lines[0] == 2 and lines.max() == 4
    # a special token the tokenizer adds (here EOS, by a post-processor) carries (0, 0): no line
    from tokenizers.processors import TemplateProcessing

    tok._tokenizer.post_processor = TemplateProcessing(
        single="$A <|endoftext|>", special_tokens=[("<|endoftext|>", tok.eos_token_id)])
    with_eos = tok(response, return_offsets_mapping=True)
    assert with_eos["input_ids"][-1] == tok.eos_token_id and with_eos["offset_mapping"][-1] == (0, 0)
    with_eos_lines = shaping.token_lines(response, with_eos["offset_mapping"], first_line=2)
    assert with_eos_lines.tolist() == lines.tolist() + [0]


# ---------------------------------------------------------------------- the penalty


@st.composite
def credit_batches(draw: st.DrawFn) -> dict:
    n_rows = draw(st.integers(0, 5))
    n_steps = draw(st.integers(0, 30))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    lengths = rng.integers(0, n_steps + 1, size=n_rows)
    mask = (np.arange(n_steps)[None, :] < lengths[:, None]).astype(np.int64)
    if draw(st.booleans()):
        mask = (rng.random((n_rows, n_steps)) < 0.7).astype(np.int64)
    lines = np.sort(rng.integers(0, 7, size=(n_rows, n_steps)), axis=1)
    rewards = rng.normal(size=(n_rows, n_steps))
    rewards[mask == 0] = draw(st.sampled_from([0.0, np.nan, np.inf, -np.inf]))
    error_lines = [sorted(rng.choice(np.arange(1, 10), size=rng.integers(0, 4), replace=False).tolist())
                   for _ in range(n_rows)]
    return {"rewards": rewards, "lines": lines, "error_lines": error_lines, "mask": mask,
            "penalty": draw(st.sampled_from([0.0, 0.1, 1.0, 2.5]))}


@settings(max_examples=150, deadline=None)
@given(credit_batches())
def test_line_penalty_agrees_with_reference(d: dict) -> None:
    args = (d["rewards"], d["lines"], d["error_lines"], d["mask"], d["penalty"])
    want = ref.line_penalty(*args)
    got = shaping.line_penalty(*args)
    close(got, want)
    assert np.isfinite(got).all()
    for device in DEVICES:
        tgot = shaping.line_penalty(torch.tensor(d["rewards"], device=device),
                                    torch.tensor(d["lines"], device=device), d["error_lines"],
                                    torch.tensor(d["mask"], device=device), d["penalty"])
        assert tgot.device.type == device
        close(tgot, want)


def test_an_error_on_line_3_moves_only_line_3_tokens() -> None:
    rng = np.random.default_rng(0)
    lines = np.array([[1, 1, 2, 3, 3, 3, 4, 0, 0], [2, 2, 3, 3, 4, 4, 5, 5, 0]])
    mask = (lines > 0).astype(np.int64)
    mask[1, 7] = 0  # a masked token on line 5 stays 0 whatever its line
    rewards = rng.normal(size=lines.shape)
    got = shaping.line_penalty(rewards, lines, [[3], []], mask, 0.5)
    want = np.where(mask != 0, rewards, 0.0)
    want[0, 3:6] -= 0.5
    close(got, want)  # row 1, a clean program: unchanged
    # a line only in the code prefix (no token on it) and a line past the end move nothing
    got = shaping.line_penalty(rewards, lines, [[1, 9], [1]], mask, 0.5)
    want = np.where(mask != 0, rewards, 0.0)
    want[0, 0:2] -= 0.5
    close(got, want)
    # several lines, float32 stays float32
    got = shaping.line_penalty(rewards.astype(np.float32), lines, [[2, 4], [5]], mask, 1.0)
    assert got.dtype == np.float32
    want = np.where(mask != 0, rewards, 0.0)
    want[0, [2, 6]] -= 1.0
    want[1, 6] -= 1.0
    close(got, want, rtol=1e-6, atol=1e-6)


def test_line_penalty_on_top_of_token_rewards_and_on_group_advantages() -> None:
    lines = np.array([[1, 2, 2, 3], [1, 1, 2, 0]])
    mask = (lines > 0).astype(np.int64)
    logp = np.log(np.full(lines.shape, 0.5))
    rewards, _ = shaping.token_rewards(np.array([-1.0, 1.0]), logp, logp - 0.1, mask, 0.2)
    shaped = shaping.line_penalty(rewards, lines, [[2], []], mask, 0.3)
    close(shaped - rewards, [[0, -0.3, -0.3, 0], [0, 0, 0, 0]])
    adv = shaping.rloo(np.array([[-1.0, 1.0]]), mask)  # critic-free: penalise the advantages
    close(shaping.line_penalty(adv, lines, [[2], []], mask, 0.3), [[-2, -2.3, -2.3, -2], [2, 2, 2, 0]])


def test_line_penalty_bad_input() -> None:
    r, lines, mask = np.zeros((2, 3)), np.ones((2, 3), dtype=np.int64), np.ones((2, 3))
    cases = [
        lambda: shaping.line_penalty(r, lines, [[1]], mask, 0.1),  # one row of lines missing
        lambda: shaping.line_penalty(r, lines, [[0], []], mask, 0.1),
        lambda: shaping.line_penalty(r, lines, [[1.5], []], mask, 0.1),
        lambda: shaping.line_penalty(r, lines, ["3", []], mask, 0.1),
        lambda: shaping.line_penalty(r, lines, [[1], []], mask, -0.1),
        lambda: shaping.line_penalty(r, lines, [[1], []], mask, float("inf")),
        lambda: shaping.line_penalty(r, lines.astype(float), [[1], []], mask, 0.1),
        lambda: shaping.line_penalty(r, -lines, [[1], []], mask, 0.1),
        lambda: shaping.line_penalty(torch.zeros(2, 3), torch.ones(2, 3), [[1], []], torch.ones(2, 3), 0.1),
        lambda: shaping.line_penalty(r, lines[:, :2], [[1], []], mask, 0.1),
    ]
    for case in cases:
        with pytest.raises(ValueError):
            case()


# ------------------------------------------------ feedback lines from real tools


def test_error_lines_from_python_compile_and_test_runs() -> None:
    assert_eq = TestSpec(asserts=("assert f(1) == 1",))
    samples = [
        Sample("python", "def f(x):\n    y = 1\n    return (x +\n"),              # syntax, line 3
        Sample("python", "def f(x):\n    y = x\n    return y / 0\n", tests=assert_eq),  # raises on 3
        Sample("python", "def f(x):\n    y = x\n    return y + 1\n", tests=assert_eq),  # wrong answer
        Sample("python", "def f(x):\n    assert x > 5\n    return x\n", tests=assert_eq),  # own assert
        Sample("python", "def f(x):\n    return x\n", tests=assert_eq),               # clean
        Sample("python", "import sys\nn = int(input())\nprint(10 // (n - 1))\n",
               tests=TestSpec(stdio=(("1\n", "1\n"),))),                           # stdin case, line 3
        Sample("python", "def f(x):\n    return x\n"),                              # compiles
    ]
    got = score(samples)
    assert [r.outcome for r in got] == ["compile_error", "runtime_error", "failed", "runtime_error",
                                        "passed", "runtime_error", "ok"]
    assert [r.error_lines for r in got] == [[3], [3], [], [2], [], [3], []]
    # the failing test assert is on line 1 of the *test* code, which is not the program's
    assert any(e.startswith("test line 1:") for e in got[2].errors)


def test_error_lines_from_java_and_cpp_compilers() -> None:
    samples = [
        Sample("java", "public class Main {\n  static int f() {\n    int x = ;\n    return x;\n  }\n}\n"),
        Sample("java", "static int f() {\n  int y = 2;\n  return z;\n}\n"),  # a fragment, wrapped
        Sample("java", "public class Main {\n  static int f() { return 1; }\n}\n"),
        Sample("cpp", "int f() {\n  int a = 1;\n  return b;\n}\n"),  # a fragment (includes added)
        Sample("cpp", "#include <vector>\nint main() {\n  std::vector<int> v = undefined_name;\n"
                      "  return 0;\n}\n"),
        Sample("cpp", "#include <vector>\nint main() {\n  std::vector<int> v{1};\n  return v[0];\n}\n"),
    ]
    got = score(samples)
    assert [r.outcome for r in got] == ["compile_error", "compile_error", "ok"] * 2
    assert [r.error_lines for r in got] == [[3], [3], [], [3], [3], []]


def test_errors_inside_system_headers_name_no_line_of_the_program() -> None:
    # std::sort on a type without operator< fails inside <bits/stl_algo.h>, far below line 7
    code = ("#include <bits/stdc++.h>\nstruct P { int a; };\nint main() {\n  std::vector<P> v(3);\n"
            "  std::sort(v.begin(), v.end());\n  return 0;\n}\n" + "\n" * 200)
    res = compile_feedback("cpp", [code])[0]
    assert res.outcome == "compile_error"
    header = [m for m in res.messages if "operator<" in m.text and m.severity == "error"]
    assert header and all(m.line is None for m in header)
    assert score([Sample("cpp", code)])[0].error_lines == []


def test_end_to_end_a_completion_with_an_error_on_line_3() -> None:
    """code_prefix + response is scored; the error line moves only that line's response tokens."""
    tok = byte_level_tokenizer()
    prefix = "def total(xs):\n"
    response = "    s = 0\n    s = s + undefined_name(xs)\n    return s\n"
    result = score([Sample("python", prefix + response, tests=TestSpec(asserts=("assert total([1]) == 1",)))])[0]
    assert result.outcome == "runtime_error" and result.error_lines == [3]
    enc = tok(response, return_offsets_mapping=True, add_special_tokens=False)
    lines = shaping.token_lines(response, enc["offset_mapping"], first_line=prefix.count("\n") + 1)
    lines = torch.tensor(lines)[None]
    mask = torch.ones_like(lines)
    logp = torch.full(lines.shape, -1.0)
    rewards, _ = shaping.token_rewards(torch.tensor([result.total]), logp, logp, mask, 0.1)
    shaped = shaping.line_penalty(rewards, lines, [result.error_lines], mask, 0.25)
    moved = (shaped != rewards)[0]
    pieces = [response[a:b] for a, b in enc["offset_mapping"]]
    assert moved.any()
    assert all((line == 3) == bool(m) for line, m in zip(lines[0].tolist(), moved.tolist()))
    assert "".join(p for p, m in zip(pieces, moved.tolist()) if m).strip() == "s = s + undefined_name(xs)"
