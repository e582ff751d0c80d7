"""A small HTTP server for the reward-scoring API (standard library only).

    python -m rewards serve --host 127.0.0.1 --port 8008

Endpoints (JSON in, JSON out):

- ``GET /health`` -> ``{"status": "ok", "languages": [...]}``
- ``POST /score`` with ``{"samples": [{"language": "java", "code": "...",
  "reference": "...", "tests": {...}}], "config": {"use_dfg": false, ...}}``
  -> ``{"results": [RewardBreakdown as a dict, ...]}``
- ``POST /get_reward``: OpenRLHF's remote reward-model protocol (``--remote_rm_url
  http://host:port/get_reward``): ``{"query": [prompt + response, ...], "prompts":
  [...], "labels": [reference or null, ...], "language": "..."}`` -> ``{"rewards":
  [...], "scores": [...], "extra_logs": {"execution": [...], "ast": [...], "dfg": [...]}}``.
  The response is the query minus its prompt (its first fenced code block when it
  has one); the language comes from the body or from ``serve --language``.

Malformed requests get HTTP 400 with ``{"error": "..."}``; bodies over the size limit
get 413. The server is threaded; each request is scored with `rewards.score`, so
programs run in the sandbox, never in the server's process.
"""

from __future__ import annotations

import json
import threading
from dataclasses import fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from core import languages
from rewards.composite import RewardConfig, Sample, score
from rewards.execution.types import RewardValues

MAX_BODY_BYTES = 64 * 1024 * 1024
_SAMPLE_FIELDS = {f.name for f in fields(Sample)}
_CONFIG_FIELDS = {f.name: f for f in fields(RewardConfig)}


class RequestError(ValueError):
    """A client error: reported as HTTP 400 with its message."""


def parse_request(payload: Any) -> tuple[list[Sample], RewardConfig]:
    """Turn a decoded JSON body into samples and a config, or raise `RequestError`."""
    if not isinstance(payload, dict):
        raise RequestError("the body must be a JSON object with a 'samples' list")
    raw_samples = payload.get("samples")
    if not isinstance(raw_samples, list):
        raise RequestError("'samples' must be a list")
    samples = []
    for i, raw in enumerate(raw_samples):
        if not isinstance(raw, dict):
            raise RequestError(f"samples[{i}] must be an object")
        unknown = set(raw) - _SAMPLE_FIELDS
        if unknown:
            raise RequestError(f"samples[{i}] has unknown fields {sorted(unknown)}")
        for key in ("language", "code"):
            if not isinstance(raw.get(key), str):
                raise RequestError(f"samples[{i}].{key} must be a string")
        if raw.get("reference") is not None and not isinstance(raw["reference"], str):
            raise RequestError(f"samples[{i}].reference must be a string or null")
        try:
            languages.get(raw["language"])
        except ValueError as exc:
            raise RequestError(f"samples[{i}]: {exc}") from None
        sample = Sample(**raw)
        if sample.tests is not None:
            sample.tests = _tests_from_json(sample.tests, i)
        samples.append(sample)
    return samples, parse_config(payload.get("config"))


def parse_config(raw_config: Any) -> RewardConfig:
    """A `RewardConfig` from a decoded JSON object (None: the defaults), or raise `RequestError`."""
    if raw_config is None:
        raw_config = {}
    if not isinstance(raw_config, dict):
        raise RequestError("'config' must be an object")
    raw_config = dict(raw_config)
    unknown = set(raw_config) - set(_CONFIG_FIELDS)
    if unknown:
        raise RequestError(f"config has unknown fields {sorted(unknown)}; known: {sorted(_CONFIG_FIELDS)}")
    for key, value in raw_config.items():
        if key == "execution_values":
            raw_config[key] = _reward_values_from_json(value)
            continue
        expected = type(getattr(RewardConfig(), key))
        if expected is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, expected) or (expected is not bool and isinstance(value, bool)):
            raise RequestError(f"config.{key} must be a {expected.__name__}")
        raw_config[key] = value
    return RewardConfig(**raw_config)


