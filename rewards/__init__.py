"""PPOCoder rewards: execution feedback, structural match, CodeBLEU and their composition."""

from rewards.composite import (
    RewardBreakdown,
    RewardConfig,
    RewardSpec,
    Sample,
    as_breakdowns,
    import_reward,
    resolve_reward,
    score,
    score_iter,
)

__all__ = ["RewardBreakdown", "RewardConfig", "RewardSpec", "Sample", "as_breakdowns",
           "import_reward", "resolve_reward", "score", "score_iter"]

# CodeBLEU metric (corpus-level and per-sample) and plain BLEU.
from rewards.bleu_metric import bleu  # noqa: E402
from rewards.codebleu_metric import (  # noqa: E402
    CodeBLEUResult,
    codebleu,
    codebleu_per_sample,
    codebleu_with_samples,
)

__all__ += ["CodeBLEUResult", "bleu", "codebleu", "codebleu_per_sample", "codebleu_with_samples"]

# Execution feedback: compile and unit-test rewards in the sandbox.
from rewards.execution import (  # noqa: E402
    CompileResult,
    RewardValues,
    TestResult,
    TestSpec,
    compile_feedback,
    run_tests,
)

__all__ += ["CompileResult", "RewardValues", "TestResult", "TestSpec", "compile_feedback", "run_tests"]

# Structural rewards: AST match (R_ast) and data-flow match (R_dfg), native engine.
from rewards.ast_dfg import StructuralScores, ast_match, dfg_match  # noqa: E402

__all__ += ["StructuralScores", "ast_match", "dfg_match"]

# Reading answers out of model responses, and tests out of published dataset formats.
from rewards.extraction import Answer, AnswerPolicy, extract_answer  # noqa: E402
from rewards.test_formats import read_tests  # noqa: E402

__all__ += ["Answer", "AnswerPolicy", "extract_answer", "read_tests"]
