"""Where a response ends the unit of code its prefix opened (core.program_end)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.program_end import Cut, ProgramEnd, find_cut, first_stop

FUNCTION = "def f(x):\n    y = x + 1\n"


def program(language: str, prefix: str, response: str) -> str:
    cut = find_cut(language, prefix, response)
    return response if cut is None else response[: cut.end]


@pytest.mark.parametrize("prefix, response, kept", [
    # a dedent to column 0 ends the function; blank lines before it stay
    (FUNCTION, "    return y\n\n\ndef g():\n    pass\n", "    return y\n\n\n"),
    (FUNCTION, "    return y\nprint(f(1))\n", "    return y\n"),
    # the prefix ends mid-line: the response continues that line
    ("def f(x):\n    return", " x * 2\nclass A:\n", " x * 2\n"),
    # a comment line at column 0 ends a function that has a body, like code (#24: comment
    # padding after the body was the hole); before any body line it does not, blank lines never
    (FUNCTION, "# note\n\n    return y\n@deco\ndef g(): pass\n", ""),
    (FUNCTION, "\n    return y\n# pad\n# pad\n", "\n    return y\n"),
    ("def f(x):\n", "# note\n\n    return x\n# pad\n", "# note\n\n    return x\n"),
    ("def f(x):\n", "    return x\n    # inside\n  # still inside\n", "    return x\n    # inside\n  # still inside\n"),
    # nested blocks and a nested function stay inside
    (FUNCTION, "    if y:\n        def h():\n            return 1\n    return y\nz = 1\n",
     "    if y:\n        def h():\n            return 1\n    return y\n"),
    # brackets, backslash continuations and strings hide line starts
    (FUNCTION, "    return (y,\n1)\nz = 2\n", "    return (y,\n1)\n"),
    (FUNCTION, "    return y + \\\n1\nz = 2\n", "    return y + \\\n1\n"),
    (FUNCTION, '    s = """\nnot code\n"""\n    return s\nz\n', '    s = """\nnot code\n"""\n    return s\n'),
    (FUNCTION, "    s = 'it''s # not a comment'\n    return s\nz\n",
     "    s = 'it''s # not a comment'\n    return s\n"),
    # a docstring left open in the prefix
    ('def f(x):\n    """Doc\n', 'more doc\nstill doc\n"""\n    return x\nnext = 1\n',
     'more doc\nstill doc\n"""\n    return x\n'),
    # methods of a dedented class: the class is the unit
    ("class A:\n    def f(self):\n", "        return 1\n    def g(self):\n        return 2\nA()\n",
     "        return 1\n    def g(self):\n        return 2\n"),
    # the response closes nothing: no cut
    (FUNCTION, "    return y\n", "    return y\n"),
    # tabs count as a multiple of 8 columns, as in Python
    ("def f(x):\n\ty = 1\n", "\treturn y\nz = 0\n", "\treturn y\n"),
])
def test_python_function_end(prefix: str, response: str, kept: str) -> None:
    assert program("python", prefix, response) == kept
    compile(prefix + kept, "<test>", "exec")


def test_python_trigger_is_the_first_character_of_the_dedented_line() -> None:
    response = "    return y\n\ndef g():\n"
    cut = find_cut("python", FUNCTION, response)
    assert cut == Cut(end=14, trigger=14, reason="function_end")
    assert response[cut.trigger] == "d"


def test_an_immediate_dedent_leaves_an_empty_program() -> None:
    assert program("python", FUNCTION, "def g():\n    pass\n") == ""


@pytest.mark.parametrize("prefix", [
    "x = 1\ny = 2\n",  # finished top-level statements: nothing is open
    "",  # no prefix
    "# only a comment\n",
    "def f(x):\n    return x\nz = 1\n",  # the function was closed in the prefix
])
def test_python_rule_is_inactive_when_nothing_is_open(prefix: str) -> None:
    end = ProgramEnd("python", prefix)
    assert not end.active
    assert end.feed("print(1)\ndef g():\n    pass\nq = 2\n") is None


@pytest.mark.parametrize("language, prefix, response, kept", [
    ("java", "public int f(int x) {\n    int y = x;", "\n    return y;\n}\n\nint g() { return 1; }",
     "\n    return y;\n}"),
    ("java", 'int f() { String s = "}"; char c = \'}\'; // }\n', " /* } */ return 1; } int g() {}",
     " /* } */ return 1; }"),
    ("java", "class A { int f() { return", " 1; } } class B {}", " 1; } }"),
    ("cpp", "int main() {\n  for (int i = 0; i < 3; i++) {", " f(i); }\n  return 0;\n}\nint x;",
     " f(i); }\n  return 0;\n}"),
    ("c", "int f(void) {", " return '{'; }\nint g;", " return '{'; }"),
    ("c_sharp", "static int F(int x) {", ' return $"{x}".Length; } static void G() {}',
     ' return $"{x}".Length; }'),
    ("javascript", "function f(x) {", " return `${x}}`; }\nf(1);", " return `${x}}`; }"),
    ("php", "<?php\nfunction f($x) {", " # }\n return $x; }\necho f(1);", " # }\n return $x; }"),
])
def test_brace_languages_end_at_the_closing_brace(language: str, prefix: str, response: str,
                                                  kept: str) -> None:
    assert program(language, prefix, response) == kept


def test_brace_rule_inactive_without_an_open_brace() -> None:
    assert not ProgramEnd("java", "int x = 1;").active
    assert find_cut("java", "", "class A {} class B {}") is None


