"""Language specs against their grammars, and the Python -> C++ spec contract: the
engine takes `DataFlowSpec.tables()` key by key and rejects what it does not know
instead of falling back to defaults."""

from __future__ import annotations

import pytest
import tree_sitter

from core import _native, languages
from core.languages import DataFlowSpec
from core.structural import native_language


def build(tables: dict, lang: str = "java") -> object:
    spec = languages.get(lang)
    return _native.Language(spec.grammar(), spec.dataflow.comment_style, tables)


@pytest.mark.parametrize("lang", languages.names())
def test_every_registered_spec_is_accepted(lang: str) -> None:
    assert isinstance(native_language(lang), _native.Language)
    assert isinstance(build(languages.get(lang).dataflow.tables(), lang), _native.Language)


def test_unknown_or_misspelled_key_is_named() -> None:
    tables = DataFlowSpec().tables()
    tables["if_typez"] = ["if_statement"]
    with pytest.raises(ValueError, match=r"unknown data-flow spec key 'if_typez' \(known keys: .*if_types"):
        build(tables)
    tables = DataFlowSpec().tables()
    tables["for_stile"] = "tuple"
    with pytest.raises(ValueError, match="unknown data-flow spec key 'for_stile'"):
        build(tables)


@pytest.mark.parametrize("key", ["while_types", "for_style", "if_branch_sticky"])
def test_missing_key_is_named(key: str) -> None:
    tables = DataFlowSpec().tables()
    del tables[key]
    with pytest.raises(ValueError, match=f"data-flow spec lacks key '{key}'"):
        build(tables)
    with pytest.raises(ValueError, match="lacks key"):
        build({})


def test_wrong_kind_or_value_is_named() -> None:
    cases = [
        ("def_types", "variable_declarator", "'def_types' must be a list of node type names"),
        ("def_style", ["fields"], "'def_style' must be a string or bool, got a list"),
        ("if_merge", "sometimes", "'if_merge' must be 'else_tag', 'always', got 'sometimes'"),
        ("assignment_style", "pair", "'assignment_style' must be 'pairwise', 'tuple'"),
        ("if_branch_sticky", "yes", "'if_branch_sticky' must be 'true', 'false'"),
    ]
    for key, value, message in cases:
        tables = {**DataFlowSpec().tables(), key: value}
        with pytest.raises(ValueError, match=message):
            build(tables)
    with pytest.raises(TypeError, match="'while_types' must be a str, a bool or a sequence of str, got int"):
        build({**DataFlowSpec().tables(), "while_types": 3})



@pytest.mark.parametrize("lang", languages.names())
def test_node_types_of_a_spec_exist_in_its_grammar(lang: str) -> None:
    spec = languages.get(lang)
    grammar = tree_sitter.Language(spec.grammar())
    kinds = {grammar.node_kind_for_id(i) for i in range(grammar.node_kind_count)}
    assert spec.literal_node_types and set(spec.literal_node_types) <= kinds
    assert set(spec.comment_node_types) <= kinds
