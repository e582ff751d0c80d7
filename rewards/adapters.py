"""Adapters that plug the PPOCoder reward into other RL frameworks.

- TRL (``GRPOTrainer`` / ``RLOOTrainer`` ``reward_funcs``): `trl_reward_func` returns
  ``f(completions, **kwargs) -> list[float]``, `trl_async_reward_func` the same as an
  ``async`` function (TRL runs async reward functions concurrently). Dataset columns
  arrive as keyword arguments; the columns ``language``, ``reference``, ``tests``,
  ``entry_point`` and ``code_prefix`` are used when present, others are ignored.
- veRL (``reward.custom_reward_function``): `verl_compute_score(data_source,
  solution_str, ground_truth, extra_info=None, **kwargs)`.
- OpenRLHF: the HTTP server's ``/get_reward`` or the file `rewards.openrlhf_reward`.

Everything is read through `rewards.schema`: tests may be dicts, lists or JSON strings
in any published shape (`rewards.TestSpec.parse`), every optional field may be None, and
a completion's code is its first Markdown-fenced block when it has one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from core import languages
from rewards.composite import RewardBreakdown, RewardConfig, score
from rewards.schema import (
    RewardConfigFields,
    SampleFields,
    extract_code,
    label_fields,
    parse_config,
    read_fields,
    response_code,
    to_sample,
)

__all__ = ["DATA_SOURCE_LANGUAGES", "data_source_language", "extract_code", "trl_async_reward_func",
           "trl_reward_func", "verl_compute_score"]

COMPONENTS = ("total", "execution", "ast", "dfg")

DATA_SOURCE_LANGUAGES: dict[str, str] = {
    "openai_humaneval": "python",
    "openai/openai_humaneval": "python",
    "humaneval": "python",
    "evalplus/humanevalplus": "python",
    "mbpp": "python",
    "google-research-datasets/mbpp": "python",
    "evalplus/mbppplus": "python",
    "codeparrot/apps": "python",
    "apps": "python",
    "baai/taco": "python",
    "taco": "python",
    "deepmind/code_contests": "python",
    "code_contests": "python",
    "livecodebench/code_generation_lite": "python",
    "livecodebench": "python",
}
"""veRL ``data_source`` -> language, for datasets whose rows name no language (keys in
lower case). APPS, TACO, CodeContests and LiveCodeBench problems can be solved in any
language; Python is what RL recipes on them use. Add your own entries, or put
``language`` in ``extra_info`` or ``reward_kwargs``."""


def data_source_language(data_source: str | None) -> str | None:
    """The language of a veRL `data_source`: `DATA_SOURCE_LANGUAGES`, else the name itself
    when it is a language, else its last ``/``- or ``-``-separated part when that is one
    (``multipl-e/humaneval-java`` -> java), else None."""
    if not isinstance(data_source, str) or not data_source:
        return None
    key = data_source.strip().lower()
    if key in DATA_SOURCE_LANGUAGES:
        return DATA_SOURCE_LANGUAGES[key]
    for candidate in (key, key.replace("/", "-").rsplit("-", 1)[-1]):
        try:
            return languages.get(candidate).name
        except ValueError:
            continue
    return None


def _completion_text(completion: Any) -> str:
    # TRL passes strings for standard datasets and message lists for conversational ones.
    if isinstance(completion, str):
        return completion
    if isinstance(completion, list) and completion and isinstance(completion[-1], dict):
        return str(completion[-1].get("content") or "")
    raise ValueError(f"unsupported completion type {type(completion).__name__}")


def _pick(results: Sequence[RewardBreakdown], component: str) -> list[float]:
    if component == "total":
        return [r.total for r in results]
    return [r.components().get(component, 0.0) for r in results]


def _check_component(component: str) -> None:
    if component not in COMPONENTS:
        raise ValueError(f"component must be one of {', '.join(COMPONENTS)}, not {component!r}")


def trl_reward_func(
    language: str | None = None,
    config: RewardConfig | None = None,
    component: str = "total",
    fenced: bool = True,
) -> Callable[..., list[float]]:
    """A TRL reward function scoring completions with `rewards.score`.

    `language` is the language of rows whose ``language`` column is missing or None (a
    fence's language tag is used when neither says). `component` is ``"total"`` or one
    of ``execution``, ``ast``, ``dfg`` (a component that does not apply to a row scores
    0.0). With `fenced` (default) the code is a completion's first fenced block.
    """
    _check_component(component)
    columns = tuple(SampleFields.model_fields)

    def reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        n = len(completions)
        for name in columns:
            value = kwargs.get(name)
            if value is not None and len(value) != n:
                raise ValueError(f"column {name!r} has {len(value)} entries for {n} completions")
        samples = []
        for i, completion in enumerate(completions):
            row = {name: kwargs[name][i] for name in columns if kwargs.get(name) is not None}
            text = _completion_text(completion)
            code, tag = response_code(text) if fenced else (text, None)
            samples.append(to_sample(code, read_fields(row, f"row {i}"), f"row {i}",
                                     language=language, fence_language=tag))
        return _pick(score(samples, config), component)

    reward.__name__ = f"ppocoder_{component}"
    return reward


def trl_async_reward_func(
    language: str | None = None,
    config: RewardConfig | None = None,
    component: str = "total",
    fenced: bool = True,
) -> Callable[..., Coroutine[Any, Any, list[float]]]:
    """`trl_reward_func` as an ``async`` function: scoring runs on a worker thread, so TRL
    can run it concurrently with its other async reward functions."""
    sync = trl_reward_func(language, config, component, fenced)

    async def reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        return await asyncio.to_thread(sync, completions, **kwargs)

    reward.__name__ = sync.__name__
    return reward


_CONFIG_KEYS = frozenset(RewardConfigFields.model_fields)


def verl_compute_score(
    data_source: str | None,
    solution_str: str,
    ground_truth: Any = None,
    extra_info: Mapping[str, Any] | None = None,
    **kwargs: Any,
) -> float | dict[str, float]:
    """veRL's custom reward function.

    `ground_truth` is a reference program, or an object (or JSON string) of sample
    fields (``reference``, ``tests``, ``entry_point``, ``language``, ``code_prefix``);
    `extra_info` may carry the same fields (other keys are ignored). The language is the
    first of: the row's ``language``, ``language`` in `kwargs`, `data_source_language`,
    the code fence's tag.

    `kwargs` are veRL's ``reward_kwargs`` (and whatever veRL adds itself): `RewardConfig`
    fields (``use_dfg=False``, ``timeout_s=20``, ...), ``language``, ``component``
    (``total``, ``execution``, ``ast`` or ``dfg``) and ``return_dict`` (return
    ``{"score", "execution", "ast", "dfg", "pass_ratio"}`` so veRL logs the components)
    are honoured; other keys are ignored.
    """
    component = kwargs.get("component") or "total"
    _check_component(component)
    config = parse_config({k: v for k, v in kwargs.items() if k in _CONFIG_KEYS})
    fields = read_fields(extra_info or {}, "extra_info")
    truth = label_fields(ground_truth, "ground_truth")
    fields = fields.model_copy(update=truth.model_dump(exclude_none=True))
    code, tag = response_code(solution_str)
    language = kwargs.get("language") or data_source_language(data_source)
    [result] = score([to_sample(code, fields, "sample", language=language, fence_language=tag)], config)
    if not kwargs.get("return_dict"):
        return _pick([result], component)[0]
    return {"score": _pick([result], component)[0], "execution": result.execution or 0.0,
            "ast": result.ast or 0.0, "dfg": result.dfg or 0.0, "pass_ratio": result.pass_ratio or 0.0}
