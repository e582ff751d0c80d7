"""Plain-Python reference of the structural kernels, over py-tree-sitter.

Readable and slow on purpose: it states what `csrc/strip.cpp`, `csrc/engine.cpp`
(subtree hashing) and `csrc/dataflow.cpp` (the generic data-flow walker) compute,
and the tests check the native engine against it on random programs. Differences
in *how*: subtrees are compared by their S-expression strings (``str(node)``)
instead of 64-bit hashes, and loop bodies are walked twice literally (exponential
in loop nesting) instead of being memoized. Keep inputs small.
"""

from __future__ import annotations

import io
import re
import tokenize
from collections import Counter
from typing import Any

from tree_sitter import Node, Parser

from core import languages
from core.languages import DataFlowSpec

# ---- comment removal (CodeBLEU's remove_comments_and_docstrings semantics) ----

_CLIKE = re.compile(r"//.*?$|/\*.*?\*/|'(?:\\.|[^\\'])*'|\"(?:\\.|[^\\\"])*\"", re.DOTALL | re.MULTILINE)


def _drop_blank_lines(text: str) -> str:
    return "\n".join(line for line in text.split("\n") if line.strip())


def strip_comments(code: str, style: str) -> str:
    """Comments removed (``style`` "python", "c" or "none"), blank lines dropped.

    Python: a `tokenize` pass drops comments and every string token that starts a
    logical line (after INDENT/NEWLINE) or sits in column 0 -- docstrings, roughly;
    other tokens are re-emitted at their columns. If tokenizing fails, the code is
    returned unchanged. C-like: ``//`` and ``/* */`` comments outside '...' and
    "..." literals become one space.
    """
    if style == "none":
        return code
    if style == "c":
        return _drop_blank_lines(_CLIKE.sub(lambda m: " " if m.group(0).startswith("/") else m.group(0), code))
    try:
        pieces: list[str] = []
        prev = tokenize.INDENT
        last_line, last_col = -1, 0
        for tok in tokenize.generate_tokens(io.StringIO(code).readline):
            (start_line, start_col), (end_line, end_col) = tok.start, tok.end
            if start_line > last_line:
                last_col = 0
            if start_col > last_col:
                pieces.append(" " * (start_col - last_col))
            starts_line = prev in (tokenize.INDENT, tokenize.NEWLINE) or start_col == 0
            if tok.type == tokenize.COMMENT or (tok.type == tokenize.STRING and starts_line):
                pass
            else:
                pieces.append(tok.string)
            prev, last_col, last_line = tok.type, end_col, end_line
    except (tokenize.TokenError, IndentationError, SyntaxError):
        return code
    return _drop_blank_lines("".join(pieces))


# ---- AST match ----


def subtree_sexps(root: Node) -> list[str]:
    """S-expressions of the root and of every node that has children."""
    out, stack = [], [root]
    while stack:
        node = stack.pop()
        out.append(str(node))
        stack.extend(child for child in node.children if child.children)
    return out


def ast_counts(reference: Node, candidate: Node) -> tuple[int, int]:
    """(reference subtrees present among the candidate's, reference subtrees)."""
    cand = set(subtree_sexps(candidate))
    ref = subtree_sexps(reference)
    return sum(s in cand for s in ref), len(ref)


# ---- data flow ----


class _Abort(Exception):
    """The walk hit a node without a required child: the graph is empty."""


