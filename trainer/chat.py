"""Prompt formats: the example's prompt as it stands, or a chat turn rendered by the tokenizer.

``generation.prompt_format``:

* ``raw``: the prompt is fed as it is and the response continues it (the paper's setting,
  and the only one for completion: the response continues the code of the prompt);
* ``chat``: the prompt becomes one user message (``generation.chat_synthesis`` or
  ``generation.chat_translation``, filled in below), after ``generation.system_prompt``
  when one is given. The tokenizer's own chat template renders the messages
  (``apply_chat_template(..., add_generation_prompt=True)``): no template of ours for any
  model. The reply is read with `rewards.extraction.extract_answer`, the policy the
  reward service and its adapters use: reasoning blocks removed, a reply cut inside one
  has no answer, the last fenced block in the task's language is the program;
* ``auto`` (default): ``chat`` when the tokenizer has a chat template and the task is
  synthesis or translation, else ``raw``.

Template placeholders: ``{prompt}`` (synthesis: the problem statement; a prompt that is
code, as HumanEval's signature and docstring, is put in a fenced block), ``{source}`` and
``{source_language}`` (translation), ``{language}`` (the target language's name, e.g.
C++) and ``{fence}`` (its fence tag, e.g. ``cpp``).

The scored program is the example's ``code_prefix`` (HumanEval's stub, which stays a valid
definition) followed by the answer: an answer that rewrites the whole function replaces
the stub's definition, one that writes only the body completes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from core import languages
from rewards.extraction import Answer, AnswerPolicy, extract_answer

if TYPE_CHECKING:  # the data package loads the config, which loads this module
    from trainer.data.example import Example

PROMPT_FORMATS = ("auto", "raw", "chat")

CHAT_TASKS = ("synthesis", "translation")
"""Tasks that can be asked as a chat turn (completion continues the prompt's code)."""

SYNTHESIS_TEMPLATE = (
    "{prompt}\n\nWrite the solution in {language}. Reply with the complete {language} code "
    "in one ```{fence} code block."
)
"""Default user message of synthesis."""

TRANSLATION_TEMPLATE = (
    "Translate this {source_language} program to {language}.\n\n```{source_fence}\n{source}\n"
    "```\n\nReply with the complete {language} program in one ```{fence} code block."
)
"""Default user message of translation."""

_NAMES = {"c": "C", "c_sharp": "C#", "cpp": "C++", "java": "Java", "javascript": "JavaScript",
          "php": "PHP", "python": "Python", "go": "Go", "rust": "Rust",
          "typescript": "TypeScript"}
_FENCES = {"c_sharp": "csharp"}
_CODE_MARK = "\x00PPOCODER-CUTTABLE\x00"  # stands for the part of a prompt truncation may cut


def language_name(language: str) -> str:
    """How a prompt names a language (``cpp`` -> ``C++``)."""
    name = languages.get(language).name
    return _NAMES.get(name, name)


def fence_tag(language: str) -> str:
    """The fence tag a prompt asks for (one `rewards.extraction` reads as `language`)."""
    name = languages.get(language).name
    return _FENCES.get(name, name)


def has_chat_template(tokenizer: Any) -> bool:
    """Whether the tokenizer carries a chat template."""
    return bool(getattr(tokenizer, "chat_template", None))


def choose_format(requested: str, tokenizer: Any, task: str, model: str = "the model") -> str:
    """``raw`` or ``chat`` for a requested format (``auto`` decided here); `ValueError` when
    chat is asked of a tokenizer without a chat template or for the completion task."""
    if requested not in PROMPT_FORMATS:
        raise ValueError(f"generation.prompt_format must be one of {PROMPT_FORMATS}, got "
                         f"{requested!r}")
    if requested == "auto":
        return "chat" if has_chat_template(tokenizer) and task in CHAT_TASKS else "raw"
    if requested == "chat" and task not in CHAT_TASKS:
        raise ValueError(f"generation.prompt_format=chat is for {' and '.join(CHAT_TASKS)}; "
                         f"{task} continues the code of its prompt (use raw)")
    if requested == "chat" and not has_chat_template(tokenizer):
        raise ValueError(f"generation.prompt_format=chat needs a tokenizer with a chat template, "
                         f"and {model}'s has none (use raw, or auto)")
    return requested


@dataclass(frozen=True)
class ChatPrompt:
    """A rendered chat prompt. Prompt truncation cuts only between `keep_head` and
    `keep_tail` characters (the problem or source program), never the template's text."""

    prompt: str
    prompt_keep_head: int
    prompt_keep_tail: int
    code_prefix: str
    reasoning_open: str
    """The opening reasoning tag the generation prompt leaves open (DeepSeek-R1's
    ``<think>\\n``), "" when none: the reply starts inside a reasoning block."""


@dataclass(frozen=True)
class ChatFormat:
    """How chat prompts are built and chat replies read and ended."""

    system_prompt: str | None = None
    """System message before the user message (None: none, the template's default applies)."""
    synthesis_template: str = SYNTHESIS_TEMPLATE
    translation_template: str = TRANSLATION_TEMPLATE
    fence_end: bool = True
    """End a reply when the fenced block that extraction would take closes."""
    max_thinking_tokens: int = 0
    """End a reply still inside its reasoning block after this many tokens (0 = off)."""
    answer_policy: AnswerPolicy = AnswerPolicy()

    def user_message(self, example: Example) -> tuple[str, str]:
        """The user message with `_CODE_MARK` where the cuttable part goes, and that part."""
        language = example.language
        fill = {"language": language_name(language), "fence": fence_tag(language)}
        source_language = getattr(example, "source_language", None)
        if source_language is not None:
            source = getattr(example, "source", None)
            if source is None:
                raise ValueError(f"example {getattr(example, 'id', '')!r}: a chat translation "
                                 "prompt needs the source program (TaskExample.source)")
            fill |= {"source_language": language_name(source_language),
                     "source_fence": fence_tag(source_language)}
            return self.translation_template.format(source=_CODE_MARK, **fill), source
        prompt = example.prompt
        if example.code_prefix:  # the prompt is code: show it as code
            body = prompt if prompt.endswith("\n") else prompt + "\n"
            return self.synthesis_template.format(
                prompt=f"```{fill['fence']}\n{_CODE_MARK}```", **fill), body
        return self.synthesis_template.format(prompt=_CODE_MARK, **fill), prompt

    def render(self, tokenizer: Any, example: Example) -> ChatPrompt:
        """The prompt text of `example` through the tokenizer's chat template."""
        message, body = self.user_message(example)
        messages = [] if self.system_prompt is None else [
            {"role": "system", "content": self.system_prompt}]
        messages.append({"role": "user", "content": message})
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        head, found, tail = text.partition(_CODE_MARK)
        if not found:  # a template that rewrites the content: nothing may be cut
            text = text.replace(_CODE_MARK, body)
            return ChatPrompt(text, len(text), 0, example.code_prefix or "",
                              _open_tag(text, self.answer_policy))
        return ChatPrompt(head + body + tail, len(head), len(tail),
                          example.code_prefix or "",
                          _open_tag(tail, self.answer_policy))

    def read(self, reply: str, language: str, reasoning_open: str = "") -> Answer:
        """The answer in a reply (its `span` indexes `reply`)."""
        answer = extract_answer(reasoning_open + reply, language, self.answer_policy)
        if answer.span is None or not reasoning_open:
            return answer
        shift = len(reasoning_open)
        return Answer(answer.code, answer.fence_language, answer.empty_reason,
                      (answer.span[0] - shift, answer.span[1] - shift))


def _open_tag(text: str, policy: AnswerPolicy) -> str:
    """The opening reasoning tag `text` leaves open at its end, or ""."""
    for opening, closing in policy.reasoning_tags:
        at = text.rfind(opening)
        if at >= 0 and text.find(closing, at) < 0:
            return opening
    return ""


def program_text(code_prefix: str, answer: Answer) -> str:
    """What a reply adds after its example's `code_prefix` in the scored program: the
    answer, on a line of its own."""
    if not answer.code or not code_prefix or code_prefix.endswith("\n"):
        return answer.code
    return "\n" + answer.code


def end_of_turn_ids(tokenizer: Any) -> frozenset[int]:
    """The token(s) the chat template puts right after an assistant message (ChatML's
    ``<|im_end|>``, Llama 3's ``<|eot_id|>``, Gemma's ``<end_of_turn>``): a reply ends
    there as at EOS. Empty without a chat template, or when the token is not special."""
    if not has_chat_template(tokenizer):
        return frozenset()
    mark = "PPOCODERREPLYEND"
    try:
        text = tokenizer.apply_chat_template(
            [{"role": "user", "content": "x"}, {"role": "assistant", "content": mark}],
            tokenize=False)
    except Exception:  # noqa: BLE001 - templates are user code; no end-of-turn then
        return frozenset()
    at = text.rfind(mark)
    if at < 0:
        return frozenset()
    rest = text[at + len(mark):].lstrip(" ")
    ids = tokenizer(rest, add_special_tokens=False)["input_ids"] if rest else []
    added = set(getattr(tokenizer, "all_special_ids", ())) | set(
        getattr(tokenizer, "added_tokens_decoder", {}) or {})
    return frozenset(ids[:1]) if ids and ids[0] in added else frozenset()
