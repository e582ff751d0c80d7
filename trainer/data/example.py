"""`TaskExample`: one prompt and what its response is judged against; the programs to score."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from rewards import Sample
from rewards.execution import declares_main


class Example(Protocol):
    """What training and evaluation read of an example: `TaskExample` has it all; other
    objects need these five, and the other fields of `TaskExample` are optional."""

    prompt: str
    language: str
    code_prefix: str
    reference: str | None
    tests: Any | None


@dataclass
class TaskExample:
    """One prompt for the policy and what its response is judged against."""

    prompt: str
    """Text fed to the model."""
    language: str
    """Canonical id of the language the response is written in (`core.languages`)."""
    code_prefix: str
    """Code that precedes the response in the scored program ("" unless completion-like)."""
    reference: str | None
    """The full reference program (for AST / data-flow match), or None."""
    tests: Any | None
    """Unit tests (a `rewards.TestSpec`), or None."""
    source_language: str | None = None
    """Language of the source program (translation only)."""
    id: str = ""
    """Stable identifier, e.g. ``stdlib:json/encoder.py:JSONEncoder.default`` or ``data.jsonl:17``."""
    difficulty: str | None = None
    """Difficulty level where the data has one (APPS: introductory, interview, competition)."""
    prompt_keep_head: int = 0
    """Characters at the start of `prompt` that prompt truncation never cuts (an instruction)."""
    prompt_keep_tail: int = 0
    """Characters at the end of `prompt` that prompt truncation never cuts (an answer cue)."""
    whole_program: bool = False
    """The response is a whole program: a translation whose reference declares ``main``
    (XLCoST's program level); compiling it then requires that it links."""
    aliases: tuple[str, ...] = ()
    """Other ids the example answers to in sample files (MBPP's integer ``task_id``, APPS's
    ``problem_id``); `id` stays the one the trainer writes."""
    source: str | None = None
    """The source program (translation only; chat prompts put it in their own template)."""
    xlcost_tokens: bool = False
    """The data is XLCoST's: a response written the way XLCoST's code is (``NEW_LINE`` /
    ``INDENT`` / ``DEDENT`` markers) is detokenised like the data before it is scored."""

    def response_code(self, text: str) -> str:
        """The program text of a response: `text`, detokenised with `detokenize_xlcost`
        when the example is XLCoST's and the response contains XLCoST's line markers."""
        if self.xlcost_tokens and XLCOST_MARKERS.search(text):
            return detokenize_xlcost(text, self.language)
        return text


def response_code(example: Any, text: str) -> str:
    """The program text of response `text` to `example` (`TaskExample.response_code`; any
    other object: `text` as it is)."""
    convert = getattr(example, "response_code", None)
    return convert(text) if callable(convert) else text


XLCOST_MARKERS = re.compile(r"(?<![A-Za-z0-9_])(NEW_LINE|INDENT|DEDENT)(?![A-Za-z0-9_])")
"""XLCoST's line-structure markers, as whole words."""


def detokenize_xlcost(text: str, language: str) -> str:
    """XLCoST's one-line tokenized code as source text (its data, and responses written
    like it: the same function on both sides).

    ``NEW_LINE`` ends a line; in Python ``INDENT`` / ``DEDENT`` open and close a level of
    four spaces for the lines that follow. ``▁`` (a tokenizer
    artifact) becomes ``_``; PHP gets its ``<?php`` tag. The authors' code does the same
    before compiling a response (their ``remove_special_tokens`` uses tabs for the levels).
    """
    text = text.strip().replace("\u2581", "_")
    if language != "python":
        lines = [line.strip() for line in text.split("NEW_LINE")]
        code = "\n".join(line for line in lines if line) + "\n"
        if language == "php" and not code.startswith("<?php"):
            code = "<?php " + code
        return code
    lines: list[str] = []
    level = 0
    current: list[str] = []
    for token in text.split():
        if token == "NEW_LINE":
            if current:
                lines.append("    " * level + " ".join(current))
            current = []
        elif token == "INDENT":
            level += 1
        elif token == "DEDENT":
            level = max(level - 1, 0)
        else:
            current.append(token)
    if current:
        lines.append("    " * level + " ".join(current))
    return "\n".join(lines) + "\n"


def translation_example(template: str, source: str, source_language: str, language: str,
                        reference: str | None, example_id: str) -> TaskExample:
    """A translation example: `source` put into the prompt `template` (placeholders
    {source}, {source_language}, {language}); the template's own text around {source}
    is never cut when the prompt is truncated."""
    fill = {"source_language": source_language, "language": language}
    head, found, tail = template.partition("{source}")
    head, tail = (head.format(**fill), tail.format(**fill)) if found else ("", "")
    whole = reference is not None and declares_main(language, reference)
    return TaskExample(prompt=template.format(source=source, **fill), language=language,
                       code_prefix="", reference=reference, tests=None,
                       source_language=source_language, id=example_id,
                       prompt_keep_head=len(head), prompt_keep_tail=len(tail), whole_program=whole,
                       source=source)


def make_samples(examples: Sequence[Example], texts: Sequence[str]) -> list[Sample]:
    """Programs to score: each example's `code_prefix` + the response's program text
    (`response_code`: XLCoST-style responses are detokenised like the data)."""
    samples = []
    for ex, text in zip(examples, texts):
        prefix = ex.code_prefix or ""
        samples.append(Sample(language=ex.language, code=prefix + response_code(ex, text),
                              reference=ex.reference, tests=ex.tests, prompt=ex.prompt,
                              code_prefix=prefix,
                              whole_program=bool(getattr(ex, "whole_program", False))))
    return samples
