"""Structural agreement between code and a reference: AST match and data-flow match.

These are the `R_ast` and `R_dfg` rewards of PPOCoder and the syntax / data-flow
components of CodeBLEU, computed by the native engine (`core._native`) with the
semantics of the `codebleu` 0.7.0 package:

- **AST match**: every subtree of the reference that has children (plus the root),
  identified by its shape (named node types and field names, not token text), is
  looked up among the candidate's subtrees; ``ast_match`` counts the hits and
  ``ast_total`` the reference subtrees.
- **Data-flow match**: variables and the edges between their occurrences
  (``comesFrom`` / ``computedFrom``), with names normalized to ``var_0, var_1, ...``
  in order of first appearance; ``dfg_match`` is the size of the multiset
  intersection with the candidate's edges, ``dfg_total`` the number of reference edges.
  When the reference has no edges at all, the data-flow score is 1.0 if the
  candidate has none either and 0.0 otherwise (codebleu gives 0.0, so that an
  exact copy of a program without variables lost the whole component; CodeBLEU's
  own data-flow component keeps codebleu's 0.0, see `rewards.codebleu_metric`).

Comments (and, for Python, docstrings) are removed first, as CodeBLEU does.
Differences from codebleu, all deliberate: results never depend on the hash seed
(codebleu's ``list(set(...))`` orders are replaced by sorted order), nested loops
cost polynomial time, token text is taken on bytes (codebleu slices text with byte
columns and garbles names after non-ASCII characters), and trees deeper than
Python's recursion limit are analysed (codebleu silently returns no data flow;
we give up, with an empty graph, only beyond 200,000 levels).

    >>> from core.structural import match
    >>> counts = match("python", ["x = a + 1"], ["x = a + 1"])
    >>> float(counts.ast_score()[0]), float(counts.dfg_score()[0])
    (1.0, 1.0)
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np

from core import _native, languages

__all__ = ["MatchCounts", "dataflow", "match", "native_language", "strip_comments"]


@dataclass(frozen=True)
class MatchCounts:
    """Raw counts, one row per (candidate, reference) pair, as int64 arrays."""

    ast_match: np.ndarray
    """Reference subtrees found among the candidate's subtrees."""
    ast_total: np.ndarray
    """Reference subtrees (always >= 1: the root counts)."""
    dfg_match: np.ndarray
    """Reference data-flow edges matched by candidate edges (multiset, each used once)."""
    dfg_total: np.ndarray
    """Reference data-flow edges (0 when the reference has no variables)."""
    dfg_candidate_total: np.ndarray
    """The candidate's own data-flow edges (what decides the score when ``dfg_total`` is 0)."""

    def ast_score(self) -> np.ndarray:
        """``ast_match / ast_total`` per pair (0.0 where ``ast_total`` is 0, which a parse never gives)."""
        return _ratio(self.ast_match, self.ast_total)

    def dfg_score(self) -> np.ndarray:
        """``dfg_match / dfg_total`` per pair. Where the reference has no data flow
        (``dfg_total == 0``): 1.0 if the candidate has none either, else 0.0.

        (codebleu scores every pair without reference data flow 0.0; callers that
        prefer to ignore such pairs can test ``dfg_total == 0`` themselves.)
        """
        empty = (self.dfg_total == 0) & (self.dfg_candidate_total == 0)
        return np.where(empty, 1.0, _ratio(self.dfg_match, self.dfg_total))

    def rows(self) -> list[tuple[int, int, int, int, int]]:
        """Per pair ``(ast_match, ast_total, dfg_match, dfg_total, dfg_candidate_total)``."""
        return list(zip(self.ast_match.tolist(), self.ast_total.tolist(), self.dfg_match.tolist(),
                        self.dfg_total.tolist(), self.dfg_candidate_total.tolist()))

    def __len__(self) -> int:
        return int(self.ast_match.shape[0])


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    out = np.zeros(num.shape, dtype=np.float64)
    np.divide(num, den, out=out, where=den > 0)
    return out


@cache
def native_language(lang: str) -> _native.Language:
    """The native engine's handle for `lang` (a name or alias; `ValueError` if unknown)."""
    spec = languages.get(lang)
    flow = spec.dataflow
    return _native.Language(spec.grammar(), flow.comment_style, flow.tables())


def _to_bytes(code: str | bytes, what: str) -> bytes:
    if isinstance(code, bytes):
        return code
    if isinstance(code, str):
        return code.encode("utf-8", "surrogatepass")
    raise TypeError(f"{what} must be str or bytes, got {type(code).__name__}")


def match(
    lang: str,
    candidates: Sequence[str | bytes],
    references: Sequence[str | bytes],
    threads: int = 0,
) -> MatchCounts:
    """AST and data-flow match counts of ``candidates[i]`` against ``references[i]``.

    `threads` worker threads (0: ``os.cpu_count()``) parse and analyse the sources
    with the GIL released; identical sources (a reference shared by k samples, or a
    candidate equal to another) are analysed once, and each candidate is parsed
    incrementally from its reference's tree (same trees as a fresh parse; code
    with syntax errors is parsed fresh). Any input gets a defined result:
    empty or unparsable code is scored on the tree tree-sitter recovers, invalid
    UTF-8 bytes are parsed as they are. Raises `ValueError` for an unknown language
    or sequences of different lengths, `TypeError` for items that are not str/bytes.
    """
    native = native_language(lang)
    if len(candidates) != len(references):
        raise ValueError(
            f"candidates and references must have the same length ({len(candidates)} != {len(references)})"
        )
    if threads < 0:
        raise ValueError(f"threads must be >= 0, got {threads}")
    cands = [_to_bytes(c, "candidate") for c in candidates]
    refs = [_to_bytes(r, "reference") for r in references]
    n_threads = threads or os.cpu_count() or 1
    return MatchCounts(*_native.match(native, cands, refs, n_threads))


def strip_comments(lang: str, code: str | bytes) -> bytes:
    """`code` after CodeBLEU's comment (and Python docstring) removal, as bytes."""
    return _native.strip_comments(native_language(lang), _to_bytes(code, "code"))


def dataflow(lang: str, code: str | bytes) -> list[tuple[str, int, str, list[str]]]:
    """The data-flow items of `code` (after comment removal), before renaming.

    Each item is ``(name, token_index, relation, parent_names)`` in token order, as
    CodeBLEU's `get_data_flow` leaves them (with sorted parent lists). Meant for
    inspection and tests.
    """
    native = native_language(lang)
    stripped = _native.strip_comments(native, _to_bytes(code, "code"))
    return [
        (name.decode("utf-8", "replace"), idx, rel, [p.decode("utf-8", "replace") for p in parents])
        for name, idx, rel, parents in _native.dataflow(native, stripped)
    ]
