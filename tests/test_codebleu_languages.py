"""CodeBLEU parity with codebleu 0.7.0 on hand-written JavaScript, PHP, C#, C and C++.

Each snippet entry: (reference, [candidates...]). Candidates are typical model outputs:
exact copies, renamed variables, reordered or deleted statements, added comments, other
algorithms, and broken code. The oracle is codebleu with sorted data-flow parent lists
(its hash-seed-free variant).
"""

from __future__ import annotations

import random

import pytest
from codebleu import calc_codebleu

from rewards import codebleu, codebleu_per_sample, codebleu_with_samples

JAVASCRIPT = [
    ("""function sum(items) {
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    total += items[i];
  }
  return total;
}""", [
        """function sum(items) {
  let total = 0;
  for (let i = 0; i < items.length; i++) {
    total += items[i];
  }
  return total;
}""",
        """function sum(xs) {
  // add everything up
  let acc = 0;
  for (const x of xs) { acc = acc + x; }
  return acc;
}""",
        """function sum(items) {
  return items.reduce((a, b) => a + b, 0);
}""",
        """function sum(items) {
  let total = 0;
  for (let i = 0; i < items.length; i++) {
  return total;
""",
    ]),
    ("""const fib = (n) => {
  if (n < 2) return n;
  let a = 0, b = 1;
  while (n-- > 1) {
    const t = a + b;
    a = b;
    b = t;
  }
  return b;
};""", [
        """const fib = (n) => {
  if (n < 2) return n;
  let a = 0, b = 1;
  while (n-- > 1) {
    const t = a + b;
    b = t;
    a = b;
  }
  return b;
};""",
        """function fib(n) { return n < 2 ? n : fib(n - 1) + fib(n - 2); }""",
        """const fib = (m) => {
  /* iterative */
  if (m < 2) return m;
  let x = 0, y = 1;
  while (m-- > 1) { const s = x + y; x = y; y = s; }
  return y;
};""",
    ]),
    ("""class Counter {
  constructor() { this.counts = new Map(); }
  add(key) {
    const n = this.counts.get(key) || 0;
    this.counts.set(key, n + 1);
    return n + 1;
  }
}""", [
        """class Counter {
  constructor() { this.counts = {}; }
  add(key) {
    this.counts[key] = (this.counts[key] || 0) + 1;
    return this.counts[key];
  }
}""",
        """class Counter {
  add(key) { return 1; }
}""",
        "",
    ]),
]

PHP = [
    ("""<?php
function find_max($values) {
    $best = $values[0];
    foreach ($values as $v) {
        if ($v > $best) {
            $best = $v;
        }
    }
    return $best;
}""", [
        """<?php
function find_max($values) {
    $best = $values[0];
    foreach ($values as $v) {
        if ($v > $best) {
            $best = $v;
        }
    }
    return $best;
}""",
        """<?php
// maximum of an array
function find_max($arr) {
    $m = $arr[0];
    for ($i = 1; $i < count($arr); $i++) {
        if ($arr[$i] > $m) { $m = $arr[$i]; }
    }
    return $m;
}""",
        """<?php
function find_max($values) { return max($values); }""",
        """<?php
function find_max($values) {
    foreach ($values as $v) {
        if ($v > $best) {
""",
    ]),
    ("""<?php
function greet($name, $times) {
    $out = "";
    $i = 0;
    while ($i < $times) {
        $out .= "Hello, " . $name . "\\n";
        $i++;
    }
    echo $out;
    return strlen($out);
}""", [
        """<?php
function greet($name, $times) {
    $out = "";
    for ($i = 0; $i < $times; $i++) {
        $out = $out . "Hello, " . $name . "\\n";
    }
    echo $out;
    return strlen($out);
}""",
        """<?php
function greet($who, $n) {
    $s = str_repeat("Hello, $who\\n", $n);
    echo $s;
    return strlen($s);
}""",
    ]),
    ("""<?php
class Stack {
    private $items = [];
    public function push($x) { $this->items[] = $x; }
    public function pop() {
        if (empty($this->items)) { return null; }
        return array_pop($this->items);
    }
}""", [
        """<?php
class Stack {
    private $data = array();
    public function push($x) { array_push($this->data, $x); }
    public function pop() { return array_pop($this->data); }
}""",
        """<?php echo 1;""",
    ]),
]

