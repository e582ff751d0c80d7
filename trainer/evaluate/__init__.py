"""Evaluation: training's held-out evaluation (`policy`), the report of ``python -m
trainer.evaluate`` (`__main__`: the command; `report`; `stats`: pass@k and bootstrap
intervals) and `metrics`, the outcome rates shared with training's logging. Nothing here
loads torch until a policy generates."""

from trainer.evaluate.metrics import RAN, outcome_rates
from trainer.evaluate.policy import corpus_codebleu, evaluate_policy, expected_text, summarize
from trainer.evaluate.report import (
    EvalConfig,
    EvalError,
    build_report,
    evaluate,
    load_problems,
    markdown,
    problem_index,
    read_samples,
    run_defaults,
)

__all__ = ["RAN", "EvalConfig", "EvalError", "build_report", "corpus_codebleu", "evaluate",
           "evaluate_policy", "expected_text", "load_problems", "markdown", "outcome_rates",
           "problem_index", "read_samples", "run_defaults", "summarize"]
