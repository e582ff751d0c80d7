"""CodeBLEU parity with codebleu 0.7.0 on the shared corpus (502 Python/Java pairs).

The oracle is recomputed here with the installed codebleu (same grammars as ours) and
also compared with the stored, version-pinned reference values. The n-gram components
do not depend on grammars, so they must equal the stored values too.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import pytest
from codebleu import calc_codebleu

CB = importlib.import_module("rewards.codebleu")
BLEU = importlib.import_module("rewards.bleu")

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "codebleu-parity"
if not DATA.is_dir():  # the repository may live elsewhere; /work/shared is the fixed place
    DATA = Path("/work/shared/data/codebleu-parity")

NGRAM_KEYS = ("ngram_match_score", "weighted_ngram_match_score")


@pytest.fixture(scope="module")
def corpus() -> list[dict]:
    rows = [json.loads(line) for line in (DATA / "corpus.jsonl").read_text().splitlines()]
    stored = {}
    for line in (DATA / "reference_scores.jsonl").read_text().splitlines():
        item = json.loads(line)
        stored[item["id"]] = item
    for row in rows:
        row["stored"] = stored[row["id"]]
    assert len(rows) == 502
    return rows


@pytest.fixture(scope="module")
def stored_corpus_scores() -> dict:
    return json.loads((DATA / "reference_corpus_scores.json").read_text())


def ngram_scores(refs: list, cands: list, lang: str) -> dict[str, float]:
    return {"ngram_match_score": BLEU.bleu(refs, cands),
            "weighted_ngram_match_score": CB.weighted_ngram_match(refs, cands, lang)}


def test_per_sample_ngram_parts_equal_oracle_and_stored(corpus: list[dict]) -> None:
    mismatches = []
    for row in corpus:
        ours = ngram_scores([row["reference"]], [row["candidate"]], row["lang"])
        oracle = calc_codebleu([row["reference"]], [row["candidate"]], row["lang"])
        for key in NGRAM_KEYS:
            if not (ours[key] == oracle[key] == row["stored"][key]):
                mismatches.append((row["id"], key, ours[key], oracle[key], row["stored"][key]))
    assert mismatches == []


@pytest.mark.parametrize("lang", ["python", "java"])
def test_corpus_ngram_parts_equal_oracle_and_stored(corpus: list[dict], lang: str,
                                                    stored_corpus_scores: dict) -> None:
    rows = [row for row in corpus if row["lang"] == lang]
    refs = [row["reference"] for row in rows]
    cands = [row["candidate"] for row in rows]
    ours = ngram_scores(refs, cands, lang)
    oracle = calc_codebleu(refs, cands, lang)
    for key in NGRAM_KEYS:
        assert ours[key] == oracle[key] == stored_corpus_scores[lang][key]
    # Micro-averaging: the corpus score is not the mean of the per-sample scores.
    per_sample = [BLEU.bleu([r], [c]) for r, c in zip(refs, cands)]
    assert ours["ngram_match_score"] != pytest.approx(sum(per_sample) / len(per_sample),
                                                       abs=1e-6)


def test_several_references_equal_oracle(corpus: list[dict]) -> None:
    # Group each Java candidate with two references (its own and another pair's).
    rows = [row for row in corpus if row["lang"] == "java"][:60]
    refs = [[row["reference"], rows[(i + 7) % len(rows)]["reference"]]
            for i, row in enumerate(rows)]
    cands = [row["candidate"] for row in rows]
    ours = ngram_scores(refs, cands, "java")
    oracle = calc_codebleu(refs, cands, "java")
    for key in NGRAM_KEYS:
        assert ours[key] == oracle[key]

