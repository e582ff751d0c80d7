"""Size limits of a scoring request, checked on the decoded JSON before it is validated
and turned into samples (`rewards.server`).

A request over a limit is a 400 whose message names the field and the server option:

* ``--max-samples``: samples in ``/score``, queries in ``/get_reward``;
* ``--max-field-kb``: UTF-8 size of each ``code``, ``code_prefix``, ``reference``,
  ``prompt`` (``/score``), each query, prompt and reference label (``/get_reward``);
* ``--max-tests-mb``: size of each sample's ``tests`` value (or object label), counted as
  the JSON text it was read from would be, about.

`parse_body` is the whole of it: JSON bytes in, checked samples and config out. The
server runs it on a thread for small bodies and in a `ParserProcess` for large ones, so
that neither the decoding nor the validation of a large body holds the server's
interpreter lock (``/health`` answers meanwhile).
"""

from __future__ import annotations

import json
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from rewards.composite import RewardConfig, Sample
from rewards.schema import SPECIAL_TOKENS, RequestError, parse_reward_request, parse_score_request

TEXT_FIELDS = ("code", "code_prefix", "reference", "prompt")
"""Fields of a ``/score`` sample held to ``max_field_bytes``."""


@dataclass(frozen=True)
class RequestLimits:
    """The limits of one request (see the module docstring)."""

    max_samples: int = 4096
    max_field_bytes: int = 1 << 20
    max_tests_bytes: int = 16 << 20

    def __post_init__(self) -> None:
        for name in ("max_samples", "max_field_bytes", "max_tests_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a whole number >= 1, got {value!r}")


