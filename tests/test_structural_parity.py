"""Parity of core.structural with codebleu 0.7.0 on the shared corpus.

The oracle is recomputed here with the installed codebleu and the installed
grammars (the same grammars the native engine uses). Policy of the parity data:
equal counts where codebleu's data flow does not depend on the hash seed, equal
to its deterministic ``_sorted`` variant everywhere. The one deliberate
difference on this corpus: pairs with non-ASCII text, where codebleu cuts token
text at byte columns of str lines (garbling names) and we take tokens on bytes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from core.structural import match


@pytest.fixture(scope="module")
def corpus(parity_data) -> list[dict]:
    return [json.loads(line) for line in (parity_data / "corpus.jsonl").read_text().splitlines()]


@pytest.fixture(scope="module")
def ours(corpus) -> dict[str, tuple[int, int, int, int]]:
    out = {}
    for lang in ("python", "java"):
        rows = [r for r in corpus if r["lang"] == lang]
        m = match(lang, [r["candidate"] for r in rows], [r["reference"] for r in rows], threads=2)
        for i, r in enumerate(rows):
            out[r["id"]] = (int(m.ast_match[i]), int(m.ast_total[i]), int(m.dfg_match[i]), int(m.dfg_total[i]))
    return out


@pytest.fixture(scope="module")
def oracle(corpus, codebleu_oracle) -> dict[str, tuple[float, float]]:
    """codebleu's (syntax score, sorted data-flow score) per pair."""
    cb = codebleu_oracle
    return {
        r["id"]: (cb.ast_score(r["lang"], r["reference"], r["candidate"]),
                  cb.dfg_score(r["lang"], r["reference"], r["candidate"]))
        for r in corpus
    }


def _ascii(row: dict) -> bool:
    return row["reference"].isascii() and row["candidate"].isascii()


def _dfg(c: tuple[int, int, int, int]) -> float:
    return c[2] / c[3] if c[3] else 0.0


def test_corpus_syntax_match_equals_codebleu(corpus, ours, oracle) -> None:
    bad = [r["id"] for r in corpus if ours[r["id"]][0] / ours[r["id"]][1] != pytest.approx(oracle[r["id"]][0], abs=1e-12)]
    assert bad == []
    assert len(corpus) == 502


def test_corpus_dataflow_equals_sorted_codebleu(corpus, ours, oracle) -> None:
    bad = [r for r in corpus if _dfg(ours[r["id"]]) != pytest.approx(oracle[r["id"]][1], abs=1e-12)]
    # Only the documented non-ASCII difference remains.
    assert [r["id"] for r in bad if _ascii(r)] == []
    non_ascii = [r for r in corpus if not _ascii(r)]
    assert len(non_ascii) < 0.05 * len(corpus)


def test_non_ascii_names_are_whole_on_bytes(corpus) -> None:
    """Where codebleu garbles names after non-ASCII text, our tokens are the real ones."""
    from core.structural import dataflow

    row = next(r for r in corpus if not _ascii(r) and r["lang"] == "java")
    names = {item[0] for item in dataflow("java", row["reference"])}
    text = row["reference"]
    assert names and all(name in text for name in names)


_STOCK = """
import json, logging, sys
logging.disable(logging.WARNING)
from codebleu.dataflow_match import corpus_dataflow_match
rows = [json.loads(l) for l in open(sys.argv[1])]
print(json.dumps({r["id"]: corpus_dataflow_match([[r["reference"]]], [r["candidate"]], r["lang"])
                  for r in rows}))
"""


def test_corpus_dataflow_equals_stock_codebleu_on_hash_insensitive_pairs(corpus, ours, tmp_path, parity_data) -> None:
    """Stock codebleu (its `list(set(...))` order, here under two hash seeds) on the
    pairs the parity data marks as not hash-sensitive (checked over 32 seeds)."""
    stored = {json.loads(line)["id"]: json.loads(line)
              for line in (parity_data / "reference_scores.jsonl").read_text().splitlines()}
    rows = [r for r in corpus if _ascii(r) and not stored[r["id"]]["dataflow_hash_sensitive"]]
    assert len(rows) > 350
    path = tmp_path / "corpus.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows))
    for seed in ("0", "1"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", _STOCK, str(path)], capture_output=True, text=True,
                              env=env, cwd=tmp_path, check=True)
        stock = json.loads(proc.stdout)
        assert [k for k in stock if _dfg(ours[k]) != pytest.approx(stock[k], abs=1e-12)] == []


def test_stored_reference_scores_made_with_older_grammars(corpus, ours, parity_data) -> None:
    """Second, version-pinned check against the stored file (codebleu 0.7.0 with the
    grammar pins of requirements-pinned.txt: tree-sitter-python 0.21, -java 0.21).

    Measured with the installed grammars (tree-sitter-python 0.25.0, -java 0.23.5):
    Java agrees on every syntax count and on every sorted data-flow score but the one
    non-ASCII pair; Python's newer grammar changes the tree of 28 of 265 pairs'
    syntax counts and 5 data-flow scores. The bounds below pin those numbers.
    """
    stored = {}
    for line in (parity_data / "reference_scores.jsonl").read_text().splitlines():
        row = json.loads(line)
        stored[row["id"]] = row
    mismatch = {("python", "ast"): 0, ("java", "ast"): 0, ("python", "dfg"): 0, ("java", "dfg"): 0}
    for r in corpus:
        s, c = stored[r["id"]], ours[r["id"]]
        if (c[0], c[1]) != (s["syntax_match_count"], s["syntax_total_count"]):
            mismatch[(r["lang"], "ast")] += 1
        if _dfg(c) != pytest.approx(s["dataflow_match_score_sorted"], abs=1e-12) and _ascii(r):
            mismatch[(r["lang"], "dfg")] += 1
    assert mismatch[("java", "ast")] == 0
    assert mismatch[("java", "dfg")] == 0
    assert mismatch[("python", "ast")] <= 30
    assert mismatch[("python", "dfg")] <= 6
