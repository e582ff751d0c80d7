"""The oracle of the structural parity test for Go, Rust and TypeScript.

codebleu has no walker for these languages, so this is our own reading of their
programs, written directly over py-tree-sitter in codebleu's style: comments cut by a
character scanner, the syntax match over S-expressions built here from the tree, and a
data-flow walker per language that says in code (not in tables) what each statement
does. `core.structural.match` (the native engine driven by the `DataFlowSpec` tables of
`core.languages`) must agree with it count for count.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import tree_sitter_go
import tree_sitter_rust
import tree_sitter_typescript
from tree_sitter import Language, Node, Parser

GRAMMARS = {"go": tree_sitter_go.language, "rust": tree_sitter_rust.language,
            "typescript": tree_sitter_typescript.language_typescript}
STRINGS = {"go": {"interpreted_string_literal", "raw_string_literal", "rune_literal"},
           "rust": {"string_literal", "raw_string_literal", "char_literal"},
           "typescript": {"string", "template_string"}}
COMMENTS = {"go": {"comment"}, "rust": {"line_comment", "block_comment"}, "typescript": {"comment"}}


def strip_comments(code: str) -> str:
    """`//` and `/* */` comments become a space (outside "..." and '...'); blank lines go."""
    out, i, n = [], 0, len(code)
    while i < n:
        c = code[i]
        if c in "\"'":
            j = i + 1
            while j < n and code[j] != c:
                j += 2 if code[j] == "\\" else 1
            if j >= n:  # an unterminated quote is not a literal
                out.append(c)
                i += 1
                continue
            out.append(code[i:j + 1])
            i = j + 1
        elif code.startswith("//", i):
            j = code.find("\n", i)
            out.append(" ")
            i = n if j < 0 else j
        elif code.startswith("/*", i) and code.find("*/", i + 2) >= 0:
            out.append(" ")
            i = code.find("*/", i + 2) + 2
        else:
            out.append(c)
            i += 1
    return "\n".join(line for line in "".join(out).split("\n") if line.strip())


def sexp(node: Node) -> str:
    """The S-expression of the named nodes under `node`, with field names."""
    parts = []
    for i, child in enumerate(node.children):
        if not child.is_named:
            continue
        field = node.field_name_for_child(i)
        parts.append(f"{field}: {sexp(child)}" if field else sexp(child))
    return f"({node.type}{' ' if parts else ''}{' '.join(parts)})"


def subtrees(root: Node) -> list[str]:
    out, todo = [], [root]
    while todo:
        node = todo.pop()
        out.append(sexp(node))
        todo.extend(c for c in node.children if c.children)
    return out


class Flow:
    """codebleu's data-flow walk for one program; `items()` is its `get_data_flow`."""

    def __init__(self, lang: str, root: Node, src: bytes) -> None:
        self.lang, self.src = lang, src
        self.index: dict[tuple[int, int], tuple[int, str]] = {}
        for k, leaf in enumerate(self.tokens(root)):
            text = src[leaf.start_byte:leaf.end_byte].replace(b"\n", b"").decode("utf-8", "replace")
            self.index[(leaf.start_byte, leaf.end_byte)] = (k, text)
        self.step: Callable[[Node, dict], tuple[list, dict]] = getattr(self, f"_{lang}")

    def tokens(self, node: Node) -> list[Node]:
        if (not node.children or node.type in STRINGS[self.lang]) and node.type not in COMMENTS[self.lang]:
            return [node]
        return [t for c in node.children for t in self.tokens(c)]

    def names(self, node: Node | None) -> list[tuple[int, str]]:
        assert node is not None
        return [self.index[(t.start_byte, t.end_byte)] for t in self.tokens(node)
                if self.index[(t.start_byte, t.end_byte)][1] != t.type]

    def seq(self, nodes: list[Node], states: dict) -> tuple[list, dict]:
        edges: list = []
        for child in nodes:
            out, states = self.step(child, states)
            edges += out
        return edges, states

    def leaf(self, node: Node, states: dict) -> tuple[list, dict]:
        idx, code = self.index[(node.start_byte, node.end_byte)]
        if code == node.type:
            return [], states
        if code in states:
            return [(code, idx, "comesFrom", [code], list(states[code]))], states
        if node.type == "identifier":
            states = {**states, code: [idx]}
        return [(code, idx, "comesFrom", [], [])], states

    def define(self, name: Node | None, value: Node | None, states: dict) -> tuple[list, dict]:
        """`let name = value`: each name comesFrom each variable of the value."""
        names = self.names(name)
        edges: list = []
        if value is None:
            for idx, code in names:
                edges.append((code, idx, "comesFrom", [], []))
                states = {**states, code: [idx]}
            return edges, states
        edges, states = self.step(value, states)
        for idx, code in names:
            edges += [(code, idx, "comesFrom", [c], [i]) for i, c in self.names(value)]
            states = {**states, code: [idx]}
        return edges, states

    def assign(self, left: Node | None, right: Node | None, states: dict) -> tuple[list, dict]:
        """`left = right`: each left variable computedFrom each right variable."""
        edges, states = self.step(right, states)
        for idx, code in self.names(left):
            edges += [(code, idx, "computedFrom", [c], [i]) for i, c in self.names(right)]
            states = {**states, code: [idx]}
        return edges, states

    def assign_elementwise(self, left: Node | None, right: Node | None, states: dict) -> tuple[list, dict]:
        """Go's `a, b = x, y`: a from x, b from y (all of right when the counts differ)."""
        assert left is not None and right is not None
        ls = [c for c in left.children if c.type != ","] or [left]
        rs = [c for c in right.children if c.type != ","] or [right]
        if len(ls) != len(rs):
            ls, rs = [left], [right]
        edges: list = []
        for r in rs:
            out, states = self.step(r, states)
            edges += out
        for lnode, rnode in zip(ls, rs):
            parents = self.names(rnode)
            for idx, code in self.names(lnode):
                edges.append((code, idx, "computedFrom", [c for _, c in parents], [i for i, _ in parents]))
                states = {**states, code: [idx]}
        return edges, states

    def increment(self, node: Node, states: dict) -> tuple[list, dict]:
        vs = self.names(node)
        edges = [(c1, i1, "computedFrom", [c2], [i2]) for i1, c1 in vs for i2, c2 in vs]
        return edges, {**states, **{c: [i] for i, c in vs}}

    def branch(self, node: Node, states: dict, is_alternative: Callable[[int, Node], bool]
               ) -> tuple[list, dict]:
        """Alternatives start from the entry state; the states of all paths merge."""
        edges, current, paths = [], dict(states), []
        has_else = False
        for k, child in enumerate(node.children):
            has_else = has_else or "else" in child.type
            if is_alternative(k, child):
                out, alt = self.step(child, states)
                paths.append(alt)
            else:
                out, current = self.step(child, current)
            edges += out
        paths.append(current)
        if not has_else:
            paths.append(states)
        merged: dict[str, set[int]] = {}
        for path in paths:
            for key, defs in path.items():
                merged.setdefault(key, set()).update(defs)
        return edges, {k: sorted(v) for k, v in merged.items()}

    def loop(self, run: Callable[[dict], tuple[list, dict]], states: dict, times: int = 2
             ) -> tuple[list, dict]:
        """A loop body runs twice, so that its second pass sees its own definitions; the
        edges of the passes merge (one edge per name, token and relation)."""
        edges: list = []
        for _ in range(times):
            out, states = run(states)
            edges += out
        merged: dict[tuple, list] = {}
        for name, idx, rel, names, parents in edges:
            if (name, idx, rel) in merged:
                old = merged[(name, idx, rel)]
                merged[(name, idx, rel)] = [sorted(set(old[0] + names)), sorted(set(old[1] + parents))]
            else:
                merged[(name, idx, rel)] = [names, parents]
        return [(k[0], k[1], k[2], v[0], v[1]) for k, v in merged.items()], states

    def default(self, node: Node, states: dict) -> tuple[list, dict]:
        if (not node.children or node.type in STRINGS[self.lang]) and node.type not in COMMENTS[self.lang]:
            return self.leaf(node, states)
        return self.seq(node.children, states)

    # --- the languages

    def _go(self, node: Node, states: dict) -> tuple[list, dict]:
        t, field = node.type, node.child_by_field_name
        if t in ("var_spec", "const_spec"):
            return self.define(field("name"), field("value"), states)
        if t in ("assignment_statement", "short_var_declaration", "range_clause"):
            if field("right") is None:
                return [], states
            return self.assign_elementwise(field("left"), field("right"), states)
        if t in ("inc_statement", "dec_statement"):
            return self.increment(node, states)
        if t == "if_statement":  # everything from `else` on is an alternative
            first_else = next((k for k, c in enumerate(node.children) if c.type == "else"), len(node.children))
            return self.branch(node, states, lambda k, _c: k >= first_else)
        if t == "for_statement":
            return self.loop(lambda s: self.seq(node.children, s), states)
        return self.default(node, states)

    def _rust(self, node: Node, states: dict) -> tuple[list, dict]:
        t, field = node.type, node.child_by_field_name
        if t == "let_declaration":
            return self.define(field("pattern"), field("value"), states)
        if t in ("assignment_expression", "compound_assignment_expr"):
            return self.assign(field("left"), field("right"), states)
        if t == "if_expression":
            return self.branch(node, states, lambda _k, c: c.type == "else_clause")
        if t == "for_expression":
            def run(s: dict) -> tuple[list, dict]:
                edges, s = self.step(field("value"), s)
                edges, s = self._bind(field("pattern"), field("value"), edges, s)
                out, s = self.step(field("body"), s)
                return edges + out, s
            return self.loop(run, states)
        if t in ("while_expression", "loop_expression"):
            return self.loop(lambda s: self.seq(node.children, s), states)
        return self.default(node, states)

    def _typescript(self, node: Node, states: dict) -> tuple[list, dict]:
        t, field = node.type, node.child_by_field_name
        if t == "variable_declarator":
            return self.define(field("name"), field("value"), states)
        if t in ("assignment_expression", "augmented_assignment_expression"):
            return self.assign(field("left"), field("right"), states)
        if t == "update_expression":
            return self.increment(node, states)
        if t == "if_statement":
            return self.branch(node, states, lambda _k, c: c.type == "else_clause")
        if t == "for_statement":  # all of it, then again what follows the initializer
            def run_for(s: dict) -> tuple[list, dict]:
                edges, s = self.seq(node.children, s)
                init = next((k for k, c in enumerate(node.children)
                             if c.type in ("lexical_declaration", "variable_declaration")), None)
                if init is not None:
                    out, s = self.seq(node.children[init + 1:], s)
                    edges += out
                return edges, s
            return self.loop(run_for, states, times=1)
        if t == "for_in_statement":
            def run(s: dict) -> tuple[list, dict]:
                edges, s = self.step(field("right"), s)
                edges, s = self._bind(field("left"), field("right"), edges, s)
                out, s = self.step(field("body"), s)
                return edges + out, s
            return self.loop(run, states)
        if t in ("while_statement", "do_statement"):
            return self.loop(lambda s: self.seq(node.children, s), states)
        return self.default(node, states)

    def _bind(self, name: Node | None, value: Node | None, edges: list, states: dict) -> tuple[list, dict]:
        """A for-each variable computedFrom each variable of the iterable."""
        for idx, code in self.names(name):
            edges = edges + [(code, idx, "computedFrom", [c], [i]) for i, c in self.names(value)]
            states = {**states, code: [idx]}
        return edges, states

    def items(self, root: Node) -> list[tuple[str, str, list[str]]]:
        edges, _ = self.step(root, {})
        edges.sort(key=lambda e: e[1])
        used = set()
        for _, idx, _, _, parents in edges:
            if parents:
                used.add(idx)
            used.update(parents)
        by_index: dict[int, list] = {}
        for name, idx, rel, names, parents in edges:
            if idx not in used:
                continue
            if idx in by_index:
                old = by_index[idx]
                by_index[idx] = [name, idx, rel, sorted(set(old[3] + names)), sorted(set(old[4] + parents))]
            else:
                by_index[idx] = [name, idx, rel, names, parents]
        return [(e[0], e[2], e[3]) for e in by_index.values()]


