"""Tasks and data for the PPO trainer: what the policy is asked to write, and how it is judged.

Three tasks (``DataConfig.task``):

* ``completion``: the model sees the start of a function and writes the rest. The
  scored program is ``code_prefix + response``; the reference is the whole function
  (AST / data-flow match) and execution feedback is "does it compile".
* ``translation``: the model sees a program in a source language (inside a prompt
  template) and writes it in the target language; the reference is the known
  translation.
* ``synthesis``: the model sees a problem statement and writes a program that is run
  against unit tests (``TaskExample.tests``); a reference solution is optional.

Sources (``DataConfig.source``):

* ``stdlib`` (default, completion only): built at run time, with no download, from the
  functions of the local Python standard library, CodeSearchNet-style. Files are read
  in sorted order of their path relative to the stdlib root, permuted by ``seed``; a
  file contributes at most ``max_per_file`` functions of ``min_lines``..``max_lines``
  lines (methods are dedented; decorators are not included; exact duplicates are
  kept once; test, encodings and site-packages folders are skipped). The prompt is the
  function minus its last ``completion_holdout`` tokens (tree-sitter leaves, a string
  literal counting as one, comments not counted; or lines, see ``completion_unit``); trailing spaces are left to
  the response. Functions too short to keep at least as many tokens as are held out
  are skipped.
* ``jsonl``: one JSON object per line in ``path`` (eval examples from ``eval_path``,
  or carved from ``path`` by ``eval_fraction``).
* ``hf``: a Hugging Face dataset: a hub name (needs network), a folder written by
  ``Dataset.save_to_disk``, or a local .json/.jsonl/.csv/.parquet file; needs
  ``pip install datasets``.
* ``humaneval``, ``mbpp``, ``apps``, ``codesearchnet``, ``xlcost``: the paper's benchmarks in
  their published formats, each with its own task (see `trainer.benchmarks`).

Field mapping for jsonl/hf records (every name is a ``DataConfig`` field, so
``--data.code-field func_code_string`` adapts CodeSearchNet, for example):

==============  =================================  =====================================
task            required fields                    optional fields
==============  =================================  =====================================
completion      ``code_field`` (whole function)    ``language_field``, ``id_field``
translation     ``source_field``,                  ``source_language_field``,
                ``reference_field`` (target code)  ``language_field``, ``id_field``
synthesis       ``prompt_field``                   ``reference_field``, ``tests_field``,
                                                   ``language_field``, ``id_field``
==============  =================================  =====================================

Unit tests (``tests_field``) are read by `rewards.TestSpec.parse`: test code (a string;
HumanEval's ``test``, run as ``check(<entry_point>)`` with the function named by
``entry_point_field``), a list of assert statements (MBPP's ``test_list``),
``{"inputs": [...], "outputs": [...]}`` as an object or JSON string (APPS'
``input_output``: stdin/stdout cases, or call-based tests with its ``fn_name``), a list of
``[stdin, expected stdout]`` pairs, or an object with the fields of `rewards.TestSpec`.
Examples: HumanEval = ``--data.task synthesis
--data.id-field task_id --data.reference-field canonical_solution --data.tests-field
test --data.prompt-is-code``; MBPP = ``--data.prompt-field text --data.reference-field
code --data.tests-field test_list``; APPS = ``--data.prompt-field question
--data.tests-field input_output`` (its ``solutions`` is a JSON list, not one program).

A missing language field falls back to ``language`` (``source_language`` for the
source side of translation). HumanEval-style synthesis, where the prompt is the start
of the program: ``--data.prompt-is-code`` (the prompt then becomes ``code_prefix`` and
is prepended to the reference solution unless it already starts with it).

Train/eval split: when no separate eval data is given, every example gets a key
``sha256(f"{seed}:{id}")`` and the ``round(n * eval_fraction)`` smallest keys form the
eval set (at least one when the fraction is positive and n >= 2). The split depends
only on the ids, the seed and the fraction, never on file-system order; both lists keep
the data's order.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import json
import os
import re
import sysconfig
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from core import languages
from rewards import Sample, TestSpec
from rewards.execution import declares_main
from trainer.config import BENCHMARKS, SOURCES, TASKS, DataConfig

# Folders of the stdlib tree that hold tests, fixtures or third-party packages.
_STDLIB_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test",
                     "__pycache__", "lib2to3", "turtledemo", "ensurepip",
                     "encodings"}  # encodings/: hundreds of near-identical codec stubs


@dataclass
class TaskExample:
    """One prompt for the policy and what its response is judged against."""

    prompt: str
    """Text fed to the model."""
    language: str
    """Canonical id of the language the response is written in (`core.languages`)."""
    code_prefix: str
    """Code that precedes the response in the scored program ("" unless completion-like)."""
    reference: str | None
    """The full reference program (for AST / data-flow match), or None."""
    tests: Any | None
    """Unit tests (a `rewards.TestSpec`), or None."""
    source_language: str | None = None
    """Language of the source program (translation only)."""
    id: str = ""
    """Stable identifier, e.g. ``stdlib:json/encoder.py:JSONEncoder.default`` or ``data.jsonl:17``."""
    difficulty: str | None = None
    """Difficulty level where the data has one (APPS: introductory, interview, competition)."""
    prompt_keep_head: int = 0
    """Characters at the start of `prompt` that prompt truncation never cuts (an instruction)."""
    prompt_keep_tail: int = 0
    """Characters at the end of `prompt` that prompt truncation never cuts (an answer cue)."""
    whole_program: bool = False
    """The response is a whole program: a translation whose reference declares ``main``
    (XLCoST's program level); compiling it then requires that it links."""
    aliases: tuple[str, ...] = ()
    """Other ids the example answers to in sample files (MBPP's integer ``task_id``, APPS's
    ``problem_id``); `id` stays the one the trainer writes."""
    source: str | None = None
    """The source program (translation only; chat prompts put it in their own template)."""
    xlcost_tokens: bool = False
    """The data is XLCoST's: a response written the way XLCoST's code is (``NEW_LINE`` /
    ``INDENT`` / ``DEDENT`` markers) is detokenised like the data before it is scored."""

    def response_code(self, text: str) -> str:
        """The program text of a response: `text`, detokenised with `detokenize_xlcost`
        when the example is XLCoST's and the response contains XLCoST's line markers."""
        if self.xlcost_tokens and XLCOST_MARKERS.search(text):
            return detokenize_xlcost(text, self.language)
        return text


def response_code(example: Any, text: str) -> str:
    """The program text of response `text` to `example` (`TaskExample.response_code`; any
    other object: `text` as it is)."""
    convert = getattr(example, "response_code", None)
    return convert(text) if callable(convert) else text


XLCOST_MARKERS = re.compile(r"(?<![A-Za-z0-9_])(NEW_LINE|INDENT|DEDENT)(?![A-Za-z0-9_])")
"""XLCoST's line-structure markers, as whole words."""


def detokenize_xlcost(text: str, language: str) -> str:
    """XLCoST's one-line tokenized code as source text (its data, and responses written
    like it: the same function on both sides).

    ``NEW_LINE`` ends a line; in Python ``INDENT`` / ``DEDENT`` open and close a level of
    four spaces for the lines that follow. ``▁`` (a tokenizer
    artifact) becomes ``_``; PHP gets its ``<?php`` tag. The authors' code does the same
    before compiling a response (their ``remove_special_tokens`` uses tabs for the levels).
    """
    text = text.strip().replace("\u2581", "_")
    if language != "python":
        lines = [line.strip() for line in text.split("NEW_LINE")]
        code = "\n".join(line for line in lines if line) + "\n"
        if language == "php" and not code.startswith("<?php"):
            code = "<?php " + code
        return code
    lines: list[str] = []
    level = 0
    current: list[str] = []
    for token in text.split():
        if token == "NEW_LINE":
            if current:
                lines.append("    " * level + " ".join(current))
            current = []
        elif token == "INDENT":
            level += 1
        elif token == "DEDENT":
            level = max(level - 1, 0)
        else:
            current.append(token)
    if current:
        lines.append("    " * level + " ".join(current))
    return "\n".join(lines) + "\n"


def load_task(cfg: DataConfig) -> tuple[list[TaskExample], list[TaskExample]]:
    """Load (train, eval) examples for `cfg`; the same config gives the same lists."""
    _check_config(cfg)
    if cfg.source in BENCHMARKS:
        from trainer import benchmarks  # it builds on this module's examples and split

        return benchmarks.load_benchmark(cfg)
    if cfg.source == "stdlib":
        return split_train_eval(_stdlib_completion(cfg), cfg)
    if cfg.source == "jsonl":
        train = _examples(read_jsonl_records(cfg.path), cfg, _display(cfg.path))
        if cfg.eval_path is None:
            return split_train_eval(train, cfg)
        return train, _examples(read_jsonl_records(cfg.eval_path), cfg, _display(cfg.eval_path))
    train_rows = _read_hf(cfg, cfg.train_split)
    train = _examples(train_rows, cfg, f"{_display(cfg.path)}/{cfg.train_split}")
    if cfg.eval_split is None:
        return split_train_eval(train, cfg)
    eval_rows = _read_hf(cfg, cfg.eval_split)
    return train, _examples(eval_rows, cfg, f"{_display(cfg.path)}/{cfg.eval_split}")


# ------------------------------------------------------------------------ validation


def _check_config(cfg: DataConfig) -> None:
    if cfg.task not in TASKS:
        raise ValueError(f"unknown task {cfg.task!r}; expected one of {TASKS}")
    if cfg.source not in SOURCES:
        raise ValueError(f"unknown data source {cfg.source!r}; expected one of {SOURCES}")
    if cfg.source == "stdlib" and cfg.task != "completion":
        raise ValueError(f"source 'stdlib' only provides the completion task, not {cfg.task!r}; "
                         "give --data.source jsonl or hf with a --data.path")
    if cfg.source in ("jsonl", "hf") and not cfg.path:
        raise ValueError(f"source {cfg.source!r} needs --data.path")
    if cfg.completion_unit not in ("tokens", "lines"):
        raise ValueError(f"completion_unit must be 'tokens' or 'lines', got {cfg.completion_unit!r}")
    if cfg.completion_holdout < 1:
        raise ValueError(f"completion_holdout must be >= 1, got {cfg.completion_holdout}")
    if not 0.0 <= cfg.eval_fraction < 1.0:
        raise ValueError(f"eval_fraction must be in [0, 1), got {cfg.eval_fraction}")
    if cfg.max_examples is not None and cfg.max_examples < 1:
        raise ValueError(f"max_examples must be >= 1 or None, got {cfg.max_examples}")
    if not 1 <= cfg.min_lines <= cfg.max_lines:
        raise ValueError(f"need 1 <= min_lines <= max_lines, got {cfg.min_lines}, {cfg.max_lines}")
    if cfg.min_tokens < 0:
        raise ValueError(f"min_tokens must be >= 0, got {cfg.min_tokens}")
    if cfg.max_per_file < 1:
        raise ValueError(f"max_per_file must be >= 1, got {cfg.max_per_file}")
    languages.get(cfg.language)  # ValueError listing the supported ones
    if cfg.source_language is not None:
        languages.get(cfg.source_language)


def _display(path: str | None) -> str:
    return Path(path).name if path else "data"


# ------------------------------------------------------------------------ completion


def split_completion(code: str, language: str, unit: str, holdout: int) -> tuple[str, str] | None:
    """Cut `code` into (prefix, held-out rest), holding out its last `holdout` tokens or lines.

    Tokens are the tree-sitter leaves of the language's grammar, comments excluded
    and string/character literals counted whole;
    the cut is made where the first held-out token starts, and spaces/tabs before it
    go to the rest. Returns None when the code is too short to keep at least as many
    units in the prefix as are held out, or (tokens) when it does not parse cleanly.
    """
    if unit == "lines":
        lines = code.rstrip("\n").split("\n")
        if len(lines) < 2 * holdout:
            return None
        prefix = "\n".join(lines[:-holdout]) + "\n"
        return prefix, code[len(prefix):]
    data = code.encode("utf-8")
    starts = _token_starts(data, language)
    if starts is None or len(starts) < 2 * holdout:
        return None
    cut = starts[-holdout]
    prefix = data[:cut].decode("utf-8").rstrip(" \t")
    return prefix, code[len(prefix):]


def count_tokens(code: str, language: str) -> int:
    """Tokens of `code` as `split_completion` counts them (0 when it does not parse)."""
    return len(_token_starts(code.encode("utf-8"), language) or [])


def _token_starts(data: bytes, language: str) -> list[int] | None:
    """Start bytes of the non-comment leaves of `data`, in order; None on a parse error."""
    spec = languages.get(language)
    tree = _parser(spec.name).parse(data)
    if tree.root_node.has_error:
        return None
    comments = set(spec.comment_node_types)
    literals = set(spec.literal_node_types)  # one token each
    starts: list[int] = []
    cursor = tree.walk()
    while True:  # iterative pre-order walk: deep nesting cannot overflow the stack
        node = cursor.node
        if node.type in comments or node.is_extra:  # comments, line continuations
            pass
        elif node.child_count == 0 or node.type in literals:
            if node.end_byte > node.start_byte:
                starts.append(node.start_byte)
        elif cursor.goto_first_child():
            continue
        while not cursor.goto_next_sibling():
            if not cursor.goto_parent():
                return starts


_PARSERS: dict[str, Any] = {}


def _parser(language: str) -> Any:
    if language not in _PARSERS:
        import tree_sitter

        _PARSERS[language] = tree_sitter.Parser(
            tree_sitter.Language(languages.get(language).grammar()))
    return _PARSERS[language]


def _stdlib_root() -> Path:
    return Path(sysconfig.get_paths()["stdlib"])


def _stdlib_files(root: Path, seed: int) -> list[Path]:
    """Relative paths of the stdlib's .py files: sorted, then permuted by seed."""
    files: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in _STDLIB_SKIP_DIRS]
        rel = Path(dirpath).relative_to(root)
        files.extend(rel / f for f in filenames if f.endswith(".py"))
    files.sort(key=lambda p: p.as_posix())
    order = np.random.default_rng(seed).permutation(len(files))
    return [files[i] for i in order]