class DataFlowWalker:
    """CodeBLEU's data-flow walk, generic over a `DataFlowSpec`.

    States map a name to the sorted list of token indices that may define it.
    Every method returns the list of edges ``(name, index, relation, parent_names,
    parent_indices)`` produced under the node, sorted by index.
    """

    def __init__(self, spec: DataFlowSpec, root: Node, source: bytes) -> None:
        self.spec = spec
        self.source = source
        self.tokens: dict[tuple[int, int], tuple[int, str]] = {}
        for i, node in enumerate(self._token_nodes(root)):
            text = source[node.start_byte:node.end_byte].replace(b"\n", b"")
            self.tokens[(node.start_byte, node.end_byte)] = (i, text.decode("utf-8", "surrogateescape"))

    def _is_token(self, node: Node) -> bool:
        leafish = not node.children or node.type in self.spec.string_types
        return leafish and node.type not in self.spec.comment_types

    def _token_nodes(self, node: Node) -> list[Node]:
        out, stack = [], [node]
        while stack:
            n = stack.pop()
            if self._is_token(n):
                out.append(n)
            else:
                stack.extend(reversed(n.children))
        return out

    def _token(self, node: Node) -> tuple[int, str]:
        try:
            return self.tokens[(node.start_byte, node.end_byte)]
        except KeyError:  # a node inside a string literal: codebleu's lookup fails too
            raise _Abort from None

    def variables(self, node: Node | None) -> list[tuple[int, str]]:
        """Tokens under `node` whose text differs from their node type."""
        if node is None:
            raise _Abort
        return [self._token(n) for n in self._token_nodes(node) if self._token(n)[1] != n.type]

    def walk(self, node: Node | None, states: dict[str, list[int]]) -> tuple[list, dict]:
        if node is None:
            raise _Abort
        s, t = self.spec, node.type
        states = dict(states)
        if self._is_token(node):
            return self._leaf(node, states)
        if t in s.def_types:
            return self._definition(node, states)
        if t in s.assignment_types or t in s.last_child_assignment_types:
            return self._assignment(node, states)
        if t in s.increment_types:
            edges = []
            tokens = self.variables(node)
            for idx1, code1 in tokens:
                edges += [(code1, idx1, "computedFrom", [code2], [idx2]) for idx2, code2 in tokens]
                states[code1] = [idx1]
            return _by_index(edges), states
        if t in s.if_types:
            return self._branch(node, states)
        if t in s.for_types or t in s.enhanced_for_types or t in s.while_types:
            return self._loop(node, states)
        edges = []
        first = [c for c in node.children if c.type in s.do_first_types]
        rest = [c for c in node.children if c.type not in s.do_first_types]
        for child in first + rest:
            out, states = self.walk(child, states)
            edges += out
        return _by_index(edges), states

    def _leaf(self, node: Node, states: dict) -> tuple[list, dict]:
        idx, code = self._token(node)
        if code == node.type:
            return [], states
        if code in states:
            return [(code, idx, "comesFrom", [code], list(states[code]))], states
        if node.type in self.spec.identifier_types:
            states[code] = [idx]
        return [(code, idx, "comesFrom", [], [])], states

    def _definition(self, node: Node, states: dict) -> tuple[list, dict]:
        if self.spec.def_style == "positional":
            name = node.children[0]
            value = node.children[1] if len(node.children) == 2 else None
        else:
            name = node.child_by_field_name(self.spec.def_name_field)
            value = node.child_by_field_name(self.spec.def_value_field)
        names, edges = self.variables(name), []
        if value is None:
            for idx, code in names:
                edges.append((code, idx, "comesFrom", [], []))
                states[code] = [idx]
            return _by_index(edges), states
        values = self.variables(value)
        edges, states = self.walk(value, states)
        for idx1, code1 in names:
            edges += [(code1, idx1, "comesFrom", [code2], [idx2]) for idx2, code2 in values]
            states[code1] = [idx1]
        return _by_index(edges), states

    def _pairs(self, left: Node | None, right: Node | None) -> tuple[list, list]:
        if left is None or right is None:
            raise _Abort
        ls = [c for c in left.children if c.type not in self.spec.separator_types]
        rs = [c for c in right.children if c.type not in self.spec.separator_types]
        if len(ls) != len(rs):
            ls, rs = [left], [right]
        return ls or [left], rs or [right]

    def _computed(self, ls: list, rs: list, states: dict) -> list:
        edges = []
        for left, right in zip(ls, rs):
            rv = self.variables(right)
            for idx, code in self.variables(left):
                edges.append((code, idx, "computedFrom", [c for _, c in rv], [i for i, _ in rv]))
                states[code] = [idx]
        return edges

    def _assignment(self, node: Node, states: dict) -> tuple[list, dict]:
        s = self.spec
        left = node.child_by_field_name(s.assignment_left_field)
        right = node.child_by_field_name(s.assignment_right_field)
        if s.assignment_style == "pairwise":
            edges, states = self.walk(right, states)
            values = self.variables(right)
            for idx1, code1 in self.variables(left):
                edges += [(code1, idx1, "computedFrom", [code2], [idx2]) for idx2, code2 in values]
                states[code1] = [idx1]
            return _by_index(edges), states
        if node.type in s.last_child_assignment_types:
            ls, rs = [left], [node.children[-1]]
        elif right is None:
            return [], states
        else:
            ls, rs = self._pairs(left, right)
        edges = []
        for r in rs:
            out, states = self.walk(r, states)
            edges += out
        edges += self._computed(ls, rs, states)
        return _by_index(edges), states

    def _branch(self, node: Node, states: dict) -> tuple[list, dict]:
        s = self.spec
        edges, current, alternatives = [], dict(states), []
        has_else, sticky = "else" in node.type, False
        for child in node.children:
            has_else = has_else or "else" in child.type
            branch = sticky or child.type in s.if_branch_types
            sticky = branch and s.if_branch_sticky
            if branch:
                out, alt = self.walk(child, states)
                alternatives.append(alt)
            else:
                out, current = self.walk(child, current)
            edges += out
        alternatives.append(current)
        if s.if_merge == "always" or not has_else:
            alternatives.append(states)
        merged: dict[str, set[int]] = {}
        for alt in alternatives:
            for key, defs in alt.items():
                merged.setdefault(key, set()).update(defs)
        return _by_index(edges), {k: sorted(v) for k, v in merged.items()}

    def _loop(self, node: Node, states: dict) -> tuple[list, dict]:
        s, t, edges = self.spec, node.type, []

        def run(child: Node | None) -> None:
            nonlocal states
            out, states = self.walk(child, states)
            edges.extend(out)

        if t in s.for_types and s.for_style == "tuple":
            for _ in range(2):
                ls, rs = self._pairs(node.child_by_field_name(s.for_left_field),
                                     node.child_by_field_name(s.for_right_field))
                for r in rs:
                    run(r)
                edges.extend(self._computed(ls, rs, states))
                if node.children[-1].type in s.block_types:
                    run(node.children[-1])
        elif t in s.for_types:
            for child in node.children:
                run(child)
            after_init = False
            for child in node.children:
                if after_init:
                    run(child)
                elif child.type in s.for_init_types:
                    after_init = True
        elif t in s.enhanced_for_types:
            if s.enhanced_for_style == "positional":
                found = [c for c in node.children if c.type in s.enhanced_for_variable_types][:2]
                value = found[0] if found else None
                name = found[1] if len(found) > 1 else None
            else:
                name = node.child_by_field_name(s.enhanced_for_name_field)
                value = node.child_by_field_name(s.enhanced_for_value_field)
            body = node.child_by_field_name(s.enhanced_for_body_field)
            for _ in range(2):
                run(value)
                values = self.variables(value)
                for idx1, code1 in self.variables(name):
                    edges.extend((code1, idx1, "computedFrom", [code2], [idx2]) for idx2, code2 in values)
                    states[code1] = [idx1]
                run(body)
        else:
            for _ in range(2):
                for child in node.children:
                    run(child)
        merged: dict[tuple, list] = {}
        for name_, idx, rel, names, parents in edges:
            key = (name_, idx, rel)
            if key in merged:
                merged[key] = [sorted(set(merged[key][0] + names)), sorted(set(merged[key][1] + parents))]
            else:
                merged[key] = [names, parents]
        flat = [(k[0], k[1], k[2], v[0], v[1]) for k, v in merged.items()]
        return _by_index(flat), states


