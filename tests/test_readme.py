"""Every fenced code block of README.md, checked as a reader would use it.

- ```python blocks run as written, each in a fresh interpreter in an empty folder (the
  package as installed, no network); the script is padded so that a traceback's line
  numbers are README lines.
- ```bash blocks: every ``python -m rewards | trainer.ppo | trainer.evaluate`` command
  must be accepted by that entry point's own parser (``...`` is a placeholder: the flags
  around it are checked), and the scripts, test files and YAML files a command names
  must exist. The cheap commands run for real: ``rewards score`` and ``rewards codebleu``
  on files written here in the documented formats, and a block that starts ``rewards
  serve`` and then curls it (on a free port). Training, installs and the full test
  script are only parsed.
- The ```text block is `rewards.cli.SCORE_JSONL`, the schema ``score --help`` prints.
- The untagged block is the source layout: every source file of csrc/, core/, rewards/ and
  trainer/ has its line, and every file it names exists.

Any other tag fails, so a new kind of block cannot go unchecked.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shlex
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
OUR_ENTRY_POINTS = ("rewards", "trainer.ppo", "trainer.evaluate")
SEPARATORS = ("&&", "||", ";", "|")


@dataclass(frozen=True)
class Block:
    tag: str
    line: int  # README line of the block's first code line
    text: str

    def __str__(self) -> str:
        return f"README.md:{self.line}"


@dataclass(frozen=True)
class Command:
    line: int
    words: list[str]

    def __str__(self) -> str:
        return f"README.md:{self.line}: {shlex.join(self.words)}"


def readme_blocks(text: str) -> list[Block]:
    blocks, tag, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), start=1):
        if tag is None and line.startswith("```"):
            tag, start, body = line[3:].strip(), number + 1, []
        elif tag is not None and line.rstrip() == "```":
            blocks.append(Block(tag, start, "".join(body)))
            tag = None
        elif tag is not None:
            body.append(line + "\n")
    assert tag is None, f"README.md:{start}: the block opened here is never closed"
    return blocks


BLOCKS = readme_blocks(README.read_text(encoding="utf-8"))


def blocks_tagged(tag: str) -> list[Block]:
    return [b for b in BLOCKS if b.tag == tag]


def shell_commands(block: Block) -> list[Command]:
    """The commands of a shell block: backslash continuations and quotes spanning lines
    joined, comments dropped, ``a && b`` split."""
    commands, pending, first = [], "", 0
    for number, line in enumerate(block.text.splitlines(), start=block.line):
        first = first or number
        pending += line + "\n"
        if pending.rstrip().endswith("\\"):
            continue
        try:
            words = shlex.split(pending.replace("\\\n", " "), comments=True)
        except ValueError:  # a quote still open: the command goes on
            continue
        current: list[str] = []
        for word in [*words, "&&"]:
            if word in SEPARATORS:
                if current:
                    commands.append(Command(first, current))
                current = []
            else:
                current.append(word)
        pending, first = "", 0
    assert not pending, f"README.md:{first}: unterminated command"
    return commands


def python_module(words: list[str]) -> tuple[str, list[str]] | None:
    """(module, arguments) of ``python -m M ...`` or ``torchrun ... -m M ...``."""
    if words[0] not in ("python", "python3", "torchrun") or "-m" not in words:
        return None
    at = words.index("-m")
    return words[at + 1], [w for w in words[at + 2:] if w != "..."]


# ---- the parsers of our entry points -----------------------------------------------------

def parse_error(module: str, args: list[str]) -> str | None:
    """None if `module`'s own parser accepts `args` (``--help`` included), else its
    message. Only parses: nothing is trained, scored or served."""
    out, err = io.StringIO(), io.StringIO()
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            if module == "rewards":
                from rewards.cli import build_parser

                build_parser().parse_args(args)
            elif module == "trainer.ppo":
                from trainer.config import parse_cli, validate

                validate(parse_cli(args))
            elif module == "trainer.evaluate":
                import tyro

                from trainer.config import take_base_config, take_option
                from trainer.evaluate import EvalConfig

                args = list(args)
                take_option(args, "--run", "a run folder")  # read at run time: only parsed here
                take_base_config(args)  # --preset / --config, as trainer.ppo reads them
                tyro.cli(EvalConfig, args=args)
            else:
                return f"{module} is not one of {OUR_ENTRY_POINTS}"
    except SystemExit as exc:
        if exc.code not in (0, None):
            return (err.getvalue() or out.getvalue()).strip()[-1500:] or f"exit {exc.code}"
    except ValueError as exc:  # ConfigError and the like
        return str(exc)
    return None


def check_command(command: Command) -> list[str]:
    """What is wrong with one README command, without running it."""
    words = command.words
    found = python_module(words)
    if found is not None and found[0] in OUR_ENTRY_POINTS:
        error = parse_error(*found)
        return [] if error is None else [f"{command}: {error}"]
    named = []
    if words[0] in ("python", "python3", "bash") and len(words) > 1 and not words[1].startswith("-"):
        named.append(words[1])  # a script
    if words[0] == "pytest":
        named += [w for w in words[1:] if w.startswith("tests/")]
    return [f"{command}: {path} does not exist" for path in named if not (ROOT / path).is_file()]


# ---- files the commands name, in the documented formats ----------------------------------

ADD = "def add(a, b):\n    return a + b\n"
SAMPLES = [  # one line per documented tests shape, and the other input keys; all pass
    {"language": "python", "code": ADD, "tests": "def check(candidate):\n    assert candidate(1, 2) == 3\n",
     "entry_point": "add"},
    {"language": "py", "code": ADD, "tests": ["assert add(1, 2) == 3"], "prompt": None},
    {"language": "python", "code": ADD, "tests": json.dumps({"test_list": ["assert add(1, 2) == 3"]})},
    {"language": "python", "code": "a, b = map(int, input().split())\nprint(a + b)\n",
     "tests": json.dumps({"inputs": ["1 2\n"], "outputs": ["3\n"]})},
    {"language": "python", "code": ADD, "tests": {"inputs": [[1, 2]], "outputs": [3], "fn_name": "add"}},
    {"language": "python", "code": "print(sum(map(int, input().split())))\n", "tests": [["1 2\n", "3\n"]]},
    {"language": "python", "code": ADD, "tests": {"asserts": ["assert add(2, 2) == 4"], "timeout_s": 5}},
    {"language": "python", "code": ADD, "tests": {"task_id": "HumanEval/0", "entry_point": "add",
                                                    "test": "def check(candidate):\n    assert candidate(1, 1) == 2\n"}},
    {"language": "python", "response": "    return a + b\n", "code_prefix": "def add(a, b):\n",
     "reference": ADD, "tests": ["assert add(1, 2) == 3"]},
]
FILES = {
    "samples.jsonl": "".join(json.dumps(s) + "\n" for s in SAMPLES),
    "refs.txt": "class A { int f(int a) { int b = a + 1; return b; } }\n",
    "hyps.txt": "class A { int f(int x) { int y = x + 1; return y; } }\n",
    "my.yaml": "ppo:\n  steps: 2\n",
}
SCORE_OUTPUT_KEYS = {"total", "execution", "ast", "dfg", "outcome", "pass_ratio", "errors",
                     "error_lines", "timings", "isolation"}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name, text in FILES.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)  # relative paths of commands that are only parsed
    return tmp_path


ENV = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def run_python(args: list[str], cwd: Path, env: dict[str, str] | None = None,
               timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, env=env or ENV)


def run_rewards_command(command: Command, cwd: Path) -> None:
    """``rewards score`` / ``rewards codebleu`` for real; the output checked against
    the documented formats."""
    out = run_python(command.words[1:], cwd)
    assert out.returncode == 0, f"{command}: {out.stderr[-3000:]}"
    if command.words[3] == "score":
        rows = [json.loads(line) for line in out.stdout.splitlines()]
        assert len(rows) == len(SAMPLES), command
        for i, row in enumerate(rows):
            assert set(row) == SCORE_OUTPUT_KEYS, (command, row)
            assert (row["outcome"], row["execution"]) == ("passed", 1.0), (command, SAMPLES[i], row)
        assert (rows[-1]["ast"], rows[-1]["dfg"]) == (1.0, 1.0)  # the response completes the reference
    else:
        assert 0.0 <= json.loads(out.stdout)["codebleu"] <= 1.0, command


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_server_block(commands: list[Command], cwd: Path) -> None:
    """Start the block's ``rewards serve`` on a free port and run its curl lines."""
    serve, *curls = commands
    port = free_port()
    words = [str(port) if w == "8008" else w for w in serve.words]
    assert "--port" in words and words[:4] == ["python", "-m", "rewards", "serve"], serve
    server = subprocess.Popen([sys.executable, *words[1:]], cwd=cwd, env=ENV,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, f"{serve}: exited: {server.stderr.read()[-2000:]}"
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, f"{serve}: no answer on /health"
                time.sleep(0.5)
        for curl in curls:
            assert curl.words[0] == "curl", curl
            args = [w.replace("8008", str(port)) for w in curl.words]
            out = subprocess.run([*args, "-w", "\n%{http_code} %{content_type}"], capture_output=True,
                                 text=True, timeout=300)
            body, _, status = out.stdout.rpartition("\n")
            assert out.returncode == 0 and status.startswith("200 "), f"{curl}: {status} {body[-2000:]}"
            if "application/json" in status:
                answer = json.loads(body)
                if "-d" in args:
                    sent = json.loads(args[args.index("-d") + 1])
                    assert len(answer["results"]) == len(sent["samples"]), curl
                    assert all(set(r) == SCORE_OUTPUT_KEYS for r in answer["results"]), curl
            else:  # /metrics: Prometheus text
                assert status.startswith("200 text/plain") and "# TYPE" in body, curl
    finally:
        server.terminate()
        server.wait(timeout=150)


def is_ours(command: Command, *subcommands: str) -> bool:
    found = python_module(command.words)
    return (found is not None and found[0] == "rewards" and bool(found[1])
            and found[1][0] in subcommands)


# ---- the tests -----------------------------------------------------------------------------

def test_every_block_is_of_a_checked_kind() -> None:
    assert blocks_tagged("python") and blocks_tagged("bash")
    unchecked = [f"{b}: ```{b.tag}" for b in BLOCKS if b.tag not in ("python", "bash", "text", "")]
    assert not unchecked, unchecked
    layout = blocks_tagged("")
    assert len(layout) == 1 and "csrc/" in layout[0].text  # the one block that is not code


def test_the_checker_rejects_what_a_parser_would(workdir: Path) -> None:
    """The checks can fail: an unknown flag, a bad value, a missing script."""
    made_up = Block("bash", 1, "python -m rewards score samples.jsonl --no-such-flag\n"
                               "python -m trainer.ppo --ppo.no-such-field 1 \\\n    --run.threads 1\n"
                               "python -m trainer.evaluate --samples s.jsonl --k\n"
                               "python bench/no_such_bench.py && python -m rewards codebleu --lang java\n")
    commands = shell_commands(made_up)
    assert [c.line for c in commands] == [1, 2, 4, 5, 5]
    assert commands[1].words[-2:] == ["--run.threads", "1"]
    problems = [check_command(c) for c in commands]
    assert [bool(p) for p in problems] == [True, True, True, True, False], problems
    assert "--no-such-flag" in problems[0][0] and "no_such_bench.py does not exist" in problems[3][0]


def test_score_schema_is_the_help_text_and_the_readme_text(tmp_path: Path) -> None:
    from rewards.cli import SCORE_JSONL
    from rewards.schema import SampleIn

    quoted = [b for b in blocks_tagged("text") if b.text.startswith("Input: ")]
    assert len(quoted) == 1 and quoted[0].text == SCORE_JSONL, "README and rewards.cli.SCORE_JSONL differ"
    out = run_python(["-m", "rewards", "score", "--help"], tmp_path)
    assert out.returncode == 0 and SCORE_JSONL in out.stdout
    inputs, _, outputs = SCORE_JSONL.partition("\nOutput: ")
    names = {n for part in re.findall(r"^  (\w[\w, ]*?) {2,}", outputs, re.M) for n in part.split(", ")}
    assert names == SCORE_OUTPUT_KEYS
    assert set(re.findall(r"^  (\w+) {2,}", inputs, re.M)) == set(SampleIn.model_fields)


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> str:
    from tests.tiny_models import build_tiny_model

    return build_tiny_model(tmp_path_factory.mktemp("tiny"), "causal")


@pytest.mark.parametrize("block", blocks_tagged("python"), ids=str)
def test_python_block_runs(block: Block, tmp_path: Path, tiny_model: str) -> None:
    script = tmp_path / f"README_md_line_{block.line}.py"
    script.write_text("\n" * (block.line - 1) + block.text, encoding="utf-8")
    out = run_python([str(script)], tmp_path, env={**ENV, "MODEL": tiny_model}, timeout=600)
    assert out.returncode == 0, f"{block}:\n{out.stderr[-4000:]}"


@pytest.mark.parametrize("block", blocks_tagged("bash"), ids=str)
def test_bash_block(block: Block, workdir: Path) -> None:
    commands = shell_commands(block)
    assert commands, block
    problems = [p for c in commands for p in check_command(c)]
    assert not problems, "\n".join(problems)
    if len(commands) > 1 and is_ours(commands[0], "serve") and commands[1].words[0] == "curl":
        run_server_block(commands, workdir)
    for command in commands:
        if is_ours(command, "score", "codebleu"):
            run_rewards_command(command, workdir)


# ------------------------------------------------------------------- the layout block

SOURCE_SUFFIXES = (".py", ".cpp", ".hpp", ".java", ".js")


def layout_entries(block: Block) -> set[str]:
    """The paths the layout tree names: two spaces of indent per level; ``a.cpp/.hpp``
    and ``a.py, b.py`` name two files; a name ending in ``/`` is a folder."""
    stack: list[str] = []
    paths = set()
    for line in block.text.splitlines():
        if not line.strip():
            continue
        depth = (len(line) - len(line.lstrip(" "))) // 2
        names = line.strip().split("  ")[0].strip()
        del stack[depth:]
        parts = [n.strip() for n in names.split(",")]
        if "/." in parts[0]:  # engine.cpp/.hpp
            stem = parts[0].split("/.")[0].rsplit(".", 1)[0]
            parts = [parts[0].split("/.")[0], f"{stem}.{parts[0].split('/.')[1]}"]
        for name in parts:
            paths.add("/".join([*stack, name]))
        if parts[0].endswith("/"):
            stack.append(parts[0].rstrip("/"))
    return paths


def test_the_layout_names_every_source_file_and_nothing_else():
    """README's Layout draws the tree one line per file: a source file added, moved or
    removed without the tree following fails here."""
    (block,) = [b for b in BLOCKS if b.tag == "" and b.text.startswith("CMakeLists.txt")]
    named = layout_entries(block)
    folders = {p.rstrip("/") for p in named if p.endswith("/")}
    files = {p for p in named if not p.endswith("/")}
    missing = [p for p in sorted(files) if not (ROOT / p).is_file()]
    assert missing == [], f"the layout names files that do not exist: {missing}"
    unlisted = []
    for top in ("csrc", "core", "rewards", "trainer"):
        for path in sorted((ROOT / top).rglob("*")):
            rel = path.relative_to(ROOT).as_posix()
            if path.suffix not in SOURCE_SUFFIXES or path.name == "__init__.py" or "__pycache__" in rel:
                continue
            # a file is drawn by its own line, or by its folder's when that folder is a leaf
            leaf = any(rel.startswith(f + "/") and not any(p.startswith(f + "/") for p in files)
                       for f in folders)
            if rel not in files and not leaf:
                unlisted.append(rel)
    assert unlisted == [], f"source files missing from the README's layout: {unlisted}"