def _functions(tree: ast.AST) -> list[tuple[str, ast.FunctionDef | ast.AsyncFunctionDef]]:
    """(qualified name, node) of every function and method, in source order."""
    found: list[tuple[str, Any]] = []

    def visit(node: ast.AST, scope: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((scope + child.name, child))
                visit(child, f"{scope}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{scope}{child.name}.")

    visit(tree, "")
    return found


def _stdlib_completion(cfg: DataConfig) -> list[TaskExample]:
    root = _stdlib_root()
    files = _stdlib_files(root, cfg.seed) if root.is_dir() else []
    if not files:
        raise ValueError(f"no Python standard-library sources found under {root}; this "
                         "Python ships without them (install its -dev/-source package) or "
                         "use --data.source jsonl")
    limit = cfg.max_examples
    examples: list[TaskExample] = []
    seen: set[str] = set()  # exact duplicates (copied helpers) are kept once
    for rel in files:
        try:
            source = (root / rel).read_text(encoding="utf-8")
            tree = ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError, OSError):
            continue  # files for other Python versions, fixtures, unreadable files
        lines = source.splitlines()
        taken = 0
        for qualname, node in _functions(tree):
            n_lines = node.end_lineno - node.lineno + 1
            if not cfg.min_lines <= n_lines <= cfg.max_lines:
                continue
            code = textwrap.dedent("\n".join(lines[node.lineno - 1:node.end_lineno])) + "\n"
            if code in seen:
                continue
            seen.add(code)
            try:
                ast.parse(code)
            except SyntaxError:
                continue  # e.g. a method whose multi-line string defeats dedent
            cut = split_completion(code, "python", cfg.completion_unit, cfg.completion_holdout)
            if cut is None:
                continue
            examples.append(TaskExample(
                prompt=cut[0], language="python", code_prefix=cut[0], reference=code,
                tests=None, id=f"stdlib:{rel.as_posix()}:{qualname}"))
            taken += 1
            if taken >= cfg.max_per_file or (limit is not None and len(examples) >= limit):
                break
        if limit is not None and len(examples) >= limit:
            break
    if not examples:
        raise ValueError(f"no functions of {cfg.min_lines}-{cfg.max_lines} lines with more than "
                         f"{2 * cfg.completion_holdout} {cfg.completion_unit} found under {root}")
    return examples


