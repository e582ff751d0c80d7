"""Go, Rust and TypeScript: the native AST and data-flow match agree with a direct
tree-sitter reading of the same programs (tests/structural_oracle_new.py), on 50 random
program pairs per language and on hand-written ones; and the scores mean something
(a program matches itself fully, renaming keeps the data flow, an unrelated program
does not match)."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path

import pytest

from core.structural import match

# tests/ is not on sys.path (pytest's importlib mode): the oracle is loaded by its path
_spec = importlib.util.spec_from_file_location("structural_oracle_new",
                                               Path(__file__).with_name("structural_oracle_new.py"))
oracle = importlib.util.module_from_spec(_spec)
sys.modules["structural_oracle_new"] = oracle
_spec.loader.exec_module(oracle)

NAMES = ["a", "b", "c", "x", "y", "total"]

SYNTAX = {
    "go": {
        "head": "package main\n\nfunc f(a int, b int, items []int) int {\n",
        "tail": "\treturn x + y\n}\n",
        "decl": ["{v} := {e}", "var {v} int = {e}", "var {v} = {e}"],
        "assign": ["{v} = {e}", "{v} += {e}", "{v}++", "{v}, {w} = {e}, {f}", "{v}, {w} := {e}, {f}"],
        "if": "if {c} {{\n{body}}} else if {c2} {{\n{body2}}} else {{\n{body3}}}",
        "if1": "if {c} {{\n{body}}}",
        "loops": ["for i := 0; i < {e}; i++ {{\n{body}}}", "for _, {v} := range items {{\n{body}}}",
                  "for {c} {{\n{body}}}"],
        "end": "", "comment": "// {v} is updated here", "string": '"text"',
        "call": "len(items)",
    },
    "rust": {
        "head": "fn f(a: i64, b: i64, items: Vec<i64>) -> i64 {\n",
        "tail": "    x + y\n}\n",
        "decl": ["let {v} = {e};", "let mut {v}: i64 = {e};", "let ({v}, {w}) = ({e}, {f});"],
        "assign": ["{v} = {e};", "{v} += {e};", "{v} *= {e};"],
        "if": "if {c} {{\n{body}}} else if {c2} {{\n{body2}}} else {{\n{body3}}}",
        "if1": "if {c} {{\n{body}}}",
        "loops": ["for i in 0..{e} {{\n{body}}}", "for {v} in items.iter() {{\n{body}}}",
                  "while {c} {{\n{body}}}", "loop {{\n{body}break;\n}}"],
        "end": "", "comment": "/* {v} changes */", "string": '"text"',
        "call": "items.len()",
    },
    "typescript": {
        "head": "function f(a: number, b: number, items: number[]): number {\n",
        "tail": "  return x + y;\n}\n",
        "decl": ["let {v} = {e};", "const {v}: number = {e};", "var {v} = {e};"],
        "assign": ["{v} = {e};", "{v} += {e};", "{v}++;", "--{v};"],
        "if": "if ({c}) {{\n{body}}} else if ({c2}) {{\n{body2}}} else {{\n{body3}}}",
        "if1": "if ({c}) {{\n{body}}}",
        "loops": ["for (let i = 0; i < {e}; i++) {{\n{body}}}", "for (const {v} of items) {{\n{body}}}",
                  "while ({c}) {{\n{body}}}", "do {{\n{body}}} while ({c});"],
        "end": "", "comment": "// {v} is updated here", "string": "'text'",
        "call": "items.length",
    },
}


def _expr(rng: random.Random, syn: dict) -> str:
    pick = rng.random()
    if pick < 0.3:
        return rng.choice(NAMES)
    if pick < 0.45:
        return str(rng.randint(0, 9))
    if pick < 0.5:
        return syn["call"]
    return f"{rng.choice(NAMES)} {rng.choice('+-*')} {rng.choice(NAMES + ['1', '2'])}"


def _cond(rng: random.Random) -> str:
    return f"{rng.choice(NAMES)} {rng.choice(['<', '>', '=='])} {rng.choice(NAMES + ['0', '10'])}"


def _block(rng: random.Random, syn: dict, depth: int, size: int) -> str:
    lines = []
    for _ in range(size):
        kind = rng.random()
        fill = {"v": rng.choice(NAMES), "w": rng.choice(NAMES), "e": _expr(rng, syn),
                "f": _expr(rng, syn), "c": _cond(rng), "c2": _cond(rng)}
        if kind < 0.25:
            lines.append(rng.choice(syn["decl"]).format(**fill))
        elif kind < 0.55:
            lines.append(rng.choice(syn["assign"]).format(**fill))
        elif kind < 0.7 and depth < 2:
            body = [_block(rng, syn, depth + 1, rng.randint(1, 2)) for _ in range(3)]
            lines.append(syn[rng.choice(["if", "if1"])].format(**fill, body=body[0], body2=body[1], body3=body[2]))
        elif kind < 0.85 and depth < 2:
            lines.append(rng.choice(syn["loops"]).format(**fill, body=_block(rng, syn, depth + 1, rng.randint(1, 3))))
        elif kind < 0.92:
            lines.append(syn["comment"].format(**fill))
        else:
            lines.append(rng.choice(syn["decl"]).format(**{**fill, "e": syn["string"]}))
    return "".join(line + "\n" for line in lines)


def _program(rng: random.Random, lang: str) -> str:
    syn = SYNTAX[lang]
    return syn["head"] + _block(rng, syn, 0, rng.randint(3, 8)) + syn["tail"]


def _variant(rng: random.Random, lang: str, program: str) -> str:
    """A candidate: the reference edited (lines dropped or swapped, names renamed), or new."""
    pick = rng.random()
    if pick < 0.25:
        return _program(rng, lang)
    lines = program.split("\n")
    if pick < 0.5:
        body = list(range(1, len(lines) - 3))
        for k in rng.sample(body, min(2, len(body))):
            if lines[k].rstrip().endswith(";") or lines[k].rstrip().endswith(")"):
                lines[k] = ""
        return "\n".join(lines)
    if pick < 0.75:
        old, new = rng.choice(NAMES), rng.choice(["p", "q", "r"])
        return "\n".join(line.replace(f"{old} ", f"{new} ") for line in lines)
    return program


def _pairs(lang: str) -> list[tuple[str, str]]:
    rng = random.Random(f"parity-{lang}")
    out = []
    for _ in range(50):
        reference = _program(rng, lang)
        out.append((_variant(rng, lang, reference), reference))
    return out


@pytest.mark.parametrize("lang", list(SYNTAX))
def test_native_counts_equal_the_direct_reading_on_50_pairs(lang):
    pairs = _pairs(lang)
    got = match(lang, [c for c, _ in pairs], [r for _, r in pairs], threads=2)
    mismatches = []
    for k, (candidate, reference) in enumerate(pairs):
        ours = (int(got.ast_match[k]), int(got.ast_total[k]), int(got.dfg_match[k]), int(got.dfg_total[k]))
        theirs = oracle.counts(lang, candidate, reference)
        if ours != theirs:
            mismatches.append((k, ours, theirs))
    assert mismatches == [], mismatches[:3]
    # the corpus exercises the data flow: most references have edges, not all pairs match
    assert sum(int(t) > 0 for t in got.dfg_total) >= 45
    assert 0 < sum(int(m) < int(t) for m, t in zip(got.dfg_match, got.dfg_total))


HAND = {
    "go": "package main\n\nfunc f(a int, items []int) int {\n\tx := a + 1\n\tvar y int = x * 2\n"
          "\tfor _, v := range items {\n\t\ty += v\n\t}\n\tif x > y {\n\t\tx = y\n\t} else {\n\t\tx++\n\t}\n"
          "\treturn x + y\n}\n",
    "rust": "fn f(a: i64, items: Vec<i64>) -> i64 {\n    let mut x = a + 1;\n    let mut y: i64 = x * 2;\n"
            "    for v in items.iter() {\n        y += v;\n    }\n    if x > y {\n        x = y;\n    } else {\n"
            "        x += 1;\n    }\n    x + y\n}\n",
    "typescript": "function f(a: number, items: number[]): number {\n  let x = a + 1;\n  let y: number = x * 2;\n"
                  "  for (const v of items) {\n    y += v;\n  }\n  if (x > y) {\n    x = y;\n  } else {\n    x++;\n"
                  "  }\n  return x + y;\n}\n",
}


@pytest.mark.parametrize("lang", list(HAND))
def test_scores_mean_something(lang):
    program = HAND[lang]
    renamed = program.replace("x", "first").replace("y", "second")
    other = SYNTAX[lang]["head"] + SYNTAX[lang]["tail"]
    got = match(lang, [program, renamed, other], [program] * 3)
    assert got.ast_match[0] == got.ast_total[0] > 10
    assert got.dfg_match[0] == got.dfg_total[0] >= 8
    assert got.dfg_match[1] == got.dfg_total[1]  # data flow does not care about names
    assert got.ast_match[2] < got.ast_total[2] // 2 and got.dfg_match[2] < got.dfg_total[2]
    for k, candidate in enumerate([program, renamed, other]):
        assert oracle.counts(lang, candidate, program) == (
            int(got.ast_match[k]), int(got.ast_total[k]), int(got.dfg_match[k]), int(got.dfg_total[k]))
