"""The one answer-extraction policy: a model's response text -> the program to score.

Every way into the reward reads a response through `extract_answer`: the Python API,
``python -m rewards``, the HTTP server (``/score`` responses and OpenRLHF's
``/get_reward``), the TRL / veRL / OpenRLHF adapters, the trainer and ``trainer.evaluate``.
So a reward in training means what the same answer scores in a report.

The rules, in order (each configurable in `AnswerPolicy`):

1. **Special tokens.** Tokenizer special-token text (`SPECIAL_TOKENS`, e.g. ``<|im_end|>``,
   ``</s>``) at the start is dropped, and the response ends at the first one after that:
   OpenRLHF decodes with ``skip_special_tokens=False``, so the end-of-turn token and
   whatever padding follows it are in the text.
2. **Reasoning.** Reasoning blocks (``<think>...</think>``) are removed, drafts and all.
   A closing tag with no opening tag before it (chat templates such as DeepSeek-R1's put
   ``<think>`` in the prompt) makes everything before it reasoning. A block that is opened
   and never closed -- the length limit cut the model while it was thinking -- means the
   model gave **no answer**: `Answer.empty_reason` says so and the sample's outcome is
   ``empty``, whatever the draft holds.
3. **Fenced blocks** (``block="last"``, the default): the last Markdown-fenced block whose tag
   names the task's language (tags are read through `core.languages.get`, so ``py`` and
   ``python3`` are Python); else the last block tagged with a language or untagged; else the
   last block of any tag (```` ```text ````); else the text as it stands. A fence is a line
   that starts (after indentation) with three or more backticks or tildes; it closes at a
   line of at least as many of the same character. An opening fence never closed (a
   truncated response) runs to the end. ``block="first"`` takes the first block by the same
   preferences (the behaviour of earlier versions); ``block="none"`` takes the text after
   rules 1-2 as it stands.

The fence's tag never decides the language of the task: callers pass the task's language
and a fence in another language is scored as a (failed) answer in the task's language.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core import languages

__all__ = ["SPECIAL_TOKENS", "Answer", "AnswerPolicy", "extract_answer"]

SPECIAL_TOKENS: tuple[str, ...] = (
    "<|im_end|>", "<|im_start|>", "<|endoftext|>", "<|end_of_text|>", "<|eot_id|>",
    "<|end|>", "<|EOT|>", "<end_of_turn>", "<|end▁of▁sentence|>", "<|file_separator|>",
    "<|fim_pad|>", "<|pad|>", "<pad>", "<eos>", "</s>", "<s>",
)
"""Tokenizer special-token text that ends a decoded response (OpenRLHF decodes prompt +
response with ``skip_special_tokens=False``): dropped at the start, and the response is cut
at the first one after that."""

UNCLOSED_REASONING = "unclosed reasoning block"
"""`Answer.empty_reason` of a response cut inside a reasoning block."""


@dataclass(frozen=True)
class AnswerPolicy:
    """How a response's answer is found (see the module docstring for the rules)."""

    reasoning_tags: tuple[tuple[str, str], ...] = (("<think>", "</think>"),)
    """(opening, closing) tag pairs of reasoning blocks, removed with their content."""
    block: str = "last"
    """Which fenced block is the answer: ``"last"``, ``"first"`` or ``"none"`` (no fence is
    read: the text after special tokens and reasoning are removed)."""
    special_tokens: tuple[str, ...] = SPECIAL_TOKENS
    """Special-token text dropped at the start that ends the response where it appears."""

    def __post_init__(self) -> None:
        if self.block not in ("first", "last", "none"):
            raise ValueError(f"AnswerPolicy.block: expected 'first', 'last' or 'none', got {self.block!r}")
        for pair in self.reasoning_tags:
            if len(pair) != 2 or not all(isinstance(t, str) and t for t in pair):
                raise ValueError(f"AnswerPolicy.reasoning_tags: expected (opening, closing) pairs of "
                                 f"non-empty strings, got {pair!r}")
        if not all(isinstance(t, str) and t for t in self.special_tokens):
            raise ValueError("AnswerPolicy.special_tokens: expected non-empty strings")


DEFAULT_POLICY = AnswerPolicy()


@dataclass(frozen=True)
class Answer:
    """The program found in a response."""

    code: str
    """Program text to score (``""`` when there is no answer)."""
    fence_language: str | None
    """Canonical language (`core.languages`) of the chosen fence's tag; None when the fence
    is untagged, its tag is not a language, or no fence was chosen."""
    empty_reason: str | None
    """Why there is no answer (e.g. ``"unclosed reasoning block"``): the sample's outcome
    is ``empty``. None otherwise."""
    span: tuple[int, int] | None
    """``[start, end)`` of `code` in the original text when it is a substring of it."""


# A piece of the working text, as (start, end) offsets into the original text.
_Segments = list[tuple[int, int]]