def parse_openrlhf(payload: Any, default_language: str | None) -> list[Sample]:
    """Samples from an OpenRLHF remote-reward request, or raise `RequestError`."""
    from rewards.adapters import extract_code

    if not isinstance(payload, dict) or not isinstance(payload.get("query"), list):
        raise RequestError("the body must be an object with a 'query' list")
    queries = payload["query"]
    n = len(queries)
    prompts = payload.get("prompts") or [""] * n
    labels = payload.get("labels") or [None] * n
    if not isinstance(prompts, list) or not isinstance(labels, list) or len(prompts) != n or len(labels) != n:
        raise RequestError(f"'prompts' and 'labels' must be lists of {n} entries like 'query'")
    language = payload.get("language", default_language)
    if not isinstance(language, str):
        raise RequestError("no language: send 'language' or start the server with --language")
    try:
        languages.get(language)
    except ValueError as exc:
        raise RequestError(str(exc)) from None
    samples = []
    for i, (query, prompt, label) in enumerate(zip(queries, prompts, labels)):
        if not isinstance(query, str) or not isinstance(prompt, str):
            raise RequestError(f"query[{i}] and prompts[{i}] must be strings")
        if label is not None and not isinstance(label, str):
            raise RequestError(f"labels[{i}] must be a string (the reference) or null")
        response = query[len(prompt):] if query.startswith(prompt) else query
        samples.append(Sample(language=language, code=extract_code(response), reference=label))
    return samples


def _reward_values_from_json(raw: Any) -> RewardValues:
    if not isinstance(raw, dict):
        raise RequestError("config.execution_values must be an object")
    for key, value in raw.items():
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RequestError(f"config.execution_values.{key} must be a number")
    try:
        return RewardValues(**{k: float(v) for k, v in raw.items()})
    except TypeError:
        known = sorted(f.name for f in fields(RewardValues))
        raise RequestError(f"config.execution_values has unknown fields; known: {known}") from None


def _tests_from_json(raw: Any, i: int) -> Any:
    from rewards.execution import TestSpec

    if not isinstance(raw, dict):
        raise RequestError(f"samples[{i}].tests must be an object")
    try:
        return TestSpec(**raw)
    except (TypeError, ValueError) as exc:
        raise RequestError(f"samples[{i}].tests: {exc}") from None


class _Handler(BaseHTTPRequestHandler):
    server_version = "ppocoder-rewards/0.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet by default
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def _send(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        if self.path == "/health":
            self._send(HTTPStatus.OK, {"status": "ok", "languages": languages.names()})
        else:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {self.path!r}"})

    def do_POST(self) -> None:  # noqa: N802
        if self.path not in ("/score", "/get_reward"):
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no such endpoint {self.path!r}"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._send(HTTPStatus.LENGTH_REQUIRED, {"error": "Content-Length is required"})
            return
        if length < 0 or length > MAX_BODY_BYTES:
            self._send(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                       {"error": f"body over {MAX_BODY_BYTES} bytes"})
            self.close_connection = True
            return
        body = self.rfile.read(length)
        try:
            payload = json.loads(body)
            if self.path == "/get_reward":
                samples = parse_openrlhf(payload, getattr(self.server, "default_language", None))
                config = parse_config(payload.get("config"))
            else:
                samples, config = parse_request(payload)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": f"invalid JSON: {exc}"})
            return
        except RequestError as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        try:
            results = score(samples, config)
        except ValueError as exc:
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(exc)})
            return
        except Exception as exc:  # noqa: BLE001 - the server must survive any scoring failure
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": f"{type(exc).__name__}: {exc}"})
            return
        if self.path == "/get_reward":
            totals = [r.total for r in results]
            logs = {k: [r.components().get(k, 0.0) for r in results] for k in ("execution", "ast", "dfg")}
            self._send(HTTPStatus.OK, {"rewards": totals, "scores": totals, "extra_logs": logs})
        else:
            self._send(HTTPStatus.OK, {"results": [r.to_dict() for r in results]})


def make_server(host: str = "127.0.0.1", port: int = 8008, verbose: bool = False,
                default_language: str | None = None) -> ThreadingHTTPServer:
    """Create (not start) the scoring server; port 0 picks a free port.

    `default_language` is the language of ``/get_reward`` requests that name none.
    """
    if default_language is not None:
        languages.get(default_language)  # ValueError now rather than per request
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    server.default_language = default_language  # type: ignore[attr-defined]
    return server


def serve(host: str = "127.0.0.1", port: int = 8008, verbose: bool = False,
          default_language: str | None = None) -> None:
    """Run the scoring server until interrupted."""
    server = make_server(host, port, verbose, default_language)
    print(f"ppocoder rewards server on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_thread(host: str = "127.0.0.1", port: int = 0, default_language: str | None = None
                    ) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the server on a background thread (for embedding and tests)."""
    server = make_server(host, port, default_language=default_language)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
