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
import re
import typing
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator

from core import languages
from rewards.composite import RewardBreakdown, RewardConfig, Sample
from rewards.execution.types import RewardValues, TestSpec

__all__ = [
    "SPECIAL_TOKENS",
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
    "reward_answer",
    "to_sample",
    "validation_message",
]

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>",
    "<|end|>", "<|EOT|>", "<end_of_turn>", "<|end▁of▁sentence|>", "<|file_separator|>",
    "<|fim_pad|>", "<|pad|>", "<pad>", "<eos>", "</s>", "<s>",
)
"""Tokenizer special-token text that ends a decoded response (OpenRLHF decodes prompt +
response with ``skip_special_tokens=False``): `response_code` drops such tokens at the
start and cuts the response at the first one after that."""


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
        if isinstance(value, (list, tuple, dict)) or hasattr(value, "tolist"):
            check_nesting(value)
            return _plain(value)
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


def _plain(value: Any) -> Any:
    """Lists and dicts all the way down, without None-valued keys: parquet rows (veRL,
    pandas) hold numpy arrays, and Arrow gives every struct in a column every key any
    row has, set to None where the row has none."""
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class SampleIn(SampleFields):
    """One program to score (``POST /score``, one line of ``python -m rewards score``)."""

    code: str = Field(description="The program text.")


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

    samples: list[SampleIn]
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


def read_fields(row: Mapping[str, Any], where: str = "") -> SampleFields:
    """The sample fields among `row`'s keys (a dataset row, veRL's ``extra_info``): other
    keys are ignored, None means absent."""
    known = {k: row[k] for k in SampleFields.model_fields if k in row and row[k] is not None}
    return read_validated(SampleFields, known, where)


_LABEL_KEYS = frozenset(SampleFields.model_fields)


def label_fields(label: Any, where: str = "label") -> SampleFields:
    """An OpenRLHF label (or veRL ground truth): a reference string, an object of sample
    fields, a JSON string of such an object, or None / "" (no reference)."""
    if label is None or isinstance(label, SampleFields):
        return label or SampleFields()
    if isinstance(label, str):
        if label.lstrip().startswith("{"):
            try:
                check_nesting(label)
                decoded = json.loads(label)
            except ValueError as exc:  # JSONDecodeError included
                if "nested deeper" in str(exc):
                    raise RequestError(f"{where}: {exc}") from None
                decoded = None
            if isinstance(decoded, dict) and decoded and set(decoded) <= _LABEL_KEYS:
                return read_validated(SampleFields, decoded, where)
        return SampleFields(reference=label or None)
    if isinstance(label, Mapping):
        return read_validated(SampleFields, dict(label), where)
    raise RequestError(f"{where}: expected a reference string, an object of "
                       f"{sorted(_LABEL_KEYS)} or null, got {type(label).__name__}")


def to_sample(code: str, fields: SampleFields, where: str, *, language: str | None = None,
              fence_language: str | None = None, default_language: str | None = None) -> Sample:
    """A `Sample` from program text and its fields.

    The language is the first of: the fields' own ``language``, `language` (the request's),
    `fence_language` (the tag of the Markdown fence the code came from, when it names a
    language) and `default_language` (the server's ``--language``, an adapter's default).
    """
    lang = fields.language or language or fence_language or default_language
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


def parse_score_request(raw: Any, default_language: str | None = None
                        ) -> tuple[list[Sample], RewardConfig]:
    """Samples and config of a ``/score`` body (bytes, str or decoded JSON)."""
    request = read_validated(ScoreRequest, raw, "")
    samples = [to_sample(s.code, s, f"samples[{i}]", language=request.language,
                         default_language=default_language) for i, s in enumerate(request.samples)]
    return samples, parse_config(request.config)


def parse_reward_request(raw: Any, default_language: str | None = None,
                         special_tokens: Sequence[str] = SPECIAL_TOKENS
                         ) -> tuple[list[Sample], RewardConfig]:
    """Samples and config of an OpenRLHF ``/get_reward`` body: each query minus its prompt,
    cut at special tokens, its first fenced code block when it has one (`response_code`)."""
    request = read_validated(RewardRequest, raw, "")
    n = len(request.query)
    for name in ("prompts", "labels"):
        given = getattr(request, name)
        if given is not None and len(given) != n:
            raise RequestError(f"{name}: {len(given)} entries for {n} queries")
    prompts = request.prompts or [""] * n
    labels = request.labels or [None] * n
    samples = []
    for i, (query, prompt, label) in enumerate(zip(request.query, prompts, labels)):
        fields = label_fields(label, f"labels[{i}]")
        code, tag = response_code(strip_prompt(query, prompt), special_tokens)
        samples.append(to_sample(code, fields, f"query[{i}]", language=request.language,
                                 fence_language=tag, default_language=default_language))
    return samples, parse_config(request.config)


def reward_answer(results: Sequence[RewardBreakdown]) -> dict[str, Any]:
    """The OpenRLHF answer for scored samples: ``{"rewards", "scores", "extra_logs":
    {"execution", "ast", "dfg"}}`` (a component that does not apply logs 0.0)."""
    totals = [r.total for r in results]
    logs = {k: [r.components().get(k, 0.0) for r in results] for k in ("execution", "ast", "dfg")}
    return {"rewards": totals, "scores": totals, "extra_logs": logs}


# --- responses of models --------------------------------------------------------------------

_FENCE_OPEN = re.compile(r"```[ \t]*([\w+#.-]*)[^\n]*\n")


def response_code(text: str, special_tokens: Iterable[str] = SPECIAL_TOKENS
                  ) -> tuple[str, str | None]:
    """The program in a model's response, and the language tag of its fence (None if none
    or not a language).

    Special-token text (`special_tokens`) at the start is dropped and the response ends at
    the first special token after that. Then the first Markdown-fenced block is the code;
    an opening fence that is never closed (a truncated response) runs to the end; a
    response without a fence is the code as it stands.
    """
    text = _cut_at_special_tokens(text, tuple(special_tokens))
    opening = _FENCE_OPEN.search(text)
    if opening is None:
        return text, None
    body = text[opening.end():]
    closing = body.find("```")
    code = body if closing < 0 else body[:closing]
    tag = opening.group(1).lower() or None
    if tag is not None:
        try:
            tag = languages.get(tag).name
        except ValueError:
            tag = None  # ```text, ```output, ```bash: not a language we score
    return code, tag


def extract_code(text: str) -> str:
    """The first Markdown-fenced code block of `text`, or `text` itself."""
    return response_code(text, ())[0]


def _cut_at_special_tokens(text: str, tokens: tuple[str, ...]) -> str:
    if not tokens:
        return text
    while True:
        stripped = text.lstrip()
        head = next((t for t in tokens if stripped.startswith(t)), None)
        if head is None:
            break
        text = stripped[len(head):]
    cut = min((i for i in (text.find(t) for t in tokens) if i >= 0), default=-1)
    return text if cut < 0 else text[:cut]


def strip_prompt(query: str, prompt: str) -> str:
    """`query` minus its leading `prompt`. Tokenizers that re-space text on decoding
    (whitespace-splitting ones) make the prompt a prefix only up to whitespace: the cut
    then falls after the prompt's last non-blank character. A query that does not start
    with the prompt at all is kept whole."""
    if query.startswith(prompt):
        return query[len(prompt):]
    q = 0
    for ch in prompt:
        if ch.isspace():
            continue
        while q < len(query) and query[q].isspace():
            q += 1
        if q >= len(query) or query[q] != ch:
            return query
        q += 1
    return query[q:]
