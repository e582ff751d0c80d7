"""Policy evaluation: the trainer's own generation and scoring on held-out examples.

Training evaluates before any update (step 0), every ``run.eval_every`` steps and at
the end, with the generation settings of training (stop rules, lengths) and the
sampling of ``run.eval_temperature`` (0 = greedy). The numbers therefore mean the same
as the reward in training: the same code cuts the responses and the same
`rewards.score` call scores them.

Metrics (keys prefixed ``eval/`` in ``metrics.jsonl``):

==================  =======================================================================
``reward``          mean total reward (the training reward, without the KL penalty)
``compile_rate``    share of programs that compile (an ``empty`` response counts as a failure)
``pass_rate``       share of programs that pass all their unit tests (examples with tests)
``exact_match``     share of responses whose program text equals the held-out code up to
                    white space (`core.text_metrics`); completion: the held-out end of the
                    function; otherwise the whole reference
``edit_sim``        mean ``1 - levenshtein / max length`` of the same pair
``codebleu``        corpus CodeBLEU of the whole programs against their references
``kl``              mean over responses of sum_t (log pi(y_t) - log pi_ref(y_t)) at T = 1
``end/<reason>``    share of responses that ended by each of `trainer.generation.END_REASONS`
``empty``           share of responses that added nothing (outcome ``empty``)
``length``          mean response length in tokens
==================  =======================================================================

Every response is also returned as a record (written to ``eval_samples.jsonl`` by the
trainer): the example id, the tail of the prompt, the program text, the expected text,
the reward and its components, the outcome, why it ended, and the per-sample metrics.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from core.text_metrics import edit_similarity, exact_match
from trainer.chat import ChatFormat
from trainer.data import Example, response_code
from trainer.evaluate.metrics import outcome_rates
from trainer.stop_rules import StopRules

if TYPE_CHECKING:  # torch loads with generation only: score-only evaluation runs without it
    from trainer.rollout import RewardWorkers

def expected_text(example: Example) -> str | None:
    """What the response should have written: the reference minus the code prefix (when
    the reference starts with it, as in completion), else the whole reference."""
    reference = example.reference
    if reference is None:
        return None
    prefix = example.code_prefix or ""
    return reference[len(prefix):] if prefix and reference.startswith(prefix) else reference


def evaluate_policy(
    policy: Any,
    examples: Sequence[Example],
    scorer: RewardWorkers,
    *,
    max_prompt_tokens: int,
    max_new_tokens: int,
    rules: StopRules,
    truncation_side: str = "auto",
    temperature: float = 0.0,
    top_k: int = 0,
    top_p: float = 1.0,
    chunk_size: int = 8,
    progress: Callable[[int, int], None] | None = None,
    with_kl: bool = True,
    chat: ChatFormat | None = None,
) -> list[dict[str, Any]]:
    """Generate one response per example (greedy by default), score it, and return one
    record per example (see the module docstring). `progress(done, total)` is called
    after each chunk of `chunk_size` examples. `with_kl=False` skips the two forward
    passes the KL needs and records a KL of 0 (right for a policy that still equals
    its reference, e.g. before the first update). `chat`: chat prompts, the answers read
    out of the replies (``response`` is the answer; ``reply`` the whole reply)."""
    from trainer.rollout import collect

    records: list[dict[str, Any]] = []
    chunk_size = max(1, chunk_size)
    for start in range(0, len(examples), chunk_size):
        chunk = list(examples[start: start + chunk_size])
        batch = collect(policy, chunk, scorer, max_prompt_tokens=max_prompt_tokens,
                        max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k,
                        top_p=top_p, rules=rules, truncation_side=truncation_side,
                        with_values=False, with_logprobs=with_kl, chat=chat)
        mask = batch.response_mask.float()
        kl = ((batch.kl_logprobs - batch.ref_logprobs) * mask).sum(1).tolist()
        lengths = mask.sum(1).tolist()
        replies = batch.replies or [None] * len(chunk)
        for ex, text, scored, end, k, n, reply in zip(chunk, batch.texts, batch.scored,
                                                       batch.ends, kl, lengths, replies):
            expected = expected_text(ex)
            text = response_code(ex, text)  # XLCoST-style answers read like XLCoST's data
            records.append({
                "id": getattr(ex, "id", ""), "language": ex.language,
                "prompt_tail": ex.prompt[-300:], "response": text, "expected": expected,
                "reward": scored.total, "components": scored.components(),
                "outcome": scored.outcome, "end": end, "tokens": int(n), "kl": float(k),
                "exact_match": None if expected is None else exact_match(text, expected),
                "edit_sim": None if expected is None else edit_similarity(text, expected),
                "has_tests": ex.tests is not None,
                "errors": scored.errors[:2], "reply": reply,
            })
        if progress is not None:
            progress(min(start + chunk_size, len(examples)), len(examples))
    return records


def summarize(records: Sequence[dict[str, Any]], examples: Sequence[Example]) -> dict[str, float]:
    """The eval metrics (without the ``eval/`` prefix) of records aligned with `examples`."""
    if not records:
        return {}
    m: dict[str, float] = {"reward": float(np.mean([r["reward"] for r in records])),
                           "kl": float(np.mean([r["kl"] for r in records])),
                           "length": float(np.mean([r["tokens"] for r in records]))}
    rates = outcome_rates([r["outcome"] for r in records], [r["has_tests"] for r in records],
                          [r["end"] for r in records],  # test_error: the tests could not run
                          untested=("not_run", "test_error"))
    m.update(rates)  # compile_rate, pass_rate, end/<reason>, empty
    with_expected = [r for r in records if r["expected"] is not None]
    if with_expected:
        m["exact_match"] = float(np.mean([r["exact_match"] for r in with_expected]))
        m["edit_sim"] = float(np.mean([r["edit_sim"] for r in with_expected]))
    bleu = corpus_codebleu(records, examples)
    if bleu is not None:
        m["codebleu"] = bleu
    return m


def corpus_codebleu(records: Sequence[dict[str, Any]], examples: Sequence[Example]) -> float | None:
    """Corpus CodeBLEU of the whole programs (code prefix + response) against their
    references, per language, averaged with the languages' example counts as weights."""
    from rewards import codebleu

    groups: dict[str, tuple[list[str], list[str]]] = defaultdict(lambda: ([], []))
    for rec, ex in zip(records, examples):
        if ex.reference is None:
            continue
        refs, cands = groups[ex.language]
        refs.append(ex.reference)
        cands.append((ex.code_prefix or "") + rec["response"])
    if not groups:
        return None
    total = sum(len(refs) for refs, _ in groups.values())
    return float(sum(codebleu(refs, cands, lang=lang).codebleu * len(refs)
                     for lang, (refs, cands) in groups.items()) / total)

