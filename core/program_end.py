"""Where a generated continuation has finished the unit of code its prefix opened.

A code model asked to complete a function rarely samples its end-of-text token: it
finishes the function, then starts another one (or prose) and runs until the length
limit, so the scored program ends wherever that limit lands. The rule here finds the
end the model *meant*: the response ends where the unit of code that the prefix opened
(a function, a class, a top-level statement) is closed.

* Indentation languages (Python): the unit is the last top-level statement of the
  prefix when it opened a block (``def f(x):``) or is unfinished; it ends before the
  first new logical line of the response indented at or left of it (a dedent back to
  the prefix's outermost level). A comment line ends it the same way once the unit
  has a body (a line after its first, in the prefix or the response): otherwise a
  policy pads a finished function with ``#`` lines until the length limit. Blank
  lines never end it; lines inside brackets, after a backslash continuation or inside
  multi-line strings are not logical line starts.
* Brace languages: the unit ends right after the ``}`` that closes the last brace the
  prefix left open (depth back to 0).

Comments and string literals (as the language's `LexicalSpec` describes them) hide
brackets and newlines. One lexer (`segments`) cuts a text into code, comments, strings,
directives, skipped ``#if 0`` regions and PHP's outside text; `adds_code` (is a response
empty?) and `code_text` read it, and so does the cut rule, incrementally (it runs per
generated token) and only for code, comments and strings. Not modelled, so possibly
misread: JavaScript regex literals, C++ raw strings, C# verbatim strings ending in a
backslash, PHP heredocs; the effect is a cut in the wrong place, never an error. A
prefix that opened nothing (nothing left to close) makes the rule inactive.

    >>> from core.program_end import find_cut
    >>> find_cut("python", "def f(x):\\n", "    return x\\n\\ndef g():\\n")
    Cut(end=14, trigger=14, reason='function_end')
    >>> "    return x\\n\\ndef g():\\n"[:14]
    '    return x\\n\\n'

`end` is where the program text stops; `trigger` is the index of the character whose
generation made the decision (the first character of the dedented line; the closing
brace itself). The trainer keeps the token holding `trigger` in the response, as it
keeps an EOS token, and scores the text before `end`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from core import languages

_OPEN, _CLOSE = "([{", ")]}"


@dataclass(frozen=True)
class Cut:
    """Where a response ends: program text is ``response[:end]``; the character at
    ``trigger`` (>= end - 1) completed the stop decision."""

    end: int
    trigger: int
    reason: str
    """``"function_end"`` (the unit the prefix opened is closed) or ``"stop"`` (a stop string)."""


class ProgramEnd:
    """Incremental detector of the end of the unit a `prefix` opened.

    Scans the prefix once; `feed` then takes the whole response decoded so far and
    only scans what is new (responses grow token by token during generation). Feeding
    a text that does not extend the previous one rescans it from the prefix's state.
    """

    def __init__(self, language: str, prefix: str) -> None:
        lex = languages.get(language).lexical
        self._lx = _lexer(lex)
        self._indent = lex.blocks == "indent"
        self._line_comments = tuple(lex.line_comments)
        self._reset_state()
        self._lines: list[tuple[int, bool]] = []  # (indent, opens a block) per logical line
        self._scan(prefix, 0, in_prefix=True)
        self._base = 0
        if self._indent:
            unfinished = self._line_indent is not None
            self._finish_prefix_line()
            indents = [ind for ind, _ in self._lines]
            self.active = bool(indents)
            if indents:
                self._base = min(indents)
                last_top = max(k for k, ind in enumerate(indents) if ind == self._base)
                opens_block = self._lines[last_top][1]
                still_open = unfinished and last_top == len(indents) - 1
                self.active = opens_block or still_open
                self._body_seen = last_top < len(indents) - 1
        else:
            self.active = self._depth > 0
        self._line_start_index = 0  # response indices from here on
        self._after_prefix = self._snapshot()
        self._seen = ""

    # ------------------------------------------------------------------ public

    def feed(self, response: str) -> Cut | None:
        """The cut of `response` (the whole response so far), or None while the unit
        is still open (always None when the rule is inactive)."""
        if not self.active:
            return None
        if not response.startswith(self._seen):
            self._restore(self._after_prefix)
            self._seen = ""
        start = len(self._seen)
        self._seen = response
        if self._cut is None:
            self._scan(response, start, in_prefix=False)
        return self._cut

    # --------------------------------------------------------------- the scan

    def _reset_state(self) -> None:
        self._open: _Open | None = None  # the comment or string the text read so far left open
        self._depth = 0  # brackets (indent languages) or braces (brace languages)
        self._continued = False  # a backslash just before the newline joins lines
        self._at_line_start = True  # at the start of a logical line (indent languages)
        self._indent_width = 0
        self._line_start_index = 0
        self._line_indent: int | None = None  # indent of the logical line being read
        self._last_significant = ""
        self._body_seen = False  # the unit has code after its first line (a comment then ends it)
        self._cut: Cut | None = None

    def _snapshot(self) -> tuple:
        return (self._open, self._depth, self._continued, self._at_line_start,
                self._indent_width, self._line_indent, self._last_significant, self._body_seen)

    def _restore(self, state: tuple) -> None:
        (self._open, self._depth, self._continued, self._at_line_start, self._indent_width,
         self._line_indent, self._last_significant, self._body_seen) = state
        self._line_start_index = 0
        self._cut = None

    def _finish_prefix_line(self) -> None:
        """Record the logical line that just ended (indent languages, prefix only)."""
        if self._line_indent is not None:
            self._lines.append((self._line_indent, self._last_significant == ":"))
        self._line_indent = None
        self._last_significant = ""

    def _scan(self, text: str, i: int, in_prefix: bool) -> None:
        """Read `text` from `i` (its code, comments and strings, as `_lex` cuts them),
        continuing the state; sets `_cut` where the unit ends (never in the prefix)."""
        out: list[_Piece] = []
        carried = self._open is not None
        self._open = _lex(self._lx, text, i, self._open, False, out)
        for k, (kind, a, b, closed) in enumerate(out):
            if kind == "code":
                if self._code(text, a, b, in_prefix):
                    return
                continue
            if not (carried and k == 0):  # a comment or string opens at `a`
                if self._indent and self._at_line_start and self._line_starts(text, a, in_prefix):
                    return
                self._continued = False
            if kind == "string" and closed and self._indent:
                self._last_significant = '"'

    def _line_starts(self, text: str, i: int, in_prefix: bool) -> bool:
        """A logical line starts at `i` (indent languages): True when it ends the unit."""
        comment = any(text.startswith(m, i) for m in self._line_comments)
        if not in_prefix and self._indent_width <= self._base and (self._body_seen or not comment):
            self._cut = Cut(self._line_start_index, i, "function_end")
            return True
        if not comment:
            self._line_indent = self._indent_width
            self._body_seen = self._body_seen or not in_prefix
        self._at_line_start = False
        return False

    def _code(self, text: str, i: int, end: int, in_prefix: bool) -> bool:
        """Read the code `text[i:end]`: indentation, brackets or braces, line ends. True
        when it ends the unit (`_cut` set)."""
        while i < end:
            c = text[i]
            if self._indent and self._at_line_start:
                if c in " \t\f":
                    self._indent_width = (self._indent_width // 8 + 1) * 8 if c == "\t" \
                        else self._indent_width + 1
                    i += 1
                    continue
                if c in "\r\n":
                    self._indent_width = 0
                    self._line_start_index = i + 1
                    i += 1
                    continue
                if self._line_starts(text, i, in_prefix):
                    return True
            if self._continued and c not in "\r\n":
                self._continued = False
            if c == "\n":
                if self._indent and self._depth == 0 and not self._continued:
                    if in_prefix:
                        self._finish_prefix_line()
                    self._at_line_start = True
                    self._indent_width = 0
                    self._line_start_index = i + 1
                self._continued = False
            elif c == "\\":
                self._continued = True
            elif self._indent:
                if c in _OPEN:
                    self._depth += 1
                elif c in _CLOSE:
                    self._depth = max(0, self._depth - 1)
                if not c.isspace():
                    self._last_significant = c
            elif c == "{":
                self._depth += 1
            elif c == "}":
                self._depth -= 1
                if not in_prefix and self._depth <= 0:
                    self._cut = Cut(i + 1, i, "function_end")
                    return True
            i += 1
        return False


def first_stop(response: str, stops: Sequence[str]) -> Cut | None:
    """The earliest occurrence of any stop string in `response` (the stop string and what
    follows are not program text), or None."""
    best: Cut | None = None
    for s in stops:
        if not s:
            continue
        at = response.find(s)
        if at >= 0 and (best is None or at + len(s) - 1 < best.trigger):
            best = Cut(at, at + len(s) - 1, "stop")
    return best


def find_cut(language: str, prefix: str, response: str, stops: Sequence[str] = (),
             function_end: bool = True) -> Cut | None:
    """Where `response` (a continuation of `prefix`) ends under the stop strings and,
    with `function_end`, the unit rule; the earliest trigger wins. None: no cut."""
    cuts = [first_stop(response, stops)]
    if function_end:
        cuts.append(ProgramEnd(language, prefix).feed(response))
    found = [c for c in cuts if c is not None]
    return min(found, key=lambda c: c.trigger) if found else None


def adds_code(language: str, prefix: str, response: str) -> bool:
    '''Whether `response` adds to `prefix` anything a compiler turns into code.

    Not code (the response is then *empty*: the reward treats it like no answer):
    white space, comments, string-literal statements (a ``"""TODO"""`` docstring stub,
    ``"use strict";``) and no-op statements (Python's ``pass``) where the language
    allows them, ``; { }`` that end no code (a ``}`` closing a function body the
    prefix wrote is code), preprocessor directives (``#include`` lines) and
    regions the preprocessor skips (``#if 0 ... #endif``), and PHP text outside its
    ``<?php ... ?>`` tags. All of it is read from the language's `LexicalSpec`
    (`segments`). The scan starts at the start of `prefix`, so a response that
    continues a comment the prefix opened is still a comment, one that closes a string
    statement the prefix opened is still a string statement, and one that completes any
    other literal is code.

    >>> adds_code("python", "def f(x):\\n", "    # TODO\\n\\n")
    False
    >>> adds_code("python", "def f(x):\\n", '    """TODO"""\\n')
    False
    >>> adds_code("python", "def f(x):\\n", "    return '#'\\n")
    True
    '''
    lex = languages.get(language).lexical
    body = response.lstrip()
    if not body:
        return False
    if not _may_add_nothing(lex, prefix, body):
        return True  # the first token is code, and the prefix leaves nothing open
    return _statements_add_code(lex, prefix, response)


# ------------------------------------------------------------ the segment lexer

@dataclass(frozen=True)
class Segment:
    """A stretch of program text: ``kind`` is ``"code"``, ``"comment"``, ``"string"``,
    ``"directive"`` (a preprocessor line), ``"dead"`` (a region the preprocessor skips,
    its directives included), ``"text"`` (outside PHP's tags) or ``"tag"`` (the tag)."""

    kind: str
    start: int
    end: int


class _Lexer:
    """The compiled view of one `LexicalSpec` that `segments` runs."""

    def __init__(self, lex: languages.LexicalSpec) -> None:
        self.lex = lex
        self.indent = lex.blocks == "indent"
        self.quotes = sorted(lex.quotes, key=len, reverse=True)
        dead = "|".join(f"(?:{r})" for r in lex.dead_regions)
        self.dead = re.compile(dead) if dead else None
        self.dead_anywhere = re.compile(rf"^[ \t]*(?:{dead})", re.MULTILINE) if dead else None
        self.live = re.compile(lex.live_regions) if lex.live_regions else None
        self.halt = re.compile(lex.halt) if lex.halt else None
        self.closer, self.openers = lex.inline_text or ("", ())
        marks = [*lex.line_comments, *(b[0] for b in lex.block_comments), *lex.quotes, "\n"]
        self.next_plain = _any_of(marks)
        if lex.directive_prefix:
            marks.append(lex.directive_prefix)
        if self.closer:
            marks.append(self.closer)
        self.next_mark = _any_of(marks)


def _any_of(marks: list[str]) -> re.Pattern[str]:
    return re.compile("|".join(re.escape(m) for m in sorted(set(marks), key=len, reverse=True)))


@cache
def _lexer(lex: languages.LexicalSpec) -> _Lexer:
    return _Lexer(lex)


_Open = tuple[str, bool, bool]
"""A comment or string left open at the end of a text: (its closer, ``"\\n"`` for a line
comment; whether it is a string; whether its last character is an escaping backslash)."""
_Piece = tuple[str, int, int, bool]
"""A segment as `_lex` yields it: (kind, start, end, closed); closed: a string's closing
quote (not its line's or the text's end) ended it (False for the other kinds)."""


def segments(language: str, text: str) -> list[Segment]:
    """`text` cut into segments (see `Segment`) as the language's `LexicalSpec` reads it:
    the one lexer behind `adds_code`, `code_text` and the cut rule (`ProgramEnd`)."""
    lx = _lexer(languages.get(language).lexical)
    return [Segment(kind, a, b) for kind, a, b, _ in _segments(lx, text)]


def _segments(lx: _Lexer, text: str) -> list[_Piece]:
    out: list[_Piece] = []
    _lex(lx, text, 0, None, True, out)
    return out


def _lex(lx: _Lexer, text: str, i: int, carry: _Open | None, full: bool, out: list[_Piece]
         ) -> _Open | None:
    """Append the segments of `text[i:]` to `out`, the first one continuing the comment or
    string `carry` says the text before `i` left open; returns what `text` leaves open.
    `full`: also directives, skipped regions and PHP's outside text (`segments`); else
    only code, comments and strings (the cut rule, fed a growing text piece by piece)."""
    n = len(text)
    if carry is not None and i < n:
        i, carry = _body(text, i, i, carry, out)
    in_text = full and bool(lx.openers) and any(o in text for o in lx.openers)
    marks = lx.next_mark if full else lx.next_plain
    while i < n and carry is None:
        if in_text:
            i, in_text = _inline_text(lx, text, i, out), False
            continue
        found = marks.search(text, i)
        j = found.start() if found else n
        if j > i:
            halted = lx.halt.search(text, i, j) if full and lx.halt else None
            if halted:  # the rest of the file is data (PHP's __halt_compiler();)
                if halted.start() > i:
                    out.append(("code", i, halted.start(), False))
                out.append(("text", halted.start(), n, False))  # the halt itself runs nothing
                break
            out.append(("code", i, j, False))
        if found is None:
            break
        mark = found.group()
        if full and mark == lx.closer:  # the inline-text closer
            i, in_text = j + len(lx.closer), True
            out.append(("tag", j, i, False))
        elif (full and mark == lx.lex.directive_prefix
              and not text[text.rfind("\n", 0, j) + 1:j].strip()):  # first on its line
            i = _directive(lx, text, j, out)
        else:
            i, carry = _special(lx, text, j, mark, out)
    return carry


def _inline_text(lx: _Lexer, text: str, i: int, out: list[_Piece]) -> int:
    """PHP text from `i` to the next open tag; returns where code starts."""
    hits = [(at, o) for o in lx.openers if (at := text.find(o, i)) >= 0]
    if not hits:
        out.append(("text", i, len(text), False))
        return len(text)
    at, opener = min(hits, key=lambda h: (h[0], -len(h[1])))
    if at > i:
        out.append(("text", i, at, False))
    out.append(("tag", at, at + len(opener), False))
    return at + len(opener)


def _special(lx: _Lexer, text: str, j: int, mark: str, out: list[_Piece]
             ) -> tuple[int, _Open | None]:
    """Read the newline, comment, string or stray directive mark `mark` at `j`; returns
    where scanning goes on and what the text leaves open."""
    lex = lx.lex
    if mark in lex.line_comments:
        return _body(text, j, j + len(mark), ("\n", False, False), out)
    block = next((b for b in lex.block_comments if b[0] == mark), None)
    if block is not None:
        return _body(text, j, j + len(mark), (block[1], False, False), out)
    if mark in lex.quotes:
        if lx.indent and text.startswith(mark * 3, j):
            mark = mark * 3
        return _body(text, j, j + len(mark), (mark, True, False), out)
    out.append(("code", j, j + len(mark), False))  # a newline, or a '#' that starts no directive
    return j + len(mark), None


def _body(text: str, start: int, i: int, carry: _Open, out: list[_Piece]) -> tuple[int, _Open | None]:
    """Read the comment or string open since `start` (`carry`) from `i` on; appends its
    segment; returns where it ends and what is still open there (at the text's end)."""
    closer, string, escape = carry
    n = len(text)
    if not string:
        end = text.find(closer, i)
        if end < 0:
            out.append(("comment", start, n, False))
            return n, carry
        end += 0 if closer == "\n" else len(closer)  # a line comment's newline is code
        out.append(("comment", start, end, False))
        return end, None
    one_line = closer in ('"', "'")
    while i < n:
        c = text[i]
        if escape:
            escape = False
        elif c == "\\":
            escape = True
        elif c == "\n" and one_line:
            out.append(("string", start, i, False))
            return i, None  # an unterminated one-line literal ends with its line
        elif text.startswith(closer, i):
            out.append(("string", start, i + len(closer), True))
            return i + len(closer), None
        i += 1
    out.append(("string", start, n, False))
    return n, (closer, True, escape)


def _continued(text: str, newline: int) -> bool:
    """Whether a backslash joins the line ending at `newline` to the next."""
    k = newline - 1 if newline > 0 and text[newline - 1] == "\r" else newline
    return k > 0 and text[k - 1] == "\\"


def _line_end(text: str, i: int) -> int:
    """End of the (backslash-continued) line at `i`, before its newline."""
    while True:
        end = text.find("\n", i)
        if end < 0:
            return len(text)
        if not _continued(text, end):
            return end
        i = end + 1


def _directive(lx: _Lexer, text: str, j: int, out: list[_Piece]) -> int:
    end = _line_end(text, j)
    if (lx.dead is None or not lx.dead.match(text[j:end].rstrip())
            or lx.live is not None and lx.live.match(text, j)):
        out.append(("directive", j, end, False))
        return end
    depth, i, n = 0, end, len(text)
    word = re.compile(re.escape(lx.lex.directive_prefix) + r"\s*(\w+)")
    while i < n:  # skipped lines: only the nesting of conditionals counts
        start = i + 1
        end = _line_end(text, start)
        found = word.match(text[start:end].lstrip())
        i = end
        if found is None:
            continue
        name = found.group(1)
        if name.startswith("if"):
            depth += 1
        elif name == "endif":
            if depth == 0:
                break
            depth -= 1
        elif name in ("else", "elif") and depth == 0:  # an #elif is read as a directive again
            out.append(("dead", j, start, False))
            return start + len(text[start:end]) - len(text[start:end].lstrip())
    out.append(("dead", j, min(i, n), False))
    return min(i, n)


def code_text(language: str, text: str) -> str:
    """`text` with everything but code (comments, strings, directives, skipped regions,
    PHP's outside text) blanked to spaces, newlines kept: what a pattern over code reads."""
    parts = []
    for seg in segments(language, text):
        piece = text[seg.start:seg.end]
        parts.append(piece if seg.kind == "code" else re.sub(r"[^\n]", " ", piece))
    return "".join(parts)


# ------------------------------------------------------ statements of a response

_TOKEN = re.compile(r"\.\.\.|\w+|\S")
_BRACKETS = {"(": 1, "[": 1, "{": 1, ")": -1, "]": -1, "}": -1}


def _statements_add_code(lex: languages.LexicalSpec, prefix: str, response: str) -> bool:
    """`adds_code` by a full scan: split prefix + response into statements (`_Statements`)."""
    text = prefix + response
    lx = _lexer(lex)
    scan = _Statements(lex, text, len(prefix))
    for kind, start, end, _ in _segments(lx, text):
        if kind == "string":
            scan.items.append(("s", start, end))
        elif kind != "code":
            continue
        elif text[start] == "\n":  # ends a logical line in an indentation language
            if lx.indent and scan.depth == 0 and not _continued(text, start) and scan.end(start, ""):
                return True
        elif any(scan.token(tok.group(), tok.start(), tok.end())
                 for tok in _TOKEN.finditer(text, start, end)):
            return True
    return scan.end(len(text), "")


class _Statements:
    """Statements of a text, fed token by token; says when the response (the text from
    `start`) adds code. It does when a statement it reaches into is not inert
    (`_inert`), when its ``;`` (or ``:``, ``{``) ends a statement that is not, or when
    its ``}`` closes a block holding such a statement (a function body the prefix wrote)."""

    def __init__(self, lex: languages.LexicalSpec, text: str, start: int) -> None:
        self.lex, self.text, self.start = lex, text, start
        self.indent = lex.blocks == "indent"
        self.items: list[tuple[str, int, int]] = []  # ("t" token / "s" string, start, end)
        self.depth = 0  # brackets (indentation languages)
        self.blocks: list[bool] = []  # per open brace: it holds a statement that is not inert

    def token(self, t: str, a: int, b: int) -> bool:
        if self.indent:
            self.depth = max(0, self.depth + _BRACKETS.get(t, 0))
            if t == ";" or (t == ":" and self.depth == 0):
                return self.end(a, t)
        elif t in ";{}":
            return self.end(a, t)
        self.items.append(("t", a, b))
        return False

    def end(self, at: int, terminator: str) -> bool:
        """The statement ends at `at` with `terminator` ("" for a line or the text's end)."""
        items, text, start = self.items, self.text, self.start
        self.items = []
        live = bool(items) and not _inert(self.lex, text, items)
        reaches = any(e > start and text[max(a, start):e].strip() for _, a, e in items)
        if live and (reaches or (terminator and at >= start)):
            return True
        if live and terminator != "{" and self.blocks:
            self.blocks[-1] = True
        if terminator == "{":
            self.blocks.append(False)
        elif terminator == "}":
            held = self.blocks.pop() if self.blocks else False
            if held and at >= start:
                return True
            if held and self.blocks:
                self.blocks[-1] = True
        return False


def _inert(lex: languages.LexicalSpec, text: str, items: list[tuple[str, int, int]]) -> bool:
    """A statement that compiles to nothing: string literals alone (where the language
    allows them and none interpolates) or one no-op statement."""
    if len(items) == 1 and items[0][0] == "t":
        return text[items[0][1]:items[0][2]] in lex.noop_statements
    if not lex.string_statements or any(kind != "s" for kind, _, _ in items):
        return False
    for _, a, b in items:
        body = text[a:b]
        if any(body.startswith(q) and m in body for q, m in lex.live_strings):
            return False
    return True


def _may_add_nothing(lex: languages.LexicalSpec, prefix: str, body: str) -> bool:
    """A cheap over-estimate of whether the response (`body`: it, white space stripped)
    may add nothing: it starts with something other than a plain code token, or the
    prefix may leave a comment, string, skipped region or PHP text open."""
    starters = (*lex.line_comments, *(b[0] for b in lex.block_comments), *lex.quotes,
                *lex.noop_statements, "{", "}", ";", ":", ".")
    if lex.directive_prefix:
        starters += (lex.directive_prefix,)
    if lex.inline_text:
        starters += (lex.inline_text[0], *lex.inline_text[1])
    if body.startswith(starters):
        return True
    openers = (*lex.line_comments, *(b[0] for b in lex.block_comments))
    if _may_end_in_comment(lex, prefix, openers):
        return True
    last_line = prefix[prefix.rfind("\n") + 1:]
    if any(q in last_line for q in lex.quotes):
        return True
    multi = [q * 3 for q in lex.quotes] if lex.blocks == "indent" else \
        [q for q in lex.quotes if q not in ('"', "'")]
    if any(prefix.count(q) % 2 for q in multi):
        return True
    if lex.directive_prefix and last_line.lstrip().startswith(lex.directive_prefix):
        return True  # the response continues a directive line
    dead = _lexer(lex).dead_anywhere
    if dead is not None and dead.search(prefix):
        return True
    if lex.inline_text:  # PHP: a tag in the response, or split across the seam
        tags = (lex.inline_text[0], *lex.inline_text[1])
        seam = prefix[-8:] + body
        return lex.inline_text[0] in prefix or any(t in seam for t in tags)
    return False


def _may_end_in_comment(lex: languages.LexicalSpec, prefix: str, openers: tuple[str, ...]) -> bool:
    """A cheap over-estimate of whether `prefix` ends inside a comment (or on the first
    character of a comment opener): True sends `adds_code` to its full scan."""
    last_line = prefix[prefix.rfind("\n") + 1:]
    if any(m in last_line for m in lex.line_comments):
        return True
    if any(prefix.rfind(o) > prefix.rfind(c) for o, c in lex.block_comments):
        return True
    tail = prefix.rstrip()[-1:]
    return bool(tail) and any(o.startswith(tail) for o in openers)
