"""Exact match and edit similarity (core.text_metrics): Numba == plain Python reference."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from core.text_metrics import (
    _edit_distance_py,
    edit_distance,
    edit_similarity,
    exact_match,
    normalise,
)


@settings(max_examples=300, deadline=None)
@given(a=st.text(max_size=40), b=st.text(max_size=40))
def test_edit_distance_matches_the_reference(a: str, b: str) -> None:
    d = edit_distance(a, b)
    assert d == _edit_distance_py(a, b)
    assert d == edit_distance(b, a) and (d == 0) == (a == b)
    assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
    assert 0.0 <= edit_similarity(a, b) <= 1.0


def test_known_values() -> None:
    assert edit_distance("kitten", "sitting") == 3
    assert edit_distance("", "abc") == 3 and edit_distance("日本語", "日本") == 1
    assert edit_similarity("return x + 1", "return  x+1") == 1 - 2 / 12
    assert edit_similarity("", "  ") == 1.0 and edit_similarity("a", "") == 0.0


def test_exact_match_ignores_white_space_only() -> None:
    assert exact_match(" self.x)\n", "self.x)")
    assert exact_match("a\n    b", "a b")
    assert not exact_match("a b", "ab")
    assert normalise("  x\t=\n 1 ") == "x = 1"
