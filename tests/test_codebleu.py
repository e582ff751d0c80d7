"""CodeBLEU's n-gram parts, keyword lists, result type and input validation."""

from __future__ import annotations

import keyword
import math
from pathlib import Path

import codebleu as oracle_pkg
import pytest
from codebleu import calc_codebleu
from hypothesis import given, settings
from hypothesis import strategies as st

import rewards.bleu_metric as bleu_mod
import rewards.codebleu_metric as CB
from core import languages
from rewards import CodeBLEUResult, codebleu, codebleu_per_sample, codebleu_with_samples

LANGS = ["python", "java", "cpp", "c", "c_sharp", "javascript", "php"]
ORACLE_KEYWORDS = Path(oracle_pkg.__file__).parent / "keywords"


@pytest.mark.parametrize("lang", LANGS)
def test_keyword_lists_match_codebleu(lang: str) -> None:
    theirs = {w.strip() for w in (ORACLE_KEYWORDS / f"{lang}.txt").read_text().splitlines()}
    theirs.discard("")
    assert CB.keywords(lang) == theirs


def test_every_registered_language_has_keywords() -> None:
    for lang in languages.names():
        assert len(CB.keywords(lang)) >= 25, lang  # Go's specification has exactly 25


def test_keyword_lists_follow_the_language_definitions() -> None:
    # Python's own definition: every hard keyword, plus the soft keywords match/case/type.
    assert set(keyword.kwlist) <= CB.keywords("python")
    assert {"match", "case", "type"} <= CB.keywords("python")
    assert {"class", "synchronized", "instanceof", "throws"} <= CB.keywords("java")
    assert {"foreach", "namespace", "yield"} <= CB.keywords("c_sharp")
    assert {"function", "typeof", "yield"} <= CB.keywords("javascript")
    assert {"echo", "elseif", "foreach"} <= CB.keywords("php")
    assert {"func", "defer", "chan", "select", "fallthrough"} <= CB.keywords("go")
    assert {"fn", "impl", "match", "mut", "unsafe"} <= CB.keywords("rust")
    assert {"interface", "readonly", "keyof", "function"} <= CB.keywords("typescript")
    assert {"template", "typename", "virtual"} <= CB.keywords("cpp")
    assert {"typedef", "sizeof", "struct"} <= CB.keywords("c")
    assert "template" not in CB.keywords("c")
    # Aliases resolve to the same list.
    assert CB.keywords("js") == CB.keywords("javascript")
    assert CB.keywords("C++") == CB.keywords("cpp")


def test_weighted_match_hand_computed() -> None:
    # Keywords (if, return, yield) weigh 1, other unigrams 0.2. The candidate loses the
    # keyword `return`: unigram recall (1 + .2 + .2 + .2) / (1 + .2 + .2 + 1 + .2).
    ref, cand = "if a : return b", "if a : yield b"
    expected = math.exp(0.25 * (math.log(1.6 / 2.6) + math.log(2 / 4) + math.log(1 / 3)
                                + math.log(0.1 / 2)))
    assert CB.weighted_ngram_match([ref], [cand], "python") == pytest.approx(expected, 1e-12)
    # Losing the identifier `a` instead costs less than losing the keyword.
    assert CB.weighted_ngram_match([ref], ["if z : return b"], "python") > expected


def test_weighted_match_brevity_penalty_quirk() -> None:
    # codebleu takes every reference to be 2 tokens long in weighted BLEU: a 1-token
    # candidate gets exp(1 - 2/1), whatever the reference's real length.
    ref = "a b c d e f g h"
    expected = math.exp(1 - 2) * math.exp(0.25 * (
        math.log(0.2 / 1.6) + math.log(0.1 / 7) + math.log(0.1 / 6) + math.log(0.1 / 5)))
    got = CB.weighted_ngram_match([ref], ["a"], "python")
    assert got == pytest.approx(expected, rel=1e-12)
    assert got == calc_codebleu([ref], ["a"], "python")["weighted_ngram_match_score"]


code_tokens = st.sampled_from(
    ["if", "else", "return", "for", "while", "def", "class", "x", "y", "(", ")", "=",
     "+", ":", ";", "{", "}", "function", "int", "new", "$a", "foreach", "1"])
