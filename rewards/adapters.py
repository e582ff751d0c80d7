"""Adapters that plug the PPOCoder reward into other RL frameworks.

- TRL (GRPOTrainer / RLOOTrainer ``reward_funcs``): `trl_reward_func` returns a plain
  function ``f(completions, **kwargs) -> list[float]``; dataset columns arrive as
  keyword arguments (``reference``, ``tests``, ``language``, ``code_prefix``).
- veRL (``custom_reward_function``): `verl_compute_score(data_source, solution_str,
  ground_truth, extra_info=None) -> float`.

Completions from chat models often wrap code in Markdown fences; `extract_code` takes
the first fenced block when there is one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from rewards.composite import RewardConfig, Sample, score

_FENCE = re.compile(r"```[\w+#.-]*[ \t]*\n(.*?)```", re.DOTALL)


def extract_code(text: str) -> str:
    """The first Markdown-fenced code block of `text`, or `text` itself."""
    found = _FENCE.search(text)
    return found.group(1) if found else text


def _completion_text(completion: Any) -> str:
    # TRL passes strings for standard datasets and message lists for conversational ones.
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content", ""))
    raise ValueError(f"unsupported completion type {type(completion).__name__}")


def _column(kwargs: dict[str, Any], name: str, n: int) -> Sequence[Any]:
    value = kwargs.get(name)
    if value is None:
        return [None] * n
    if len(value) != n:
        raise ValueError(f"column {name!r} has {len(value)} entries for {n} completions")
    return value


def trl_reward_func(
    language: str | None = None,
    config: RewardConfig | None = None,
    component: str = "total",
    fenced: bool = True,
) -> Callable[..., list[float]]:
    """A TRL reward function scoring completions with `rewards.score`.

    `language` fixes the language for all rows; otherwise each row's ``language``
    column is used. `component` is ``"total"`` or one of ``execution``, ``ast``,
    ``dfg`` (a component that does not apply to a row scores 0.0).
    """
    if component not in ("total", "execution", "ast", "dfg"):
        raise ValueError(f"component must be total, execution, ast or dfg, not {component!r}")

    def reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        n = len(completions)
        langs = [language] * n if language else _column(kwargs, "language", n)
        refs = _column(kwargs, "reference", n)
        tests = _column(kwargs, "tests", n)
        prefixes = _column(kwargs, "code_prefix", n)
        samples = []
        for i, completion in enumerate(completions):
            if langs[i] is None:
                raise ValueError("no language: pass language= or a 'language' column")
            text = _completion_text(completion)
            code = (prefixes[i] or "") + (extract_code(text) if fenced else text)
            samples.append(Sample(language=langs[i], code=code, reference=refs[i], tests=tests[i]))
        results = score(samples, config)
        if component == "total":
            return [r.total for r in results]
        return [r.components().get(component, 0.0) for r in results]

    reward.__name__ = f"ppocoder_{component}"
    return reward


def verl_compute_score(
    data_source: str,
    solution_str: str,
    ground_truth: str | None,
    extra_info: dict[str, Any] | None = None,
) -> float:
    """veRL's custom reward signature: the reference is `ground_truth`; `extra_info`
    may carry ``language`` (default: `data_source` when it names a language),
    ``tests`` and ``code_prefix``."""
    extra = extra_info or {}
    language = extra.get("language", data_source)
    code = extra.get("code_prefix", "") + extract_code(solution_str)
    sample = Sample(language=language, code=code, reference=ground_truth, tests=extra.get("tests"))
    return score([sample])[0].total
