"""The one request schema: JSON objects, dataset rows and chat responses -> `Sample`s and
a `RewardConfig`.

Every way into the reward parses through this module: ``python -m rewards score`` (one
JSONL line per sample), the HTTP server (``POST /score`` and OpenRLHF's ``POST
/get_reward``), the TRL and veRL adapters and the OpenRLHF reward-function file. A bad
field raises `RequestError` (a `ValueError`) that names it, for example
``samples[2].tests: cannot read tests of type int ...``; the server answers it with 400.

The fields of a sample, wherever they come from (a JSON object, a dataset row, an
OpenRLHF label, veRL's ``extra_info``):

- ``language``: language id or alias (`core.languages`); optional where a default exists;
- ``code``: the program (for a response from a model: see `response_code`);
- ``reference``: a reference program (enables the AST and data-flow match);
- ``tests``: unit tests in any published shape (`rewards.TestSpec.parse`: HumanEval test
  code, MBPP ``test_list``, APPS ``input_output`` with or without ``fn_name``, ...), as
  a value or a JSON string; ``entry_point`` goes with HumanEval test code;
- ``code_prefix``: text put before the code (completion tasks: the prompt's code);
- ``prompt``: kept for logging.

Every optional field may be null.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from core import languages
from rewards.composite import RewardBreakdown, RewardConfig, Sample, score
from rewards.execution.types import RewardValues, TestSpec
from rewards.extraction import SPECIAL_TOKENS, AnswerPolicy, extract_answer
from rewards.test_formats import looks_like_tests, plain, tests_language

__all__ = [
    "SPECIAL_TOKENS",
    "TEST_COLUMNS",
    "ForeignAnswer",
    "Unreadable",
    "RequestError",
    "RewardRequest",
    "SampleFields",
    "SampleIn",
    "ScoreRequest",
    "extract_code",
    "fields_model",
    "label_fields",
    "parse_config",
    "parse_reward_request",
    "parse_score_request",
    "read_fields",
    "read_validated",
    "response_code",
    "response_sample",
    "reward_answer",
    "score_items",
    "to_sample",
    "validation_message",
]

_log = logging.getLogger("rewards")


class RequestError(ValueError):
    """A client error; its message names the offending field."""


# --- the sample fields --------------------------------------------------------------------

_TESTS_SCHEMA = {
    "anyOf": [{"type": "object"}, {"type": "array"}, {"type": "string"}, {"type": "null"}],
    "description": "Unit tests in any shape rewards.TestSpec.parse reads (HumanEval test code "
                   "+ entry_point, MBPP test_list, APPS input_output with or without fn_name, "
                   "a list of [stdin, stdout] pairs, TestSpec's fields), or a JSON string of one.",
}


class SampleFields(BaseModel):
    """Everything about one sample except the program text. Unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)

    language: str | None = Field(None, description="Language id or alias, e.g. python, java, cpp, c_sharp, js.")
    reference: str | None = Field(None, description="Reference program: enables AST and data-flow match.")
    tests: Any = Field(None, json_schema_extra=_TESTS_SCHEMA)
    entry_point: str | None = Field(None, description="Function HumanEval test code is run against.")
    code_prefix: str | None = Field(None, description="Text put before the code (completion tasks).")
    prompt: str | None = Field(None, description="The prompt (kept for logging only).")
    whole_program: bool = Field(False, description="A whole program (translation, stdin/stdout): it must link (main).")

    @field_validator("tests", mode="before")
    @classmethod
    def _tests_are_json(cls, value: Any) -> Any:
        # TestSpec.parse reads the shape; this only refuses what JSON cannot hold.
        if value is None or isinstance(value, TestSpec):
            return value
        if isinstance(value, str):
            check_nesting(value)
            return value
        check_nesting(value)
        value = plain(value)  # DictConfig/ListConfig, numpy arrays, parquet rows
        if isinstance(value, (list, dict)):
            return value
        raise ValueError(f"expected an object, a list or a string, got {type(value).__name__}")


MAX_NESTING = 64
"""The deepest nesting of lists and objects a request value (tests, a label) may have."""