code = st.lists(code_tokens, max_size=16).map(" ".join)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["python", "java", "javascript", "php", "c_sharp", "c", "cpp"]),
       st.lists(st.tuples(st.lists(code, min_size=1, max_size=2), code),
                min_size=1, max_size=3))
def test_ngram_parts_equal_oracle_on_random_code(lang: str, pairs: list) -> None:
    refs = [r for r, _ in pairs]
    cands = [c for _, c in pairs]
    oracle = calc_codebleu(refs, cands, lang)
    assert CB.weighted_ngram_match(refs, cands, lang) == oracle["weighted_ngram_match_score"]
    assert bleu_mod.bleu(refs, cands) == oracle["ngram_match_score"]


def test_custom_tokenizer_is_used() -> None:
    refs, cands = ["print(x)"], ["print(y)"]
    by_space = CB.weighted_ngram_match(refs, cands, "python")
    by_char = CB.weighted_ngram_match(refs, cands, "python", tokenizer=list)
    assert by_space == 0.0 and by_char > 0.3
    oracle = calc_codebleu(refs, cands, "python", tokenizer=list)
    assert by_char == oracle["weighted_ngram_match_score"]


def test_result_type() -> None:
    result = CodeBLEUResult(0.5, 0.1, 0.2, 0.3, 0.4)
    assert result.as_dict() == {"codebleu": 0.5, "ngram_match_score": 0.1,
                                "weighted_ngram_match_score": 0.2,
                                "syntax_match_score": 0.3, "dataflow_match_score": 0.4}
    assert set(result.as_dict()) == set(calc_codebleu(["a"], ["a"], "python"))
    with pytest.raises(AttributeError):
        result.codebleu = 1.0  # type: ignore[misc]


@pytest.mark.parametrize("fn", [codebleu, codebleu_per_sample, codebleu_with_samples])
def test_bad_input(fn) -> None:
    with pytest.raises(ValueError, match="unsupported language 'cobol'.*python"):
        fn(["a"], ["a"], lang="cobol")
    with pytest.raises(ValueError, match="2 candidates but 1"):
        fn(["a"], ["a", "b"], lang="java")
    with pytest.raises(ValueError, match="empty"):
        fn([], [], lang="java")
    with pytest.raises(ValueError, match="empty list of references"):
        fn([[]], ["a"], lang="java")
    with pytest.raises(ValueError, match="must be a string or a list of strings"):
        fn([b"int x;"], ["int x;"], lang="java")
    with pytest.raises(ValueError, match="4 finite numbers"):
        fn(["a"], ["a"], lang="java", weights=(0.5, 0.5))
    with pytest.raises(ValueError, match="4 finite numbers"):
        fn(["a"], ["a"], lang="java", weights=(0.25, 0.25, 0.25, float("inf")))
    with pytest.raises(ValueError, match="4 finite numbers"):
        fn(["a"], ["a"], lang="java", weights=None)
    with pytest.raises(ValueError, match="4 finite numbers"):
        fn(["a"], ["a"], lang="java", weights="abcd")
    with pytest.raises(ValueError, match="language must be a string"):
        fn(["a"], ["a"], lang=None)
    with pytest.raises(ValueError, match="threads"):
        fn(["a"], ["a"], lang="java", threads=-1)
    with pytest.raises(ValueError, match="threads"):
        fn(["a"], ["a"], lang="java", threads="2")


@settings(max_examples=150, deadline=None)
@given(st.lists(code_tokens, max_size=20), st.lists(code_tokens, max_size=20))
def test_single_reference_fast_path_equals_general_path(ref: list, cand: list) -> None:
    ref_counts = bleu_mod.ngram_counts_by_order(ref, 4)
    cand_counts = bleu_mod.ngram_counts_by_order(cand, 4)
    weights = CB._unigram_weights(CB.keywords("java"))
    fast = CB._single_reference_stats(ref_counts, cand_counts, len(ref), len(cand), weights)
    general = (bleu_mod.precision_stats([ref], cand),
               CB.weighted_stats([ref], cand, CB.keywords("java")))
    assert fast == general