def _by_index(edges: list) -> list:
    return sorted(edges, key=lambda e: e[1])


def dataflow_items(spec: DataFlowSpec, root: Node, source: bytes) -> list[tuple[str, int, str, list[str]]]:
    """CodeBLEU's `get_data_flow` result, with sorted parent lists."""
    walker = DataFlowWalker(spec, root, source)
    try:
        edges, _ = walker.walk(root, {})
    except _Abort:
        return []
    edges = _by_index(edges)
    used = set()
    for _, idx, _, _, parents in edges:
        if parents:
            used.add(idx)
        used.update(parents)
    merged: dict[int, list] = {}
    for name, idx, rel, names, parents in edges:
        if idx not in used:
            continue
        if idx in merged:
            old = merged[idx]
            merged[idx] = [name, idx, rel, sorted(set(old[3] + names)), sorted(set(old[4] + parents))]
        else:
            merged[idx] = [name, idx, rel, names, parents]
    return [(m[0], m[1], m[2], m[3]) for m in merged.values()]


def normalize(items: list[tuple[str, int, str, list[str]]]) -> list[tuple[str, str, tuple[str, ...]]]:
    """Rename variables var_0, var_1, ... by first appearance (parents before the name)."""
    names: dict[str, str] = {}
    out = []
    for name, _, rel, parents in items:
        for p in [*parents, name]:
            names.setdefault(p, f"var_{len(names)}")
        out.append((names[name], rel, tuple(names[p] for p in parents)))
    return out


# ---- the whole match ----


def _parse(lang: str, code: str | bytes) -> tuple[Any, bytes]:
    spec = languages.get(lang)
    text = code.decode("utf-8", "surrogateescape") if isinstance(code, bytes) else code
    stripped = strip_comments(text, spec.dataflow.comment_style).encode("utf-8", "surrogateescape")
    parser = Parser(spec_language(lang))
    return parser.parse(stripped), stripped


def spec_language(lang: str) -> Any:
    from tree_sitter import Language

    return Language(languages.get(lang).grammar())


def match_pair(lang: str, candidate: str | bytes, reference: str | bytes) -> tuple[int, int, int, int, int]:
    """(ast_match, ast_total, dfg_match, dfg_total, dfg_candidate_total) for one pair."""
    flow = languages.get(lang).dataflow
    cand_tree, cand_src = _parse(lang, candidate)
    ref_tree, ref_src = _parse(lang, reference)
    ast_match, ast_total = ast_counts(ref_tree.root_node, cand_tree.root_node)
    ref_flow = normalize(dataflow_items(flow, ref_tree.root_node, ref_src))
    cand_items = normalize(dataflow_items(flow, cand_tree.root_node, cand_src))
    cand_flow = Counter(cand_items)
    dfg_match = 0
    for item in ref_flow:
        if cand_flow[item] > 0:
            cand_flow[item] -= 1
            dfg_match += 1
    return ast_match, ast_total, dfg_match, len(ref_flow), len(cand_items)
