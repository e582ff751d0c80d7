"""Where responses end: the stop rules and the end reasons (no torch here, so that the
configuration and score-only evaluation load without it; `trainer.generation` applies them)."""

from __future__ import annotations

from dataclasses import dataclass

END_REASONS = ("eos", "stop", "function_end", "fence_end", "thinking_budget", "truncated")


@dataclass(frozen=True)
class StopRules:
    """Where responses end, besides EOS and the length limit."""

    stop: tuple[str, ...] = ()
    """Stop strings: the response ends where the first of them appears (it is not program text)."""
    function_end: bool = True
    """End a completion when the unit of code its prefix opened is closed."""
