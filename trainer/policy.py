"""The policy: a Hugging Face causal or encoder-decoder LM plus a scalar value head.

One interface for both model families:

- `Policy.generate(query_ids, query_mask, ...)` samples raw response tokens;
  `Policy.finish_responses` masks everything after the first EOS (kept as the last
  real token) or after a per-row cut (see `trainer.generation`, which does both).
- `Policy.token_stats(query_ids, query_mask, response_ids, response_mask)` returns, for
  every response token, its log-probability under the policy's sampling distribution,
  the value estimate of the state it was sampled in and the policy's entropy there,
  all (B, T).
- `Policy.ref_logprobs(...)` gives the same log-probabilities under the frozen
  reference model. With LoRA the reference is the base weights with the adapters
  switched off (no second copy in memory); otherwise a frozen deep copy.

The value head reads the backbone's last hidden state (shared backbone, as in the
PPOCoder paper); `separate_critic=True` gives the critic its own copy of the backbone.
Critic-free estimators (GRPO, RLOO) load the policy with ``value_head=False``: no value
head parameters, and no forward pass keeps hidden states for one.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from trainer.chat import end_of_turn_ids
from trainer.models import resolve_model


@dataclass
class TokenStats:
    """Per-token quantities of a batch of responses, each (B, T), zero on padding."""

    logprobs: torch.Tensor
    """Log-probs under the sampling distribution (temperature, top-k, top-p): the PPO ratio."""
    values: torch.Tensor | None
    entropy: torch.Tensor | None
    kl_logprobs: torch.Tensor | None = None
    """Log-probs under temperature alone (no top-k/top-p cut), compared with the reference
    model's for the KL; the same tensor as `logprobs` when no cut is configured."""


def _dtype(name: str, device: torch.device) -> torch.dtype:
    if name == "auto":
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


def _is_seq2seq(config: Any) -> bool:
    return bool(getattr(config, "is_encoder_decoder", False))


