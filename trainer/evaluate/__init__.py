"""Evaluation: training's held-out evaluation (`policy`) and the report of ``python -m
trainer.evaluate`` (`__main__`: the command; `options`, `samples`, `report`; `stats`: pass@k
and bootstrap intervals); `metrics`: the outcome rates, shared with training's logging.
Nothing here loads torch until a policy generates."""

from trainer.evaluate.metrics import RAN, outcome_rates
from trainer.evaluate.options import EvalConfig, EvalError, run_defaults
from trainer.evaluate.policy import corpus_codebleu, evaluate_policy, expected_text, summarize
from trainer.evaluate.report import build_report, evaluate, markdown
from trainer.evaluate.samples import load_problems, problem_index, read_samples

__all__ = ["RAN", "EvalConfig", "EvalError", "build_report", "corpus_codebleu", "evaluate",
           "evaluate_policy", "expected_text", "load_problems", "markdown", "outcome_rates",
           "problem_index", "read_samples", "run_defaults", "summarize"]
