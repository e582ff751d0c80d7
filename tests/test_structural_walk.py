"""The direct tree walk gives exactly the tree-sitter cursor's view of a parsed tree.

The engine copies every parsed tree into a flat array before hashing subtrees and
walking data flow. In the default build it reads the runtime's own subtrees
(csrc/tree_walk.cpp: hidden nodes, aliases, inherited fields, extras, ERROR and
MISSING nodes handled as the cursor handles them); builds against a system
libtree-sitter use the public cursor API instead. `_native.walk_matches_cursor`
parses a source and compares the two walks node for node (span, symbol, field,
named/missing flags, links, depth, error leaves). These tests run it on valid
code, on every corpus source parsed with every grammar (ERROR-heavy trees), on
random byte-level mutations and on degenerate input.
"""

from __future__ import annotations

import json
import random

import pytest

from core import _native
from core.structural import native_language

ALL_LANGS = ["python", "java", "javascript", "php", "c_sharp", "c", "cpp"]
_BYTES = b"{}()[];:=,.\n \t\"'#/*x<>?\\@$-+!&|"


def same(lang: str, source: str | bytes) -> bool:
    src = source if isinstance(source, bytes) else source.encode("utf-8", "surrogatepass")
    return _native.walk_matches_cursor(native_language(lang), src)


def mutate(src: bytes, rng: random.Random) -> bytes:
    b = bytearray(src)
    for _ in range(rng.randint(1, 4)):
        if not b:
            break
        i = rng.randrange(len(b))
        op = rng.randrange(4)
        if op == 0:
            del b[i : i + rng.randint(1, 8)]
        elif op == 1:
            b[i:i] = bytes([rng.choice(_BYTES)])
        elif op == 2:
            b[i] = rng.randrange(256)
        else:
            b[i:i] = b[rng.randrange(len(b)) :][: rng.randint(1, 30)]
    return bytes(b)


def test_default_build_walks_subtrees_directly() -> None:
    # The default build compiles the tree-sitter runtime in and uses the direct walk;
    # only PPOCODER_SYSTEM_TREE_SITTER builds fall back to the cursor.
    assert _native.direct_walk is True


def test_corpus_sources_in_every_grammar(parity_data) -> None:
    rows = [json.loads(line) for line in (parity_data / "corpus.jsonl").read_text().splitlines()]
    assert len(rows) > 400
    rng = random.Random("walk-corpus")
    diffs = []
    for r in rows:
        for src in (r["candidate"], r["reference"]):
            if not same(r["lang"], src):
                diffs.append((r["id"], r["lang"]))
            other = rng.choice([lang for lang in ALL_LANGS if lang != r["lang"]])
            if not same(other, src):  # foreign code: trees full of ERROR and MISSING nodes
                diffs.append((r["id"], other))
    assert diffs == []


@pytest.mark.parametrize("lang", ALL_LANGS)
def test_random_mutations(lang: str, parity_data) -> None:
    rows = [json.loads(line) for line in (parity_data / "corpus.jsonl").read_text().splitlines()]
    sources = [r["reference"].encode() for r in rows if r["lang"] in (lang, "java")][:60]
    rng = random.Random(f"walk-{lang}")
    diffs = []
    for src in sources:
        for _ in range(5):
            m = mutate(src, rng)
            if not same(lang, m):
                diffs.append(m)
    assert diffs == []


@pytest.mark.parametrize("lang", ALL_LANGS)
@pytest.mark.parametrize(
    "source",
    [b"", b" ", b"\n\n", b"\x00\x00", b"\xff\xfe\xfd", "é = ü + 1 // ß\n".encode(), b"{" * 300,
     b"(" * 2000 + b")" * 2000, b"x" * 5000, b"<?php\n$a = `ls`;\n?>\n<b>html</b>\n"],
)
def test_degenerate_sources(lang: str, source: bytes) -> None:
    assert same(lang, source)
