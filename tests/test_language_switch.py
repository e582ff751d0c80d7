"""Red team: switching language never pays (the task's language wins over a fence tag).

An answer fenced as another language than its task's -- a program that compiles in that
language and may even match the reference's structure there -- is scored as a failure in
the task's language: a compile error with the lowest structural match. It must score no
higher than an honest attempt in the task's language that does not compile, on every way
in: ``/get_reward`` (with the server's ``--language`` or a label's), ``/score`` responses,
TRL's reward function and veRL's ``compute_score``.
"""

from __future__ import annotations

import itertools

import pytest

from rewards.adapters import trl_reward_func, verl_compute_score
from rewards.schema import ForeignAnswer, parse_reward_request, parse_score_request, score_items
from tests.test_compile import PROGRAMS

LANGUAGES = sorted(PROGRAMS)
FENCE_TAG = {"python": "python", "java": "java", "cpp": "cpp", "c": "c", "c_sharp": "csharp",
             "javascript": "js", "php": "php"}


def _fenced(lang: str, code: str) -> str:
    return f"Here is my answer:\n```{FENCE_TAG[lang]}\n{code}```\n"


@pytest.fixture(scope="module")
def honest_failures() -> dict[str, float]:
    """Each language's honest attempt that does not compile, with the good program of
    the same language as its reference (so it earns some structural credit)."""
    queries = [_fenced(lang, PROGRAMS[lang][1]) for lang in LANGUAGES]
    labels = [{"reference": PROGRAMS[lang][0], "language": lang} for lang in LANGUAGES]
    items, config = parse_reward_request({"query": queries, "labels": labels})
    results = score_items(items, config)
    assert all(r.outcome == "compile_error" for r in results)
    return {lang: r.total for lang, r in zip(LANGUAGES, results)}


def test_a_program_fenced_as_another_language_scores_at_most_an_honest_failure(honest_failures):
    pairs = [(task, other) for task, other in itertools.product(LANGUAGES, LANGUAGES) if task != other]
    # the foreign answer is the other language's good program (it is the reference there too)
    queries = [_fenced(other, PROGRAMS[other][0]) for _, other in pairs]
    labels = [{"reference": PROGRAMS[task][0], "language": task} for task, _ in pairs]
    items, config = parse_reward_request({"query": queries, "labels": labels})
    assert all(isinstance(item, ForeignAnswer) for item in items)
    for (task, other), result in zip(pairs, score_items(items, config)):
        assert result.outcome == "compile_error", (task, other)
        assert (result.ast, result.dfg) == (0.0, 0.0)
        assert result.total <= honest_failures[task], (task, other, result.total)


def test_php_on_a_python_server_scores_below_an_honest_python_syntax_error():
    # the case of issue #24: `<?php echo 1;` fenced as php, a reference-only label
    reference = "def add(a, b):\n    return a + b\n"
    queries = ["```php\n<?php echo 1;\n```", "```python\ndef add(a, b):\n    return a +\n```"]
    items, config = parse_reward_request({"query": queries, "labels": [reference, reference]},
                                         default_language="python")
    php, honest = score_items(items, config)
    assert php.outcome == honest.outcome == "compile_error"
    assert php.total <= honest.total and php.total == -1.0


def test_the_fence_decides_only_when_nothing_names_a_language():
    java = "class A { int f(int a) { return a; } }\n"
    [item], config = parse_reward_request({"query": [_fenced("java", java)]})
    [result] = score_items([item], config)
    assert (item.language, result.outcome) == ("java", "ok")


def test_score_responses_trl_and_verl_follow_the_same_rule(honest_failures):
    php = _fenced("php", PROGRAMS["php"][0])
    reference = PROGRAMS["python"][0]
    items, config = parse_score_request({"samples": [
        {"language": "python", "response": php, "reference": reference}]})
    [result] = score_items(items, config)
    assert result.outcome == "compile_error" and result.total <= honest_failures["python"]
    trl = trl_reward_func(language="python")
    assert trl([php], reference=[reference]) == [-1.0]
    # a data source that names python (veRL) and one whose row names it
    assert verl_compute_score("codecontests", php, reference) == -1.0
    assert verl_compute_score("my_data", php, reference, {"language": "python"}) == -1.0


def test_untagged_and_non_language_fences_are_scored_in_the_task_language():
    good = PROGRAMS["python"][0]
    for tag in ("", "text", "py", "python3"):
        [item], config = parse_reward_request({"query": [f"```{tag}\n{good}```"]}, default_language="python")
        [result] = score_items([item], config)
        assert result.outcome == "ok", tag


def test_the_last_block_in_the_task_language_beats_a_later_foreign_one():
    good = PROGRAMS["python"][0]
    query = f"```python\n{good}```\nIn Java it would be:\n```java\n{PROGRAMS['java'][0]}```"
    [item], config = parse_reward_request({"query": [query]}, default_language="python")
    [result] = score_items([item], config)
    assert result.outcome == "ok"
