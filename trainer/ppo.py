"""PPO for code generation with PPOCoder rewards: ``python -m trainer.ppo``.

    python -m trainer.ppo                                 # embedded default, CPU-friendly
    python -m trainer.ppo --config my.yaml                # YAML with the same field names
    python -m trainer.ppo --model.name-or-path Salesforce/codet5-base --ppo.steps 100
    torchrun --nproc-per-node 2 -m trainer.ppo ...        # DDP: rollouts sharded per rank

One PPO step (read `train` top to bottom):
  1. sample prompts; generate responses; score the programs in background workers
  2. per-token log-probs, reference log-probs and values of the responses
  3-4. advantages by ``ppo.advantage`` (`trainer.advantages`):
     gae: token rewards = score on the last real token - kl_coef * KL (core.shaping),
       GAE advantages / returns, advantages whitened over the whole (global) batch;
     grpo / rloo: one advantage per response from the k samples of its prompt, no
       value head; plus line credit (``reward.line_credit``) on the lines feedback names
  5. several epochs of clipped PPO over shuffled minibatches (policy + value loss;
     grpo: + KL loss; grpo/rloo: minibatches of whole groups, no value loss)
  6. log, checkpoint (atomic; resume is exact), adapt the KL coefficient
A run writes <output_dir>/{config.yaml, metrics.jsonl, tensorboard/, checkpoints/,
final/, plot.png}. Rerunning the same command resumes from the newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from core.shaping import make_kl_controller
from rewards import RewardConfig
from trainer import checkpoint
from trainer.advantages import estimate_advantages
from trainer.chat import ChatFormat
from trainer.config import (
    Config,
    PPOSettings,
    RewardSettings,
    RunSettings,
    config_to_dict,
    parse_cli,
    task_of,
    validate,
)
from trainer.data import Example, load_task
from trainer.distributed import Dist, init_distributed
from trainer.evaluate import evaluate_policy, outcome_rates, summarize
from trainer.metrics import MetricsLogger, read_jsonl
from trainer.models import check_model_source
from trainer.plot import plot_metrics
from trainer.policy import Policy
from trainer.rollout import RewardFn, RewardWorkers, Rollout, collect, response_lines
from trainer.update import NonFiniteError, masked_mean, ppo_update

# ------------------------------------------------------------------------- helpers


class PromptSampler:
    """Deterministic epoch-wise shuffled order over n examples; state is (epoch, position)."""

    def __init__(self, n: int, seed: int) -> None:
        if n < 1:
            raise ValueError("the training set is empty")
        self.n, self.seed, self.epoch, self.pos = n, seed, 0, 0

    def _order(self) -> np.ndarray:
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def take(self, k: int) -> list[int]:
        out: list[int] = []
        while len(out) < k:
            order = self._order()
            chunk = order[self.pos: self.pos + k - len(out)]
            out.extend(int(i) for i in chunk)
            self.pos += len(chunk)
            if self.pos >= self.n:
                self.epoch, self.pos = self.epoch + 1, 0
        return out

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "pos": self.pos, "n": self.n}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["n"] != self.n:
            raise ValueError(f"checkpoint was made on {state['n']} examples, data has {self.n}")
        self.epoch, self.pos = state["epoch"], state["pos"]


def auto_threads() -> int:
    """CPU threads for this process: the cores not already busy, shared by the local ranks."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    ranks = int(os.environ.get("LOCAL_WORLD_SIZE", "1"))
    idle = int((cores or 1) - busy + 0.5) // max(ranks, 1)
    return max(1, min(torch.get_num_threads(), idle))


def lr_lambda(cfg: PPOSettings) -> Any:
    def f(step: int) -> float:
        if cfg.warmup_steps and step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        frac = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
        if cfg.lr_schedule == "linear":
            return max(0.0, 1.0 - frac)
        if cfg.lr_schedule == "cosine":
            return 0.5 * (1.0 + math.cos(math.pi * min(frac, 1.0)))
        return 1.0

    return f


