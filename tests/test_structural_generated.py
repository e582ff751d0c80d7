"""Structural match on generated programs: parity with codebleu, native == reference.

A small random program generator writes functions with assignments, tuple
assignments, increments, branches, counted / for-each / while loops and
comprehensions in all seven languages. On the five CodeBLEU languages the native
engine must give codebleu 0.7.0's counts (its deterministic `sorted(set(...))`
variant); on all seven it must agree with the plain-Python reference; Hypothesis
drives the invariants.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.structural import dataflow, match
from tests import structural_reference as reference

CODEBLEU_LANGS = ["python", "java", "javascript", "php", "c_sharp"]
ALL_LANGS = [*CODEBLEU_LANGS, "c", "cpp"]





# ---- the generator ----


class ProgramGenerator:
    """Random, mostly well-formed functions in one language (ASCII only)."""

    def __init__(self, lang: str, rng: random.Random) -> None:
        self.lang, self.rng = lang, rng
        self.vars = ["a", "b", "c", "d", "n"]

    def v(self) -> str:
        name = self.rng.choice(self.vars)
        return "$" + name if self.lang == "php" else name

    def expr(self, depth: int = 0) -> str:
        r = self.rng.random()
        if depth > 1 or r < 0.35:
            return self.v()
        if r < 0.5:
            return str(self.rng.randint(0, 9))
        if r < 0.8:
            return f"{self.expr(depth + 1)} {self.rng.choice('+-*')} {self.expr(depth + 1)}"
        return f"{self.v()}[{self.expr(depth + 1)}]"

    def block(self, depth: int, indent: int) -> list[str]:
        return [line for _ in range(self.rng.randint(1, 3)) for line in self.stmt(depth + 1, indent)]

    def stmt(self, depth: int, indent: int) -> list[str]:
        pad = "    " * indent
        kinds = ["assign", "assign", "aug", "incr", "decl"]
        if depth < 3:
            kinds += ["if", "for", "each", "while"]
        kind = self.rng.choice(kinds)
        py = self.lang == "python"
        if kind == "assign":
            if py and self.rng.random() < 0.3:
                return [f"{pad}{self.v()}, {self.v()} = {self.expr()}, {self.expr()}"]
            return [f"{pad}{self.v()} = {self.expr()}" + ("" if py else ";")]
        if kind == "aug":
            return [f"{pad}{self.v()} += {self.expr()}" + ("" if py else ";")]
        if kind == "incr":
            if py:
                return [f"{pad}{self.v()} = [{self.v()} * 2 for {self.v()} in {self.v()} if {self.v()}]"]
            return [f"{pad}{self.v()}++;"]
        if kind == "decl":
            if py:
                return [f"{pad}{self.v()} = {self.expr()}"]
            decl = {"javascript": "let", "php": "", "c_sharp": "var"}.get(self.lang, "int")
            return [f"{pad}{decl + ' ' if decl else ''}{self.v()} = {self.expr()};"]
        inner = indent + 1
        if kind == "if":
            cond = f"{self.v()} < {self.expr()}"
            if py:
                lines = [f"{pad}if {cond}:", *self.block(depth, inner)]
                if self.rng.random() < 0.5:
                    lines += [f"{pad}elif {self.v()}:", *self.block(depth, inner)]
                if self.rng.random() < 0.5:
                    lines += [f"{pad}else:", *self.block(depth, inner)]
                return lines
            lines = [f"{pad}if ({cond}) {{", *self.block(depth, inner)]
            if self.rng.random() < 0.5:
                elif_kw = "elseif" if self.lang == "php" else "else if"
                lines += [f"{pad}}} {elif_kw} ({self.v()} > 1) {{", *self.block(depth, inner)]
            if self.rng.random() < 0.5:
                lines += [f"{pad}}} else {{", *self.block(depth, inner)]
            return [*lines, f"{pad}}}"]
        if kind == "for":
            if py:
                return [f"{pad}for {self.v()} in range({self.expr()}):", *self.block(depth, inner)]
            i = "$i" if self.lang == "php" else "i"
            init = {"javascript": "var i = 0", "php": "$i = 0", "c_sharp": "int i = 0"}.get(self.lang, "int i = 0")
            return [f"{pad}for ({init}; {i} < {self.expr()}; {i}++) {{", *self.block(depth, inner), f"{pad}}}"]
        if kind == "each":
            x, xs = self.v(), self.v()
            head = {
                "python": f"for {x}, {self.v()} in zip({xs}, {self.v()}):",
                "java": f"for (int {x} : {xs}) {{",
                "c_sharp": f"foreach (var {x} in {xs}) {{",
                "javascript": f"for (const {x} of {xs}) {{",
                "php": f"foreach ({xs} as {x}) {{",
                "cpp": f"for (int {x} : {xs}) {{",
                "c": f"for ({x} = 0; {x} < {xs}; {x}++) {{",
            }[self.lang]
            return [pad + head, *self.block(depth, inner)] + ([] if py else [f"{pad}}}"])
        cond = f"{self.v()} > {self.expr()}"
        if py:
            return [f"{pad}while {cond}:", *self.block(depth, inner)]
        return [f"{pad}while ({cond}) {{", *self.block(depth, inner), f"{pad}}}"]

    def program(self) -> str:
        body = [line for _ in range(self.rng.randint(2, 5)) for line in self.stmt(0, 1)]
        ret = f"    return {self.expr()}" + ("" if self.lang == "python" else ";")
        head, tail = {
            "python": ("def f(a, b=1):", ""),
            "java": ("class A {\n  int f(int[] a, int b) {", "  }\n}"),
            "c_sharp": ("class A {\n  int F(int[] a, int b) {", "  }\n}"),
            "javascript": ("function f(a, b = 1) {", "}"),
            "php": ("<?php\nfunction f($a, $b = 1) {", "}"),
            "c": ("int f(int *a, int b) {", "}"),
            "cpp": ("int f(std::vector<int> a, int b) {", "}"),
        }[self.lang]
        return "\n".join([head, *body, ret, tail]) + "\n"


def make_pair(lang: str, seed: int) -> tuple[str, str]:
    """(candidate, reference): a mutation of the reference or an unrelated program."""
    rng = random.Random(seed)
    ref = ProgramGenerator(lang, rng).program()
    lines = ref.split("\n")
    mode = rng.randrange(3)
    if mode == 0 and len(lines) > 3:
        del lines[rng.randrange(1, len(lines) - 2)]  # may break the syntax: fine
        return "\n".join(lines), ref
    if mode == 1:
        cand = ref.replace("b", "z") if lang != "php" else ref.replace("$b", "$z")
        return cand, ref
    return ProgramGenerator(lang, rng).program(), ref


def counts(lang: str, cands: list[str], refs: list[str], threads: int = 1) -> list[tuple[int, int, int, int, int]]:
    return match(lang, cands, refs, threads=threads).rows()


# ---- parity with codebleu on generated code ----


@pytest.mark.parametrize("lang", CODEBLEU_LANGS)
def test_generated_programs_match_codebleu(lang: str, codebleu_oracle) -> None:
    pairs = [make_pair(lang, seed) for seed in range(40)]
    ours = counts(lang, [c for c, _ in pairs], [r for _, r in pairs])
    for (cand, ref), (am, at, dm, dt, _) in zip(pairs, ours):
        assert am / at == pytest.approx(codebleu_oracle.ast_score(lang, ref, cand), abs=1e-12), (cand, ref)
        dfg = dm / dt if dt else 0.0
        assert dfg == pytest.approx(codebleu_oracle.dfg_score(lang, ref, cand), abs=1e-12), (cand, ref)


@pytest.mark.parametrize("lang", CODEBLEU_LANGS)
def test_generated_dataflow_items_match_codebleu(lang: str, codebleu_oracle) -> None:
    for seed in range(15):
        _, ref = make_pair(lang, seed)
        assert [tuple(x) for x in dataflow(lang, ref)] == codebleu_oracle.dataflow_items(lang, ref), ref


def test_generated_programs_are_not_trivial() -> None:
    """The generator exercises the walker: most references have data flow, scores vary."""
    for lang in ALL_LANGS:
        pairs = [make_pair(lang, seed) for seed in range(30)]
        m = match(lang, [c for c, _ in pairs], [r for _, r in pairs], threads=1)
        assert (m.dfg_total > 3).mean() > 0.8, lang
        assert len(set(np.round(m.ast_score(), 6))) > 5, lang
        assert len(set(np.round(m.dfg_score(), 6))) > 5, lang


# ---- native == plain-Python reference (Hypothesis) ----

_settings = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_settings
@given(lang=st.sampled_from(ALL_LANGS), seed=st.integers(0, 10**9))
def test_native_equals_reference_on_random_programs(lang: str, seed: int) -> None:
    cand, ref = make_pair(lang, seed)
    assert counts(lang, [cand], [ref])[0] == reference.match_pair(lang, cand, ref)


_code_alphabet = st.sampled_from(list("ab1 =+-*()[]{}:;,.\n\t#/'\"\\xé") + ["if ", "for ", "while ", "else", "/*", "*/"])


@_settings
@given(lang=st.sampled_from(ALL_LANGS), parts=st.lists(_code_alphabet, max_size=40),
       other=st.lists(_code_alphabet, max_size=40))
def test_native_equals_reference_on_random_text(lang: str, parts: list[str], other: list[str]) -> None:
    cand, ref = "".join(parts), "".join(other)
    assert counts(lang, [cand], [ref])[0] == reference.match_pair(lang, cand, ref)


@_settings
@given(lang=st.sampled_from(ALL_LANGS), seed=st.integers(0, 10**9))
def test_invariants(lang: str, seed: int) -> None:
    cand, ref = make_pair(lang, seed)
    m = match(lang, [cand, ref, cand], [ref, ref, ref], threads=2)
    for score in (m.ast_score(), m.dfg_score()):
        assert ((score >= 0.0) & (score <= 1.0)).all()
    assert m.ast_score()[1] == 1.0  # identical code
    assert m.dfg_score()[1] == 1.0  # identical code, with or without data flow
    again = match(lang, [cand], [ref], threads=1)  # determinism, threads do not matter
    assert (again.ast_match[0], again.dfg_match[0], again.dfg_total[0]) == (
        m.ast_match[0], m.dfg_match[0], m.dfg_total[0]) == (m.ast_match[2], m.dfg_match[2], m.dfg_total[2])


def _sexp_hash_pairs(lang: str, code: str) -> list[tuple[str, int]]:
    """(S-expression, native hash) of the root and every node with children."""
    from tree_sitter import Parser

    from core import _native, languages
    from core.structural import native_language

    src = reference.strip_comments(code, languages.get(lang).dataflow.comment_style).encode(
        "utf-8", "surrogateescape")
    tree = Parser(reference.spec_language(lang)).parse(src)
    nodes, stack = [], [(tree.root_node, True)]
    while stack:  # pre-order, like the native list
        node, is_root = stack.pop()
        if is_root or node.child_count:
            nodes.append(node)
        stack.extend((child, False) for child in reversed(node.children))
    hashes = _native.subtree_hashes(native_language(lang), src)
    assert len(hashes) == len(nodes)
    return [(str(n), h) for n, h in zip(nodes, hashes)]


@_settings
@given(lang=st.sampled_from(ALL_LANGS), docs=st.lists(st.lists(_code_alphabet, max_size=40), min_size=2, max_size=4))
def test_subtree_hash_identifies_the_s_expression(lang: str, docs: list[list[str]]) -> None:
    """Across documents, equal S-expressions <=> equal 64-bit subtree hashes (error trees too)."""
    by_sexp: dict[str, int] = {}
    by_hash: dict[int, str] = {}
    for parts in docs:
        for sexp, h in _sexp_hash_pairs(lang, "".join(parts)):
            assert by_sexp.setdefault(sexp, h) == h, sexp
            assert by_hash.setdefault(h, sexp) == sexp, (sexp, by_hash[h])


def test_subtree_hash_identifies_the_s_expression_on_generated_code() -> None:
    for lang in ALL_LANGS:
        by_sexp: dict[str, int] = {}
        by_hash: dict[int, str] = {}
        for seed in range(10):
            for code in make_pair(lang, seed):
                for sexp, h in _sexp_hash_pairs(lang, code):
                    assert by_sexp.setdefault(sexp, h) == h, sexp
                    assert by_hash.setdefault(h, sexp) == sexp, sexp