def check_nesting(value: Any, limit: int = MAX_NESTING) -> None:
    """ValueError when `value` (decoded values, or JSON text) nests lists and objects
    deeper than `limit` (checked without recursion, so any depth is refused cleanly)."""
    depth = 0
    if isinstance(value, str):
        in_string = escaped = False
        for ch in value:
            if in_string:
                escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
            elif ch == '"':
                in_string = True
            elif ch in "[{":
                depth += 1
                if depth > limit:
                    break
            elif ch in "]}":
                depth -= 1
    else:
        stack = [(value, 1)]
        while stack and depth <= limit:
            item, level = stack.pop()
            if hasattr(item, "tolist") and not isinstance(item, (str, bytes)):
                item = item.tolist()
            if isinstance(item, (list, tuple, dict)):
                depth = max(depth, level)
                stack += [(v, level + 1) for v in (item.values() if isinstance(item, dict) else item)]
    if depth > limit:
        raise ValueError(f"nested deeper than {limit} levels")


class SampleIn(SampleFields):
    """One program to score (``POST /score``, one line of ``python -m rewards score``):
    exactly one of ``code`` and ``response``."""

    code: str | None = Field(None, description="The whole program, as rewards.Sample.code: it starts "
                                               "with code_prefix when one is given. Scored as it stands.")
    response: str | None = Field(None, description="A model's response: its answer (rewards.extraction: "
                                                   "reasoning removed, last fenced block) goes after code_prefix.")


def fields_model(dc: type, **overrides: Any) -> type[BaseModel]:
    """A strict pydantic model with the fields and defaults of dataclass `dc`, so the JSON
    schema never drifts from the dataclass it fills."""
    hints = typing.get_type_hints(dc)
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(dc):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = ...  # required
        fields[f.name] = (overrides.get(f.name, hints[f.name]), default)
    return create_model(f"{dc.__name__}Fields", __config__=ConfigDict(extra="forbid", strict=True),
                        __doc__=dc.__doc__, **fields)


RewardValuesFields = fields_model(RewardValues)
RewardConfigFields = fields_model(RewardConfig, execution_values=RewardValuesFields)


class ScoreRequest(BaseModel):
    """Body of ``POST /score``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    samples: list[Any] = Field(description="Objects of SampleIn's fields; each is read on its own, and "
                                           "one that cannot be read scores as outcome 'invalid'.",
                               json_schema_extra={"items": SampleIn.model_json_schema()})
    config: RewardConfigFields | None = None  # type: ignore[valid-type]
    language: str | None = Field(None, description="Language of samples that name none.")


class RewardRequest(BaseModel):
    """Body of ``POST /get_reward`` (OpenRLHF's remote reward protocol)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    query: list[str] = Field(description="Prompt + response, decoded with special tokens.")
    prompts: list[str] | None = Field(None, description="The prompts, cut off the queries.")
    labels: list[Any] | None = Field(
        None, description="Per query: a reference program, an object {reference, tests, "
                          "entry_point, language, code_prefix} (or a JSON string of one), or null.")
    language: str | None = Field(None, description="Language of every query whose label names none.")
    config: RewardConfigFields | None = None  # type: ignore[valid-type]


# --- parsing --------------------------------------------------------------------------------

def validation_message(errors: Sequence[Mapping[str, Any]], prefix: str = "") -> str:
    """Pydantic errors (``ValidationError.errors()``) as one line: ``samples[0].code: Input
    should be a valid string; ...``."""
    lines = []
    for err in errors:
        where = prefix
        for part in err["loc"]:
            where += f"[{part}]" if isinstance(part, int) else (f".{part}" if where else str(part))
        msg = err["msg"]
        if err["type"] == "json_invalid":
            msg = f"invalid JSON: {err.get('ctx', {}).get('error', msg)}"
        elif msg.startswith("Value error, "):
            msg = msg[len("Value error, "):]
        lines.append(f"{where}: {msg}" if where else msg)
    return "; ".join(lines)


def read_validated(model: type[BaseModel], raw: Any, where: str) -> Any:
    """`raw` (JSON bytes or text, or decoded values) validated by `model`; `RequestError`
    naming the field otherwise."""
    try:
        if isinstance(raw, (bytes, bytearray, str)):
            return model.model_validate_json(raw)
        return model.model_validate(raw)
    except ValidationError as exc:
        raise RequestError(validation_message(exc.errors(include_url=False), where)) from None


def parse_config(raw: Any = None) -> RewardConfig:
    """A `RewardConfig` from a JSON object (None: the defaults); `RequestError` naming the
    field otherwise."""
    if raw is None:
        return RewardConfig()
    fields = raw if isinstance(raw, BaseModel) else read_validated(RewardConfigFields, raw, "config")
    data = fields.model_dump()
    data["execution_values"] = RewardValues(**data["execution_values"])
    try:
        return RewardConfig(**data)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"config: {exc}") from None


