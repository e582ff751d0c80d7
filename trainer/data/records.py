"""Records of JSONL files and Hugging Face datasets, and their mapping to examples
(``--data.source jsonl`` / ``hf``; the field names are ``DataConfig``'s ``*_field``)."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path
from typing import Any

from core import languages
from rewards import TestSpec
from trainer.config import DataConfig
from trainer.data.completion import split_completion
from trainer.data.example import TaskExample, translation_example


def read_jsonl(cfg: DataConfig, path: str) -> list[TaskExample]:
    """``--data.source jsonl``: the examples of one JSONL file (`path`: ``cfg.path`` or
    ``cfg.eval_path``), mapped by ``cfg``'s field names."""
    return records_to_examples(read_jsonl_records(path), cfg, _display(path))


def read_hf_split(cfg: DataConfig, split: str) -> list[TaskExample]:
    """``--data.source hf``: the examples of one split, mapped by ``cfg``'s field names."""
    return records_to_examples(read_hf(cfg, split), cfg, f"{_display(cfg.path)}/{split}")

def _display(path: str | None) -> str:
    return Path(path).name if path else "data"


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


def read_hf(cfg: DataConfig, split: str) -> list[dict[str, Any]]:
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
    rows = dataset_rows(loaded, cfg.max_examples)
    for number, row in enumerate(rows):
        row.setdefault("__row__", number)
    return rows


def dataset_rows(loaded: Any, max_examples: int | None) -> list[dict[str, Any]]:
    """The first `max_examples` rows (all for None) of a loaded `datasets.Dataset`, as dicts."""
    if max_examples is not None and len(loaded) > max_examples:
        loaded = loaded.select(range(max_examples))
    return [dict(row) for row in loaded]

def load_hub_split(name: str, hf_config: str | None, split: str) -> Any:
    """One split of a Hugging Face hub dataset (needs network and `datasets`); ValueError on
    any failure, with the reason."""
    import importlib.util

    from trainer.models import hub_unavailable

    if not Path(name).exists() and importlib.util.find_spec("datasets") is not None:  # a hub name
        why = hub_unavailable()
        if why is not None and not _hub_dataset_cached(name):
            raise ValueError(f"dataset {name!r} is not in the local Hugging Face cache and "
                             f"{why}: give --data.path a local copy (trainer/data/benchmarks.py "
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


def records_to_examples(rows: list[dict[str, Any]], cfg: DataConfig, origin: str) -> list[TaskExample]:
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
