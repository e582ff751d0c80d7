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
a completion's answer is read by `rewards.extraction` (reasoning removed, last fenced block).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any

from core import languages
from rewards.composite import RewardBreakdown, RewardConfig
from rewards.extraction import AnswerPolicy
from rewards.schema import (
    TEST_COLUMNS,
    RewardConfigFields,
    SampleFields,
    Unreadable,
    extract_code,
    label_fields,
    parse_config,
    read_fields,
    response_sample,
    score_items,
)
from rewards.test_formats import plain

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
    "codecontests": "python",
    "codeforces": "python",
    "open-r1/codeforces": "python",
    "likaixin/taco-verified": "python",
    "primeintellect/verifiable-coding-problems": "python",
    "kodcode/kodcode-v1": "python",
    "newfacade/leetcodedataset": "python",
    "leetcode": "python",
    "apps": "python",
    "baai/taco": "python",
    "taco": "python",
    "deepmind/code_contests": "python",
    "code_contests": "python",
    "livecodebench/code_generation_lite": "python",
    "livecodebench": "python",
    "livecodebench/code_generation": "python",
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
    policy: AnswerPolicy | None = None,
) -> Callable[..., list[float]]:
    """A TRL reward function scoring completions with `rewards.score`.

    Dataset columns arrive as keyword arguments: ``language``, ``reference``, ``tests``,
    ``entry_point``, ``code_prefix``, and tests under their published column names
    (`rewards.schema.TEST_COLUMNS`: HumanEval ``test`` + ``entry_point``, MBPP
    ``test_list``, APPS ``input_output``, CodeContests ``public_tests``/``private_tests``,
    LiveCodeBench ``public_test_cases`` + ``metadata``, ...). `language` is the language of
    rows that name none (a fence tag decides only when nothing names one). `component` is
    ``"total"`` or one of ``execution``, ``ast``, ``dfg`` (a component that does not apply
    scores 0.0); register ``"total"`` alone to count each component once. The answer is read
    by `policy` (`rewards.extraction`; `fenced=False`: the completion as it stands). A row
    that cannot be read scores as outcome ``invalid`` (the compile-error value).
    """
    _check_component(component)
    columns = tuple(dict.fromkeys((*SampleFields.model_fields, *TEST_COLUMNS)))
    policy = policy or (AnswerPolicy() if fenced else AnswerPolicy(block="none"))

    def reward(completions: Sequence[Any], **kwargs: Any) -> list[float]:
        n = len(completions)
        for name in columns:
            value = kwargs.get(name)
            if value is not None and len(value) != n:
                raise ValueError(f"column {name!r} has {len(value)} entries for {n} completions")
        samples: list[Any] = []
        for i, completion in enumerate(completions):
            row = {name: kwargs[name][i] for name in columns if kwargs.get(name) is not None}
            try:
                samples.append(response_sample(_completion_text(completion), read_fields(row, f"row {i}"),
                                               f"row {i}", default_language=language, policy=policy))
            except ValueError as exc:
                samples.append(Unreadable(f"row {i}", str(exc)))
        return _pick(score_items(samples, config), component)

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

    `ground_truth` is tests in any published format (prime_code's ``{"inputs", "outputs"}``,
    a CodeContests split, SandboxFusion's ``assert_case``, ... as a value or JSON string),
    a reference program, or an object (or JSON string) of sample fields (``reference``,
    ``tests``, ``entry_point``, ``language``, ``code_prefix``); `extra_info` may carry the
    same fields and published test columns (other keys are ignored). Hydra DictConfig and
    numpy values are accepted. The language is the first of: the row's ``language``,
    ``language`` in `kwargs`, `data_source_language`, and only then the code fence's tag.
    A sample that cannot be read scores as outcome ``invalid`` (the compile-error value).

    `kwargs` are veRL's ``reward_kwargs`` (and whatever veRL adds itself): `RewardConfig`
    fields (``use_dfg=False``, ``timeout_s=20``, ...), ``language``, ``component``
    (``total``, ``execution``, ``ast`` or ``dfg``) and ``return_dict`` (return
    ``{"score", "execution", "ast", "dfg", "pass_ratio"}`` so veRL logs the components)
    are honoured; other keys are ignored.
    """
    component = kwargs.get("component") or "total"
    _check_component(component)
    config = parse_config(plain({k: v for k, v in kwargs.items() if k in _CONFIG_KEYS}))
    fields = read_fields(plain(extra_info) or {}, "extra_info")
    truth = label_fields(ground_truth, "ground_truth")
    fields = fields.model_copy(update=truth.model_dump(exclude_none=True))
    language = kwargs.get("language") or data_source_language(data_source)
    try:
        item: Any = response_sample(solution_str, fields, "sample", default_language=language)
    except ValueError as exc:
        item = Unreadable("sample", str(exc))
    [result] = score_items([item], config)
    if not kwargs.get("return_dict"):
        return _pick([result], component)[0]
    return {"score": _pick([result], component)[0], "execution": result.execution or 0.0,
            "ast": result.ast or 0.0, "dfg": result.dfg or 0.0, "pass_ratio": result.pass_ratio or 0.0}