# --------------------------------------------------------------------- jsonl and hf


def read_jsonl_records(path: str | Path | None) -> list[dict[str, Any]]:
    """Records of a JSONL file (gzip-compressed when it ends in .gz); blank lines are
    skipped, anything else must be an object (ValueError naming file and line)."""
    file = Path(str(path))
    if not file.is_file():
        raise ValueError(f"JSONL file {str(path)!r} does not exist")
    rows: list[dict[str, Any]] = []
    opener = gzip.open if file.suffix == ".gz" else open
    with opener(file, "rt", encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ValueError(f"{file}:{number}: not valid JSON ({exc.msg})") from None
            if not isinstance(row, dict):
                raise ValueError(f"{file}:{number}: expected a JSON object, got {type(row).__name__}")
            row.setdefault("__row__", number)
            rows.append(row)
    return rows


def _read_hf(cfg: DataConfig, split: str) -> list[dict[str, Any]]:
    """Rows of one split of a Hugging Face dataset (imported lazily)."""
    try:
        import datasets
    except ImportError:
        raise ValueError("source 'hf' needs the Hugging Face `datasets` package: "
                         "pip install datasets") from None
    path = str(cfg.path)
    local = Path(path)
    if local.is_dir() and ((local / "dataset_info.json").exists()
                           or (local / "dataset_dict.json").exists()
                           or (local / "state.json").exists()):
        loaded = datasets.load_from_disk(path)  # a save_to_disk folder
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise ValueError(f"dataset {path!r} has no split {split!r}; splits: {list(loaded)}")
            loaded = loaded[split]
        elif split != cfg.train_split:
            raise ValueError(f"dataset {path!r} is a single split; give eval data another way")
    elif local.is_file():
        kind = {".json": "json", ".jsonl": "json", ".csv": "csv", ".parquet": "parquet"}.get(
            local.suffix.lower())
        if kind is None:
            raise ValueError(f"cannot read {path!r}: expected .json, .jsonl, .csv or .parquet")
        loaded = datasets.load_dataset(kind, data_files={cfg.train_split: path}, split=split)
    elif not local.exists() and (local.is_absolute() or path.startswith((".", "~"))):
        raise ValueError(f"dataset path {path!r} does not exist")
    else:  # a hub name (needs network) or a folder of data files
        loaded = load_hub_split(path, cfg.hf_config, split)
    if cfg.max_examples is not None and len(loaded) > cfg.max_examples:
        loaded = loaded.select(range(cfg.max_examples))
    rows = []
    for number, row in enumerate(loaded):
        row = dict(row)
        row.setdefault("__row__", number)
        rows.append(row)
    return rows


def load_hub_split(name: str, hf_config: str | None, split: str) -> Any:
    """One split of a Hugging Face hub dataset (needs network and `datasets`); ValueError on
    any failure, with the reason."""
    import importlib.util

    from trainer.models import hub_unavailable

    if not Path(name).exists() and importlib.util.find_spec("datasets") is not None:  # a hub name
        why = hub_unavailable()
        if why is not None and not _hub_dataset_cached(name):
            raise ValueError(f"dataset {name!r} is not in the local Hugging Face cache and "
                             f"{why}: give --data.path a local copy (trainer/benchmarks.py "
                             "lists the formats read) or run once where there is network")
    try:
        import datasets
    except ImportError:
        raise ValueError(f"loading {name!r} from the hub needs the Hugging Face `datasets` "
                         "package: pip install datasets") from None
    try:
        return datasets.load_dataset(name, hf_config, split=split)
    except Exception as exc:  # hub/network/builder errors of many types
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"could not load Hugging Face dataset {name!r} (split {split!r}): "
                         f"{first}") from exc


