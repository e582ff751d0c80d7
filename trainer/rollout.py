"""Rollouts: sample responses for a batch of prompts, score them, record per-token stats.

Generation runs in chunks of prompts. As soon as a chunk's responses are decoded, its
programs go to the reward workers (processes, or one background thread for in-process
reward functions), so scoring of chunk i overlaps chunk i's policy / reference / value
forward passes and the generation of chunk i + 1. The scores are collected last.

A reward is either the PPOCoder reward (`rewards.score` with a `rewards.RewardConfig`)
or any function ``f(list[rewards.Sample]) -> list[float]`` (or list of
`RewardBreakdown`), given as a Python object or as an import path ``"module:function"``.
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from core.shaping import token_lines
from rewards import (
    RewardBreakdown,
    RewardConfig,
    RewardSpec,
    Sample,
    as_breakdowns,
    import_reward,
    resolve_reward,
)
from rewards.extraction import Answer
from trainer.chat import ChatFormat
from trainer.data import Example, make_samples, response_code
from trainer.generation import StopRules, generate
from trainer.policy import Policy

RewardFn = Callable[[list[Sample]], Sequence[Any]]
"""A custom reward function: samples -> one float or `rewards.RewardBreakdown` each."""


def _score_chunk(spec: RewardSpec, samples: list[Sample]) -> tuple[list[RewardBreakdown], float]:
    """Worker entry point: score one chunk of samples with `spec`; also returns the seconds."""
    start = time.perf_counter()
    out = resolve_reward(spec)(samples)
    return out, time.perf_counter() - start


def _exit_with_parent(parent_pid: int) -> None:
    """Reward-worker initializer: end the worker once the trainer that started it is
    gone. A trainer killed with SIGKILL (OOM killer, preemption) never shuts its pool
    down, and the worker would otherwise wait for work forever, reparented to init."""

    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(0.5)
        os._exit(0)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


class RewardWorkers:
    """Scores chunks of samples in the background.

    `submit` returns a Future of (list[RewardBreakdown], seconds spent scoring).

    `spec` is a `RewardConfig` (the PPOCoder reward), an import path or a callable.
    With ``backend="process"`` and ``workers >= 1`` and a picklable spec (config or
    import path) chunks run in that many spawned processes; a callable object, or
    ``workers == 0``, runs in one background thread of this process. With
    ``backend="ray"`` chunks go to a `rewards.ray_pool.RayRewardPool` of `workers`
    actors (on the cluster at `ray_address`, else on a local Ray instance).
    """

    def __init__(self, spec: str | RewardConfig | RewardFn, workers: int = 1, backend: str = "process",
                 ray_address: str | None = None) -> None:
        self.spec = spec
        if isinstance(spec, str):
            import_reward(spec)  # fail early with a clear message
        if backend not in ("process", "ray"):
            raise ValueError(f"reward backend must be 'process' or 'ray', got {backend!r}")
        self._pool: Executor
        self._ray = None
        if backend == "ray":
            from rewards.ray_pool import RayRewardPool

            config = spec if isinstance(spec, RewardConfig) else None
            self._ray = RayRewardPool(config, actors=max(1, workers), fn=None if config else spec,
                                      address=ray_address)
        elif workers >= 1 and not callable(spec):
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn"),
                                             initializer=_exit_with_parent, initargs=(os.getpid(),))
        else:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reward")

    def submit(self, samples: list[Sample]) -> Future:
        if self._ray is None:
            return self._pool.submit(_score_chunk, self.spec, samples)
        done: Future = Future()

        def normalise(f: Future) -> None:
            try:
                out, seconds = f.result()
                done.set_result((as_breakdowns(out, len(samples)), seconds))
            except Exception as exc:  # handed to the trainer waiting on the Future
                done.set_exception(exc)

        self._ray.submit_timed(samples).add_done_callback(normalise)
        return done

    def close(self) -> None:
        if self._ray is not None:
            self._ray.close()
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class Rollout:
    """A batch of sampled responses with everything PPO needs. Tensors are (B, ...)."""

    query_ids: torch.Tensor  # (B, Lq) left-padded (causal) / right-padded (seq2seq)
    query_mask: torch.Tensor  # (B, Lq)
    response_ids: torch.Tensor  # (B, T) right-padded
    response_mask: torch.Tensor  # (B, T) 1 on kept tokens (EOS / stop token included)
    logprobs: torch.Tensor  # (B, T) policy log-probs of the sampling distribution (PPO ratio)
    kl_logprobs: torch.Tensor  # (B, T) policy log-probs at the temperature alone (KL)
    ref_logprobs: torch.Tensor  # (B, T) reference-model log-probs at the temperature (KL)
    values: torch.Tensor | None  # (B, T) value estimates at sampling time (None: not asked)
    scores: torch.Tensor  # (B,) sequence rewards
    scored: list[RewardBreakdown]
    texts: list[str]  # the program text of each response (after its cut)
    ends: list[str]  # why each response ended (`trainer.generation.END_REASONS`)
    reward_seconds: float = 0.0  # time the workers spent scoring (overlapped)
    reward_wait_seconds: float = 0.0  # time this process blocked waiting for scores
    replies: list[str] | None = None  # chat: each reply's text (texts holds its answer)
    answers: list[Answer] | None = None  # chat: the answer read out of each reply

    @property
    def truncated(self) -> torch.Tensor:
        """(B,) bool: the response hit max_new_tokens without ending."""
        return torch.tensor([e == "truncated" for e in self.ends])


def _pad_right(chunks: list[torch.Tensor], value: float) -> torch.Tensor:
    T = max(c.shape[1] for c in chunks)
    return torch.cat([torch.nn.functional.pad(c, (0, T - c.shape[1]), value=value) for c in chunks])


def _pad_query(chunks: list[torch.Tensor], value: float, left: bool) -> torch.Tensor:
    L = max(c.shape[1] for c in chunks)
    pads = [(L - c.shape[1], 0) if left else (0, L - c.shape[1]) for c in chunks]
    return torch.cat([torch.nn.functional.pad(c, p, value=value) for c, p in zip(chunks, pads)])


def _measure(policy: Policy, qi: torch.Tensor, qm: torch.Tensor, ri: torch.Tensor,
             rm: torch.Tensor, with_logprobs: bool, with_values: bool, temperature: float,
             top_k: int, top_p: float) -> tuple[torch.Tensor, ...]:
    """(log-probs, KL log-probs, reference log-probs, values or None) of one chunk's
    responses; zeros (and no values) without `with_logprobs`."""
    if not with_logprobs:
        zeros = torch.zeros(ri.shape, device=ri.device)
        return zeros, zeros, zeros, None
    stats = policy.token_stats(qi, qm, ri, rm, temperature=temperature, top_k=top_k,
                               top_p=top_p, with_values=with_values)
    ref = policy.ref_logprobs(qi, qm, ri, rm, temperature=temperature)
    return stats.logprobs, stats.kl_logprobs, ref, stats.values


def _finite_totals(scored: Sequence[Any]) -> list[float]:
    """The total rewards; FloatingPointError when one is not finite."""
    totals = [s.total for s in scored]
    bad = [i for i, t in enumerate(totals) if not math.isfinite(t)]
    if bad:
        raise FloatingPointError(
            f"reward is not finite for {len(bad)} sample(s), e.g. sample {bad[0]} = {totals[bad[0]]}")
    return totals


def response_lines(tokenizer: Any, batch: Rollout, examples: Sequence[Example]) -> torch.Tensor:
    """(B, T) int64: the line of the scored program (``code_prefix + response text``,
    1-based, as `rewards.RewardBreakdown.error_lines` counts) on which each kept
    response token starts; 0 for padding, special tokens (EOS), the kept stop token,
    anything past the program text (`Rollout.texts` is the response cut at its end) and
    every token of a response that was detokenised before scoring (XLCoST markers).

    A chat reply's tokens are mapped through its answer's span (`rewards.extraction.Answer`):
    tokens of the extracted code get the program line they write, every other token
    (reasoning, prose, fence markers, end of turn) gets 0. Without a span (an answer that
    is not one piece of the reply) or with an empty answer, every token gets 0.

    Offsets come from the tokenizer (``return_offsets_mapping``) over the decoded kept
    tokens when re-encoding that text gives the same ids; otherwise (a slow tokenizer,
    or a sampled tokenisation the tokenizer would not produce) token i starts at
    ``len(decode(ids[:i]))``.
    """
    ids_rows, mask_rows = batch.response_ids.tolist(), batch.response_mask.tolist()
    special = set(getattr(tokenizer, "all_special_ids", ()))
    out = np.zeros(batch.response_ids.shape, dtype=np.int64)
    for b, (row, kept, ex) in enumerate(zip(ids_rows, mask_rows, examples)):
        prefix = ex.code_prefix or ""
        if batch.answers is not None:
            _answer_lines(tokenizer, row, kept, batch.texts[b], batch.answers[b], prefix, out[b])
            continue
        if response_code(ex, batch.texts[b]) != batch.texts[b]:
            continue  # detokenised before scoring (XLCoST markers): its lines are not the tokens'
        positions = [t for t, m in enumerate(kept) if m and row[t] not in special]
        if batch.ends[b] in ("stop", "function_end") and positions:
            last = max(t for t, m in enumerate(kept) if m)
            positions = [t for t in positions if t != last]  # decides the end; not program text
        ids = [row[t] for t in positions]
        text = tokenizer.decode(ids, skip_special_tokens=True)
        spans = _token_spans(tokenizer, text, ids)
        lines = token_lines(text, spans, first_line=prefix.count("\n") + 1)
        lines[spans[:, 0] >= len(batch.texts[b])] = 0  # past the program's cut
        out[b, positions] = lines
    return torch.from_numpy(out).to(batch.response_ids.device)


def _answer_lines(tokenizer: Any, row: list[int], kept: list[int], program: str,
                  answer: Answer, prefix: str, out: np.ndarray) -> None:
    """Fill `out` (T,) with the program lines of a chat reply's answer tokens."""
    if answer.span is None or not answer.code:
        return
    positions = [t for t, m in enumerate(kept) if m]
    ids = [row[t] for t in positions]
    text = tokenizer.decode(ids, skip_special_tokens=False)  # the reply, then its end token
    start, end = answer.span
    if text[start:end] != answer.code:  # decoding the whole row moved the answer: no credit
        return
    spans = _token_spans(tokenizer, text, ids, skip_special=False)
    inside = (spans[:, 0] >= start) & (spans[:, 0] < end)
    first_line = (prefix + program[: len(program) - len(answer.code)]).count("\n") + 1
    local = np.clip(spans - start, 0, end - start)
    lines = token_lines(answer.code, local, first_line=first_line)
    out[[p for p, i in zip(positions, inside) if i]] = lines[inside]