_FENCE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*([^\n`]*)$", re.MULTILINE)
_TAG = re.compile(r"\{?\.?([\w+#.-]*)")


def extract_answer(text: str, language: str | None = None, policy: AnswerPolicy | None = None) -> Answer:
    """The answer in `text`, a model's response, for a task in `language` (any alias; None:
    not known). `ValueError` for an unknown language."""
    policy = policy or DEFAULT_POLICY
    task_language = languages.get(language).name if language else None
    segments = _cut_special_tokens(text, [(0, len(text))], policy.special_tokens)
    segments, unclosed = _remove_reasoning(text, segments, policy.reasoning_tags)
    if unclosed:
        return Answer("", None, UNCLOSED_REASONING, None)
    working = "".join(text[s:e] for s, e in segments)
    start, end, tag = 0, len(working), None
    if policy.block != "none":
        chosen = _choose_block(_fenced_blocks(working), task_language, policy.block)
        if chosen is not None:
            start, end, tag = chosen
    code = working[start:end]
    return Answer(code, tag, None, _span(text, segments, start, end, code))


def _cut_special_tokens(text: str, segments: _Segments, tokens: tuple[str, ...]) -> _Segments:
    """Leading special tokens (and the whitespace around them) dropped; the text ends at
    the first special token after them."""
    if not tokens:
        return segments
    (start, end), = segments
    while True:
        pos = start
        while pos < end and text[pos].isspace():
            pos += 1
        head = next((t for t in tokens if text.startswith(t, pos, end)), None)
        if head is None:
            break
        start = pos + len(head)
    cut = min((i for i in (text.find(t, start, end) for t in tokens) if i >= 0), default=end)
    return [(start, cut)]


def _remove_reasoning(text: str, segments: _Segments, tags: tuple[tuple[str, str], ...]
                      ) -> tuple[_Segments, bool]:
    """`segments` without reasoning blocks; True when a block is opened and never closed."""
    for opening, closing in tags:
        kept: _Segments = []
        for start, end in segments:
            first_open = text.find(opening, start, end)
            first_close = text.find(closing, start, end)
            if first_close >= 0 and (first_open < 0 or first_close < first_open):
                start = first_close + len(closing)  # the opening tag was in the prompt
            while True:
                at = text.find(opening, start, end)
                if at < 0:
                    kept.append((start, end))
                    break
                kept.append((start, at))
                close = text.find(closing, at + len(opening), end)
                if close < 0:
                    return kept, True
                start = close + len(closing)
        segments = [(s, e) for s, e in kept if e > s] or [(0, 0)]
    return segments, False


def _fenced_blocks(working: str) -> list[tuple[int, int, str, bool]]:
    """Every fenced block of `working`: (body start, body end, raw tag, closed)."""
    blocks = []
    pos = 0
    while True:
        opening = _FENCE.search(working, pos)
        if opening is None:
            return blocks
        fence = opening.group(1)
        body = opening.end() + 1 if opening.end() < len(working) else opening.end()
        closer = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$", re.MULTILINE)
        closing = closer.search(working, body)
        tag = _TAG.match(opening.group(2).strip()).group(1)
        if closing is None:
            if working[body:].strip():  # a truncated answer; a bare trailing fence is no block
                blocks.append((body, len(working), tag, False))
            return blocks
        blocks.append((body, closing.start(), tag, True))
        pos = closing.end()


def _tag_language(tag: str) -> str | None:
    if not tag:
        return None
    try:
        return languages.get(tag).name
    except ValueError:
        return None  # ```text, ```output, ```bash: not a language we score


def _choose_block(blocks: list[tuple[int, int, str, bool]], task_language: str | None,
                  which: str) -> tuple[int, int, str | None] | None:
    """The chosen block (start, end, canonical tag language) by the policy's preferences."""
    if not blocks:
        return None
    tagged = [(start, end, tag, _tag_language(tag)) for start, end, tag, _ in blocks]
    preferences = (
        lambda b: task_language is not None and b[3] == task_language,
        lambda b: b[3] is not None or not b[2],
        lambda b: True,
    )
    for wanted in preferences:
        found = [b for b in tagged if wanted(b)]
        if found:
            start, end, _, lang = found[-1] if which == "last" else found[0]
            return start, end, lang
    return None


def _span(text: str, segments: _Segments, start: int, end: int, code: str) -> tuple[int, int] | None:
    """Offsets of working[start:end] in the original text, when it is one piece of it."""
    offset = 0
    for seg_start, seg_end in segments:
        length = seg_end - seg_start
        if offset <= start <= offset + length:
            orig_start = seg_start + (start - offset)
            orig_end = orig_start + (end - start)
            if text[orig_start:orig_end] == code:
                return orig_start, orig_end
            return None
        offset += length
    return None