TEST_COLUMNS: tuple[str, ...] = (
    "test", "test_list", "test_setup_code", "test_imports", "challenge_test_list", "input_output",
    "public_tests", "private_tests", "generated_tests", "public_test_cases", "private_test_cases",
    "metadata", "official_tests", "verification_info", "assert_case",
)
"""Dataset columns that hold tests under their published names (HumanEval/LeetCodeDataset/
KodCode ``test``, MBPP, APPS/TACO, CodeContests, LiveCodeBench, Codeforces, open-r1,
SandboxFusion). A row without a ``tests`` field has these read as its tests
(`rewards.test_formats`); ``metadata`` and the MBPP setup columns only go with the others."""

_COMPANIONS = frozenset({"metadata", "test_setup_code", "test_imports", "challenge_test_list"})


def read_fields(row: Mapping[str, Any], where: str = "") -> SampleFields:
    """The sample fields among `row`'s keys (a dataset row, veRL's ``extra_info``): other
    keys are ignored, None means absent. Without a ``tests`` field, the published test
    columns (`TEST_COLUMNS`) present are the tests."""
    row = plain(row)
    known = {k: row[k] for k in SampleFields.model_fields if k in row and row[k] is not None}
    if "tests" not in known:
        columns = {k: row[k] for k in TEST_COLUMNS if row.get(k) is not None}
        if set(columns) - _COMPANIONS:
            if "test" in columns and row.get("entry_point"):
                columns["entry_point"] = row["entry_point"]
            known["tests"] = columns
    return read_validated(SampleFields, known, where)


_LABEL_KEYS = frozenset(SampleFields.model_fields)


def label_fields(label: Any, where: str = "label") -> SampleFields:
    """An OpenRLHF label (or veRL ground truth): an object of sample fields (or a JSON string
    of one), tests in any published format (`rewards.test_formats`: a value that reads as
    tests is tests), a reference program (any other string), or None / "" (nothing)."""
    if label is None or isinstance(label, SampleFields):
        return label or SampleFields()
    label = plain(label)
    if isinstance(label, str):
        decoded: Any = None
        if label.lstrip().startswith("{"):
            try:
                check_nesting(label)
                decoded = json.loads(label)
            except (ValueError, RecursionError) as exc:  # JSONDecodeError included
                if "nested deeper" in str(exc):
                    raise RequestError(f"{where}: {exc}") from None
                decoded = None
        if isinstance(decoded, dict) and decoded and set(decoded) <= _LABEL_KEYS:
            return read_validated(SampleFields, decoded, where)
        if looks_like_tests(label):
            return read_validated(SampleFields, {"tests": label}, where)
        return SampleFields(reference=label or None)
    if isinstance(label, Mapping):
        if set(label) <= _LABEL_KEYS:
            return read_validated(SampleFields, dict(label), where)
        if looks_like_tests(label):  # a whole record, or a test value: the registry reads it
            language = label.get("language")
            known = {"tests": label, "language": language if isinstance(language, str) else None}
            return read_validated(SampleFields, {k: v for k, v in known.items() if v is not None}, where)
        return read_validated(SampleFields, dict(label), where)
    if isinstance(label, list) and looks_like_tests(label):
        return read_validated(SampleFields, {"tests": label}, where)
    raise RequestError(f"{where}: expected a reference string, tests, an object of "
                       f"{sorted(_LABEL_KEYS)} or null, got {type(label).__name__}")


