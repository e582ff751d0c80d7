"""Outcome rates of scored responses, shared by training's logging and its evaluation (no torch)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from trainer.stop_rules import END_REASONS

RAN = ("ok", "passed", "failed", "runtime_error", "timeout")
"""Outcomes of a program that compiled (and, with tests, ran)."""


def outcome_rates(outcomes: Sequence[str], has_tests: Sequence[bool], ends: Sequence[str],
                  untested: tuple[str, ...] = ("not_run",)) -> dict[str, float]:
    """``compile_rate`` (outcome in `RAN`, of the programs that were run), ``pass_rate``
    (passed, of the programs with tests whose outcome is not in `untested`; both left out
    when nothing counts), ``end/<reason>`` (share per `END_REASONS`) and ``empty``."""
    m: dict[str, float] = {}
    ran = [o for o in outcomes if o != "not_run"]
    if ran:
        m["compile_rate"] = float(np.mean([o in RAN for o in ran]))
    tested = [o for o, t in zip(outcomes, has_tests) if t and o not in untested]
    if tested:
        m["pass_rate"] = float(np.mean([o == "passed" for o in tested]))
    for reason in END_REASONS:
        m[f"end/{reason}"] = float(np.mean([e == reason for e in ends]))
    m["empty"] = float(np.mean([o == "empty" for o in outcomes]))
    return m
