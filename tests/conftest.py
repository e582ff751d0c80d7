"""Shared fixtures: the codebleu oracle and the location of the shared parity data."""

from __future__ import annotations

import builtins
import contextlib
import importlib
import importlib.util
import os
from pathlib import Path

import pytest


def parity_data_dir() -> Path:
    """The CodeBLEU parity data: $PPOCODER_PARITY_DATA, else ``shared/`` beside the
    repository (where CI puts it), else /work/shared."""
    candidates = [
        os.environ.get("PPOCODER_PARITY_DATA"),
        Path(__file__).resolve().parents[2] / "shared" / "data" / "codebleu-parity",
        "/work/shared/data/codebleu-parity",
    ]
    for path in candidates:
        if path and Path(path).is_dir():
            return Path(path)
    raise FileNotFoundError("CodeBLEU parity data not found; set PPOCODER_PARITY_DATA")


def load_oracle_module():
    """tests/structural_oracle.py (codebleu 0.7.0 run as an oracle), loaded by path."""
    path = Path(__file__).with_name("structural_oracle.py")
    spec = importlib.util.spec_from_file_location("structural_oracle", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def codebleu_oracle():
    return load_oracle_module().load()


@pytest.fixture(scope="session")
def parity_data() -> Path:
    return parity_data_dir()


def _deterministic_list(items=()):
    return sorted(items) if isinstance(items, (set, frozenset)) else builtins.list(items)


@contextlib.contextmanager
def _sorted_codebleu():
    """codebleu with every ``list(set(...))`` sorted: its hash-seed-free variant.

    codebleu builds data-flow parent lists with ``list(set(...))``, so its data-flow
    score depends on the string hash seed on some inputs; the parity data's README
    defines the deterministic target as the same code with sorted lists.
    """
    modules = (importlib.import_module("codebleu.dataflow_match"),
               importlib.import_module("codebleu.parser.DFG"))
    for module in modules:
        module.list = _deterministic_list
    try:
        yield
    finally:
        for module in modules:
            del module.list


@pytest.fixture(scope="session")
def sorted_oracle():
    """A context manager: inside it, codebleu runs in its deterministic (sorted) variant."""
    return _sorted_codebleu


@pytest.fixture(scope="session")
def sandbox_leftovers():
    """A function: (pid, command) of every process this test process's sandboxes left
    (of its own sandbox uids, persistent workers aside), or whose command holds `mark`."""
    import psutil

    from rewards.execution.sandbox import own_uids

    def find(mark: str) -> list[tuple[int, str]]:
        found = []
        for proc in psutil.process_iter(["cmdline", "uids"]):
            try:
                cmd = " ".join(proc.info["cmdline"] or [])
                uid = proc.info["uids"].real if proc.info["uids"] else 0
            except (psutil.Error, TypeError):
                continue
            worker = any(w in cmd for w in ("CompileWorker", "node_check", "zygote.py"))
            if mark in cmd and "pytest" not in cmd or uid in own_uids() and not worker:
                found.append((proc.pid, cmd))
        return found

    return find