def rollout_metrics(batch: Rollout, examples: list[Example], kl: torch.Tensor) -> dict[str, float]:
    """Reward components, compile/pass rates, KL, lengths and end reasons of one (local) batch."""
    m: dict[str, float] = {"reward/total": float(batch.scores.mean())}
    comps = [s.components() for s in batch.scored]
    for k in sorted({k for c in comps for k in c}):
        m[f"reward/{k}"] = float(np.mean([c[k] for c in comps if k in c]))
    rates = outcome_rates([s.outcome for s in batch.scored],
                          [ex.tests is not None for ex in examples], batch.ends)
    for key, name in (("compile_rate", "rate/compile"), ("pass_rate", "rate/pass")):
        if key in rates:
            m[name] = rates[key]
    lengths = batch.response_mask.sum(1).float()
    m["kl/mean"] = float((kl * batch.response_mask).sum(1).mean())
    m["response/length"] = float(lengths.mean())
    m.update({k: v for k, v in rates.items() if k.startswith("end/")})
    m["response/empty"] = rates["empty"]
    if batch.values is not None:
        m["value/mean"] = float(masked_mean(batch.values, batch.response_mask))
    return m


# --------------------------------------------------------------------------- train


def run_evaluation(policy: Policy, examples: list[Example], scorer: RewardWorkers, cfg: Config,
                   dist: Dist, step: int, log: MetricsLogger,
                   chat: ChatFormat | None = None) -> dict[str, float]:
    """Evaluate on the held-out `examples` (sharded over ranks); rank 0 writes every
    response to eval_samples.jsonl. Returns the ``eval/`` metrics (on every rank)."""
    gc, rc = cfg.generation, cfg.run
    start = time.perf_counter()
    log.status(f"eval at step {step}")
    shard = examples[dist.rank:: dist.world]
    records = evaluate_policy(
        policy, shard, scorer, max_prompt_tokens=gc.max_prompt_tokens,
        max_new_tokens=gc.max_new_tokens, rules=gc.stop_rules(),
        truncation_side=gc.truncation_side, temperature=rc.eval_temperature, top_k=gc.top_k,
        top_p=gc.top_p, chunk_size=rc.eval_batch_size,
        progress=lambda done, total: log.status(f"eval at step {step}: {done}/{total}"),
        with_kl=step > 0,  # at step 0 the policy is its reference: the KL is exactly 0
        chat=chat)
    records = dist.gather(records)
    ordered = [ex for r in range(dist.world) for ex in examples[r:: dist.world]]
    metrics = {f"eval/{k}": v for k, v in summarize(records, ordered).items()}
    metrics["time/eval"] = time.perf_counter() - start
    log.log_eval_samples(step, records)
    log.status(None)
    return metrics


@dataclasses.dataclass
class TrainState:
    """What a checkpoint restores: the policy, its optimizer and schedules, the prompt order."""

    policy: Policy
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    kl_ctl: Any
    sampler: PromptSampler
    step: int = 0
    """The last step done (0: none)."""