C_SHARP = [
    ("""public static int BinarySearch(int[] items, int target) {
    int lo = 0, hi = items.Length - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (items[mid] == target) return mid;
        if (items[mid] < target) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}""", [
        """public static int BinarySearch(int[] items, int target) {
    int lo = 0, hi = items.Length - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
        if (items[mid] == target) return mid;
        if (items[mid] < target) lo = mid + 1;
        else hi = mid - 1;
    }
    return -1;
}""",
        """public static int BinarySearch(int[] a, int key) {
    // classic loop
    int left = 0, right = a.Length - 1;
    while (left <= right) {
        int m = left + (right - left) / 2;
        if (a[m] == key) { return m; }
        else if (a[m] < key) { left = m + 1; }
        else { right = m - 1; }
    }
    return -1;
}""",
        """public static int BinarySearch(int[] items, int target) {
    return Array.IndexOf(items, target);
}""",
        """public static int BinarySearch(int[] items, int target) {
    int lo = 0, hi = items.Length - 1;
    while (lo <= hi) {
        int mid = (lo + hi) / 2;
""",
    ]),
    ("""using System.Collections.Generic;
public class WordCount {
    public static Dictionary<string, int> Count(string text) {
        var counts = new Dictionary<string, int>();
        foreach (var word in text.Split(' ')) {
            if (counts.ContainsKey(word)) counts[word] += 1;
            else counts[word] = 1;
        }
        return counts;
    }
}""", [
        """using System.Collections.Generic;
public class WordCount {
    public static Dictionary<string, int> Count(string text) {
        var result = new Dictionary<string, int>();
        foreach (string w in text.Split(' ')) {
            result.TryGetValue(w, out int n);
            result[w] = n + 1;
        }
        return result;
    }
}""",
        """using System.Linq;
public class WordCount {
    public static object Count(string text) =>
        text.Split(' ').GroupBy(w => w).ToDictionary(g => g.Key, g => g.Count());
}""",
    ]),
    ("""public int Factorial(int n) {
    int result = 1;
    for (int i = 2; i <= n; i++) {
        result *= i;
    }
    return result;
}""", [
        """public int Factorial(int n) {
    if (n <= 1) return 1;
    return n * Factorial(n - 1);
}""",
        """public int Factorial(int k) {
    int r = 1;
    int i = 2;
    while (i <= k) { r = r * i; i++; }
    return r;
}""",
        "int x;",
    ]),
]

C_FAMILY = [
    ("""int count_even(const int *v, int n) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] % 2 == 0) count++;
    }
    return count;
}""", [
        """int count_even(const int *v, int n) {
    /* even numbers */
    int c = 0, i = 0;
    while (i < n) { if (!(v[i] & 1)) c += 1; i++; }
    return c;
}""",
        """int count_even(const int *v, int n) {
    int count = 0;
    for (int i = 0; i < n; i++) {
        if (v[i] % 2 == 0) count++;
    }
    return count;
}""",
        """int count_even(const int *v, int n) { return n / 2; }""",
    ]),
    ("""struct point { double x, y; };
double dot(struct point a, struct point b) {
    double s = a.x * b.x;
    s += a.y * b.y;
    return s;
}""", [
        """struct point { double x, y; };
double dot(struct point p, struct point q) { return p.x * q.x + p.y * q.y; }""",
        """double dot(""",
    ]),
]

SNIPPETS = {"javascript": JAVASCRIPT, "php": PHP, "c_sharp": C_SHARP}






def pairs(snippets: list) -> tuple[list[str], list[str]]:
    refs = [ref for ref, cands in snippets for _ in cands]
    cands = [cand for _, group in snippets for cand in group]
    return refs, cands


@pytest.mark.parametrize("lang", sorted(SNIPPETS))
def test_per_sample_and_corpus_equal_oracle(lang: str, sorted_oracle) -> None:
    refs, cands = pairs(SNIPPETS[lang])
    ours = codebleu_per_sample(refs, cands, lang)
    with sorted_oracle():
        expected = [calc_codebleu([r], [c], lang) for r, c in zip(refs, cands)]
        expected_corpus = calc_codebleu(refs, cands, lang)
    assert [r.as_dict() for r in ours] == expected
    assert codebleu(refs, cands, lang).as_dict() == expected_corpus
    assert codebleu_with_samples(refs, cands, lang) == (codebleu(refs, cands, lang), ours)
    # The snippets exercise the whole range, not only easy cases.
    scores = [r.codebleu for r in ours]
    assert max(scores) == 1.0 and min(scores) < 0.5


@pytest.mark.parametrize("lang", ["c", "cpp"])
def test_c_family_token_and_syntax_parts_equal_oracle(lang: str) -> None:
    # codebleu runs its C# data-flow walker on C and C++; ours has a C/C++ spec of its
    # own, so only the data-flow component is allowed to differ.
    refs, cands = pairs(C_FAMILY)
    ours = codebleu_per_sample(refs, cands, lang)
    for result, ref, cand in zip(ours, refs, cands):
        oracle = calc_codebleu([ref], [cand], lang)
        for key in ("ngram_match_score", "weighted_ngram_match_score", "syntax_match_score"):
            assert result.as_dict()[key] == oracle[key], (key, cand)
        assert 0.0 <= result.dataflow_match_score <= 1.0
    assert ours[1].codebleu == 1.0  # the exact copy


def test_language_aliases_give_the_same_scores() -> None:
    refs, cands = pairs(JAVASCRIPT)
    assert codebleu(refs, cands, "js") == codebleu(refs, cands, "javascript")
    refs, cands = pairs(C_SHARP)
    assert codebleu(refs, cands, "cs") == codebleu(refs, cands, "c_sharp")