def normalize(items: list[tuple[str, str, list[str]]]) -> list[tuple[str, str, tuple[str, ...]]]:
    """codebleu's renaming: var_0, var_1, ... in order of first appearance (parents first)."""
    names: dict[str, str] = {}
    out = []
    for name, rel, parents in items:
        for p in [*parents, name]:
            names.setdefault(p, f"var_{len(names)}")
        out.append((names[name], rel, tuple(names[p] for p in parents)))
    return out


def _parse(lang: str, code: str) -> tuple[Node, bytes]:
    src = strip_comments(code).encode()
    return Parser(Language(GRAMMARS[lang]())).parse(src).root_node, src


def counts(lang: str, candidate: str, reference: str) -> tuple[int, int, int, int]:
    """(ast_match, ast_total, dfg_match, dfg_total) of one pair, as codebleu counts them."""
    cand, cand_src = _parse(lang, candidate)
    ref, ref_src = _parse(lang, reference)
    have = set(subtrees(cand))
    ref_trees = subtrees(ref)
    ast_match = sum(s in have for s in ref_trees)
    ref_flow = normalize(Flow(lang, ref, ref_src).items(ref))
    pool = Counter(normalize(Flow(lang, cand, cand_src).items(cand)))
    dfg_match = 0
    for item in ref_flow:
        if pool[item] > 0:
            pool[item] -= 1
            dfg_match += 1
    return ast_match, len(ref_trees), dfg_match, len(ref_flow)
