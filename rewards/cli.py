"""Command line of the rewards package: ``python -m rewards <command> ...``.

Commands:

``codebleu``: corpus CodeBLEU (and optionally per-sample scores) printed as JSON::

    python -m rewards codebleu --lang java --refs refs.txt --hyps hyps.txt
    python -m rewards codebleu --lang java --refs refs_a.txt refs_b.txt --hyps hyps.txt
    python -m rewards codebleu --lang python --data pairs.jsonl --per-sample

Text files hold one piece of code per line (like codebleu's own CLI); several
``--refs`` files give several references per candidate, line by line. Files ending in
``.jsonl`` hold one JSON value per line: a string, or an object whose ``--ref-field`` /
``--hyp-field`` (default ``reference`` / ``candidate``) holds the code (a reference may
be a list of strings). ``--data`` reads both fields from one JSONL file.

``score``: the PPOCoder reward of every sample of a JSONL file, one JSON line out per
sample (the fields of `rewards.RewardBreakdown`)::

    python -m rewards score samples.jsonl                # or - for stdin
    python -m rewards score samples.jsonl --no-dfg --weights 1,0.5,0.5 -o scores.jsonl

`SCORE_JSONL` documents both lines; ``score --help`` prints it and the README quotes it.

``serve``: the HTTP scoring server (`rewards.server`).

Errors (missing files, mismatched line counts, malformed JSON, unknown language) print
``error: ...`` on stderr and exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

JSONL_SUFFIXES = (".jsonl", ".ndjson")

SCORE_JSONL = """\
Input: one JSON object per line (blank lines are skipped). Unknown keys are errors;
every optional key may be null. The one parser is rewards.schema.
  language     python, java, cpp, c, c_sharp, javascript, php, go, rust, typescript
               or an alias (c++, cs, js, ts, golang, ...); required unless --language
               is given
  code         the whole program, scored as it stands; it starts with code_prefix
               when one is given
  response     instead of code: a model's response; its answer (reasoning blocks
               removed, the last fenced block in the task's language) goes after
               code_prefix; an unclosed <think> block is no answer (outcome empty)
  reference    a reference program: enables the AST and data-flow match
  tests        unit tests in any published format (rewards.test_formats), as a
               value, a JSON string of one or the whole dataset record:
                 HumanEval(+) / LeetCodeDataset    {"test", "entry_point"}
                 MBPP                              {"test_list", "test_setup_code", ...}
                 APPS / TACO                       {"input_output": ...} (fn_name too)
                 veRL prime_code                   {"inputs", "outputs"[, "fn_name"]}
                 CodeContests                      {"public_tests", "private_tests", ...}
                 LiveCodeBench                     {"public_test_cases", "metadata", ...}
                 Codeforces / open-r1              {"official_tests"}, {"verification_info"}
                 SandboxFusion                     {"assert_case": [...]}
                 KodCode                           pytest code: "def test_...(): ..."
                 ours                              ["assert f(1) == 2", ...],
                                                   [["1 2\n", "3\n"], ...] (stdin, stdout),
                                                   {"asserts", "stdio", "calls", ...}
  entry_point  the function HumanEval test code checks
  code_prefix  text the model was given (completion): ast/dfg measure what the rest
               of the program adds to it
  whole_program  true: the code is a whole program (translation, stdin/stdout
               synthesis) that must also link (C/C++/C# build, Java/Go/Rust main)
  prompt       kept for logging only
Output: one JSON object per input line, in input order (rewards.RewardBreakdown):
  total        w_exec * execution + w_ast * ast + w_dfg * dfg (--weights, default 1,1,1)
  execution    +1 tests pass or it compiles, -0.3 a test fails, -0.6 runtime error or
               timeout, -1 compile error or empty, 0 test_error; null with --no-execution
  ast, dfg     AST / data-flow match against reference, 0..1 (-1..1 with code_prefix);
               null without a reference or with --no-ast / --no-dfg
  outcome      passed, failed, runtime_error, timeout, compile_error, test_error
               (tests); ok, compile_error (no tests); empty; not_run (--no-execution);
               invalid (HTTP and adapters: a sample that cannot be read, scored as -1)
  pass_ratio   passed checks / checks run; null without tests
  errors       compiler and runtime messages ("line 3: error: ...")
  error_lines  lines of the program (from 1) that errors name
  timings      seconds spent: compile or tests, structural
  isolation    how execution was sandboxed (namespaces+rlimit, ...; in-process for
               Python's compile check); null when nothing ran
"""
"""The line formats of ``python -m rewards score``, printed by ``score --help`` and quoted
verbatim by the README (tests/test_readme.py compares the two)."""


class CliError(ValueError):
    """A user error: printed as ``error: <message>``, exit status 2."""


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CliError(f"{path}: no such file") from None
    except UnicodeDecodeError as exc:
        raise CliError(f"{path}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise CliError(f"{path}: {exc.strerror or exc}") from None
    return text.splitlines()


def _code_value(value: Any, where: str, allow_list: bool) -> str | list[str]:
    if isinstance(value, str):
        return value
    if allow_list and isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    kind = "a string or a non-empty list of strings" if allow_list else "a string"
    raise CliError(f"{where}: expected {kind}, got {type(value).__name__}")


def _jsonl_values(name: str | Path, lines: list[str]) -> list[tuple[int, Any]]:
    """(line number, decoded value) of every non-blank line; `CliError` on bad JSON."""
    values = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            values.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise CliError(f"{name}:{number}: invalid JSON ({exc.msg})") from None
    return values


def read_jsonl_field(path: Path, field: str, allow_list: bool) -> list[str | list[str]]:
    """The `field` of every line of a JSONL file (a bare JSON string is taken as is)."""
    out: list[str | list[str]] = []
    for number, value in _jsonl_values(path, _read_lines(path)):
        if isinstance(value, dict):
            if field not in value:
                raise CliError(f"{path}:{number}: no field {field!r} "
                               f"(fields: {', '.join(map(str, value)) or 'none'})")
            value = value[field]
        out.append(_code_value(value, f"{path}:{number}: field {field!r}", allow_list))
    return out


def read_code_file(path: Path, field: str, allow_list: bool = False) -> list[str | list[str]]:
    """Code items of a file: one per line, or one per JSONL record for ``.jsonl`` files."""
    if path.suffix.lower() in JSONL_SUFFIXES:
        return read_jsonl_field(path, field, allow_list)
    return _read_lines(path)


def _parse_weights(text: str) -> tuple[float, float, float, float]:
    try:
        weights = tuple(float(part) for part in text.split(","))
    except ValueError:
        raise CliError(f"--weights: expected 4 comma-separated numbers, got {text!r}") from None
    if len(weights) != 4:
        raise CliError(f"--weights: expected 4 comma-separated numbers, got {text!r}")
    return weights  # type: ignore[return-value]


def _gather_codebleu_inputs(args: argparse.Namespace) -> tuple[list, list[str]]:
    if args.data is not None:
        if args.refs or args.hyps is not None:
            raise CliError("give either --data or --refs/--hyps, not both")
        references = read_jsonl_field(args.data, args.ref_field, allow_list=True)
        candidates = read_jsonl_field(args.data, args.hyp_field, allow_list=False)
        return references, candidates  # type: ignore[return-value]
    if not args.refs or args.hyps is None:
        raise CliError("give --refs and --hyps (or --data)")
    candidates = read_code_file(args.hyps, args.hyp_field)
    columns = [read_code_file(path, args.ref_field, allow_list=True) for path in args.refs]
    for path, column in zip(args.refs, columns):
        if len(column) != len(candidates):
            raise CliError(f"{path} has {len(column)} references but {args.hyps} has "
                           f"{len(candidates)} candidates")
    if len(columns) == 1:
        return columns[0], candidates  # type: ignore[return-value]
    references = []
    for row in zip(*columns):
        group: list[str] = []
        for item in row:
            group.extend([item] if isinstance(item, str) else item)
        references.append(group)
    return references, candidates  # type: ignore[return-value]


def run_codebleu(args: argparse.Namespace) -> dict[str, Any]:
    """Compute what ``python -m rewards codebleu`` prints (as a dict)."""
    from rewards.codebleu_metric import codebleu_with_samples

    references, candidates = _gather_codebleu_inputs(args)
    weights = _parse_weights(args.weights)
    corpus, samples = codebleu_with_samples(references, candidates, lang=args.lang,
                                            weights=weights, threads=args.threads)
    out: dict[str, Any] = {**corpus.as_dict(), "lang": args.lang, "n_samples": len(candidates),
                           "weights": list(weights)}
    if args.per_sample:
        out["per_sample"] = [r.as_dict() for r in samples]
    return out


def _read_samples(path: str) -> list[tuple[int, Any]]:
    text_lines = sys.stdin.read().splitlines() if path == "-" else _read_lines(Path(path))
    return _jsonl_values(path, text_lines)


def run_score(args: argparse.Namespace) -> list[dict[str, Any]]:
    """Compute what ``python -m rewards score`` prints (one dict per sample)."""
    from rewards.schema import (
        SampleIn,
        parse_config,
        read_validated,
        sample_in,
        score_items,
    )

    config: dict[str, Any] = {"use_execution": not args.no_execution, "use_ast": not args.no_ast,
                              "use_dfg": not args.no_dfg, "threads": args.threads,
                              "timeout_s": float(args.timeout)}
    if args.weights:
        try:
            weights = [float(w) for w in args.weights.split(",")]
        except ValueError:
            weights = []
        if len(weights) != 3:
            raise CliError(f"--weights: expected 3 comma-separated numbers "
                           f"(execution, ast, dfg), got {args.weights!r}")
        config.update(execution_weight=weights[0], ast_weight=weights[1], dfg_weight=weights[2])
    samples = []
    for number, row in _read_samples(args.input):
        where = f"{args.input}:{number}"
        samples.append(sample_in(read_validated(SampleIn, row, where), where, default_language=args.language))
    return [r.to_dict() for r in score_items(samples, parse_config(config))]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``python -m rewards``."""
    parser = argparse.ArgumentParser(prog="python -m rewards",
                                     description="PPOCoder rewards and metrics.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_codebleu_command(commands)
    _add_score_command(commands)
    _add_serve_command(commands)
    return parser


def _add_codebleu_command(commands: Any) -> None:
    cb = commands.add_parser(
        "codebleu", help="corpus CodeBLEU of candidates against references, as JSON",
        description="Corpus CodeBLEU (BLEU, keyword-weighted BLEU, AST match, data-flow "
                    "match) of candidates against references, printed as JSON.")
    cb.add_argument("--lang", required=True,
                    help="language: python, java, cpp, c, c_sharp, javascript, php, go, rust, typescript")
    cb.add_argument("--refs", type=Path, nargs="+", default=[], metavar="FILE",
                    help="reference files, one code per line or .jsonl; several files "
                         "give several references per candidate")
    cb.add_argument("--hyps", "--hyp", type=Path, metavar="FILE",
                    help="candidate file, one code per line or .jsonl")
    cb.add_argument("--data", type=Path, metavar="FILE",
                    help="one JSONL file holding both the reference and the candidate fields")
    cb.add_argument("--ref-field", default="reference",
                    help="JSONL field of the reference (default: reference)")
    cb.add_argument("--hyp-field", default="candidate",
                    help="JSONL field of the candidate (default: candidate)")
    cb.add_argument("--weights", "--params", default="0.25,0.25,0.25,0.25",
                    help="weights of ngram, weighted ngram, syntax, data flow "
                         "(default 0.25,0.25,0.25,0.25)")
    cb.add_argument("--per-sample", action="store_true",
                    help="also print every candidate's own scores under 'per_sample'")
    cb.add_argument("--threads", type=int, default=0,
                    help="threads of the structural engine (0 = its default)")
    cb.set_defaults(handler=_codebleu_command)


def _add_score_command(commands: Any) -> None:
    sc = commands.add_parser(
        "score", help="PPOCoder reward of every sample of a JSONL file, as JSONL",
        description="Score samples (language, code, reference, tests) with rewards.score;\n"
                    "prints one JSON object per sample.",
        epilog=SCORE_JSONL, formatter_class=argparse.RawDescriptionHelpFormatter)
    sc.add_argument("input", help="JSONL file of samples, or - for standard input")
    sc.add_argument("-o", "--output", type=Path, help="write the JSONL here instead of stdout")
    sc.add_argument("--no-execution", action="store_true", help="skip compiling / running tests")
    sc.add_argument("--no-ast", action="store_true", help="skip the AST match")
    sc.add_argument("--no-dfg", action="store_true", help="skip the data-flow match")
    sc.add_argument("--weights", help="weights of execution, ast, dfg (default 1,1,1)")
    sc.add_argument("--timeout", type=float, default=10.0,
                    help="seconds allowed for one program's compile or test run (default 10)")
    sc.add_argument("--threads", type=int, default=0, help="threads / workers (0 = all cores)")
    sc.add_argument("--language", help="language of lines that name none")
    sc.set_defaults(handler=_score_command)


def _add_serve_command(commands: Any) -> None:
    serve = commands.add_parser("serve", help="run the HTTP scoring server",
                                description="Serve rewards.score over HTTP (see rewards.server): "
                                            "POST /score, POST /get_reward (OpenRLHF), GET /health, "
                                            "GET /metrics (Prometheus), GET /openapi.json.")
    from rewards.server_settings import ServerSettings

    defaults = ServerSettings()
    serve.add_argument("--host", default=defaults.host, help=f"address to bind (default {defaults.host})")
    serve.add_argument("--port", type=int, default=defaults.port, help=f"port (default {defaults.port})")
    serve.add_argument("--verbose", action="store_true", help="log every request")
    serve.add_argument("--language", help="language of requests, samples and labels that name none "
                                          "(OpenRLHF never sends one)")
    serve.add_argument("--max-inflight", type=int, default=defaults.max_inflight,
                       help=f"requests scored at the same time (default {defaults.max_inflight})")
    serve.add_argument("--max-queue", type=int, default=defaults.max_queue,
                       help=f"requests waiting beyond those; more get 503 + Retry-After "
                            f"(default {defaults.max_queue})")
    serve.add_argument("--max-workers", type=int, default=defaults.max_workers,
                       help="sandboxed runs at once over all requests, shared round-robin; a "
                            "request's config.threads is capped at it (default 0: one per core)")
    serve.add_argument("--max-samples", type=int, default=defaults.max_samples,
                       help=f"samples or queries per request; more get 400 "
                            f"(default {defaults.max_samples})")
    serve.add_argument("--max-field-kb", type=float, default=defaults.max_field_bytes / 1024,
                       help=f"largest code, code_prefix, reference, prompt or query in KiB; larger "
                            f"get 400 (default {defaults.max_field_bytes // 1024})")
    serve.add_argument("--max-tests-mb", type=float, default=defaults.max_tests_bytes / 2**20,
                       help=f"largest tests value of one sample in MiB; larger get 400 "
                            f"(default {defaults.max_tests_bytes // 2**20})")
    serve.add_argument("--max-body-mb", type=float, default=defaults.max_body_bytes / 2**20,
                       help=f"largest request body in MiB; larger get 413 "
                            f"(default {defaults.max_body_bytes // 2**20})")
    serve.add_argument("--keep-alive-timeout", type=float, default=defaults.keep_alive_s,
                       help=f"seconds an idle connection stays open (default {defaults.keep_alive_s:g})")
    serve.add_argument("--read-timeout", type=float, default=defaults.read_timeout_s,
                       help=f"seconds a request's head and body may take to arrive "
                            f"(default {defaults.read_timeout_s:g})")
    serve.add_argument("--shutdown-timeout", type=float, default=defaults.shutdown_timeout_s,
                       help=f"on SIGTERM, seconds accepted requests get to finish "
                            f"(default {defaults.shutdown_timeout_s:g})")
    serve.add_argument("--max-connections", type=int, default=defaults.max_connections,
                       help=f"open connections beyond this get 503 (default {defaults.max_connections})")
    serve.add_argument("--config", metavar="FILE",
                       help="reward config (JSON or YAML object of RewardConfig's fields) for requests "
                            "that send none; default: $PPOCODER_REWARD_CONFIG (JSON) when set")
    serve.add_argument("--special-tokens",
                       help="comma-separated special-token text that ends a /get_reward response "
                            "(default: common EOS/pad tokens such as <|im_end|>, </s>, <|endoftext|>)")
    serve.set_defaults(handler=_serve_command)


def _codebleu_command(args: argparse.Namespace) -> int:
    print(json.dumps(run_codebleu(args), indent=2))
    return 0


def _score_command(args: argparse.Namespace) -> int:
    lines = "".join(json.dumps(row) + "\n" for row in run_score(args))
    if args.output is not None:
        args.output.write_text(lines, encoding="utf-8")
    else:
        sys.stdout.write(lines)
    return 0


def _serve_command(args: argparse.Namespace) -> int:
    from rewards.server import serve
    from rewards.server_settings import ServerSettings

    extra: dict[str, Any] = {}
    if args.config or os.environ.get("PPOCODER_REWARD_CONFIG"):
        import yaml

        from rewards.schema import RequestError, parse_config

        try:
            raw = (yaml.safe_load(Path(args.config).read_text(encoding="utf-8")) if args.config
                   else json.loads(os.environ["PPOCODER_REWARD_CONFIG"]))
            parse_config(raw)  # a bad field fails now, naming it
        except (OSError, ValueError, yaml.YAMLError, RequestError) as exc:
            raise CliError(f"--config: {exc}") from None
        extra["reward_config"] = raw
    if args.special_tokens is not None:
        extra["special_tokens"] = tuple(t for t in args.special_tokens.split(",") if t)
    settings = ServerSettings(
        host=args.host, port=args.port, verbose=args.verbose, default_language=args.language,
        max_inflight=args.max_inflight, max_queue=args.max_queue, max_workers=args.max_workers,
        max_samples=args.max_samples, max_field_bytes=int(args.max_field_kb * 1024),
        max_tests_bytes=int(args.max_tests_mb * 2**20),
        max_body_bytes=int(args.max_body_mb * 2**20), keep_alive_s=args.keep_alive_timeout,
        read_timeout_s=args.read_timeout, shutdown_timeout_s=args.shutdown_timeout,
        max_connections=args.max_connections, **extra)
    try:
        serve(settings)
    except OSError as exc:  # port in use, address not local, ...
        raise CliError(f"cannot serve on {args.host}:{args.port}: {exc.strerror or exc}") from None
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m rewards``; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.handler(args)
    except ValueError as exc:  # CliError and the API's own input errors
        print(f"error: {exc}", file=sys.stderr)
        return 2
