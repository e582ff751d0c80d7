"""Advantages of one rollout batch, by estimator (``ppo.advantage``), with line credit.

    gae   rewards_t = score on the last kept token - kl_coef * KL_t on every kept token;
          GAE with the value head's estimates; whitened over the global batch.
    grpo  A = (s - mean(group)) / (std(group) + eps) on every token of a response, over
          the k samples of its prompt. The KL is no reward: `trainer.update.ppo_update`
          adds kl_coef * KL_t (k3 by default) to the loss, as GRPO does.
    rloo  s' = s - kl_coef * sum_t KL_t (k1 by default); A = s' - mean of the other
          k - 1 samples' s', on every token of the response.

Why rloo's KL is in the score and not in the loss: RLOO (Ahmadian et al. 2024) treats
the whole response as one action whose reward is r - beta * log(pi / pi_ref), and
TRL's RLOO trainer does the same. With k1 (the sum of log pi - log pi_ref over the
response) REINFORCE on that reward is an unbiased gradient of E[r] - beta KL(pi || pi_ref)
(the extra term beta E[grad log pi] is zero), so the KL needs no loss term, and the
adaptive KL controller (``ppo.kl_target``) steers it exactly as for gae.

grpo/rloo advantages are never whitened over the batch: that would mix the groups
(grpo is already standardised within each group; rloo stays in the score's units, as
in the RLOO paper).

Line credit (``reward.line_credit`` = p > 0): the tokens of the program lines execution
feedback names (`rewards.RewardBreakdown.error_lines`, mapped to tokens by
`trainer.rollout.response_lines`) get -p on top: on the token rewards before GAE (gae,
so the value head sees it too), on the advantages (grpo, rloo). An empty response (outcome
``empty``) has no line to name, so its last kept token (the one that stopped it) takes
the largest total penalty of the batch: without it, answering nothing scored above a
failed attempt and training learned to stop (measured: empty held-out answers 16% ->
25%, seed 0 of `bench/learning.py --variants gae-line-credit`).

Groups: rows g * k .. g * k + k - 1 are the k samples of prompt g (`trainer.ppo`
repeats each prompt k times in a row after sharding whole prompts over ranks); the
group estimators check that each group's rows share one prompt.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from core.shaping import gae, grpo, line_penalty, rloo, token_kl, token_rewards
from trainer.config import PPOSettings
from trainer.distributed import Dist, global_whiten
from trainer.rollout import Rollout
from trainer.update import NonFiniteError


@dataclass
class Advantages:
    """What the PPO update and the metrics need from one batch; tensors (B, T)."""

    advantages: torch.Tensor
    returns: torch.Tensor | None
    """Value targets (gae); None for the critic-free estimators."""
    kl: torch.Tensor
    """Per-token KL estimate of the sampled responses (in the reward for gae/rloo)."""
    rewards: torch.Tensor | None = None
    """Token rewards before GAE, line credit included (gae); None otherwise."""
    metrics: dict[str, float] = field(default_factory=dict)


def grouped(values: torch.Tensor, query_ids: torch.Tensor, k: int) -> torch.Tensor:
    """(B,) per-response values as (G, k) groups, after checking that the k rows of each
    group hold the same prompt (ValueError otherwise: a split group has no baseline)."""
    n = values.shape[0]
    if k < 2 or n % k:
        raise ValueError(f"{n} responses do not form groups of {k} samples per prompt")
    queries = query_ids.reshape(n // k, k, -1)
    if not bool((queries == queries[:, :1]).all()):
        bad = int((queries != queries[:, :1]).flatten(1).any(1).nonzero()[0])
        raise ValueError(f"group {bad} (rows {bad * k}..{bad * k + k - 1}) holds different "
                         "prompts: the samples of a prompt must be consecutive rows")
    return values.reshape(n // k, k)


def estimate_advantages(
    batch: Rollout, pc: PPOSettings, group_size: int, kl_coef: float, dist: Dist, *,
    line_credit: float = 0.0, lines: torch.Tensor | None = None,
) -> Advantages:
    """Advantages of `batch` by ``pc.advantage`` (see the module docstring).

    `group_size` is k, the samples per prompt (grpo/rloo); `kl_coef` the current KL
    coefficient; `lines` the (B, T) program line of each token (`response_lines`),
    needed when `line_credit` > 0.
    """
    mask = batch.response_mask
    estimator = pc.kl_estimator_used()
    if line_credit > 0 and lines is None:
        raise ValueError("line credit needs the line of each token (trainer.rollout.response_lines)")
    errors = [s.error_lines for s in batch.scored]

    def credit(x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        if line_credit <= 0:
            return x, {}
        shaped = line_penalty(x, lines, errors, mask, line_credit)
        hit = (shaped != torch.where(mask.bool(), x, torch.zeros_like(x))).sum(1).float()
        metrics = {"credit/penalised_tokens": float(hit.mean()),
                   "credit/responses": float((hit > 0).float().mean())}
        # stopping must not pay: an empty response (nothing to name a line in) would
        # otherwise escape the penalty a failed attempt takes, so its deciding token takes
        # the largest penalty of any response in the batch (all ranks)
        empty = torch.tensor([s.outcome == "empty" for s in batch.scored], device=x.device)
        kept = mask.sum(1) > 0
        worst = dist.max(hit.max())
        if bool((empty & kept).any()) and float(worst) > 0:
            rows = (empty & kept).nonzero().flatten()
            last = mask.shape[1] - 1 - mask[rows].flip(1).argmax(1)
            shaped = shaped.clone()
            shaped[rows, last] -= line_credit * worst.to(shaped.dtype)
        metrics["credit/empty_penalty"] = float(line_credit * worst) if bool(empty.any()) else 0.0
        return shaped, metrics

    if pc.advantage == "gae":
        if batch.values is None:
            raise ValueError("gae needs the value head's estimates (collect with_values=True)")
        rewards, kl = token_rewards(batch.scores, batch.kl_logprobs, batch.ref_logprobs, mask,
                                    kl_coef, estimator)
        if not torch.isfinite(rewards).all():
            raise NonFiniteError("token rewards are not finite: the policy or reference "
                                 "log-probs overflowed (try a lower lr or float32)")
        rewards, metrics = credit(rewards)
        advantages, returns = gae(rewards, batch.values, mask, pc.gamma, pc.lam)
        if pc.whiten_advantages:
            advantages = global_whiten(advantages, mask, dist)
        return Advantages(advantages, returns, kl, rewards, metrics)

    kl = token_kl(batch.kl_logprobs, batch.ref_logprobs, mask, estimator)
    if pc.advantage == "grpo":
        advantages = grpo(grouped(batch.scores, batch.query_ids, group_size), mask)
    else:
        scores = batch.scores - kl_coef * kl.sum(1)
        if not torch.isfinite(scores).all():
            raise NonFiniteError("KL-regularised scores are not finite: the policy or "
                                 "reference log-probs overflowed (try a lower lr or float32)")
        advantages = rloo(grouped(scores, batch.query_ids, group_size), mask)
    advantages, metrics = credit(advantages)
    return Advantages(advantages, None, kl, None, metrics)
