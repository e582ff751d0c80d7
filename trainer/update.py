"""The PPO update: clipped policy + value loss, minibatch epochs, DDP gradient averaging.

Kept apart from the loop in `trainer.ppo` so each piece can be tested alone:
`ppo_loss` is a pure function of (B, T) tensors; `minibatch_order` is the shuffle;
`ppo_update` runs the epochs.

Critic-free estimators (``ppo.advantage`` grpo / rloo, see `trainer.advantages`) have no
value loss; grpo adds its KL to the reference model as a loss term instead of a reward.
Their minibatches hold whole groups (the k samples of a prompt): the shuffle permutes
groups, not rows.
"""

from __future__ import annotations

from typing import Any

import torch

from core.shaping import token_kl
from trainer.config import PPOSettings
from trainer.distributed import Dist
from trainer.policy import Policy
from trainer.rollout import Rollout

# ------------------------------------------------------------------------- PPO loss


class NonFiniteError(FloatingPointError):
    """Raised when a reward, loss or gradient is NaN/inf; the last good checkpoint stays."""


def masked_mean(x: torch.Tensor, mask: torch.Tensor, n_tokens: float | None = None) -> torch.Tensor:
    """Mean of x over mask != 0 (0 when the mask is empty).

    With `n_tokens` the sum is divided by it instead of by the mask's count: the
    micro-batch share of a mean over a larger (accumulated) minibatch.
    """
    real = mask.bool()
    total = torch.where(real, x, torch.zeros_like(x)).sum()  # where: padding may hold NaN
    if n_tokens is not None:
        return total / n_tokens if n_tokens > 0 else total * 0.0
    return total / real.sum().clamp(min=1).to(x.dtype)


