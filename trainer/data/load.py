"""`load_task`: the reader of ``cfg.source``, ``max_examples`` and the train/eval split, once."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable

from core import languages
from trainer.config import SOURCES, TASKS, DataConfig
from trainer.data.benchmarks import READERS as BENCHMARK_READERS
from trainer.data.example import TaskExample
from trainer.data.records import read_hf_split, read_jsonl
from trainer.data.stdlib import read_stdlib

READERS: dict[str, Callable[[DataConfig, str], list[TaskExample]]] = {
    "stdlib": read_stdlib, "jsonl": read_jsonl, "hf": read_hf_split, **BENCHMARK_READERS}
"""Source -> reader of one split (for jsonl: of one file)."""


def load_task(cfg: DataConfig) -> tuple[list[TaskExample], list[TaskExample]]:
    """Load (train, eval) examples for `cfg`; the same config gives the same lists."""
    cfg = check_config(cfg)
    if cfg.source == "jsonl":  # the jsonl reader reads a file, the others a split
        train_split, eval_split = str(cfg.path), cfg.eval_path
    else:
        train_split, eval_split = cfg.train_split, cfg.eval_split
    train = _read(cfg, train_split)
    if eval_split is None or cfg.source == "stdlib":
        return split_train_eval(train, cfg)
    return train, _read(cfg, eval_split)


def _read(cfg: DataConfig, split: str) -> list[TaskExample]:
    """The examples of one split, up to ``max_examples`` (readers may stop early at it)."""
    examples = READERS[cfg.source](cfg, split)
    if not examples:
        raise ValueError(f"{cfg.source}: no usable examples in split {split!r}"
                         + (f" of {cfg.path}" if cfg.path else ""))
    return examples[:cfg.max_examples] if cfg.max_examples is not None else examples


def check_config(cfg: DataConfig) -> DataConfig:
    """`cfg` with its language names resolved to canonical ids; ValueError on a bad setting."""
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
    source_language = cfg.source_language  # ValueError listing the supported ones:
    return dataclasses.replace(cfg, language=languages.get(cfg.language).name, source_language=None
                               if source_language is None else languages.get(source_language).name)


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