def task_language(fields: SampleFields, language: str | None = None,
                  default_language: str | None = None) -> str | None:
    """The language of a task, by precedence: the sample's or label's own ``language`` (or
    the one its tests name, open-r1's ``verification_info``), the request's `language`, then
    `default_language` (the server's ``--language``, an adapter's default). None: nothing
    names one (then, and only then, a fence tag decides)."""
    return fields.language or tests_language(fields.tests) or language or default_language


def to_sample(code: str, fields: SampleFields, where: str, *, language: str | None = None,
              fence_language: str | None = None, default_language: str | None = None) -> Sample:
    """A `Sample` from an answer's program text (put after the fields' ``code_prefix``).

    The language is `task_language`'s, else `fence_language` (the tag of the Markdown fence
    the code came from). A fence in another language never changes the task's language:
    such an answer is scored as a (failing) program of the task's language.
    """
    lang = task_language(fields, language, default_language) or fence_language
    if lang is None:
        raise RequestError(f"{where}: no language: give 'language' (in the sample, label or "
                           f"request), a language tag on the code fence, or a server default")
    try:
        lang = languages.get(lang).name
    except ValueError as exc:
        raise RequestError(f"{where}.language: {exc}") from None
    try:
        tests = TestSpec.parse(fields.tests, entry_point=fields.entry_point or None)
    except ValueError as exc:
        raise RequestError(f"{where}.tests: {exc}") from None
    return Sample(language=lang, code=(fields.code_prefix or "") + code, reference=fields.reference,
                  tests=tests, prompt=fields.prompt, code_prefix=fields.code_prefix, whole_program=fields.whole_program)


def response_sample(response: str, fields: SampleFields, where: str, *, language: str | None = None,
                    default_language: str | None = None, policy: AnswerPolicy | None = None) -> Sample:
    """A `Sample` from a model's response: the answer is read with `extract_answer` for the
    task's language (`task_language`; the fence tag only when nothing names one) and put
    after the fields' ``code_prefix``. An unclosed reasoning block gives no answer: the
    sample's outcome is ``empty``."""
    lang = task_language(fields, language, default_language)
    try:
        answer = extract_answer(response, lang, policy)
    except ValueError as exc:
        raise RequestError(f"{where}.language: {exc}") from None
    sample = to_sample(answer.code, fields, where, language=language, fence_language=answer.fence_language,
                       default_language=default_language)
    if answer.fence_language is not None and answer.fence_language != sample.language:
        return ForeignAnswer(sample, answer.fence_language)
    return sample


@dataclasses.dataclass(frozen=True)
class ForeignAnswer:
    """An answer fenced as another language than its task's: `score_items` scores it as a
    failure in the task's language -- outcome ``compile_error``, the compile-error reward,
    and the lowest structural match -- so that switching language never pays."""

    sample: Sample
    fence_language: str


@dataclasses.dataclass(frozen=True)
class Unreadable:
    """A sample of a batch that could not be read or scored; `score_items` gives it the
    outcome ``invalid`` and the compile-error reward, and scores the others."""

    where: str
    message: str


ItemT = Sample | Unreadable | ForeignAnswer


def _lenient(build: Any, where: str) -> ItemT:
    try:
        return build()
    except ValueError as exc:  # RequestError included
        return Unreadable(where, str(exc))


