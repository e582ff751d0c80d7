"""The default data: completion of functions of the local Python standard library, no download."""

from __future__ import annotations

import ast
import os
import sysconfig
import textwrap
from pathlib import Path
from typing import Any

import numpy as np

from trainer.config import DataConfig
from trainer.data.completion import split_completion
from trainer.data.example import TaskExample

_STDLIB_SKIP_DIRS = {"site-packages", "dist-packages", "test", "tests", "idle_test",
                     "__pycache__", "lib2to3", "turtledemo", "ensurepip",
                     "encodings"}  # encodings/: hundreds of near-identical codec stubs



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


def read_stdlib(cfg: DataConfig, split: str) -> list[TaskExample]:
    """The default completion task: functions of the local Python standard library
    (`trainer.data` describes the selection); one split, held out by ``eval_fraction``."""
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