class Policy(nn.Module):
    """Actor (LM) + critic (value head, unless ``value_head=False``) + access to the
    frozen reference model."""

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        lora: bool,
        critic: nn.Module | None = None,
        reference: nn.Module | None = None,
        value_head: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.tokenizer = tokenizer
        self.is_seq2seq = _is_seq2seq(model.config)
        self.lora = lora
        if critic is not None and not value_head:
            raise ValueError("a separate critic needs a value head (value_head=True)")
        self.critic = critic
        self.value_head: nn.Linear | None = None
        if value_head:
            hidden = _hidden_size(model.config)
            self.value_head = nn.Linear(hidden, 1)
            nn.init.normal_(self.value_head.weight, std=1.0 / math.sqrt(hidden + 1))
            nn.init.zeros_(self.value_head.bias)
        # Not a registered submodule: it is frozen and never part of a checkpoint.
        self._reference = [reference] if reference is not None else []
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        self.pad_token_id = int(tokenizer.pad_token_id)
        eos = tokenizer.eos_token_id
        if eos is None:
            raise ValueError("the tokenizer has no EOS token; responses could never end")
        self.eos_token_id = int(eos)
        extra = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
        extra = [extra] if isinstance(extra, int) else list(extra or [])
        self.eos_token_ids = frozenset([self.eos_token_id, *map(int, extra),
                                        *end_of_turn_ids(tokenizer)])
        """Every token that ends a response (the tokenizer's EOS, the model's own and the
        chat template's end-of-turn token)."""

    # ------------------------------------------------------------------ construction

    @classmethod
    def load(
        cls,
        name_or_path: str,
        *,
        device: str | torch.device = "cpu",
        dtype: str = "auto",
        lora: bool = True,
        lora_r: int = 8,
        lora_alpha: int = 16,
        lora_dropout: float = 0.0,
        lora_target_modules: str | list[str] = "all-linear",
        separate_critic: bool = False,
        trust_remote_code: bool = False,
        value_head: bool = True,
    ) -> Policy:
        """Load a hub name, a local folder or the embedded default (see `trainer.models`).

        The architecture decides causal vs. encoder-decoder. Weights are fp32 on CPU and
        bf16 (or fp16) on GPU with ``dtype="auto"``; the value head stays fp32.

        A run's exported ``final/`` folder loads too: a LoRA adapter folder (with
        ``lora=True``; its base model is read from ``adapter_config.json`` and stays the
        reference) or a full-weights folder; ``value_head.safetensors`` there is restored.

        ``value_head=False`` (critic-free training, inference) makes no value head and
        ignores a saved one; ``separate_critic`` then raises ValueError.
        """
        from transformers import (
            AutoConfig,
            AutoModelForCausalLM,
            AutoModelForSeq2SeqLM,
            AutoTokenizer,
        )

        if separate_critic and not value_head:
            raise ValueError("separate_critic=True needs a value head (value_head=True)")
        device = torch.device(device)
        path = resolve_model(name_or_path)
        adapter = Path(path) / "adapter_config.json"
        base = path
        if adapter.is_file():
            if not lora:
                raise ValueError(f"{path} holds LoRA adapters: load it with lora=True")
            base = resolve_model(json.loads(adapter.read_text())["base_model_name_or_path"])
        config = AutoConfig.from_pretrained(base, trust_remote_code=trust_remote_code)
        auto = AutoModelForSeq2SeqLM if _is_seq2seq(config) else AutoModelForCausalLM
        torch_dtype = _dtype(dtype, device)

        def load_backbone() -> nn.Module:
            m = auto.from_pretrained(base, dtype=torch_dtype, trust_remote_code=trust_remote_code)
            m.eval()  # no dropout: PPO ratios must compare like with like
            return m.to(device)

        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=trust_remote_code)
        tokenizer.padding_side = "left" if not _is_seq2seq(config) else "right"
        tokenizer.truncation_side = "left"  # keep the end of an over-long prompt
        model = load_backbone()
        critic = load_backbone() if separate_critic else None
        reference = None
        if lora:
            model, critic = _with_lora(model, critic, path if adapter.is_file() else None,
                                       r=lora_r, alpha=lora_alpha, dropout=lora_dropout,
                                       target_modules=lora_target_modules)
        else:
            reference = copy.deepcopy(model)
            for p in reference.parameters():
                p.requires_grad_(False)
        policy = cls(model, tokenizer, lora=lora, critic=critic, reference=reference,
                     value_head=value_head)
        head = Path(path) / "value_head.safetensors"
        if policy.value_head is not None and head.is_file():
            from safetensors.torch import load_file

            policy.value_head.load_state_dict(load_file(str(head)))
        return policy.to(device)

    # ------------------------------------------------------------------------ helpers

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        """Every parameter the optimiser updates (LoRA adapters or full weights, value head if any)."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        """Restore what `trainable_state_dict` saved; missing or extra names raise ValueError."""
        params = {n: p for n, p in self.named_parameters() if p.requires_grad}
        if set(params) != set(state):
            missing = sorted(set(params) - set(state))[:5]
            extra = sorted(set(state) - set(params))[:5]
            heads = [n for n in missing + extra if n.startswith("value_head.")]
            hint = (" (one of them has a value head and the other not: gae vs grpo/rloo)"
                    if heads and len(heads) == len(missing + extra) else "")
            raise ValueError(f"checkpoint does not match the model: missing {missing}, "
                             f"extra {extra}{hint}")
        with torch.no_grad():
            for n, p in params.items():
                p.copy_(state[n].to(p.device, p.dtype))

    def _reference_context(self) -> Any:
        if self.lora:
            return self.model.disable_adapter()
        return contextlib.nullcontext()

    def _reference_model(self) -> nn.Module:
        return self.model if self.lora else self._reference[0]

    # --------------------------------------------------------------------- generation

    @torch.no_grad()
    def generate(
        self,
        query_ids: torch.Tensor,
        query_mask: torch.Tensor,
        *,
        max_new_tokens: int,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        stopping_criteria: Any = None,
    ) -> torch.Tensor:
        """Sample one response per query row: the raw tokens (B, T), T <= max_new_tokens.

        `temperature == 0` decodes greedily; top-k / top-p (0 / 1 = off) cut the
        distribution after the temperature, as `token_stats` does. A row stops at an
        EOS or when `stopping_criteria` (a `transformers` stopping criterion) says so;
        what follows is padding. `finish_responses` turns the result into (ids, mask).
        """
        from transformers import GenerationConfig, StoppingCriteriaList

        if max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {max_new_tokens}")
        sample = temperature > 0
        # top_k / top_p are given explicitly: None would let library defaults apply.
        gcfg = GenerationConfig(
            max_new_tokens=max_new_tokens, do_sample=sample,
            temperature=temperature if sample else None,
            top_k=top_k if sample else None, top_p=top_p if sample else None,
            pad_token_id=self.pad_token_id, eos_token_id=sorted(self.eos_token_ids),
        )
        if self.is_seq2seq:
            dec_start = self.model.config.decoder_start_token_id
            if dec_start is None:
                dec_start = self.pad_token_id
            gcfg.decoder_start_token_id = dec_start
        extra = {}
        if stopping_criteria is not None:
            extra["stopping_criteria"] = StoppingCriteriaList([stopping_criteria])
        out = self.model.generate(input_ids=query_ids, attention_mask=query_mask,
                                  generation_config=gcfg, **extra)
        # Causal output repeats the (left-padded) query; seq2seq starts with the start token.
        return out[:, 1:] if self.is_seq2seq else out[:, query_ids.shape[1]:]

    def finish_responses(
        self, response: torch.Tensor, limits: Sequence[int | None] | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Keep each row up to its first EOS (kept) and, when ``limits[r]`` is given, its
        first ``limits[r]`` tokens; everything after is padding. Returns (ids, mask)."""
        if response.shape[1] == 0:
            return response, torch.zeros_like(response)
        is_eos = torch.zeros_like(response, dtype=torch.bool)
        for e in self.eos_token_ids:
            is_eos |= response == e
        # Real = at or before the first EOS: no EOS strictly before this position.
        eos_before = torch.cumsum(is_eos.long(), dim=1) - is_eos.long()
        mask = eos_before == 0
        if limits is not None:
            cap = torch.tensor([response.shape[1] if n is None else n for n in limits],
                               device=response.device)
            mask &= torch.arange(response.shape[1], device=response.device)[None, :] < cap[:, None]
        ids = torch.where(mask, response, torch.full_like(response, self.pad_token_id))
        return ids, mask.long()

    # ---------------------------------------------------------------------- scoring

    def _forward(
        self,
        model: nn.Module,
        query_ids: torch.Tensor,
        query_mask: torch.Tensor,
        response_ids: torch.Tensor,
        response_mask: torch.Tensor,
        hidden: bool = True,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Logits (B, T, V) predicting each response token, and the last hidden states
        (B, T, H) when `hidden` (asking for them keeps every layer's output alive)."""
        T = response_ids.shape[1]
        if self.is_seq2seq:
            start = model.config.decoder_start_token_id
            if start is None:
                start = self.pad_token_id
            dec_in = torch.cat(
                [torch.full_like(response_ids[:, :1], start), response_ids[:, :-1]], dim=1)
            dec_mask = torch.cat([torch.ones_like(response_mask[:, :1]), response_mask[:, :-1]], 1)
            out = model(input_ids=query_ids, attention_mask=query_mask, decoder_input_ids=dec_in,
                        decoder_attention_mask=dec_mask, output_hidden_states=hidden)
            return out.logits, out.decoder_hidden_states[-1] if hidden else None
        Lq = query_ids.shape[1]
        ids = torch.cat([query_ids, response_ids], dim=1)  # (B, Lq + T)
        attn = torch.cat([query_mask, response_mask], dim=1)
        pos = (attn.cumsum(1) - 1).clamp(min=0)  # left padding: positions start at the prompt
        extra = {"logits_to_keep": T + 1} if _keeps_logits(model) else {}
        out = model(input_ids=ids, attention_mask=attn, position_ids=pos,
                    output_hidden_states=hidden, **extra)
        # Position Lq - 1 + t predicts response token t. With logits_to_keep the LM head
        # only ran on the last T + 1 positions (the prompt's logits are never needed).
        logits = out.logits[:, :T] if extra else out.logits[:, Lq - 1: Lq - 1 + T]
        return logits, out.hidden_states[-1][:, Lq - 1: Lq - 1 + T] if hidden else None

    def token_stats(
        self,
        query_ids: torch.Tensor,
        query_mask: torch.Tensor,
        response_ids: torch.Tensor,
        response_mask: torch.Tensor,
        *,
        temperature: float = 1.0,
        top_k: int = 0,
        top_p: float = 1.0,
        with_values: bool = True,
        with_entropy: bool = False,
    ) -> TokenStats:
        """Log-probs, values and (optionally) entropy of each response token, (B, T).

        The log-probs are those of the distribution the responses were sampled from:
        logits divided by `temperature`, then cut to the `top_k` most likely tokens and
        to the smallest set of probability >= `top_p` (0 and 1 switch the cuts off), in
        the order `transformers` applies them when sampling. ``kl_logprobs`` are the
        temperature-only log-probs (see `TokenStats`). `with_values` on a policy without
        a value head raises ValueError.
        """
        if with_values and self.value_head is None:
            raise ValueError("this policy has no value head (loaded with value_head=False): "
                             "ask for with_values=False")
        logits, hidden = self._forward(self.model, query_ids, query_mask, response_ids,
                                       response_mask, hidden=with_values and self.critic is None)
        logprobs, kl_logprobs, entropy = _token_logprobs(logits, response_ids, temperature,
                                                         top_k, top_p, with_entropy)
        real = response_mask.bool()
        values = None
        if with_values:
            assert self.value_head is not None
            if self.critic is not None:
                _, hidden = self._forward(self.critic, query_ids, query_mask, response_ids,
                                          response_mask)
            assert hidden is not None
            values = self.value_head(hidden.to(self.value_head.weight.dtype)).squeeze(-1)
            values = torch.where(real, values, torch.zeros_like(values))

        def masked(x: torch.Tensor | None) -> torch.Tensor | None:
            return None if x is None else torch.where(real, x, torch.zeros_like(x))

        return TokenStats(logprobs=masked(logprobs), values=values, entropy=masked(entropy),
                          kl_logprobs=masked(kl_logprobs))

    @torch.no_grad()
    def ref_logprobs(
        self,
        query_ids: torch.Tensor,
        query_mask: torch.Tensor,
        response_ids: torch.Tensor,
        response_mask: torch.Tensor,
        *,
        temperature: float = 1.0,
    ) -> torch.Tensor:
        """Log-probs (B, T) of the response tokens under the frozen reference model, at
        `temperature` with no top-k/top-p cut (compared with `TokenStats.kl_logprobs`)."""
        with self._reference_context():
            logits, _ = self._forward(self._reference_model(), query_ids, query_mask,
                                      response_ids, response_mask, hidden=False)
        _, logprobs, _ = _token_logprobs(logits, response_ids, temperature, 0, 1.0, False)
        return torch.where(response_mask.bool(), logprobs, torch.zeros_like(logprobs))


LOGPROB_FLOOR = -100.0
"""Log-prob given to a token outside the top-k/top-p set (instead of -inf): after an
update, a token sampled from the old set may fall out of the new one; its PPO ratio is
then ~0 and every statistic stays finite."""


def _token_logprobs(
    logits: torch.Tensor, tokens: torch.Tensor, temperature: float, top_k: int, top_p: float,
    with_entropy: bool,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(sampling-distribution log-probs, temperature-only log-probs, entropy of the
    sampling distribution) of `tokens` (B, T) under `logits` (B, T, V)."""
    logits = logits.float()
    if temperature > 0 and temperature != 1.0:
        logits = logits / temperature
    plain = torch.log_softmax(logits, dim=-1)  # (B, T, V)
    plain_lp = plain.gather(-1, tokens.unsqueeze(-1)).squeeze(-1)
    cut = _cut_logits(logits, top_k, top_p)
    if cut is None:
        lp_all, lp = plain, plain_lp
    else:
        lp_all = torch.log_softmax(cut, dim=-1)
        lp = lp_all.gather(-1, tokens.unsqueeze(-1)).squeeze(-1).clamp(min=LOGPROB_FLOOR)
    entropy = None
    if with_entropy:
        p = lp_all.exp()
        entropy = -torch.where(p > 0, p * lp_all, torch.zeros_like(p)).sum(-1)
    return lp, plain_lp, entropy


def _cut_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor | None:
    """Logits with tokens outside the top-k / top-p set at -inf (None: no cut applies).
    Same rules as transformers' TopKLogitsWarper then TopPLogitsWarper (keep >= 1 token)."""
    V = logits.shape[-1]
    if not (0 < top_k < V) and not top_p < 1.0:
        return None
    if 0 < top_k < V:
        kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        ascending, order = torch.sort(logits, dim=-1)
        cumulative = ascending.softmax(dim=-1).cumsum(dim=-1)
        drop = cumulative <= 1.0 - top_p
        drop[..., -1] = False  # the most likely token always stays
        logits = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
    return logits


def _keeps_logits(model: nn.Module) -> bool:
    """Whether the causal LM's forward takes `logits_to_keep` (most HF decoders do)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        return "logits_to_keep" in inspect.signature(base.forward).parameters
    except (TypeError, ValueError):
        return False


def _hidden_size(config: Any) -> int:
    for name in ("hidden_size", "d_model", "n_embd"):
        value = getattr(config, name, None)
        if isinstance(value, int):
            return value
    raise ValueError(f"cannot find the hidden size in {type(config).__name__}")


def _with_lora(model: nn.Module, critic: nn.Module | None, adapters: str | None, *, r: int,
               alpha: int, dropout: float, target_modules: str | list[str]
               ) -> tuple[nn.Module, nn.Module | None]:
    """`model` with trainable LoRA adapters (those saved in folder `adapters`, else new ones),
    and `critic` with new ones of its own."""
    from peft import LoraConfig, PeftModel, get_peft_model

    lcfg = LoraConfig(r=r, lora_alpha=alpha, lora_dropout=dropout, target_modules=target_modules,
                      bias="none")
    if adapters is not None:
        model = PeftModel.from_pretrained(model, adapters, is_trainable=True)
    else:
        model = get_peft_model(model, lcfg)
    if critic is not None:
        critic = get_peft_model(critic, copy.deepcopy(lcfg))
    return model, critic
