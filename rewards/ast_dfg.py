"""Structural rewards: AST match (`R_ast`) and data-flow match (`R_dfg`) of PPOCoder.

Both compare a generated program with a reference solution and return one score in
[0, 1] per pair, plus the counts behind it:

- `ast_match`: the share of the reference's syntax subtrees (by shape: node types
  and field names, not identifiers or literals) that also occur in the candidate;
- `dfg_match`: the share of the reference's data-flow edges (which variable is
  computed from / comes from which, with variables renamed by first appearance)
  that the candidate reproduces; when the reference has no data flow, 1.0 if the
  candidate has none either, else 0.0.

These are CodeBLEU's syntax and data-flow components (codebleu 0.7.0 semantics,
deterministic; codebleu scores every pair whose reference has no data flow 0.0),
computed by the native engine in parallel without the GIL.

    >>> from rewards.ast_dfg import ast_match
    >>> ast_match("python", ["def f(x):\\n    return x + 1"], ["def g(y):\\n    return y + 2"]).scores
    [1.0]
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

__all__ = ["StructuralScores", "ast_match", "dfg_match"]


@dataclass(frozen=True)
class StructuralScores:
    """Scores and their counts, one entry per (candidate, reference) pair."""

    scores: list[float]
    """``matched / total``. A reference without data flow (``total`` 0) scores 1.0
    against a candidate without data flow and 0.0 against one with some."""
    matched: list[int]
    """Reference subtrees / edges found in the candidate."""
    total: list[int]
    """Reference subtrees / edges."""

    def __len__(self) -> int:
        return len(self.scores)


def ast_match(
    lang: str,
    candidates: Sequence[str | bytes],
    references: Sequence[str | bytes],
    threads: int = 0,
) -> StructuralScores:
    """AST (syntax) match of each candidate against its reference.

    `lang` is a language id or alias (``"python"``, ``"java"``, ``"c++"``, ...;
    `ValueError` if unknown); `threads` = 0 uses every core. A reference repeated
    across candidates (k samples per prompt) is parsed once.
    """
    from core import structural  # imported here: `import rewards` loads no native code

    counts = structural.match(lang, candidates, references, threads=threads)
    return StructuralScores(counts.ast_score().tolist(), counts.ast_match.tolist(), counts.ast_total.tolist())


def dfg_match(
    lang: str,
    candidates: Sequence[str | bytes],
    references: Sequence[str | bytes],
    threads: int = 0,
) -> StructuralScores:
    """Data-flow match of each candidate against its reference (see `ast_match`)."""
    from core import structural  # imported here: `import rewards` loads no native code

    counts = structural.match(lang, candidates, references, threads=threads)
    return StructuralScores(counts.dfg_score().tolist(), counts.dfg_match.tolist(), counts.dfg_total.tolist())