def test_dataflow_zero_counts_as_one_in_the_total(sorted_oracle) -> None:
    # No variables at all: no data flow in the reference. codebleu then reports a
    # data-flow score of 0 but uses 1 in the weighted sum; so do we.
    result = codebleu(["print('hello world')"], ["print('hello world')"], "python")
    assert result.dataflow_match_score == 0.0
    assert result.codebleu == pytest.approx(0.25 * (
        result.ngram_match_score + result.weighted_ngram_match_score
        + result.syntax_match_score + 1.0), rel=1e-12)
    with sorted_oracle():
        assert result.as_dict() == calc_codebleu(["print('hello world')"],
                                                 ["print('hello world')"], "python")


@pytest.mark.parametrize("cand, ref", [("", "x = 1"), ("x = 1", ""), ("", ""), ("   ", "\n\n"),
                                       ("def f(:", "def f(): return 1")])
def test_degenerate_pairs_score_like_the_oracle(cand: str, ref: str, sorted_oracle) -> None:
    result = codebleu_per_sample([ref], [cand], "python")[0]
    with sorted_oracle():
        assert result.as_dict() == calc_codebleu([ref], [cand], "python")
    assert codebleu([ref], [cand], "python") == result
    # Empty against empty: BLEU parts 0, syntax 1 (the bare root), data flow 0 -> 1.
    if not cand.strip() and not ref.strip():
        assert result.codebleu == 0.5


@pytest.mark.parametrize("lang", ["python", "java", "javascript", "php", "c_sharp", "c", "cpp"])
def test_unusual_text_gets_scores_in_range(lang: str) -> None:
    cands = ["x = 'caf\u00e9' + '\u4e2d\u6587'", "a\x00b = 1", "{" * 300 + "}" * 300,
             "\ud800 = 1", "\t\n", "x = " + "(" * 10_000 + "1" + ")" * 10_000,
             "".join("    " * i + f"for i{i} in range(2):\n" for i in range(20)) + " " * 80 + "x += 1",
             "for (int i = 0; i < n; i++) " * 20 + "{ s += i; }"]
    refs = ["x = 'caf\u00e9'"] * len(cands)
    for result in codebleu_per_sample(refs, cands, lang):
        for value in result.as_dict().values():
            assert 0.0 <= value <= 1.0


RANDOM_TOKENS = {
    "python": ["x", "y", "=", "+", "(", ")", ":", "\n", "    ", "if", "for", "in", "return",
               "def", "f", "1", ",", "while", "z"],
    "java": ["int", "x", "y", "=", "+", "(", ")", ";", "{", "}", "if", "for", "return", "1",
             ",", "while", "z", "class", "A", "void", "f"],
    "javascript": ["let", "x", "y", "=", "+", "(", ")", ";", "{", "}", "if", "for", "return",
                   "1", ",", "while", "function", "f", "=>"],
    "php": ["<?php ", "$x", "$y", "=", "+", "(", ")", ";", "{", "}", "if", "for", "return",
            "1", ",", "while", "function", "f", "echo"],
    "c_sharp": ["int", "x", "y", "=", "+", "(", ")", ";", "{", "}", "if", "foreach", "in",
                "return", "1", ",", "while", "class", "A", "void", "f", "var"],
}


@pytest.mark.parametrize("lang", sorted(RANDOM_TOKENS))
def test_random_token_soup_equals_oracle(lang: str, sorted_oracle) -> None:
    # Mostly unparsable code: error recovery trees, empty data flow, short inputs.
    rng = random.Random(20231)
    tokens = RANDOM_TOKENS[lang]

    def soup() -> str:
        return " ".join(rng.choice(tokens) for _ in range(rng.randint(0, 30)))

    refs = [soup() for _ in range(120)]
    cands = [soup() for _ in range(120)]
    ours = codebleu_per_sample(refs, cands, lang)
    with sorted_oracle():
        expected = [calc_codebleu([r], [c], lang) for r, c in zip(refs, cands)]
    mismatches = [(r, c, o.as_dict(), e) for r, c, o, e in zip(refs, cands, ours, expected)
                  if o.as_dict() != e]
    assert mismatches == []


CSHARP_HIDDEN_CHILDREN = [
    # An ERROR leaf with hidden children prints as "(ERROR)", not "(UNEXPECTED 'x')".
    ("foreach int", "x"),
    # `identifier` wraps a hidden token; a MISSING one still prints:
    # "(identifier (MISSING _identifier_token))".
    (C_SHARP[2][0], C_SHARP[2][0].replace("int result = 1;", "int = 1;")),
]


def test_csharp_hidden_children_equal_oracle(sorted_oracle) -> None:
    refs = [ref for ref, _ in CSHARP_HIDDEN_CHILDREN]
    cands = [cand for _, cand in CSHARP_HIDDEN_CHILDREN]
    ours = codebleu_per_sample(refs, cands, "c_sharp")
    with sorted_oracle():
        expected = [calc_codebleu([r], [c], "c_sharp") for r, c in zip(refs, cands)]
    assert [o.as_dict() for o in ours] == expected