def train(
    cfg: Config,
    reward_fn: RewardFn | None = None,
    train_data: list[Example] | None = None,
    eval_data: list[Example] | None = None,
) -> Policy:
    """Run (or resume) PPO as configured; returns the trained policy.

    `reward_fn` (list[Sample] -> list[float]) overrides the configured reward;
    `train_data` / `eval_data` (objects with .prompt/.language/.code_prefix/.reference/
    .tests, e.g. `trainer.data.TaskExample`) override `cfg.data`.
    """
    validate(cfg)
    pc, gc, rc = cfg.ppo, cfg.generation, cfg.run
    device, dist = _distributed(cfg)
    run_dir = Path(rc.output_dir)
    main = dist.rank == 0
    say = _say if main else (lambda *_: None)
    if train_data is None:  # data problems surface before the model loads
        train_data, loaded_eval = load_task(cfg.data)
        eval_data = loaded_eval if eval_data is None else eval_data
    found = checkpoint.latest(run_dir / "checkpoints") if rc.resume else None
    if found is not None and checkpoint.step_of(found) >= pc.steps:
        return _already_finished(cfg, device, found, main, say)
    data, eval_set = train_data, list(eval_data or [])[: rc.eval_examples]
    state = _start(cfg, device, dist, len(data), found)
    policy = state.policy
    _announce(cfg, state.step, len(data), len(eval_set), main, say)
    scorer, log = _services(cfg, reward_fn, state.step, main)
    temperature = gc.temperature if gc.temperature > 0 else 1.0
    rules = gc.stop_rules()
    chat = gc.chat_format(policy.tokenizer, task_of(cfg.data), cfg.model.name_or_path)
    say("prompt format: " + ("chat, through the tokenizer's chat template" if chat else "raw"))
    k = gc.samples_per_prompt
    try:
        if state.step == 0 and eval_set:  # the model before any update, the same way
            log.log(0, dist.mean_metrics(run_evaluation(policy, eval_set, scorer, cfg, dist, 0,
                                                        log, chat)), advance=False)
        for step in range(state.step + 1, pc.steps + 1):
            t0, cpu0 = time.perf_counter(), time.process_time()
            # 1. prompts: the global batch is the same on all ranks; each takes its shard of
            # whole prompts, and each prompt's k samples are consecutive rows (a group)
            idx = state.sampler.take(pc.prompts_per_step)[dist.rank:: dist.world]
            examples = [data[i] for i in idx for _ in range(k)]
            # 2. generate + cut + score (in the background) + logprobs / ref logprobs / values
            batch = collect(policy, examples, scorer, max_prompt_tokens=gc.max_prompt_tokens,
                            max_new_tokens=gc.max_new_tokens, temperature=gc.temperature,
                            top_k=gc.top_k, top_p=gc.top_p, chunk_size=gc.chunk_size,
                            rules=rules, truncation_side=gc.truncation_side,
                            with_values=not pc.critic_free, chat=chat)
            t_rollout = time.perf_counter()
            # 3-4. advantages (gae: token rewards, GAE, whitening over the global batch;
            # grpo / rloo: per group), line credit on the lines feedback names
            credit = cfg.reward.line_credit
            est = estimate_advantages(
                batch, pc, k, state.kl_ctl.value, dist, line_credit=credit,
                lines=response_lines(policy.tokenizer, batch, examples) if credit else None)
            # 5. PPO epochs
            stats = ppo_update(policy, state.optimizer, batch, est.advantages, est.returns, pc,
                               temperature, dist, top_k=gc.top_k, top_p=gc.top_p,
                               group_size=k if pc.critic_free else 1,
                               kl_coef=state.kl_ctl.value if pc.advantage == "grpo" else 0.0)
            state.scheduler.step()
            times = {"t0": t0, "cpu0": cpu0, "rollout": t_rollout, "update": time.perf_counter()}
            # 6. metrics (averaged over ranks), KL controller, evaluation, checkpoint
            metrics = {**rollout_metrics(batch, examples, est.kl), **est.metrics, **stats,
                       **_times(times, batch)}
            if eval_set and ((rc.eval_every and step % rc.eval_every == 0) or step == pc.steps):
                metrics.update(run_evaluation(policy, eval_set, scorer, cfg, dist, step, log, chat))
            _log_step(log, step, dist.mean_metrics(metrics), state, pc.prompts_per_step * k)
            _log_samples(log, step, examples, batch, rc.log_samples)
            if step % rc.save_every == 0 or step == pc.steps:
                _save(run_dir / "checkpoints", step, state, dist, rc)
    finally:
        scorer.close()
        log.close()
    if main:
        _finish(policy, run_dir, rc)
    return policy


def _announce(cfg: Config, start_step: int, n_train: int, n_eval: int, main: bool,
              say: Any) -> None:
    """Rank 0 writes the run's config.yaml; say what the run does."""
    run_dir = Path(cfg.run.output_dir)
    if main:
        run_dir.mkdir(parents=True, exist_ok=True)
        (run_dir / "config.yaml").write_text(yaml.safe_dump(config_to_dict(cfg), sort_keys=False))
    say(f"resumed from step {start_step} of {cfg.ppo.steps} in {run_dir}" if start_step else
        f"training {cfg.model.name_or_path} for {cfg.ppo.steps} steps on {n_train} "
        f"{task_of(cfg.data)} examples ({n_eval} held out for evaluation); "
        f"writing to {run_dir}")


def _distributed(cfg: Config) -> tuple[torch.device, Dist]:
    """Set the CPU threads; this rank's device (under torchrun ``cuda:LOCAL_RANK``) and ranks."""
    rc, pc = cfg.run, cfg.ppo
    torch.set_num_threads(rc.threads if rc.threads > 0 else auto_threads())
    device = torch.device(rc.device if rc.device != "auto" else
                          ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda" and "LOCAL_RANK" in os.environ:
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)  # NCCL collectives use the current device
    dist = init_distributed(device)
    if pc.prompts_per_step % dist.world:
        raise ValueError(f"ppo.prompts_per_step={pc.prompts_per_step} must divide by the "
                         f"{dist.world} ranks")
    return device, dist


