"""Where a generated continuation has finished the unit of code its prefix opened.

A code model asked to complete a function rarely samples its end-of-text token: it
finishes the function, then starts another one (or prose) and runs until the length
limit, so the scored program ends wherever that limit lands. The rule here finds the
end the model *meant*: the response ends where the unit of code that the prefix opened
(a function, a class, a top-level statement) is closed.

* Indentation languages (Python): the unit is the last top-level statement of the
  prefix when it opened a block (``def f(x):``) or is unfinished; it ends before the
  first new logical line of the response indented at or left of it (a dedent back to
  the prefix's outermost level). Blank lines and comment lines never end it; lines
  inside brackets, after a backslash continuation or inside multi-line strings are not
  logical line starts.
* Brace languages: the unit ends right after the ``}`` that closes the last brace the
  prefix left open (depth back to 0).

Comments and string literals (as the language's `LexicalSpec` describes them) hide
brackets and newlines. Not modelled, so possibly misread: JavaScript regex literals,
C++ raw strings, C# verbatim strings ending in a backslash, PHP heredocs; the effect
is a cut in the wrong place, never an error. A prefix that opened nothing (nothing
left to close) makes the rule inactive.

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

from collections.abc import Sequence
from dataclasses import dataclass

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
        self._indent = lex.blocks == "indent"
        self._line_comments = tuple(lex.line_comments)
        self._block_comments = tuple(lex.block_comments)
        self._quotes = tuple(sorted(lex.quotes, key=len, reverse=True))
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
        self._quote: str | None = None  # delimiter of the open string literal
        self._comment: str | None = None  # "\n" for a line comment, else the block closer
        self._escape = False
        self._depth = 0  # brackets (indent languages) or braces (brace languages)
        self._continued = False  # a backslash just before the newline joins lines
        self._at_line_start = True  # at the start of a logical line (indent languages)
        self._indent_width = 0
        self._line_start_index = 0
        self._line_indent: int | None = None  # indent of the logical line being read
        self._last_significant = ""
        self._cut: Cut | None = None

    def _snapshot(self) -> tuple:
        return (self._quote, self._comment, self._escape, self._depth, self._continued,
                self._at_line_start, self._indent_width, self._line_indent,
                self._last_significant)

    def _restore(self, state: tuple) -> None:
        (self._quote, self._comment, self._escape, self._depth, self._continued,
         self._at_line_start, self._indent_width, self._line_indent,
         self._last_significant) = state
        self._line_start_index = 0
        self._cut = None

    def _finish_prefix_line(self) -> None:
        """Record the logical line that just ended (indent languages, prefix only)."""
        if self._line_indent is not None:
            self._lines.append((self._line_indent, self._last_significant == ":"))
        self._line_indent = None
        self._last_significant = ""

    def _scan(self, text: str, i: int, in_prefix: bool) -> None:
        n = len(text)
        while i < n:
            c = text[i]
            if self._comment is not None:
                if self._comment == "\n":
                    if c == "\n":
                        self._comment = None
                        continue  # the newline itself ends the logical line below
                elif text.startswith(self._comment, i):
                    i += len(self._comment)
                    self._comment = None
                    continue
                i += 1
                continue
            if self._quote is not None:
                if self._escape:
                    self._escape = False
                elif c == "\\":
                    self._escape = True
                elif c == "\n" and self._quote in ('"', "'"):
                    self._quote = None  # an unterminated one-line literal ends with its line
                    continue
                elif text.startswith(self._quote, i):
                    i += len(self._quote)
                    self._quote = None
                    if self._indent:
                        self._last_significant = '"'
                    continue
                i += 1
                continue
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
                if not any(text.startswith(m, i) for m in self._line_comments):
                    if not in_prefix and self._indent_width <= self._base:
                        self._cut = Cut(self._line_start_index, i, "function_end")
                        return
                    self._line_indent = self._indent_width
                self._at_line_start = False
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
                i += 1
                continue
            if c == "\\":
                self._continued = True
                i += 1
                continue
            opener = next((m for m in self._line_comments if text.startswith(m, i)), None)
            if opener is not None:
                self._comment = "\n"
                i += len(opener)
                continue
            block = next((b for b in self._block_comments if text.startswith(b[0], i)), None)
            if block is not None:
                self._comment = block[1]
                i += len(block[0])
                continue
            quote = self._quote_at(text, i)
            if quote is not None:
                self._quote = quote
                i += len(quote)
                continue
            if self._indent:
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
                    return
            i += 1

    def _quote_at(self, text: str, i: int) -> str | None:
        for q in self._quotes:
            if self._indent and text.startswith(q * 3, i):
                return q * 3
            if text.startswith(q, i):
                return q
        return None


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
    """Whether `response` adds anything to `prefix` but white space and comments.

    A response of comments only (``# Example usage:``) changes nothing a compiler or a
    test sees, so the reward treats it like an empty one. The scan starts at the start
    of `prefix`, so a response that continues a comment the prefix opened is still a
    comment, and one that continues or closes a string literal is code. Comments and
    string literals are read as the language's `LexicalSpec` describes them.

    >>> adds_code("python", "def f(x):\\n", "    # TODO\\n\\n")
    False
    >>> adds_code("python", "def f(x):\\n", "    return '#'\\n")
    True
    """
    lex = languages.get(language).lexical
    body = response.lstrip()
    if not body:
        return False
    openers = (*lex.line_comments, *(b[0] for b in lex.block_comments))
    if not body.startswith(openers) and not _may_end_in_comment(lex, prefix, openers):
        return True  # the first character is code, or inside a string the prefix opened
    return _scan_adds_code(lex, prefix, response)


def _scan_adds_code(lex: languages.LexicalSpec, prefix: str, response: str) -> bool:
    """`adds_code` by a full scan of prefix + response (no shortcut)."""
    triple = lex.blocks == "indent"
    quotes = sorted(lex.quotes, key=len, reverse=True)
    text, start = prefix + response, len(prefix)
    closer: str | None = None  # ends the open comment ("\n": a line comment) or string
    in_string = False
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if closer is None:
            line = next((m for m in lex.line_comments if text.startswith(m, i)), None)
            block = next((b for b in lex.block_comments if text.startswith(b[0], i)), None)
            if line is not None or block is not None:
                closer = "\n" if line is not None else block[1]
                i += len(line) if line is not None else len(block[0])
                continue
            if i >= start and not c.isspace():
                return True
            quote = next((q * 3 for q in quotes if triple and text.startswith(q * 3, i)), None) \
                or next((q for q in quotes if text.startswith(q, i)), None)
            if quote is not None:
                if i + len(quote) > start:
                    return True  # the response completes a quote the prefix began
                closer, in_string = quote, True
                i += len(quote)
                continue
            i += 1
            continue
        if in_string and i >= start and not c.isspace():
            return True  # string content, or the quote closing it, is code
        if in_string and c == "\\":
            if start <= i + 1 < n:
                return True  # the escaped character is string content
            i += 2
            continue
        one_line = closer == "\n" or (in_string and closer in ('"', "'"))
        if c == "\n" and one_line:
            closer, in_string = None, False
        elif closer != "\n" and text.startswith(closer, i):
            i += len(closer)
            closer, in_string = None, False
            continue
        i += 1
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
