"""Data-flow match when the reference has no data-flow edges.

`R_dfg` of such a pair is 1.0 when the candidate has no edges either and 0.0 when it
has some (codebleu scores every such pair 0.0, so an exact copy lost the component).
CodeBLEU keeps codebleu's rule: its data-flow component stays 0.0 there, and its
total is bit-equal to codebleu's.
"""

from __future__ import annotations

import pytest
from codebleu import calc_codebleu

from core import languages
from core.structural import match
from rewards import RewardConfig, Sample, codebleu, codebleu_per_sample, dfg_match, score
from tests.structural_reference import match_pair

# Programs without variables (no identifier leaves): no data-flow edges.
NO_FLOW = {"python": "1 + 2\n", "java": "", "cpp": "", "c": "", "c_sharp": "", "javascript": "1 + 2;\n",
           "php": "<?php\n1 + 2;\n", "go": "", "rust": "", "typescript": "1 + 2;\n"}
WITH_FLOW = {"python": "x = 1\n", "java": "class A { int f(int a) { return a; } }",
             "cpp": "int f(int a) { return a; }", "c": "int f(int a) { return a; }",
             "c_sharp": "class A { int F(int a) { return a; } }", "javascript": "let x = 1;\n",
             "php": "<?php\n$x = 1;\n", "go": "package main\nfunc f() int { x := 1; return x }\n",
             "rust": "fn f() -> i32 { let x = 1; x }\n", "typescript": "let x = 1;\n"}


@pytest.mark.parametrize("lang", languages.names())
def test_reference_without_edges(lang: str) -> None:
    none, some = NO_FLOW[lang], WITH_FLOW[lang]
    m = match(lang, [none, some, none], [none, none, some], threads=1)
    assert m.dfg_total.tolist()[:2] == [0, 0] and m.dfg_total[2] > 0
    assert m.dfg_candidate_total[0] == 0 and m.dfg_candidate_total[1] > 0
    assert m.dfg_score().tolist() == [1.0, 0.0, 0.0]
    assert m.rows() == [match_pair(lang, c, r) for c, r in zip([none, some, none], [none, none, some])]
    assert dfg_match(lang, [none, some], [none, none]).scores == [1.0, 0.0]


def test_reward_of_an_exact_copy_without_data_flow_is_full() -> None:
    code = NO_FLOW["python"]
    config = RewardConfig(use_execution=False)
    exact, other = score([Sample("python", code=code, reference=code),
                          Sample("python", code=WITH_FLOW["python"], reference=code)], config)
    assert (exact.ast, exact.dfg, exact.total) == (1.0, 1.0, 2.0)
    assert other.dfg == 0.0


@pytest.mark.parametrize("lang", ["python", "javascript", "php"])
def test_codebleu_keeps_codebleus_rule(lang: str) -> None:
    refs = [NO_FLOW[lang], NO_FLOW[lang]]
    cands = [NO_FLOW[lang], WITH_FLOW[lang]]
    oracle = calc_codebleu(refs, cands, lang)
    ours = codebleu(refs, cands, lang=lang)
    assert ours.dataflow_match_score == oracle["dataflow_match_score"] == 0.0
    assert ours.as_dict() == oracle  # bit-equal
    exact = codebleu_per_sample([NO_FLOW[lang]], [NO_FLOW[lang]], lang=lang)[0]
    assert exact.dataflow_match_score == 0.0
    assert exact.as_dict() == calc_codebleu([NO_FLOW[lang]], [NO_FLOW[lang]], lang)