def _hub_dataset_cached(name: str) -> bool:
    """Whether `datasets` or the hub client keeps a copy of hub dataset `name` locally."""
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    roots = [Path(os.environ.get("HF_DATASETS_CACHE", home / "datasets")),
             Path(os.environ.get("HF_HUB_CACHE", home / "hub"))]
    names = [name.replace("/", "___"), "datasets--" + name.replace("/", "--")]
    return any((root / n).exists() for root in roots for n in names)


def _field(row: dict[str, Any], name: str, where: str, required: bool = True) -> Any:
    value = row.get(name)
    if value is None and required:
        raise ValueError(f"{where}: record has no field {name!r} (fields: "
                         f"{sorted(k for k in row if k != '__row__')}); map it with "
                         f"the matching --data.*-field option")
    return value


def _text(value: Any, name: str, where: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{where}: field {name!r} must be a string, got {type(value).__name__}")
    return value


def _examples(rows: list[dict[str, Any]], cfg: DataConfig, origin: str) -> list[TaskExample]:
    """Turn records into TaskExamples following the field mapping of `cfg`."""
    if cfg.max_examples is not None:
        rows = rows[:cfg.max_examples]
    examples: list[TaskExample] = []
    skipped = 0
    for row in rows:
        where = f"{origin}:{row['__row__']}"
        raw_id = row.get(cfg.id_field)
        example_id = str(raw_id) if raw_id is not None else where
        language = languages.get(row.get(cfg.language_field) or cfg.language).name
        if cfg.task == "completion":
            code = _text(_field(row, cfg.code_field, where), cfg.code_field, where)
            cut = split_completion(code, language, cfg.completion_unit, cfg.completion_holdout)
            if cut is None:
                skipped += 1
                continue
            examples.append(TaskExample(prompt=cut[0], language=language, code_prefix=cut[0],
                                        reference=code, tests=None, id=example_id))
        elif cfg.task == "translation":
            source = _text(_field(row, cfg.source_field, where), cfg.source_field, where)
            target = _text(_field(row, cfg.reference_field, where), cfg.reference_field, where)
            source_language = row.get(cfg.source_language_field) or cfg.source_language
            if source_language is None:
                raise ValueError(f"{where}: no source language: add a {cfg.source_language_field!r} "
                                 "field or give --data.source-language")
            source_language = languages.get(source_language).name
            examples.append(translation_example(cfg.prompt_template, source, source_language,
                                                language, target, example_id))
        else:
            prompt = _text(_field(row, cfg.prompt_field, where), cfg.prompt_field, where)
            reference = row.get(cfg.reference_field)
            if reference is not None:
                reference = _text(reference, cfg.reference_field, where)
                if cfg.prompt_is_code and not reference.startswith(prompt):
                    reference = prompt + reference
            entry_point = row.get(cfg.entry_point_field)
            try:
                tests = TestSpec.parse(row.get(cfg.tests_field),
                                       str(entry_point) if entry_point is not None else None)
            except ValueError as exc:
                raise ValueError(f"{where}: {exc}") from None
            examples.append(TaskExample(prompt=prompt, language=language,
                                        code_prefix=prompt if cfg.prompt_is_code else "",
                                        reference=reference, tests=tests, id=example_id))
    if not examples:
        raise ValueError(f"{origin}: no usable {cfg.task} examples"
                         + (f" ({skipped} too short to hold out {cfg.completion_holdout} "
                            f"{cfg.completion_unit})" if skipped else ""))
    return examples


def translation_example(template: str, source: str, source_language: str, language: str,
                        reference: str | None, example_id: str) -> TaskExample:
    """A translation example: `source` put into the prompt `template` (placeholders
    {source}, {source_language}, {language}); the template's own text around {source}
    is never cut when the prompt is truncated."""
    fill = {"source_language": source_language, "language": language}
    head, found, tail = template.partition("{source}")
    head, tail = (head.format(**fill), tail.format(**fill)) if found else ("", "")
    whole = reference is not None and declares_main(language, reference)
    return TaskExample(prompt=template.format(source=source, **fill), language=language,
                       code_prefix="", reference=reference, tests=None,
                       source_language=source_language, id=example_id,
                       prompt_keep_head=len(head), prompt_keep_tail=len(tail), whole_program=whole,
                       source=source)


# ------------------------------------------------------------------------------ split


def split_train_eval(examples: list[TaskExample], cfg: DataConfig) -> tuple[list[TaskExample], list[TaskExample]]:
    """Deterministic (train, eval) split by a seeded hash of each example's id."""
    n = len(examples)
    n_eval = round(n * cfg.eval_fraction)
    if cfg.eval_fraction > 0 and n >= 2:
        n_eval = min(max(n_eval, 1), n - 1)
    keys = [hashlib.sha256(f"{cfg.seed}:{ex.id}".encode()).digest() for ex in examples]
    in_eval = set(sorted(range(n), key=lambda i: (keys[i], i))[:n_eval])
    train = [ex for i, ex in enumerate(examples) if i not in in_eval]
    evals = [ex for i, ex in enumerate(examples) if i in in_eval]
    return train, evals


def make_samples(examples: Sequence[Any], texts: Sequence[str]) -> list[Sample]:
    """Programs to score: each example's `code_prefix` + the response's program text
    (`response_code`: XLCoST-style responses are detokenised like the data)."""
    samples = []
    for ex, text in zip(examples, texts):
        prefix = getattr(ex, "code_prefix", "") or ""
        samples.append(Sample(language=ex.language, code=prefix + response_code(ex, text),
                              reference=getattr(ex, "reference", None),
                              tests=getattr(ex, "tests", None),
                              prompt=getattr(ex, "prompt", None), code_prefix=prefix,
                              whole_program=bool(getattr(ex, "whole_program", False))))
    return samples
