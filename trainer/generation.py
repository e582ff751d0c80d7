"""One generation path for training and evaluation: prompts in, finished responses out.

    prompts --encode (truncating only the part that may be cut)--> query ids
    query ids --policy.generate (sampling or greedy, stop rules checked every token)--> tokens
    tokens --cut at the first stop--> response ids + mask, program texts, why each ended

A response ends at the first of:

* ``eos``: the model's end-of-text token (kept as the last response token);
* ``stop``: a user stop string (``generation.stop``) appears in the response;
* ``function_end``: the unit of code the prompt's code prefix opened is closed
  (`core.program_end`: a dedent back to the prefix's outer level in Python, the closing
  brace elsewhere). Only for examples with a code prefix (completion, HumanEval-style);
* ``fence_end`` (chat replies): the fenced code block that would be taken as the answer
  closes (`trainer.chat`; the default templates ask for one block). The line of the
  closing fence must be complete, so the kept last token is the one that ends it;
* ``thinking_budget`` (chat replies, ``max_thinking_tokens``): the reply is still inside
  its reasoning block after that many tokens; it has no answer (outcome ``empty``);
* ``truncated``: ``max_new_tokens`` were generated without any of the above.

A chat reply also ends at the chat template's end-of-turn token, which `Policy` counts
as an EOS (``eos``). Its text is read with `rewards.extraction` (`trainer.chat`): the
program text it contributes is the extracted answer, and the reply itself is kept in
`Generated.replies` with the `Answer` in `Generated.answers`. Every kept token of the
reply (reasoning, prose, fences) is part of the response the policy is trained on.

For ``stop`` and ``function_end`` the token that completed the decision is kept as the
last response token, like EOS: it is what the policy chose in order to end, so it gets
the score and the gradient. Its text (the stop string, the first characters of the
dedented line) is not part of the program. Every token after it is padding: masked out
of the loss, the KL, the values and the advantages.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core import languages
from core.program_end import Cut, ProgramEnd, first_stop
from rewards.extraction import UNCLOSED_REASONING, Answer
from trainer.chat import ChatFormat, ChatPrompt, program_text
from trainer.data.example import Example
from trainer.stop_rules import END_REASONS, StopRules

__all__ = ["END_REASONS", "Generated", "StopRules", "encode_prompts", "generate"]


@dataclass
class Generated:
    """A batch of finished responses. Tensors are (B, ...) on the policy's device."""

    query_ids: torch.Tensor  # (B, Lq) left-padded (causal) / right-padded (seq2seq)
    query_mask: torch.Tensor  # (B, Lq)
    response_ids: torch.Tensor  # (B, T) right-padded, pad after the last kept token
    response_mask: torch.Tensor  # (B, T) 1 on kept tokens (EOS / stop token included)
    texts: list[str]  # the program text each response contributes (after the cut)
    ends: list[str]  # why each response ended, one of END_REASONS
    replies: list[str] | None = None  # chat: the reply text (special tokens kept, no final EOS)
    answers: list[Answer] | None = None  # chat: the answer read out of each reply


class _StopCriteria:
    """A `transformers` stopping criterion checking stop strings and the function-end
    rule (raw prompts) or the fence-end and thinking-budget rules (chat replies) of every
    row after each generated token; records where each row was cut."""

    def __init__(self, tokenizer: Any, examples: Sequence[Example], rules: StopRules,
                 start: int, chat: ChatFormat | None = None,
                 prompts: Sequence[ChatPrompt] | None = None,
                 eos_ids: frozenset[int] = frozenset()) -> None:
        self.tokenizer, self.rules, self.start = tokenizer, rules, start
        self.chat, self.prompts, self.eos_ids = chat, prompts, eos_ids
        self.languages = [ex.language for ex in examples]
        self.ends: list[ProgramEnd | None] = []
        for ex in examples:
            prefix = "" if chat is not None else ex.code_prefix or ""
            end = ProgramEnd(ex.language, prefix) if rules.function_end and prefix else None
            self.ends.append(end if end is not None and end.active else None)
        self.cut_token: list[int | None] = [None] * len(examples)  # index of the kept last token
        self.cut: list[Cut | None] = [None] * len(examples)
        chat_rules = chat is not None and (chat.fence_end or chat.max_thinking_tokens > 0)
        self.watch = [bool(rules.stop) or chat_rules or e is not None for e in self.ends]

    def text(self, ids: list[int]) -> str:
        """The text a row's stop rules read (a chat reply keeps special tokens)."""
        if self.chat is None:
            return self.tokenizer.decode(ids, skip_special_tokens=True)
        return reply_text(self.tokenizer, ids, self.eos_ids)

    def _chat_cut(self, r: int, text: str, n_tokens: int) -> Cut | None:
        chat, prompt = self.chat, self.prompts[r]
        if chat.max_thinking_tokens and n_tokens >= chat.max_thinking_tokens:
            answer = chat.read(text, self.languages[r], prompt.reasoning_open)
            if answer.empty_reason == UNCLOSED_REASONING:
                return Cut(len(text), max(len(text) - 1, 0), "thinking_budget")
        if chat.fence_end and _fence_closed(chat, text, self.languages[r], prompt.reasoning_open):
            return Cut(len(text), len(text) - 1, "fence_end")
        return None

    def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
        generated = input_ids[:, self.start:]
        done = torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)
        if generated.shape[1] == 0:
            return done
        rows = generated.tolist()
        for r, ids in enumerate(rows):
            if not self.watch[r]:
                continue
            if self.cut[r] is not None:
                done[r] = True
                continue
            text = self.text(ids)
            found = [first_stop(text, self.rules.stop)]
            if self.ends[r] is not None:
                found.append(self.ends[r].feed(text))
            if self.chat is not None:
                found.append(self._chat_cut(r, text, len(ids)))
            found = [c for c in found if c is not None]
            if found:
                self.cut[r] = min(found, key=lambda c: c.trigger)
                self.cut_token[r] = len(ids) - 1
                done[r] = True
        return done


