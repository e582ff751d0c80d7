"""codebleu 0.7.0 as the oracle of the structural tests (imported by test_structural_*).

Two variants of its data-flow match: the stock one, whose parent lists come from
``list(set(...))`` (so results can depend on PYTHONHASHSEED), and the deterministic
one the parity data calls ``_sorted``, made here at run time by loading codebleu's
own modules with every ``list(set(`` read as ``sorted(set(`` -- nothing is copied.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import logging
import types
from functools import cache
from pathlib import Path

from codebleu import dataflow_match, syntax_match
from codebleu.parser import remove_comments_and_docstrings
from codebleu.utils import get_tree_sitter_language
from tree_sitter import Parser

_WALKERS = {"python": "DFG_python", "java": "DFG_java", "javascript": "DFG_javascript",
            "php": "DFG_php", "c_sharp": "DFG_csharp"}


def _sorted_variant(name: str, package: str) -> types.ModuleType:
    source = inspect.getsource(importlib.import_module(name)).replace("list(set(", "sorted(set(")
    module = types.ModuleType(name + "_sorted")
    module.__package__ = package
    exec(compile(source, name + "_sorted", "exec"), module.__dict__)
    return module


class CodeBleuOracle:
    """Per-pair syntax and data-flow scores from codebleu, cached."""

    def __init__(self) -> None:
        logging.getLogger().setLevel(logging.ERROR)  # codebleu warns on empty data flow
        walkers = _sorted_variant("codebleu.parser.DFG", "codebleu.parser")
        self._sorted = _sorted_variant("codebleu.dataflow_match", "codebleu")
        for lang, fn in _WALKERS.items():
            self._sorted.dfg_function[lang] = getattr(walkers, fn)

    @cache  # noqa: B019 - one oracle per session
    def ast_score(self, lang: str, reference: str, candidate: str) -> float:
        return syntax_match.calc_syntax_match([reference], candidate, lang)

    @cache  # noqa: B019
    def dfg_score(self, lang: str, reference: str, candidate: str) -> float:
        """The deterministic (`_sorted`) variant."""
        return self._sorted.corpus_dataflow_match([[reference]], [candidate], lang)

    @cache  # noqa: B019
    def dfg_score_stock(self, lang: str, reference: str, candidate: str) -> float:
        return dataflow_match.corpus_dataflow_match([[reference]], [candidate], lang)

    def dataflow_items(self, lang: str, code: str) -> list[tuple]:
        try:
            code = remove_comments_and_docstrings(code, lang)
        except Exception:  # codebleu keeps the code as it is
            pass
        parser = Parser(get_tree_sitter_language(lang))
        items = self._sorted.get_data_flow(code, [parser, self._sorted.dfg_function[lang]])
        return [(a[0], a[1], a[2], a[3]) for a in items]


def load() -> CodeBleuOracle:
    return CodeBleuOracle()


def module_path() -> Path:
    return Path(__file__)
