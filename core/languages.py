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
from dataclasses import dataclass, field, fields
from functools import cache
from typing import Any


@dataclass(frozen=True)
class DataFlowSpec:
    """Node-type tables for the one generic data-flow walker in `csrc/dataflow.cpp`.

    CodeBLEU's data-flow graph (the `R_dfg` reward) is computed by a walker that
    knows no language: it only asks which *role* a node type plays. Each field
    below names the tree-sitter node types (or field names) of one role; the
    defaults are CodeBLEU's shared choices. The five CodeBLEU languages carry the
    values of codebleu 0.7.0's per-language walkers, so scores match it.
    """

    comment_style: str = "c"
    """How comments are removed before parsing (CodeBLEU's text pass): ``"python"``
    (comments and docstrings, via a tokenize emulation), ``"c"`` (``//`` and
    ``/* */`` outside '...' and "..." literals) or ``"none"``."""
    string_types: tuple[str, ...] = ("string_literal", "string", "character_literal")
    """Literals taken whole as one token."""
    comment_types: tuple[str, ...] = ("comment",)
    """Node types that are never tokens."""
    identifier_types: tuple[str, ...] = ("identifier",)
    """Leaves whose first (unbound) use defines the name."""
    def_types: tuple[str, ...] = ()
    """Declarations `name [= value]`: name comesFrom value's variables."""
    def_style: str = "fields"
    """``"fields"`` (name/value fields) or ``"positional"`` (children[0], children[1] when exactly two)."""
    def_name_field: str = "name"
    def_value_field: str = "value"
    assignment_types: tuple[str, ...] = ()
    """Assignments: left computedFrom right."""
    assignment_style: str = "pairwise"
    """``"pairwise"``: one edge per (left, right) variable; ``"tuple"``: `a, b = c, d` split
    element-wise, each left variable computedFrom all right variables of its element."""
    assignment_left_field: str = "left"
    assignment_right_field: str = "right"
    last_child_assignment_types: tuple[str, ...] = ()
    """Assignments whose right side is the last child (Python's `for_in_clause`)."""
    increment_types: tuple[str, ...] = ()
    """`x++`: every variable computedFrom every variable of the node."""
    if_types: tuple[str, ...] = ()
    """Branching statements: alternatives start from the entry state, states merge after."""
    if_branch_types: tuple[str, ...] = ()
    """Children that start an alternative branch."""
    if_branch_sticky: bool = False
    """True: every child after the first branch child is a branch too (Java family)."""
    if_merge: str = "else_tag"
    """``"else_tag"``: the entry state joins the merge only when no `else` child exists;
    ``"always"``: it always joins (CodeBLEU's PHP and JavaScript walkers)."""
    for_types: tuple[str, ...] = ()
    """Counted loops."""
    for_style: str = "rewalk_after_init"
    """``"rewalk_after_init"``: walk all children, then again those after the init child;
    ``"tuple"``: Python's `for left in right: block`, walked twice."""
    for_init_types: tuple[str, ...] = ()
    for_left_field: str = "left"
    for_right_field: str = "right"
    block_types: tuple[str, ...] = ()
    """Body node type of a ``"tuple"`` for loop."""
    separator_types: tuple[str, ...] = (",",)
    """Skipped when splitting tuples."""
    enhanced_for_types: tuple[str, ...] = ()
    """For-each loops: name computedFrom the iterable, body walked twice."""
    enhanced_for_style: str = "fields"
    """``"fields"`` or ``"positional"`` (first and second `enhanced_for_variable_types` child)."""
    enhanced_for_name_field: str = "name"
    enhanced_for_value_field: str = "value"
    enhanced_for_body_field: str = "body"
    enhanced_for_variable_types: tuple[str, ...] = ()
    while_types: tuple[str, ...] = ()
    """Loops whose children are walked twice."""
    do_first_types: tuple[str, ...] = ()
    """Children walked before their siblings (Python comprehension clauses)."""

    def tables(self) -> dict[str, Any]:
        """The tables as handed to the native walker (everything but `comment_style`)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "comment_style"}


_JAVA_FAMILY = dict(
    def_types=("variable_declarator",), assignment_types=("assignment_expression",),
    increment_types=("update_expression",), if_types=("if_statement", "else"),
    if_branch_types=("if_statement", "else"), if_branch_sticky=True,
    for_types=("for_statement",), for_init_types=("local_variable_declaration",),
    while_types=("while_statement",),
)
PYTHON_DATAFLOW = DataFlowSpec(
    comment_style="python", def_types=("default_parameter",),
    assignment_types=("assignment", "augmented_assignment"), assignment_style="tuple",
    last_child_assignment_types=("for_in_clause",), if_types=("if_statement",),
    if_branch_types=("elif_clause", "else_clause"), for_types=("for_statement",), for_style="tuple",
    block_types=("block",), while_types=("while_statement",), do_first_types=("for_in_clause",),
)
JAVA_DATAFLOW = DataFlowSpec(**_JAVA_FAMILY, enhanced_for_types=("enhanced_for_statement",))
C_SHARP_DATAFLOW = DataFlowSpec(**{
    **_JAVA_FAMILY, "def_style": "positional", "increment_types": ("postfix_unary_expression",),
    "enhanced_for_types": ("for_each_statement",), "enhanced_for_name_field": "left",
    "enhanced_for_value_field": "right",
})
JAVASCRIPT_DATAFLOW = DataFlowSpec(**{
    **_JAVA_FAMILY, "assignment_types": ("assignment_pattern", "augmented_assignment_expression"),
    "if_merge": "always", "for_init_types": ("variable_declaration",),
})
PHP_DATAFLOW = DataFlowSpec(**{
    **_JAVA_FAMILY, "def_types": ("simple_parameter",), "def_value_field": "default_value",
    "assignment_types": ("assignment_expression", "augmented_assignment_expression"),
    "if_types": ("if_statement", "else_clause"), "if_branch_types": ("if_statement", "else_clause"),
    "if_merge": "always", "for_init_types": ("assignment_expression",),
    "enhanced_for_types": ("foreach_statement",), "enhanced_for_style": "positional",
    "enhanced_for_variable_types": ("variable_name",),
})
# C and C++: not CodeBLEU's (it routes them to its C# walker, which misses C's
# node types); our own tables for the same generic walker.
C_DATAFLOW = DataFlowSpec(
    def_types=("init_declarator", "parameter_declaration"), def_name_field="declarator",
    assignment_types=("assignment_expression",), increment_types=("update_expression",),
    if_types=("if_statement",), if_branch_types=("else_clause",),
    for_types=("for_statement",), for_init_types=("declaration", "assignment_expression"),
    while_types=("while_statement", "do_statement"),
)
CPP_DATAFLOW = DataFlowSpec(**{
    **{f.name: getattr(C_DATAFLOW, f.name) for f in fields(C_DATAFLOW)},
    "def_types": ("init_declarator", "parameter_declaration", "optional_parameter_declaration"),
    "enhanced_for_types": ("for_range_loop",), "enhanced_for_name_field": "declarator",
    "enhanced_for_value_field": "right",
})


@dataclass(frozen=True)
class ExecutionSpec:
    """How programs of a language are compiled and run, for `rewards.execution`.

    Pure data: argv templates use ``{src}`` (the source file name), ``{stem}`` (its name
    without extension), ``{out}`` (an output path), ``{harness}`` (the harness directory)
    and ``{heap_mb}`` (three quarters of the run's memory: what a runtime with its own
    heap cap may take, the rest is left for its code, stacks and buffers); `env` values
    may use ``{heap_mb}`` too. A *fragment* (a method without a class, a function without
    includes) is a source that does not match `complete_program`; it is wrapped in
    `fragment_prefix` / `fragment_suffix` and the line numbers of messages are shifted
    back to the sample's own lines.
    """

    check: str
    """Fast path of compile feedback: ``python_compile`` (in-process `compile()`),
    ``java_worker`` (one JVM with javax.tools), ``node_worker`` (one Node process with
    `vm.Script`) or ``command`` (`check_command` per sample, in parallel sandboxes)."""
    worker_command: tuple[str, ...] = ()
    """argv of the persistent checker of ``java_worker`` / ``node_worker`` (``{threads}``:
    its compiler threads)."""
    check_command: tuple[str, ...] = ()
    """argv that checks one source (for ``command``; also the cold fallback)."""
    build_command: tuple[str, ...] = ()
    """argv that builds a runnable program from ``{src}`` (empty: interpreted)."""
    run_command: tuple[str, ...] = ()
    """argv that runs the built program or script (stdin/stdout tests)."""
    complete_program: str = ""
    """Regex (multiline) that a complete compilation unit matches; empty: always complete."""
    fragment_prefix: str = ""
    """Text put before a fragment (imports, an opening class)."""
    fragment_suffix: str = ""
    """Text put after a fragment (a closing brace)."""
    file_stem_pattern: str = ""
    """Regex whose group 1 names the source file (Java's public class); else `file_stem`."""
    file_stem: str = "main"
    """Default file name without extension."""
    message_pattern: str = ""
    """Regex over compiler output with named groups ``line``, ``severity``, ``text``
    (optionally ``column``) that finds the diagnostics."""
    error_severities: tuple[str, ...] = ("error", "fatal error")
    """Severities that make a compile error."""
    promoted_warnings: tuple[str, ...] = ()
    """Regexes over a warning's text that make it an error: the warnings that mean "this
    text was ignored" (extra tokens after a directive, an unknown ``#pragma``, an ``#if``
    on a name never defined), so that garbage hidden there does not compile. Other
    warnings never make a compile error."""
    link_command: tuple[str, ...] = ()
    """argv that checks a *whole program* (translation, stdin/stdout synthesis) links:
    ``main`` exists and resolves (empty: `check_command` is enough)."""
    main_pattern: str = ""
    """Regex (multiline) over code (comments and strings blanked) that finds a whole
    program's entry point: required of a whole program, and what tells that a reference
    is one (`rewards.execution.declares_main`)."""
    case_server: tuple[str, ...] = ()
    """argv of a warm runtime that runs all stdin/stdout cases of one program (``{stem}``
    the main class, ``{out}`` the build directory, ``{harness}`` the harness classes);
    empty: `run_command` per case."""
    precompiled_header: str = ""
    """A system header worth precompiling once and force-including (C++'s bits/stdc++.h)."""
    runs_in_harness: bool = False
    """The sandbox harness (itself Python) runs the program's source in its own
    interpreter instead of `run_command`; it then needs the interpreter's packages."""
    memory_bound: str = "rlimit"
    """What stops a program near its memory limit: ``rlimit`` (RLIMIT_AS alone), or the
    runtime's own heap cap set from ``{heap_mb}`` (``jvm-heap``, ``v8-heap``,
    ``mono-heap``, ``php-memory-limit``) with RLIMIT_AS behind it. Reported in
    ``isolation``."""
    reserved_mb: int = 0
    """Address space the runtime maps up front without using it (V8, the JVM and mono
    reserve regions at start): RLIMIT_AS is the run's memory plus this, so that the
    limit binds near the memory actually used."""
    min_memory_mb: int = 64
    """The least memory a run may be given (below it the runtime's fixed needs dominate
    and a program could exceed the limit by more than half)."""
    processes: int = 64
    """RLIMIT_NPROC of a run (threads count: JVMs, V8 and mono start dozens)."""
    env: tuple[tuple[str, str], ...] = ()
    """Extra environment variables for the tool inside the sandbox."""


@dataclass(frozen=True)
class LexicalSpec:
    """Just enough lexical structure to see where a code unit ends (`core.program_end`):
    how blocks nest, and which comments and string literals hide brackets and newlines."""

    blocks: str = "braces"
    """``"braces"``: ``{ }`` delimit blocks; ``"indent"``: indentation does (Python)."""
    line_comments: tuple[str, ...] = ("//",)
    """Openers of comments that run to the end of the line."""
    block_comments: tuple[tuple[str, str], ...] = (("/*", "*/"),)
    """(opener, closer) pairs of comments that may span lines."""
    quotes: tuple[str, ...] = ('"', "'")
    """String/character delimiters; a backslash escapes the next character inside them.
    In ``"indent"`` languages a tripled quote opens a multi-line string."""
    string_statements: bool = False
    """A string literal alone is a valid statement that does nothing (Python's docstring,
    JavaScript's ``"use strict";``, ``"x";`` in C): `adds_code` does not count it."""
    live_strings: tuple[tuple[str, str], ...] = ()
    """(quote, marker): a literal with that quote containing that marker runs code
    (JavaScript's ``${`` in template strings, PHP's ``$`` in double quotes); it counts."""
    noop_statements: tuple[str, ...] = ()
    """Statements that compile to nothing (Python's ``pass`` and ``...``)."""
    directive_prefix: str = ""
    """A line starting with it is a preprocessor directive (``#``), not code."""
    dead_regions: tuple[str, ...] = ()
    """Regexes over a directive line that open a region the compiler may skip (``#if 0``,
    ``#ifdef NAME``: whether NAME is defined is not known here), closed by the matching
    ``#endif`` (a ``#else``/``#elif`` at its level ends it; an ``#elif`` that matches
    opens the next). Text in such a region never counts as code the response adds."""
    live_regions: str = ""
    """Regex matched at a directive that `dead_regions` matched: a region it matches is
    live after all (an include guard: ``#ifndef X`` then ``#define X``)."""
    halt: str = ""
    """Regex of a statement after which the rest of the file is data, not code (PHP's
    ``__halt_compiler();``)."""
    inline_text: tuple[str, tuple[str, ...]] | None = None
    """(closer, openers) of code embedded in text (PHP's ``?>`` and ``<?php``): text
    outside the tags is printed, not compiled. A program containing an opener starts
    as text; one without any is all code (it is wrapped as a fragment)."""


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
    literal_node_types: tuple[str, ...] = ()
    """String and character literal node types: one token each where code is cut into
    tokens (the grammars split literals into leaves; Python's ``concatenated_string``
    is not one, its parts count)."""
    dataflow: DataFlowSpec = field(default_factory=DataFlowSpec)
    """Tables for the generic data-flow walker."""
    execution: ExecutionSpec | None = None
    """Compile and run commands (see `ExecutionSpec`); None: no execution feedback."""
    lexical: LexicalSpec = field(default_factory=LexicalSpec)
    """Blocks, comments and quotes, for finding where a unit of code ends."""

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


# Execution data (compile / run commands, fragment wrapping, diagnostics) per language.
_GCC_MESSAGES = (r"^[^\n:]*:(?P<line>\d+)(?::(?P<column>\d+))?: "
                 r"(?P<severity>fatal error|error|warning|note): (?P<text>.*)$")
# GCC reports text it ignores only as warnings: extra tokens after a directive (no option
# controls the #include one), an unknown #pragma, #warning, an #if on an undefined name.
_GCC_FLAGS = ("-fdiagnostics-color=never", "-Wundef", "-Wunknown-pragmas")
_GCC_PROMOTED = (r"^extra tokens at end of #", r"^ignoring .#pragma", r"^#warning",
                 r"is not defined, evaluates to 0")
# The one JVM configuration (compile worker, javac, programs, the case runner): a heap cap
# from the run's memory, direct buffers capped, a small code cache and class space (their
# reservations count against RLIMIT_AS), serial GC and C1 only (fast start, few threads).
_JVM_FLAGS = ("-Xmx{heap_mb}m", "-Xss16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
              "-XX:ReservedCodeCacheSize=64m", "-XX:CompressedClassSpaceSize=64m",
              "-XX:MaxDirectMemorySize=64m", "-Xshare:auto", "-XX:-UsePerfData")
_JAVAC = ("javac", "-proc:none", "-encoding", "UTF-8", *(f"-J{flag}" for flag in _JVM_FLAGS),
          "-d", "{out}", "{src}")
_PHP = ("php", "-n", "-d", "memory_limit={heap_mb}M")
_PYTHON_EXECUTION = ExecutionSpec(
    check="python_compile", run_command=("python3", "{src}"), file_stem="main", runs_in_harness=True,
)
_JAVA_EXECUTION = ExecutionSpec(
    check="java_worker",
    worker_command=("java", *_JVM_FLAGS, "-cp", "{harness}", "CompileWorker", "{threads}"),
    check_command=_JAVAC,
    build_command=_JAVAC,
    run_command=("java", *_JVM_FLAGS, "-cp", "{out}", "{stem}"),
    case_server=("java", *_JVM_FLAGS, "-Djava.security.manager=allow", "-cp", "{harness}",
                 "CaseRunner", "{stem}", "{out}"),
    complete_program=(r"^\s*(?:(?:public|final|abstract|static|sealed|strictfp)\s+)*"
                      r"(?:class|interface|enum|record)\s+\w+"),
    fragment_prefix=("import java.util.*; import java.util.function.*; import java.util.stream.*; "
                     "import java.io.*; import java.math.*; public class Main {\n"),
    fragment_suffix="\n}\n",
    file_stem_pattern=r"^\s*public\s+(?:(?:final|abstract|sealed|strictfp)\s+)*(?:class|interface|enum|record)\s+(\w+)",
    file_stem="Main",
    main_pattern=r"\bstatic\s+(?:\w+\s+)*void\s+main\s*\(",
    message_pattern=r"^[^\n:]*\.java:(?P<line>\d+): (?P<severity>error|warning): (?P<text>.*)$",
    memory_bound="jvm-heap",
    reserved_mb=1024,  # ~880 MB of fixed reservations (code cache, class space, the case thread's stack)
    min_memory_mb=256,
    processes=512,
    env=(("MALLOC_ARENA_MAX", "2"),),
)
_CPP_EXECUTION = ExecutionSpec(
    check="command",
    check_command=("g++", "-std=c++17", "-fsyntax-only", *_GCC_FLAGS, "{src}"),
    build_command=("g++", "-std=c++17", "-O1", *_GCC_FLAGS, "-o", "{out}", "{src}"),
    link_command=("g++", "-std=c++17", *_GCC_FLAGS, "-o", "{out}", "{src}"),
    main_pattern=r"\bmain\s*\(",
    run_command=("{out}",),
    promoted_warnings=_GCC_PROMOTED,
    complete_program=r"^\s*#\s*include",
    fragment_prefix="#include <bits/stdc++.h>\nusing namespace std;\n",
    message_pattern=_GCC_MESSAGES,
    precompiled_header="bits/stdc++.h",
)
_C_EXECUTION = ExecutionSpec(
    check="command",
    check_command=("gcc", "-std=gnu11", "-fsyntax-only", *_GCC_FLAGS, "{src}"),
    build_command=("gcc", "-std=gnu11", "-O1", *_GCC_FLAGS, "-o", "{out}", "{src}", "-lm"),
    link_command=("gcc", "-std=gnu11", *_GCC_FLAGS, "-o", "{out}", "{src}", "-lm"),
    main_pattern=r"\bmain\s*\(",
    run_command=("{out}",),
    promoted_warnings=_GCC_PROMOTED,
    complete_program=r"^\s*#\s*include",
    fragment_prefix=("#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\n"
                     "#include <math.h>\n#include <stdbool.h>\n#include <limits.h>\n"),
    message_pattern=_GCC_MESSAGES,
)
_C_SHARP_EXECUTION = ExecutionSpec(
    check="command",
    check_command=("mcs", "-target:library", "-out:{out}", "{src}"),
    build_command=("mcs", "-out:{out}", "{src}"),
    link_command=("mcs", "-out:{out}", "{src}"),
    main_pattern=r"\bstatic\s+(?:\w+\s+)*(?:void|int|async\s+\w+)\s+Main\s*\(",
    run_command=("mono", "{out}"),
    # #warning text, an unknown #pragma and its bad arguments: text mcs ignores.
    promoted_warnings=(r"^CS1030:", r"^CS163[34]:", r"^CS169[12]:"),
    complete_program=(r"^\s*(?:namespace\s+[\w.]+|(?:(?:public|internal|static|sealed|abstract|partial)\s+)*"
                      r"(?:class|struct|interface|enum|record)\s+\w+)"),
    fragment_prefix=("using System; using System.Collections.Generic; using System.Linq; "
                     "using System.Text; public class Program {\n"),
    fragment_suffix="\n}\n",
    file_stem="Program",
    message_pattern=r"^[^\n(]*\((?P<line>\d+),(?P<column>\d+)\): (?P<severity>error|warning) (?P<text>.*)$",
    memory_bound="mono-heap",
    reserved_mb=128,
    processes=512,
    env=(("MONO_GC_PARAMS", "max-heap-size={heap_mb}m"),),
)
_JAVASCRIPT_EXECUTION = ExecutionSpec(
    check="node_worker",
    worker_command=("node", "--max-old-space-size={heap_mb}", "--experimental-vm-modules",
                    "--no-warnings", "--stack-size=8000", "{harness}/node_check.js"),
    check_command=("node", "--max-old-space-size={heap_mb}", "--check", "{src}"),
    run_command=("node", "--max-old-space-size={heap_mb}", "--stack-size=4000", "{src}"),
    message_pattern=r"^[^\n:]*\.js:(?P<line>\d+)\n(?:.*\n)*?(?P<severity>\w*Error): (?P<text>.*)$",
    error_severities=("SyntaxError", "ReferenceError", "TypeError", "Error"),
    memory_bound="v8-heap",
    reserved_mb=768,  # V8 maps ~710 MB at start; a worker thread would need ~670 MB more
    processes=512,
)
_PHP_EXECUTION = ExecutionSpec(
    check="command",
    check_command=(*_PHP, "-l", "-d", "display_errors=stdout", "{src}"),
    run_command=(*_PHP, "{src}"),
    complete_program=r"<\?(?:php|=)",
    fragment_prefix="<?php\n",
    message_pattern=(r"(?:PHP )?(?P<severity>Parse error|Fatal error|Warning|Deprecated):\s+"
                     r"(?P<text>.*?) in \S+ on line (?P<line>\d+)"),
    error_severities=("Parse error", "Fatal error"),
    memory_bound="php-memory-limit",
    reserved_mb=64,
)

# The preprocessor: directive lines, and regions it skips (their text never compiles).
# A conditional region counts as code only when its condition is a literal truth (`#if 1`,
# `#if true`) or it is an include guard: `#ifdef NEVER`, `#if 1-1`, `#ifndef __cplusplus`
# hide whatever they hold from the compiler, so they add nothing a compiler turns into code.
_C_LEXICAL = LexicalSpec(string_statements=True, directive_prefix="#",
                         dead_regions=(r"#\s*(?:if|elif|ifdef|ifndef)\b(?!\s+(?:0*[1-9]\d*|true)\s*"
                                       r"(?:(?://|/\*).*)?$)",),
                         live_regions=r"#\s*ifndef\s+(\w+)[ \t]*\n[ \t]*#\s*define\s+\1\b")
_C_SHARP_LEXICAL = LexicalSpec(directive_prefix="#",
                               dead_regions=(r"#\s*(?:if|elif)\b(?!\s+true\s*(?://.*)?$)",))


register(LanguageSpec(
    name="python", dataflow=PYTHON_DATAFLOW, aliases=("py", "python3"),
    grammar_module="tree_sitter_python", grammar_function="language",
    execution=_PYTHON_EXECUTION,
    file_extension=".py", comment_node_types=("comment",),
    lexical=LexicalSpec(blocks="indent", line_comments=("#",), block_comments=(),
                        string_statements=True, noop_statements=("pass", "...")),
    literal_node_types=("string",),
))
register(LanguageSpec(
    name="java", dataflow=JAVA_DATAFLOW, aliases=(),
    grammar_module="tree_sitter_java", grammar_function="language",
    execution=_JAVA_EXECUTION,
    file_extension=".java", comment_node_types=("line_comment", "block_comment"),
    literal_node_types=("string_literal", "character_literal"),
))
register(LanguageSpec(
    name="cpp", dataflow=CPP_DATAFLOW, aliases=("c++", "cxx", "cc"),
    grammar_module="tree_sitter_cpp", grammar_function="language",
    execution=_CPP_EXECUTION,
    file_extension=".cpp", comment_node_types=("comment",),
    literal_node_types=("string_literal", "raw_string_literal", "char_literal"),
    lexical=_C_LEXICAL,
))
register(LanguageSpec(
    name="c", dataflow=C_DATAFLOW, aliases=(),
    grammar_module="tree_sitter_c", grammar_function="language",
    execution=_C_EXECUTION,
    file_extension=".c", comment_node_types=("comment",),
    literal_node_types=("string_literal", "char_literal"),
    lexical=_C_LEXICAL,
))
register(LanguageSpec(
    name="c_sharp", dataflow=C_SHARP_DATAFLOW, aliases=("cs", "c#", "csharp", "c-sharp"),
    grammar_module="tree_sitter_c_sharp", grammar_function="language",
    execution=_C_SHARP_EXECUTION,
    file_extension=".cs", comment_node_types=("comment",),
    literal_node_types=("string_literal", "verbatim_string_literal", "raw_string_literal", "character_literal",
                        "interpolated_string_expression"),
    lexical=_C_SHARP_LEXICAL,
))
register(LanguageSpec(
    name="javascript", dataflow=JAVASCRIPT_DATAFLOW, aliases=("js", "node", "ecmascript"),
    grammar_module="tree_sitter_javascript", grammar_function="language",
    execution=_JAVASCRIPT_EXECUTION,
    file_extension=".js", comment_node_types=("comment",),
    lexical=LexicalSpec(quotes=('"', "'", "`"), string_statements=True, live_strings=(("`", "${"),)),
    literal_node_types=("string", "template_string"),
))
register(LanguageSpec(
    name="php", dataflow=PHP_DATAFLOW, aliases=(),
    grammar_module="tree_sitter_php", grammar_function="language_php",
    execution=_PHP_EXECUTION,
    file_extension=".php", comment_node_types=("comment",),
    lexical=LexicalSpec(line_comments=("//", "#"), string_statements=True, live_strings=(('"', "$"),),
                        inline_text=("?>", ("<?php", "<?=", "<?")),
                        halt=r"(?i)\b__halt_compiler\s*\(\s*\)"),
    literal_node_types=("string", "encapsed_string", "heredoc", "nowdoc"),
))


# Go, Rust and TypeScript: no CodeBLEU walker exists for them; our own tables for the same
# generic walker (tests/structural_oracle_new.py reads the same programs directly, as the
# oracle of their parity test). Go's `for` covers C's for and while and Rust's `loop` is a
# while: their children are walked twice. Go's `a, b := x, y` splits element-wise.
GO_DATAFLOW = DataFlowSpec(
    string_types=("interpreted_string_literal", "raw_string_literal", "rune_literal"),
    def_types=("var_spec", "const_spec"),
    assignment_types=("assignment_statement", "short_var_declaration", "range_clause"),
    assignment_style="tuple", increment_types=("inc_statement", "dec_statement"),
    if_types=("if_statement",), if_branch_types=("else",), if_branch_sticky=True,
    while_types=("for_statement",),
)
RUST_DATAFLOW = DataFlowSpec(
    string_types=("string_literal", "raw_string_literal", "char_literal"),
    comment_types=("line_comment", "block_comment"),
    def_types=("let_declaration",), def_name_field="pattern",
    assignment_types=("assignment_expression", "compound_assignment_expr"),
    if_types=("if_expression",), if_branch_types=("else_clause",),
    enhanced_for_types=("for_expression",), enhanced_for_name_field="pattern",
    while_types=("while_expression", "loop_expression"),
)
TYPESCRIPT_DATAFLOW = DataFlowSpec(
    string_types=("string", "template_string"),
    def_types=("variable_declarator",),
    assignment_types=("assignment_expression", "augmented_assignment_expression"),
    increment_types=("update_expression",), if_types=("if_statement",),
    if_branch_types=("else_clause",), for_types=("for_statement",),
    for_init_types=("lexical_declaration", "variable_declaration"),
    enhanced_for_types=("for_in_statement",), enhanced_for_name_field="left",
    enhanced_for_value_field="right", while_types=("while_statement", "do_statement"),
)
# Go: `go tool compile` type-checks one file without linking (a fragment needs no main,
# like C's -fsyntax-only); the build cache lives in the run's /tmp; GOMEMLIMIT makes the
# collector work harder near the run's memory before RLIMIT_AS stops it.
_GO_EXECUTION = ExecutionSpec(
    check="command",
    check_command=("go", "tool", "compile", "-p", "main", "-o", "{out}", "{src}"),
    build_command=("go", "build", "-o", "{out}", "{src}"),
    run_command=("{out}",),
    main_pattern=r"\bfunc\s+main\s*\(\s*\)",  # a whole program: package main's func main()
    complete_program=r"^\s*package\s+\w+",
    fragment_prefix="package main\n",
    message_pattern=r"^[^\n:]*\.go:(?P<line>\d+):(?P<column>\d+): (?P<text>.*)$",
    env=(("GOCACHE", "/tmp/gocache"), ("GOPATH", "/tmp/go"), ("GO111MODULE", "off"),
         ("GOMEMLIMIT", "{heap_mb}MiB"), ("GOTOOLCHAIN", "local")),
    reserved_mb=704,  # measured: go1.19's runtime reserves ~650 MB (page summaries, arena hints) at start
    processes=256,
)
# Rust: checked as a library to metadata only (no codegen, no main needed; unused items are
# not worth a warning there). Built at opt-level 1, measured (2 busy cores): a 150-line
# program builds in 8.0 / 13.1 / 19.8 s at opt-level 0 / 1 / 2, and a loop-heavy one runs
# in 15.1 / 1.9 / 1.7 s: level 1 has the speed of -O at two thirds of its build time.
_RUSTC = ("rustc", "--edition", "2021", "--color", "never")
_RUST_EXECUTION = ExecutionSpec(
    check="command",
    check_command=(*_RUSTC, "--crate-type", "lib", "--emit=metadata", "-A", "dead_code", "-o", "{out}", "{src}"),
    build_command=(*_RUSTC, "-C", "opt-level=1", "-o", "{out}", "{src}"),
    run_command=("{out}",),
    main_pattern=r"\bfn\s+main\s*\(\s*\)",  # a whole program has fn main()
    message_pattern=(r"^(?P<severity>error|warning)(?:\[\w+\])?: (?P<text>.*)\n\s*--> "
                     r"[^\n:]*:(?P<line>\d+):(?P<column>\d+)"),
)
# TypeScript: tsc type-checks (non-strict, Node's types from @types/node, no DOM) and
# emits CommonJS that node runs; a type error is a compile error.
_TSC = ("tsc", "--pretty", "false", "--strict", "false", "--target", "es2022", "--module",
        "commonjs", "--lib", "es2022", "--types", "node", "--typeRoots",
        "/usr/lib/node_modules/@types", "--skipLibCheck")
_TYPESCRIPT_EXECUTION = ExecutionSpec(
    check="command",
    check_command=(*_TSC, "--noEmit", "{src}"),
    build_command=(*_TSC, "--outDir", "{out}", "{src}"),
    run_command=("node", "--max-old-space-size={heap_mb}", "--stack-size=4000", "{out}/{stem}.js"),
    message_pattern=(r"^[^\n(]*\((?P<line>\d+),(?P<column>\d+)\): (?P<severity>error|warning) "
                     r"(?P<text>.*)$"),
    memory_bound="v8-heap",
    reserved_mb=768,
    processes=512,
)

register(LanguageSpec(
    name="go", dataflow=GO_DATAFLOW, aliases=("golang",),
    grammar_module="tree_sitter_go", grammar_function="language",
    execution=_GO_EXECUTION,
    file_extension=".go", comment_node_types=("comment",),
    lexical=LexicalSpec(quotes=('"', "'", "`")),
    literal_node_types=("interpreted_string_literal", "raw_string_literal", "rune_literal"),
))
register(LanguageSpec(
    name="rust", dataflow=RUST_DATAFLOW, aliases=("rs",),
    grammar_module="tree_sitter_rust", grammar_function="language",
    execution=_RUST_EXECUTION,
    file_extension=".rs", comment_node_types=("line_comment", "block_comment"),
    # 'a is a lifetime as often as a character; `"TODO";` is a statement that does nothing
    lexical=LexicalSpec(quotes=('"',), string_statements=True),
    literal_node_types=("string_literal", "raw_string_literal", "char_literal"),
))
register(LanguageSpec(
    name="typescript", dataflow=TYPESCRIPT_DATAFLOW, aliases=("ts",),
    grammar_module="tree_sitter_typescript", grammar_function="language_typescript",
    execution=_TYPESCRIPT_EXECUTION,
    file_extension=".ts", comment_node_types=("comment",),
    lexical=LexicalSpec(quotes=('"', "'", "`"), string_statements=True, live_strings=(("`", "${"),)),
    literal_node_types=("string", "template_string"),
))