def ppo_loss(
    logprobs: torch.Tensor,
    values: torch.Tensor | None,
    old_logprobs: torch.Tensor,
    old_values: torch.Tensor | None,
    advantages: torch.Tensor,
    returns: torch.Tensor | None,
    mask: torch.Tensor,
    *,
    clip_range: float,
    clip_range_value: float,
    vf_coef: float,
    entropy: torch.Tensor | None = None,
    ent_coef: float = 0.0,
    kl: torch.Tensor | None = None,
    kl_coef: float = 0.0,
    n_tokens: float | None = None,
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    """Clipped PPO objective over the real tokens of a minibatch; all inputs (B, T).

    loss = max(-A r, -A clip(r, 1 +- eps)) + vf_coef * 0.5 max((V - R)^2, (Vclip - R)^2)
           - ent_coef * H + kl_coef * KL, each a masked token mean; r = exp(logp - old_logp).
    With ``values=None`` (critic-free) there is no value term; `kl` (per-token, with
    grad, e.g. `core.shaping.token_kl`) is GRPO's KL loss term. `n_tokens` (see
    `masked_mean`) makes the losses and stats of micro-batches add up to those of their
    whole minibatch (gradient accumulation).
    """
    def mean(x: torch.Tensor) -> torch.Tensor:
        return masked_mean(x, mask, n_tokens)

    log_ratio = torch.where(mask.bool(), logprobs - old_logprobs, torch.zeros_like(logprobs))
    ratio = torch.exp(log_ratio)
    pg1 = -advantages * ratio
    pg2 = -advantages * torch.clamp(ratio, 1 - clip_range, 1 + clip_range)
    policy_loss = mean(torch.maximum(pg1, pg2))
    loss = policy_loss
    stats: dict[str, torch.Tensor] = {}
    if values is not None:
        if old_values is None or returns is None:
            raise ValueError("ppo_loss: values need old_values and returns")
        v_clipped = old_values + torch.clamp(values - old_values, -clip_range_value,
                                             clip_range_value)
        vf1, vf2 = (values - returns) ** 2, (v_clipped - returns) ** 2
        value_loss = 0.5 * mean(torch.maximum(vf1, vf2))
        loss = loss + vf_coef * value_loss
        stats["loss/value"] = value_loss.detach()
        stats["ppo/value_clipfrac"] = mean((vf2 > vf1).float()).detach()
    if kl is not None:
        kl_loss = mean(kl)
        loss = loss + kl_coef * kl_loss
        stats["loss/kl"] = kl_loss.detach()
    ent = mean(entropy) if entropy is not None else torch.zeros(())
    if entropy is not None and ent_coef:
        loss = loss - ent_coef * ent
    with torch.no_grad():
        stats.update({
            "loss/policy": policy_loss.detach(), "loss/entropy": ent.detach(),
            "ppo/clipfrac": mean((pg2 > pg1).float()),
            "ppo/approx_kl": mean(0.5 * log_ratio**2),
        })
    return loss, stats


def minibatch_order(n_rows: int, group_size: int = 1) -> torch.Tensor:
    """A random order of rows 0..n_rows-1 that keeps groups whole and in order.

    Rows g * group_size .. (g + 1) * group_size - 1 form group g (the k samples of one
    prompt, as the trainer lays them out); the groups are permuted, never the rows
    inside one, so consecutive slices of ``group_size * m`` rows hold m whole groups.
    ``group_size=1`` is a plain ``torch.randperm(n_rows)`` (same draws).
    """
    if group_size < 1 or n_rows % group_size:
        raise ValueError(f"{n_rows} rows do not split into groups of {group_size}")
    groups = torch.randperm(n_rows // group_size)
    return (groups[:, None] * group_size + torch.arange(group_size)).reshape(-1)


def ppo_update(
    policy: Policy, optimizer: torch.optim.Optimizer, batch: Rollout,
    advantages: torch.Tensor, returns: torch.Tensor | None, cfg: PPOSettings,
    temperature: float, dist: Dist, *, top_k: int = 0, top_p: float = 1.0,
    group_size: int = 1, kl_coef: float = 0.0,
) -> dict[str, float]:
    """`cfg.epochs` passes of clipped PPO over shuffled minibatches of `batch`.

    Log-probs are those of the sampling distribution (`temperature`, `top_k`, `top_p`),
    as in the rollout. Losses are token means over the minibatch of every rank together
    (not a mean of per-rank means): ranks whose responses are longer weigh more.

    ``returns=None`` trains without a critic (no value forward pass, no value loss).
    ``kl_coef > 0`` adds ``kl_coef * token_kl(new kl log-probs, reference log-probs)``
    (estimator `cfg.kl_estimator_used()`) to the loss, as GRPO does. With ``group_size
    = k`` minibatches hold whole groups of k consecutive rows (`minibatch_order`);
    ``cfg.minibatch_size`` must then be a multiple of k.
    """
    params = [p for p in policy.parameters() if p.requires_grad]
    B = batch.response_ids.shape[0]
    mb_size = max(1, min(cfg.minibatch_size, B))
    if mb_size % group_size:
        raise ValueError(f"minibatch_size {mb_size} does not hold whole groups of {group_size}")
    critic = returns is not None
    estimator = cfg.kl_estimator_used()
    sums: dict[str, float] = {}
    n_updates = 0
    for _ in range(cfg.epochs):
        order = minibatch_order(B, group_size)
        for start in range(0, B, mb_size):
            mb = order[start: start + mb_size]
            optimizer.zero_grad(set_to_none=True)
            micro = [m for m in mb.chunk(max(1, min(cfg.grad_accum, len(mb))))]
            # Token mean over the minibatches of all ranks: each rank divides its sum by
            # the global count / world, so that averaging gradients gives the global mean.
            local = batch.response_mask[mb].sum().double()
            n_tokens = float(dist.sum(local)) / dist.world
            for idx in micro:
                mask = batch.response_mask[idx]
                T = max(int(mask.sum(1).max()), 1)  # trim padding shared by the micro-batch
                out = policy.token_stats(batch.query_ids[idx], batch.query_mask[idx],
                                         batch.response_ids[idx, :T], mask[:, :T],
                                         temperature=temperature, top_k=top_k, top_p=top_p,
                                         with_values=critic, with_entropy=True)
                kl = None
                if kl_coef > 0:
                    assert out.kl_logprobs is not None
                    kl = token_kl(out.kl_logprobs, batch.ref_logprobs[idx, :T], mask[:, :T],
                                  estimator)
                old_values = batch.values[idx, :T] if critic and batch.values is not None \
                    else None
                loss, stats = ppo_loss(
                    out.logprobs, out.values, batch.logprobs[idx, :T], old_values,
                    advantages[idx, :T], returns[idx, :T] if returns is not None else None,
                    mask[:, :T], clip_range=cfg.clip_range,
                    clip_range_value=cfg.clip_range_value, vf_coef=cfg.vf_coef,
                    entropy=out.entropy, ent_coef=cfg.ent_coef, kl=kl, kl_coef=kl_coef,
                    n_tokens=n_tokens)
                if not torch.isfinite(loss):
                    raise NonFiniteError(f"PPO loss is {loss.item()} ({_fmt(stats)})")
                loss.backward()  # micro-batch losses add up to the minibatch's
                for k, v in stats.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
            if dist.world > 1:
                for p in params:  # DDP: average gradients so every rank takes the same step
                    if p.grad is None:
                        p.grad = torch.zeros_like(p)
                    torch.distributed.all_reduce(p.grad)
                    p.grad /= dist.world
            norm = torch.nn.utils.clip_grad_norm_(params, cfg.max_grad_norm)
            if not torch.isfinite(norm):
                raise NonFiniteError(f"gradient norm is {norm.item()}")
            optimizer.step()
            sums["ppo/grad_norm"] = sums.get("ppo/grad_norm", 0.0) + float(norm)
            n_updates += 1
    optimizer.zero_grad(set_to_none=True)
    return {k: v / max(n_updates, 1) for k, v in sums.items()}


def _fmt(stats: dict[str, Any]) -> str:
    return ", ".join(f"{k}={float(v):.4g}" for k, v in stats.items())