def test_stop_strings_cut_at_the_first_occurrence() -> None:
    cut = first_stop("a\n```\nb\n\n\nc", ["\n\n\n", "```"])
    assert cut == Cut(end=2, trigger=4, reason="stop")
    assert first_stop("abc", ["x", ""]) is None
    # the earliest trigger wins between a stop string and the function end
    both = find_cut("python", FUNCTION, "    return y ###\nz = 1\n", stops=["###"])
    assert both is not None and both.reason == "stop" and both.end == 13


text = st.text(alphabet=st.sampled_from(list("ab(){}[]'\"#/*\\ \t\n:x=`$")), max_size=60)


@settings(max_examples=300, deadline=None)
@given(language=st.sampled_from(["python", "java", "javascript", "php", "c_sharp"]),
       prefix=text, response=text)
def test_incremental_feed_matches_one_shot(language: str, prefix: str, response: str) -> None:
    """Fed character by character (as during generation) the first cut found is the one
    the whole response gives; later text never moves it; any input is accepted."""
    whole = ProgramEnd(language, prefix).feed(response)
    grow = ProgramEnd(language, prefix)
    first = None
    for n in range(1, len(response) + 1):
        got = grow.feed(response[:n])
        if got is not None and first is None:
            first = got
            assert got.trigger == n - 1  # found as soon as its character arrived
        if first is not None:
            assert got == first
    assert first == whole
    if whole is not None:
        assert 0 <= whole.end <= whole.trigger + 1 <= len(response)
        # a different continuation (the decoded text changed) is rescanned from the prefix
        assert grow.feed(response[: whole.trigger]) is None


@pytest.mark.parametrize("language, prefix, response, expected", [
    ("python", "def f(x):\n", "    # TODO\n\n", False),
    ("python", "def f(x):\n", "    return '#'\n", True),
    ("python", 'x = """abc\n', 'def"""\n', True),  # the response closes the prefix's string
    ("python", "x = 1  # c\n", "  \n\t", False),
    ("python", "s = 'a\\", "'", True),  # an escaped quote is string content
    ("python", "", "", False),
    ("java", "class A {", "  // hi\n /* x\n y */ ", False),
    ("java", "class A { /* open", "  still the comment */ ", False),
    ("java", "class A { /* open", "  closed */ int x;", True),
    ("javascript", "", "`a\nb`", False),  # a string statement does nothing (#24)
    ("javascript", "x = ", "`a\nb`", True),  # a string the response assigns is code
    ("php", "<?php\n", "# c\n// d\n/* e */", False),
    ("cpp", "int x;", "\n  ", False),
    # #24: what a compiler turns into nothing adds nothing
    ("python", "def f(x):\n", '    """TODO"""\n', False),
    ("python", "def f(x):\n    \"\"\"", 'TODO"""\n    pass\n', False),
    ("python", "def f(x):\n", '    f"{g()}"\n', True),  # an f-string runs code
    ("javascript", "function f() {\n", '  "use strict";\n}', False),
    ("javascript", "function f() {\n", "  `${g()}`;\n}", True),
    ("php", "<?php function f($x) {\n", "'TODO'; }", False),
    ("php", "<?php function f($x) {\n", '"$x"; }', True),  # interpolation runs code
    ("php", "<?php function f() { return 1; }\n", "?> text ((( <?php ", False),
    ("c", "", "#include <stdio.h> garbage\n#define X (((\n", False),
    ("c", "int f(int x) {\n", "#if 0\n  return x; don't\n#endif\n}", False),
    ("c", "int f(int x) {\n", "#if 0\n#else\n  return x;\n#endif\n}", True),
    ("c_sharp", "class A { int F() {\n", "#if false\n garbage\n#endif\n}}", False),
    # closing braces: code when they close a block holding code, nothing when they close an empty one
    ("c", "int f(int x) {\n", "}\n", False),
    ("c", "int f(int x) {\n  return x;\n", "}\n", True),
    ("c", "int f(int x) {\n  return x", ";\n}\n", True),
    ("cpp", "struct A { int f() {\n", '"TODO"; } };', False),
])
def test_adds_code(language: str, prefix: str, response: str, expected: bool) -> None:
    from core.program_end import adds_code

    assert adds_code(language, prefix, response) is expected


SPLIT_SOURCES = {
    "python": 'def f(x):  # one\n    s = "a # b"  # two\n    t = """x\n# y"""\n    return s\n# end\n',
    "java": 'class A { /* a\n b */ int f() { // c\n return 1; } /* d */ }\n// e\n',
    "php": '<?php # a\n$s = "/* x */"; // b\n/* c\n*/ echo $s;\n?> t <?php "s"; f();\n',
    "c": '#include <a.h> x\nint f() { "s";\n#if 0\n y\n#endif\n return 1; }\n',
    "javascript": 'function f() { "use strict"; `${x}`;\n return `a`; }\n',
}


@pytest.mark.parametrize("language", sorted(SPLIT_SOURCES))
def test_adds_code_shortcut_agrees_with_the_full_scan(language: str) -> None:
    from core import languages
    from core.program_end import _statements_add_code, adds_code

    text, lex = SPLIT_SOURCES[language], languages.get(language).lexical
    for i in range(len(text) + 1):
        for j in range(i, len(text) + 1):
            prefix, response = text[:i], text[i:j]
            assert adds_code(language, prefix, response) == _statements_add_code(lex, prefix, response), \
                (prefix, response)
