"""The language registry: one `LanguageSpec` per supported language, as data.

Every layer asks this module what a language is: which tree-sitter grammar parses it,
which node types are comments, which node types drive the generic data-flow walker,
how its programs are compiled and what file extension they take. Adding a language
means adding one spec here (plus tests); no code elsewhere is copied per language.

    >>> from core import languages
    >>> languages.get("c++").name
    'cpp'
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from functools import cache
from typing import Any


@dataclass(frozen=True)
class DataFlowSpec:
    """Node-type tables for the one generic data-flow walker in `csrc/`.

    Each field lists tree-sitter node types of the language that play a role in the
    walk; the walker itself knows no language. Filled in per language below.
    """

    # Filled by the data-flow work; every field is a tuple of node-type names or a
    # small mapping, never code.
    tables: dict[str, tuple[str, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class LanguageSpec:
    """Everything the toolkit needs to know about one programming language."""

    name: str
    """Canonical id, e.g. ``"cpp"``."""
    aliases: tuple[str, ...]
    """Other ids accepted by `get` (case-insensitive), e.g. ``("c++", "cxx")``."""
    grammar_module: str
    """Python module of the PyPI grammar wheel, e.g. ``"tree_sitter_cpp"``."""
    grammar_function: str
    """Function of that module returning the grammar's language capsule."""
    file_extension: str
    """Extension of a source file, with the dot, e.g. ``".java"``."""
    comment_node_types: tuple[str, ...]
    """Node types removed before structural matching."""
    dataflow: DataFlowSpec = field(default_factory=DataFlowSpec)
    """Tables for the generic data-flow walker."""

    def grammar(self) -> Any:
        """The grammar's `language()` capsule (a pointer handed to the native engine)."""
        return _grammar_capsule(self.grammar_module, self.grammar_function)


@cache
def _grammar_capsule(module: str, function: str) -> Any:
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - the grammars are dependencies
        raise ImportError(
            f"the tree-sitter grammar package {module!r} is missing; "
            f"install it with `pip install {module.replace('_', '-')}`"
        ) from exc
    return getattr(mod, function)()


_SPECS: dict[str, LanguageSpec] = {}
_ALIASES: dict[str, str] = {}


def register(spec: LanguageSpec) -> LanguageSpec:
    """Add a language to the registry (its name and aliases must be new)."""
    keys = (spec.name, *spec.aliases)
    for key in keys:
        if key.lower() in _ALIASES:
            raise ValueError(f"language id {key!r} is already registered")
    _SPECS[spec.name] = spec
    for key in keys:
        _ALIASES[key.lower()] = spec.name
    return spec


def names() -> list[str]:
    """Canonical ids of all supported languages, sorted."""
    return sorted(_SPECS)


def get(name: str) -> LanguageSpec:
    """The spec of `name` (a canonical id or an alias, case-insensitive).

    Raises `ValueError` naming the supported languages when `name` is unknown.
    """
    if not isinstance(name, str):
        raise ValueError(f"language must be a string, got {type(name).__name__}")
    key = _ALIASES.get(name.strip().lower())
    if key is None:
        raise ValueError(
            f"unsupported language {name!r}; supported: {', '.join(names())} "
            f"(aliases: {', '.join(sorted(a for a in _ALIASES if a not in _SPECS))})"
        )
    return _SPECS[key]


register(LanguageSpec(
    name="python", aliases=("py", "python3"),
    grammar_module="tree_sitter_python", grammar_function="language",
    file_extension=".py", comment_node_types=("comment",),
))
register(LanguageSpec(
    name="java", aliases=(),
    grammar_module="tree_sitter_java", grammar_function="language",
    file_extension=".java", comment_node_types=("line_comment", "block_comment"),
))
register(LanguageSpec(
    name="cpp", aliases=("c++", "cxx", "cc"),
    grammar_module="tree_sitter_cpp", grammar_function="language",
    file_extension=".cpp", comment_node_types=("comment",),
))
register(LanguageSpec(
    name="c", aliases=(),
    grammar_module="tree_sitter_c", grammar_function="language",
    file_extension=".c", comment_node_types=("comment",),
))
register(LanguageSpec(
    name="c_sharp", aliases=("cs", "c#", "csharp", "c-sharp"),
    grammar_module="tree_sitter_c_sharp", grammar_function="language",
    file_extension=".cs", comment_node_types=("comment",),
))
register(LanguageSpec(
    name="javascript", aliases=("js", "node", "ecmascript"),
    grammar_module="tree_sitter_javascript", grammar_function="language",
    file_extension=".js", comment_node_types=("comment",),
))
register(LanguageSpec(
    name="php", aliases=(),
    grammar_module="tree_sitter_php", grammar_function="language_php",
    file_extension=".php", comment_node_types=("comment",),
))