_CLOSING_LINE = re.compile(r"(?:^|\n)([ \t]*(?:`{3,}|~{3,})[ \t]*)\n\Z")


def _fence_closed(chat: ChatFormat, text: str, language: str, reasoning_open: str) -> bool:
    """Whether `text` just completed the closing fence line of the block that extraction
    takes as the answer, tagged with the task's language or untagged (a block closed
    earlier, a block in another language or of ```text, or a bare fence that opens a new
    block does not count)."""
    line = _CLOSING_LINE.search(text)
    if line is None:
        return False
    answer = chat.read(text, language, reasoning_open)
    if answer.empty_reason is not None or answer.span is None or \
            answer.span[1] != line.start(1):
        return False
    if answer.fence_language is not None:
        return answer.fence_language == languages.get(language).name
    opening = text[: answer.span[0]].rstrip("\n").rsplit("\n", 1)[-1]
    return opening.strip().strip("`~").strip() == ""  # untagged


def reply_text(tokenizer: Any, ids: Sequence[int], eos_ids: frozenset[int]) -> str:
    """A chat reply's text: its tokens up to the first EOS / end-of-turn (not included),
    decoded with special tokens kept (a reasoning tag may be one)."""
    ids = list(ids)
    end = next((i for i, t in enumerate(ids) if t in eos_ids), len(ids))
    return tokenizer.decode(ids[:end], skip_special_tokens=False)


