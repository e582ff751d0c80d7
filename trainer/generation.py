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
* ``truncated``: ``max_new_tokens`` were generated without any of the above.

For ``stop`` and ``function_end`` the token that completed the decision is kept as the
last response token, like EOS: it is what the policy chose in order to end, so it gets
the score and the gradient. Its text (the stop string, the first characters of the
dedented line) is not part of the program. Every token after it is padding: masked out
of the loss, the KL, the values and the advantages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from core.program_end import Cut, ProgramEnd, first_stop
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


class _StopCriteria:
    """A `transformers` stopping criterion checking stop strings and the function-end
    rule of every row after each generated token; records where each row was cut."""

    def __init__(self, tokenizer: Any, examples: Sequence[Any], rules: StopRules,
                 start: int) -> None:
        self.tokenizer, self.rules, self.start = tokenizer, rules, start
        self.ends: list[ProgramEnd | None] = []
        for ex in examples:
            prefix = getattr(ex, "code_prefix", "") or ""
            end = ProgramEnd(ex.language, prefix) if rules.function_end and prefix else None
            self.ends.append(end if end is not None and end.active else None)
        self.cut_token: list[int | None] = [None] * len(examples)  # index of the kept last token
        self.cut: list[Cut | None] = [None] * len(examples)
        self.watch = [e is not None for e in self.ends] if not rules.stop else \
            [True] * len(examples)

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
            text = self.tokenizer.decode(ids, skip_special_tokens=True)
            found = [first_stop(text, self.rules.stop)]
            if self.ends[r] is not None:
                found.append(self.ends[r].feed(text))
            found = [c for c in found if c is not None]
            if found:
                self.cut[r] = min(found, key=lambda c: c.trigger)
                self.cut_token[r] = len(ids) - 1
                done[r] = True
        return done


def encode_prompts(tokenizer: Any, examples: Sequence[Any], max_tokens: int,
                   side: str, seq2seq: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Token ids and attention mask of each example's prompt, at most `max_tokens` long.

    A prompt that is too long loses tokens only from its cuttable middle: the first
    `prompt_keep_head` and last `prompt_keep_tail` characters of the prompt (a
    template's instruction and answer cue) are never cut; the rest (the code or
    problem text) loses its end (``side="right"``: the head of a source program or
    problem statement stays) or its start (``"left"``: the code right before the
    response stays). ``"auto"``: left for examples with a code prefix (completion),
    right otherwise. Causal prompts are left-padded, seq2seq inputs right-padded.
    """
    rows = []
    for ex in examples:
        full = tokenizer(ex.prompt, add_special_tokens=True)["input_ids"]
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
        keep_end = side == "left" or (side == "auto" and bool(getattr(ex, "code_prefix", "")))
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
    examples: Sequence[Any],
    *,
    max_prompt_tokens: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    rules: StopRules | None = None,
    truncation_side: str = "auto",
) -> Generated:
    """Generate one response per example (repeat an example for several) and cut each
    at its end (see the module docstring). `temperature == 0` decodes greedily."""
    if not examples:
        raise ValueError("generate() needs at least one example")
    tok = policy.tokenizer
    qi, qm = encode_prompts(tok, examples, max_prompt_tokens, truncation_side, policy.is_seq2seq)
    qi, qm = _nonempty_queries(qi, qm, tok, policy)
    qi, qm = qi.to(policy.device), qm.to(policy.device)
    start = 1 if policy.is_seq2seq else qi.shape[1]
    criteria = _StopCriteria(tok, examples, rules or StopRules(), start)
    raw = policy.generate(qi, qm, max_new_tokens=max_new_tokens, temperature=temperature,
                          top_k=top_k, top_p=top_p,
                          stopping_criteria=criteria if any(criteria.watch) else None)
    limits = [None if c is None else c + 1 for c in criteria.cut_token]
    ids, mask = policy.finish_responses(raw, limits)
    texts, ends = [], []
    for r, (row, m) in enumerate(zip(ids.tolist(), mask.tolist())):
        n = sum(m)
        text = tok.decode(row[:n], skip_special_tokens=True)
        cut = criteria.cut[r]
        if cut is not None and limits[r] is not None and n == limits[r]:
            texts.append(text[: cut.end])
            ends.append(cut.reason)
        elif n and row[n - 1] in policy.eos_token_ids:
            texts.append(text)
            ends.append("eos")
        else:
            texts.append(text)
            ends.append("truncated")
    return Generated(query_ids=qi, query_mask=qm, response_ids=ids, response_mask=mask,
                     texts=texts, ends=ends)


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
