"""Exact match and edit similarity of generated code against the expected code.

Both compare *normalised* text: runs of white space become one space and the ends are
trimmed, so indentation width and trailing newlines do not count (the structure of the
code does). Edit similarity is ``1 - levenshtein(a, b) / max(len(a), len(b))`` over
characters (insertions, deletions and substitutions cost 1), 1.0 for two empty
strings, as used for code completion benchmarks.

The distance is a Numba kernel (two rows of the dynamic programme); `_edit_distance_py`
is its plain-Python reference, and the tests check that both agree.
"""

from __future__ import annotations

import numba
import numpy as np


def normalise(code: str) -> str:
    """`code` with every run of white space folded to one space, ends trimmed."""
    return " ".join(code.split())


def exact_match(candidate: str, expected: str) -> bool:
    """Whether the two are the same code up to white space."""
    return normalise(candidate) == normalise(expected)


def edit_similarity(candidate: str, expected: str) -> float:
    """``1 - levenshtein / max length`` of the normalised texts, in [0, 1]."""
    a, b = normalise(candidate), normalise(expected)
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    return 1.0 - edit_distance(a, b) / longest


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance between `a` and `b` (unit costs), in O(len(a) * len(b)) time."""
    if not a or not b:
        return max(len(a), len(b))
    codes_a = np.frombuffer(a.encode("utf-32-le"), dtype=np.uint32)
    codes_b = np.frombuffer(b.encode("utf-32-le"), dtype=np.uint32)
    return int(_edit_distance_kernel(codes_a, codes_b))


@numba.njit(cache=True, nogil=True)
def _edit_distance_kernel(a: np.ndarray, b: np.ndarray) -> int:  # pragma: no cover - compiled
    m = b.shape[0]
    prev = np.arange(m + 1, dtype=np.int64)
    cur = np.empty(m + 1, dtype=np.int64)
    for i in range(1, a.shape[0] + 1):
        cur[0] = i
        ai = a[i - 1]
        for j in range(1, m + 1):
            cost = 0 if ai == b[j - 1] else 1
            best = prev[j - 1] + cost
            if prev[j] + 1 < best:
                best = prev[j] + 1
            if cur[j - 1] + 1 < best:
                best = cur[j - 1] + 1
            cur[j] = best
        prev, cur = cur, prev
    return prev[m]


def _edit_distance_py(a: str, b: str) -> int:
    """Plain-Python reference of `edit_distance` (the full table, row by row)."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i]
        for j, cb in enumerate(b, start=1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]