def _already_finished(cfg: Config, device: torch.device, found: Path, main: bool,
                      say: Any) -> Policy:
    """A run whose newest checkpoint is its last step: say so; its trained policy."""
    run_dir = Path(cfg.run.output_dir)
    say(f"already finished at step {checkpoint.step_of(found)} of {cfg.ppo.steps}: "
        f"results are in {run_dir} (raise --ppo.steps to train further, or give "
        "another --run.output-dir)")
    if main:
        _print_before_after(run_dir)
    return _load_policy(cfg, device)


def _services(cfg: Config, reward_fn: RewardFn | None, start_step: int,
              main: bool) -> tuple[RewardWorkers, MetricsLogger]:
    """The reward workers (`reward_fn`, else the configured reward) and the metrics logger."""
    spec: Any = reward_fn or cfg.reward.function or _reward_config(cfg.reward)
    scorer = RewardWorkers(spec, cfg.reward.workers, cfg.reward.backend, cfg.reward.ray_address)
    rc = cfg.run
    return scorer, MetricsLogger(Path(rc.output_dir), cfg.ppo.steps, start_step, enabled=main,
                                 tensorboard=rc.tensorboard, progress=rc.progress)


def _start(cfg: Config, device: torch.device, dist: Dist, n_examples: int,
           found: Path | None) -> TrainState:
    """The policy, optimizer, schedules and prompt order, resumed from checkpoint `found`."""
    pc, rc = cfg.ppo, cfg.run
    # Same init on every rank (value head, LoRA), then rank-specific sampling streams.
    torch.manual_seed(rc.seed)
    policy = _load_policy(cfg, device)
    params = [p for p in policy.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=pc.lr, weight_decay=pc.weight_decay)
    state = TrainState(policy, optimizer, torch.optim.lr_scheduler.LambdaLR(optimizer, lr_lambda(pc)),
                       make_kl_controller(pc.kl_coef, pc.kl_target, pc.kl_horizon),
                       PromptSampler(n_examples, rc.seed))
    torch.manual_seed(rc.seed + 1000 * dist.rank)
    np.random.seed(rc.seed + 1000 * dist.rank)
    if found is not None:
        ck = checkpoint.load(found, dist.rank)
        policy.load_trainable_state_dict(ck["trainable"])
        optimizer.load_state_dict(ck["optimizer"])
        state.scheduler.load_state_dict(ck["scheduler"])
        state.kl_ctl.load_state_dict(ck["state"]["kl_controller"])
        state.sampler.load_state_dict(ck["state"]["sampler"])
        checkpoint.set_rng_state(ck["rng"])
        state.step = ck["state"]["step"]
    return state


def _times(t: dict[str, float], batch: Rollout) -> dict[str, float]:
    """The ``time/`` metrics of a step from its clock readings."""
    return {"time/step": t["update"] - t["t0"], "time/step_cpu": time.process_time() - t["cpu0"],
            "time/rollout": t["rollout"] - t["t0"], "time/update": t["update"] - t["rollout"],
            "time/reward": batch.reward_seconds, "time/reward_wait": batch.reward_wait_seconds}


def _log_step(log: MetricsLogger, step: int, metrics: dict[str, float], state: TrainState,
              responses: int) -> None:
    """Log a step's (rank-averaged) metrics with the KL coefficient and learning rate, then
    adapt the KL coefficient to the step's KL."""
    metrics["kl/coef"] = state.kl_ctl.value
    metrics["ppo/lr"] = state.scheduler.get_last_lr()[0]
    state.kl_ctl.update(metrics["kl/mean"], responses)
    log.log(step, metrics)


def _log_samples(log: MetricsLogger, step: int, examples: list[Example], batch: Rollout,
                 limit: int) -> None:
    """The first `limit` responses of the step, with their rewards and outcomes."""
    replies = batch.replies or [None] * len(examples)
    log.log_samples(step, [
        {"prompt_tail": ex.prompt[-200:], "response": text, "reward": s.total,
         "components": s.components(), "outcome": s.outcome, "end": end,
         **({"reply": reply} if reply is not None else {})}
        for ex, text, s, end, reply in zip(examples, batch.texts, batch.scored,
                                           batch.ends, replies)
    ][:limit])


def _finish(policy: Policy, run_dir: Path, rc: RunSettings) -> None:
    """Rank 0 after the last step: export the model, plot the curves, print before/after."""
    _export(policy, run_dir / "final")
    if rc.plot and (run_dir / "metrics.jsonl").is_file():
        plot_metrics(run_dir / "metrics.jsonl", run_dir / "plot.png")
    _print_before_after(run_dir)


