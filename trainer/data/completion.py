"""Completion prompts: a function cut before its last tokens (tree-sitter leaves) or lines."""

from __future__ import annotations

from typing import Any

from core import languages


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