def _token_spans(tokenizer: Any, text: str, ids: list[int], skip_special: bool = True) -> np.ndarray:
    """(len(ids), 2) character spans of `ids` in `text` (their decoded string, special
    tokens skipped or kept as `skip_special` says)."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(text, return_offsets_mapping=True, add_special_tokens=False)
        if list(enc["input_ids"]) == ids:
            return np.asarray(enc["offset_mapping"], dtype=np.int64).reshape(-1, 2)
    # Prefix decoding, clamped to a monotone tiling of the text. A byte-level token that
    # completes a character split over several tokens adds nothing to the decoded length
    # (the first byte already decoded as U+FFFD): it takes the character before it, the
    # one it completes (an empty span would mean "no line").
    bounds, previous = [], 0
    for i in range(len(ids) + 1):
        n = len(tokenizer.decode(ids[:i], skip_special_tokens=skip_special)) if i else 0
        previous = min(max(n, previous), len(text))
        bounds.append(previous)
    spans = [(a, b) if b > a else (max(a - 1, 0), min(max(a, 1), len(text)))
             for a, b in zip(bounds, bounds[1:])]
    return np.asarray(spans, dtype=np.int64).reshape(-1, 2)


@torch.no_grad()
def collect(
    policy: Policy,
    examples: Sequence[Example],
    scorer: RewardWorkers,
    *,
    max_prompt_tokens: int,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    chunk_size: int = 0,
    rules: StopRules | None = None,
    truncation_side: str = "auto",
    with_values: bool = True,
    with_logprobs: bool = True,
    chat: ChatFormat | None = None,
) -> Rollout:
    """Generate, cut, score and measure one batch (`trainer.generation` says where
    responses end). `examples` carry `.prompt`, `.language`, `.code_prefix`,
    `.reference`, `.tests` (a `trainer.data.TaskExample`); repeat an example in the
    list to draw several samples for it. `temperature == 0` decodes greedily; the
    log-probs are then those of the temperature-1 distribution. `with_logprobs=False`
    skips the policy and reference forward passes (log-probs and values are then 0).
    `chat`: prompts through the chat template, answers read out of the replies."""
    if not examples:
        raise ValueError("collect() needs at least one example")
    chunk_size = chunk_size if chunk_size > 0 else len(examples)
    t_eval = temperature if temperature > 0 else 1.0
    k_eval, p_eval = (top_k, top_p) if temperature > 0 else (0, 1.0)
    q_ids, q_masks, r_ids, r_masks, logps, kl_logps, refs, vals = ([] for _ in range(8))
    texts: list[str] = []
    ends: list[str] = []
    replies: list[str] = []
    answers: list[Answer] = []
    futures = []
    for start in range(0, len(examples), chunk_size):
        chunk = examples[start: start + chunk_size]
        out = generate(policy, chunk, max_prompt_tokens=max_prompt_tokens,
                       max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                       top_p=top_p, rules=rules, truncation_side=truncation_side, chat=chat)
        # Scoring runs in the background from here on, overlapping the forward passes
        # below and the next chunk's generation.
        futures.append(scorer.submit(make_samples(chunk, out.texts)))
        qi, qm, ri, rm = out.query_ids, out.query_mask, out.response_ids, out.response_mask
        if ri.shape[1] == 0:  # nothing generated at all: one padding column keeps shapes
            ri = torch.full((ri.shape[0], 1), policy.pad_token_id, device=ri.device)
            rm = torch.zeros_like(ri)
        logp, kl_logp, ref, value = _measure(policy, qi, qm, ri, rm, with_logprobs, with_values,
                                             t_eval, k_eval, p_eval)
        logps.append(logp), kl_logps.append(kl_logp), refs.append(ref)
        if value is not None:
            vals.append(value)
        q_ids.append(qi), q_masks.append(qm), r_ids.append(ri), r_masks.append(rm)
        texts.extend(out.texts)
        ends.extend(out.ends)
        replies.extend(out.replies or [])
        answers.extend(out.answers or [])

    left = not policy.is_seq2seq
    wait_start = time.perf_counter()
    results = [f.result() for f in futures]
    wait = time.perf_counter() - wait_start
    scored = [s for chunk_scored, _ in results for s in chunk_scored]
    totals = _finite_totals(scored)
    return Rollout(
        query_ids=_pad_query(q_ids, policy.pad_token_id, left),
        query_mask=_pad_query(q_masks, 0, left),
        response_ids=_pad_right(r_ids, policy.pad_token_id),
        response_mask=_pad_right(r_masks, 0),
        logprobs=_pad_right(logps, 0), kl_logprobs=_pad_right(kl_logps, 0),
        ref_logprobs=_pad_right(refs, 0), values=_pad_right(vals, 0) if vals else None,
        scores=torch.tensor(totals, dtype=torch.float32, device=policy.device),
        scored=scored, texts=texts, ends=ends,
        reward_seconds=sum(sec for _, sec in results), reward_wait_seconds=wait,
        replies=replies if chat is not None else None,
        answers=answers if chat is not None else None,
    )