def score_items(items: Sequence[ItemT], config: RewardConfig | None = None) -> list[RewardBreakdown]:
    """Score a batch in which some samples may be `Unreadable` or `ForeignAnswer`. An
    unreadable one (and any sample whose scoring raises ValueError) gets
    ``outcome="invalid"``, ``execution`` = the compile-error value (times the execution
    weight as its total) and its message in ``errors``; a foreign answer scores as a
    compile error with the lowest structural match; the others are scored as usual."""
    config = config or RewardConfig()
    out: list[RewardBreakdown | None] = [None] * len(items)
    good = [i for i, item in enumerate(items) if isinstance(item, Sample)]
    try:
        for i, r in zip(good, score([items[i] for i in good], config)):
            out[i] = r
    except ValueError:
        for i in good:  # find the sample that cannot be scored; score the others alone
            try:
                [out[i]] = score([items[i]], config)
            except ValueError as exc:
                out[i] = _invalid(config, f"sample {i}: {exc}")
    for i, item in enumerate(items):
        if isinstance(item, Unreadable):
            out[i] = _invalid(config, item.message)
        elif isinstance(item, ForeignAnswer):
            out[i] = _foreign(config, item)
    return [r for r in out if r is not None]


def _foreign(config: RewardConfig, item: ForeignAnswer) -> RewardBreakdown:
    sample = item.sample
    out = RewardBreakdown(total=0.0, outcome="compile_error", errors=[
        f"the answer is fenced as {item.fence_language}; the task is {sample.language}"])
    if config.use_execution:
        out.execution = float(config.execution_values.compile_error)
    if sample.reference is not None:
        lowest = -1.0 if config.structural_gain and sample.code_prefix else 0.0
        out.ast = lowest if config.use_ast else None
        out.dfg = lowest if config.use_dfg else None
    out.total = float(config.execution_weight * (out.execution or 0.0) + config.ast_weight * (out.ast or 0.0)
                      + config.dfg_weight * (out.dfg or 0.0))
    return out


def _invalid(config: RewardConfig, message: str) -> RewardBreakdown:
    _log.warning("sample not scored (outcome invalid): %s", message)
    value = config.execution_values.compile_error
    return RewardBreakdown(total=float(config.execution_weight * value), execution=float(value),
                           outcome="invalid", errors=[message])


def sample_in(fields: SampleIn, where: str, *, language: str | None = None,
              default_language: str | None = None) -> Sample:
    """The `Sample` of one ``/score`` or JSONL sample (``code`` or ``response``)."""
    if (fields.code is None) == (fields.response is None):
        raise RequestError(f"{where}: give exactly one of 'code' (the whole program) and 'response' "
                           "(a model's response, put after code_prefix)")
    if fields.response is not None:
        return response_sample(fields.response, fields, where, language=language,
                               default_language=default_language)
    prefix = fields.code_prefix or ""
    if not fields.code.startswith(prefix):
        raise RequestError(f"{where}.code: 'code' is the whole program and must start with code_prefix; "
                           "send the text after the prefix as 'response'")
    return to_sample(fields.code[len(prefix):], fields, where, language=language,
                     default_language=default_language)


def parse_score_request(raw: Any, default_language: str | None = None, default_config: Any = None
                        ) -> tuple[list[ItemT], RewardConfig]:
    """Samples and config of a ``/score`` body (bytes, str or decoded JSON). A malformed
    envelope raises `RequestError`; a sample that cannot be read is an `Unreadable`."""
    request = read_validated(ScoreRequest, raw, "")
    _check_language(request.language)
    samples = [_lenient(lambda s=s, i=i: sample_in(_sample_fields(s, f"samples[{i}]"), f"samples[{i}]",
                                                   language=request.language,
                                                   default_language=default_language), f"samples[{i}]")
               for i, s in enumerate(request.samples)]
    return samples, parse_config(request.config if request.config is not None else default_config)


def _check_language(language: str | None) -> None:
    """The request's own language is part of the envelope: an unknown one is a 400."""
    if language is not None:
        try:
            languages.get(language)
        except ValueError as exc:
            raise RequestError(f"language: {exc}") from None


def _sample_fields(raw: Any, where: str) -> SampleIn:
    if isinstance(raw, SampleIn):
        return raw
    try:  # JSON mode: the same messages as a whole body read from JSON
        text = json.dumps(raw)
    except (TypeError, ValueError, RecursionError):
        return read_validated(SampleIn, raw, where)
    return read_validated(SampleIn, text, where)