def encode_prompts(tokenizer: Any, examples: Sequence[Example], max_tokens: int,
                   side: str, seq2seq: bool,
                   add_special_tokens: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of each example's prompt, at most `max_tokens` long.

    A prompt that is too long loses tokens only from its cuttable middle: the first
    `prompt_keep_head` and last `prompt_keep_tail` characters of the prompt (a
    template's instruction and answer cue) are never cut; the rest (the code or
    problem text) loses its end (``side="right"``: the head of a source program or
    problem statement stays) or its start (``"left"``: the code right before the
    response stays). ``"auto"``: left for examples with a code prefix (completion),
    right otherwise. Causal prompts are left-padded, seq2seq inputs right-padded.
    `add_special_tokens=False` for text that has them already (a rendered chat template).
    """
    rows = []
    for ex in examples:
        full = tokenizer(ex.prompt, add_special_tokens=add_special_tokens)["input_ids"]
        if len(full) <= max_tokens:
            rows.append(full)
            continue
        bare = tokenizer(ex.prompt, add_special_tokens=False)["input_ids"]
        n_special = len(full) - len(bare)
        head_chars = getattr(ex, "prompt_keep_head", 0) or 0
        tail_chars = getattr(ex, "prompt_keep_tail", 0) or 0
        text = ex.prompt
        head_text, body_text = text[:head_chars], text[head_chars: len(text) - tail_chars]
        tail_text = text[len(text) - tail_chars:] if tail_chars else ""

        def enc(s: str) -> list[int]:
            return tokenizer(s, add_special_tokens=False)["input_ids"] if s else []

        head, body, tail = enc(head_text), enc(body_text), enc(tail_text)
        budget = max(max_tokens - n_special, 0)
        room = budget - len(head) - len(tail)
        keep_end = side == "left" or (side == "auto" and bool(ex.code_prefix))
        if room >= 0:
            body = body[len(body) - room:] if keep_end else body[:room]
            ids = head + body + tail if room else head + tail
        else:  # even the fixed parts do not fit
            ids = (head + tail)[-budget:] if keep_end else (head + tail)[:budget]
            ids = ids if budget else []
        rows.append(_with_specials(tokenizer, ids, full, bare))
    pad = tokenizer.pad_token_id
    length = max(1, max(len(r) for r in rows))
    ids = torch.full((len(rows), length), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), length), dtype=torch.long)
    for i, r in enumerate(rows):
        if not r:
            continue
        if seq2seq:
            ids[i, : len(r)], mask[i, : len(r)] = torch.tensor(r), 1
        else:
            ids[i, length - len(r):], mask[i, length - len(r):] = torch.tensor(r), 1
    return ids, mask


def _with_specials(tokenizer: Any, ids: list[int], full: list[int], bare: list[int]) -> list[int]:
    """Put back the special tokens the tokenizer adds around a whole prompt (BOS, </s>)."""
    for lead in range(len(full) - len(bare) + 1):
        if full[lead: lead + len(bare)] == bare:
            return full[:lead] + ids + full[lead + len(bare):]
    return ids


def generate(
    policy: Any,
    examples: Sequence[Example],
    *,
    max_prompt_tokens: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    rules: StopRules | None = None,
    truncation_side: str = "auto",
    chat: ChatFormat | None = None,
) -> Generated:
    """Generate one response per example (repeat an example for several) and cut each
    at its end (see the module docstring). `temperature == 0` decodes greedily. With
    `chat` the prompts go through the tokenizer's chat template and the answers are read
    out of the replies (`trainer.chat`)."""
    if not examples:
        raise ValueError("generate() needs at least one example")
    tok = policy.tokenizer
    prompts = [chat.render(tok, ex) for ex in examples] if chat is not None else None
    side = "right" if prompts is not None and truncation_side == "auto" else truncation_side
    qi, qm = encode_prompts(tok, prompts or examples, max_prompt_tokens, side,
                            policy.is_seq2seq, add_special_tokens=prompts is None)
    qi, qm = _nonempty_queries(qi, qm, tok, policy)
    qi, qm = qi.to(policy.device), qm.to(policy.device)
    start = 1 if policy.is_seq2seq else qi.shape[1]
    criteria = _StopCriteria(tok, examples, rules or StopRules(), start, chat, prompts,
                             policy.eos_token_ids)
    raw = policy.generate(qi, qm, max_new_tokens=max_new_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p,
                          stopping_criteria=criteria if any(criteria.watch) else None)
    limits = [None if c is None else c + 1 for c in criteria.cut_token]
    ids, mask = policy.finish_responses(raw, limits)
    texts, ends, replies, answers = [], [], [], []
    for r, (row, m) in enumerate(zip(ids.tolist(), mask.tolist())):
        n = sum(m)
        text = criteria.text(row[:n])
        cut = criteria.cut[r]
        if cut is not None and limits[r] is not None and n == limits[r]:
            text, end = text[: cut.end], cut.reason
        elif n and row[n - 1] in policy.eos_token_ids:
            end = "eos"
        else:
            end = "truncated"
        ends.append(end)
        if prompts is None:
            texts.append(text)
            continue
        answer = chat.read(text, examples[r].language, prompts[r].reasoning_open)
        replies.append(text)
        answers.append(answer)
        texts.append(program_text(prompts[r].code_prefix, answer))
    return Generated(query_ids=qi, query_mask=qm, response_ids=ids, response_mask=mask,
                     texts=texts, ends=ends, replies=replies if prompts else None,
                     answers=answers if prompts else None)


def _nonempty_queries(
    ids: torch.Tensor, mask: torch.Tensor, tok: Any, policy: Any
) -> tuple[torch.Tensor, torch.Tensor]:
    """Give a prompt that tokenised to nothing one start token (BOS, else EOS): a causal LM
    then generates unconditionally instead of failing on an empty input."""
    empty = mask.sum(1) == 0
    if not bool(empty.any()):
        return ids, mask
    start = tok.bos_token_id if tok.bos_token_id is not None else policy.eos_token_id
    col = -1 if not policy.is_seq2seq else 0  # causal prompts are left-padded
    ids, mask = ids.clone(), mask.clone()
    ids[empty, col], mask[empty, col] = start, 1
    return ids, mask