def _load_policy(cfg: Config, device: torch.device) -> Policy:
    m = cfg.model
    return Policy.load(
        m.name_or_path, device=device, dtype=m.dtype, lora=m.lora, lora_r=m.lora_r,
        lora_alpha=m.lora_alpha, lora_dropout=m.lora_dropout,
        lora_target_modules=(m.lora_target_modules if m.lora_target_modules == "all-linear"
                             else m.lora_target_modules.split(",")),
        separate_critic=m.separate_critic, trust_remote_code=m.trust_remote_code,
        value_head=not cfg.ppo.critic_free)


def _say(message: str) -> None:
    print(f"[trainer.ppo] {message}", file=sys.stderr, flush=True)


def _print_before_after(run_dir: Path) -> None:
    """Print the held-out metrics before training (step 0) and after the last evaluation."""
    path = run_dir / "metrics.jsonl"
    rows = [r for r in read_jsonl(path) if any(k.startswith("eval/") for k in r)] \
        if path.is_file() else []
    if not rows:
        return
    first, last = rows[0], rows[-1]
    keys = [k for k in EVAL_TABLE if isinstance(first.get(k), (int, float))
            or isinstance(last.get(k), (int, float))]
    lines = [f"held-out evaluation, step {first['step']} -> step {last['step']} "
             f"({run_dir}):", f"  {'metric':<18}{'before':>10}{'after':>10}"]
    for k in keys:
        b, a = first.get(k), last.get(k)
        lines.append(f"  {k[5:]:<18}{_fmt_num(b):>10}{_fmt_num(a):>10}")
    lines.append(f"every response: {run_dir / 'eval_samples.jsonl'}; curves: "
                 f"{run_dir / 'plot.png'}; model: {run_dir / 'final'}")
    print("\n".join(lines), flush=True)


EVAL_TABLE = ("eval/compile_rate", "eval/pass_rate", "eval/exact_match", "eval/edit_sim",
              "eval/codebleu", "eval/reward", "eval/kl", "eval/empty", "eval/end/truncated")
"""Rows of the before/after table printed at the end of a run."""


def _fmt_num(v: Any) -> str:
    return f"{v:.3f}" if isinstance(v, (int, float)) else "-"


def _reward_config(rs: RewardSettings) -> RewardConfig:
    return RewardConfig(**{f.name: getattr(rs, f.name) for f in dataclasses.fields(RewardConfig)})


def _save(ckpt_dir: Path, step: int, state: TrainState, dist: Dist, rc: RunSettings) -> None:
    rng = checkpoint.rng_state()
    if dist.world > 1:
        states: list[Any] = [None] * dist.world
        torch.distributed.all_gather_object(states, rng)
    else:
        states = [rng]
    if dist.rank == 0:
        checkpoint.save(ckpt_dir, step, trainable=state.policy.trainable_state_dict(),
                        optimizer=state.optimizer, scheduler=state.scheduler,
                        state={"kl_controller": state.kl_ctl.state_dict(),
                               "sampler": state.sampler.state_dict()},
                        rng_states=states, keep_last=rc.keep_last)
    if dist.world > 1:
        torch.distributed.barrier()


def _export(policy: Policy, out: Path) -> None:
    """Final weights for users: HF/PEFT folder + tokenizer + value head (safetensors; not
    for a critic-free run)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    policy.model.save_pretrained(out)
    policy.tokenizer.save_pretrained(out)
    if policy.value_head is not None:
        save_file({k: v.detach().cpu().contiguous()
                   for k, v in policy.value_head.state_dict().items()},
                  str(out / "value_head.safetensors"))


def main(argv: list[str] | None = None) -> int:
    # peft calls a transformers API deprecated in v5: harmless, and noisy on every run.
    warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*")
    try:
        cfg = parse_cli(argv, description=__doc__.split("\n\n")[0] if __doc__ else None)
        validate(cfg)
        # Before any model loads: the data (read once here, handed to train) and the model
        # source, each a one-line error.
        train_data, eval_data = load_task(cfg.data)
        check_model_source(cfg.model.name_or_path)
    except ValueError as exc:  # ConfigError, data errors, a model that cannot be found
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        train(cfg, train_data=train_data, eval_data=eval_data)
    except (NonFiniteError, FloatingPointError) as exc:
        print(f"training stopped: {exc}; the last good checkpoint is in "
              f"{Path(cfg.run.output_dir) / 'checkpoints'}", file=sys.stderr)
        return 1
    finally:
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