def parse_reward_request(raw: Any, default_language: str | None = None,
                         special_tokens: Sequence[str] = SPECIAL_TOKENS,
                         policy: AnswerPolicy | None = None, default_config: Any = None
                         ) -> tuple[list[ItemT], RewardConfig]:
    """Samples and config of an OpenRLHF ``/get_reward`` body: each query minus its prompt
    (`strip_prompt`, a left-truncated prompt too), read by the answer policy
    (`rewards.extraction`). A sample whose label cannot be read is an `Unreadable`."""
    request = read_validated(RewardRequest, raw, "")
    _check_language(request.language)
    n = len(request.query)
    for name in ("prompts", "labels"):
        given = getattr(request, name)
        if given is not None and len(given) != n:
            raise RequestError(f"{name}: {len(given)} entries for {n} queries")
    prompts = request.prompts or [""] * n
    labels = request.labels or [None] * n
    policy = dataclasses.replace(policy or AnswerPolicy(), special_tokens=tuple(special_tokens))
    samples = [_lenient(lambda q=q, p=p, label=label, i=i: response_sample(
        strip_prompt(q, p), label_fields(label, f"labels[{i}]"), f"query[{i}]", language=request.language,
        default_language=default_language, policy=policy), f"query[{i}]")
        for i, (q, p, label) in enumerate(zip(request.query, prompts, labels))]
    return samples, parse_config(request.config if request.config is not None else default_config)


def reward_answer(results: Sequence[RewardBreakdown]) -> dict[str, Any]:
    """The OpenRLHF answer for scored samples: ``{"rewards", "scores", "extra_logs":
    {"execution", "ast", "dfg"}}`` (a component that does not apply logs 0.0)."""
    totals = [r.total for r in results]
    logs = {k: [r.components().get(k, 0.0) for r in results] for k in ("execution", "ast", "dfg")}
    return {"rewards": totals, "scores": totals, "extra_logs": logs}


# --- responses of models --------------------------------------------------------------------

def response_code(text: str, special_tokens: Iterable[str] = SPECIAL_TOKENS,
                  language: str | None = None) -> tuple[str, str | None]:
    """The answer in a model's response and its fence's language tag: `extract_answer` with
    the default policy (kept for compatibility)."""
    answer = extract_answer(text, language, AnswerPolicy(special_tokens=tuple(special_tokens)))
    return answer.code, answer.fence_language


def extract_code(text: str) -> str:
    """The answer in `text` (`extract_answer`, no special tokens): kept for compatibility."""
    return response_code(text, ())[0]


_MIN_OVERLAP = 32


def strip_prompt(query: str, prompt: str) -> str:
    """`query` minus its leading `prompt`.

    Tokenizers that re-space text on decoding (whitespace-splitting ones) make the prompt a
    prefix only up to whitespace: the cut then falls after the prompt's last non-blank
    character. When the query was cut from the left (OpenRLHF truncates long prompts so),
    it starts with a tail of the prompt: the longest tail of at least 32 characters (or the
    whole prompt) that starts the query is cut. A query that holds no part of the prompt
    is kept whole."""
    if query.startswith(prompt):
        return query[len(prompt):]
    q = 0
    for ch in prompt:
        if ch.isspace():
            continue
        while q < len(query) and query[q].isspace():
            q += 1
        if q >= len(query) or query[q] != ch:
            break
        q += 1
    else:
        return query[q:]
    overlap = _longest_tail_prefix(prompt, query)
    return query[overlap:] if overlap >= min(_MIN_OVERLAP, len(prompt)) else query


def _longest_tail_prefix(prompt: str, query: str) -> int:
    """Length of the longest suffix of `prompt` that is a prefix of `query` (KMP, linear)."""
    head = query[:len(prompt)]
    text = head + "\0" + prompt
    border = [0] * len(text)
    for i in range(1, len(text)):
        k = border[i - 1]
        while k and text[i] != text[k]:
            k = border[k - 1]
        if text[i] == text[k]:
            k += 1
        border[i] = k
    return border[-1]