def parse_body(body: bytes, endpoint: str, limits: RequestLimits, default_language: str | None,
               special_tokens: Sequence[str] = SPECIAL_TOKENS, default_config: Any = None
               ) -> tuple[list[Any], RewardConfig]:
    """The samples and config of a ``/score`` or ``/get_reward`` body, its limits checked
    first; `RequestError` naming the field otherwise (a body that is not JSON gets the
    schema's own message). `default_config` is the server's reward config (``serve
    --config``) for bodies that send none; a sample that cannot be read comes back as the
    schema's `Unreadable` (scored ``invalid``), not as an error of the whole request."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None  # not JSON (or too deep): the schema's parser says so, naming the place
    if isinstance(data, dict):
        if endpoint == "/score":
            _check_score(data, limits)
        else:
            _check_reward(data, limits)
    del data
    if endpoint == "/score":
        return parse_score_request(body, default_language, default_config)
    return parse_reward_request(body, default_language, special_tokens,
                                default_config=default_config)


def _check_score(data: dict[str, Any], limits: RequestLimits) -> None:
    samples = data.get("samples")
    if not isinstance(samples, list):
        return  # the schema names the problem
    _check_count("samples", len(samples), limits)
    for i, sample in enumerate(samples):
        if not isinstance(sample, dict):
            continue
        for name in TEXT_FIELDS:
            _check_text(f"samples[{i}].{name}", sample.get(name), limits)
        _check_tests(f"samples[{i}].tests", sample.get("tests"), limits)


def _check_reward(data: dict[str, Any], limits: RequestLimits) -> None:
    queries = data.get("query")
    if isinstance(queries, list):
        _check_count("query", len(queries), limits)
        for i, query in enumerate(queries):
            _check_text(f"query[{i}]", query, limits)
    for name in ("prompts", "labels"):
        values = data.get(name)
        if not isinstance(values, list):
            continue
        _check_count(name, len(values), limits)
        for i, value in enumerate(values):
            where = f"{name}[{i}]"
            if isinstance(value, str) and not value.lstrip().startswith("{"):
                _check_text(where, value, limits)  # a prompt, or a reference label
            elif isinstance(value, dict):
                for field in TEXT_FIELDS:
                    _check_text(f"{where}.{field}", value.get(field), limits)
                _check_tests(f"{where}.tests", value.get("tests"), limits)
            else:
                _check_tests(where, value, limits)  # a label that is a JSON object's text


def _check_count(where: str, n: int, limits: RequestLimits) -> None:
    if n > limits.max_samples:
        raise RequestError(f"{where}: {n} entries, over the limit of {limits.max_samples} per "
                           f"request (--max-samples); split the batch")


def _check_text(where: str, value: Any, limits: RequestLimits) -> None:
    if not isinstance(value, str) or len(value) * 4 <= limits.max_field_bytes:
        return  # a character is at most 4 UTF-8 bytes
    size = len(value.encode("utf-8", "surrogatepass"))
    if size > limits.max_field_bytes:
        raise RequestError(f"{where}: {size} bytes, over the limit of {limits.max_field_bytes} "
                           f"bytes per field (--max-field-kb)")


def _check_tests(where: str, value: Any, limits: RequestLimits) -> None:
    size = json_size(value, limits.max_tests_bytes)
    if size > limits.max_tests_bytes:
        raise RequestError(f"{where}: over {limits.max_tests_bytes} bytes, the limit of a "
                           f"sample's tests (--max-tests-mb)")


def json_size(value: Any, stop_above: int) -> int:
    """About the length of `value` as JSON text (strings by their UTF-8-ish length, numbers
    as 8, two for each container and one per separator); stops counting once above
    `stop_above`. Iterative, so any nesting depth is fine."""
    total, todo = 0, [value]
    while todo and total <= stop_above:
        item = todo.pop()
        if isinstance(item, str):
            total += len(item) + 2
        elif isinstance(item, dict):
            total += 2 + len(item)
            todo.extend(item.keys())
            todo.extend(item.values())
        elif isinstance(item, list):
            total += 2 + len(item)
            todo.extend(item)
        else:
            total += 8
    return total


RECYCLE_BYTES = 16 << 20
"""A parser process that has read a body larger than this is replaced by a fresh one."""


class ParserProcess:
    """A child process (``python -m rewards.request_limits``) that runs `parse_body` for
    the server, one body at a time: what it returns or raises comes back pickled. A
    plain subprocess, not `multiprocessing`, so that no caller's ``__main__`` is run again
    in it. `ParserDied` if it ends (out of memory); the next call starts a new one."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def parse(self, *args: Any) -> tuple[list[Sample], RewardConfig]:
        """`parse_body(*args)` in the child process."""
        with self._lock:
            proc = self._running()
            try:
                _write(proc.stdin, pickle.dumps(args, protocol=pickle.HIGHEST_PROTOCOL))
                ok, value = pickle.loads(_read(proc.stdout))
            except (OSError, EOFError, pickle.UnpicklingError):
                self._stop()
                raise ParserDied("the request parser process ended (out of memory?)") from None
            if len(args[0]) > RECYCLE_BYTES:
                self._stop()  # what decoding a big body grew is given back to the system
        if not ok:
            raise value
        return value

    def _running(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            self._proc = subprocess.Popen([sys.executable, "-m", "rewards.request_limits"],
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        return self._proc

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.kill()
            proc.wait()

    def close(self) -> None:
        with self._lock:
            self._stop()


class ParserDied(RuntimeError):
    """The parser process ended before answering."""


def _write(stream: Any, data: bytes) -> None:
    stream.write(struct.pack("<Q", len(data)))
    stream.write(data)
    stream.flush()


def _read(stream: Any) -> bytes:
    head = stream.read(8)
    if len(head) < 8:
        raise EOFError
    size = struct.unpack("<Q", head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return data


def _serve() -> None:
    """The parser process: requests on stdin, answers on stdout, until stdin closes."""
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing else may write on the answer stream
    while True:
        try:
            args = pickle.loads(_read(stdin))
        except EOFError:
            return
        try:
            answer: tuple[bool, Any] = (True, parse_body(*args))
        except Exception as exc:  # noqa: BLE001 - every error goes back to the server
            answer = (False, exc if isinstance(exc, RequestError) else
                      RequestError(f"cannot read the request: {type(exc).__name__}: {exc}"))
        _write(stdout, pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL))


__all__ = ["ParserDied", "ParserProcess", "RequestLimits", "json_size", "parse_body"]

if __name__ == "__main__":
    if len(sys.argv) > 1:  # the server starts it with no arguments
        print("usage: python -m rewards.request_limits\n\nThe HTTP server's request parser "
              "process: pickled requests on stdin, answers on stdout (started by "
              "`python -m rewards serve`, not by hand).")
        sys.exit(0 if sys.argv[1] in ("-h", "--help") else 2)
    _serve()
