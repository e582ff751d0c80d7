"""A small HTTP server for the reward-scoring API (standard library only).

    python -m rewards serve --host 127.0.0.1 --port 8008

Endpoints (JSON in, JSON out):

- ``GET /health`` -> ``{"status": "ok", "languages": [...]}``
- ``POST /score`` with ``{"samples": [{"language": "java", "code": "...",
  "reference": "...", "tests": {...}}], "config": {"use_dfg": false, ...}}``
  -> ``{"results": [RewardBreakdown as a dict, ...]}``

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
    raw_config = payload.get("config") or {}
    if not isinstance(raw_config, dict):
        raise RequestError("'config' must be an object")
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
    return samples, RewardConfig(**raw_config)


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
        if self.path != "/score":
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
        self._send(HTTPStatus.OK, {"results": [r.to_dict() for r in results]})


def make_server(host: str = "127.0.0.1", port: int = 8008, verbose: bool = False) -> ThreadingHTTPServer:
    """Create (not start) the scoring server; port 0 picks a free port."""
    server = ThreadingHTTPServer((host, port), _Handler)
    server.daemon_threads = True
    server.verbose = verbose  # type: ignore[attr-defined]
    return server


def serve(host: str = "127.0.0.1", port: int = 8008, verbose: bool = False) -> None:
    """Run the scoring server until interrupted."""
    server = make_server(host, port, verbose)
    print(f"ppocoder rewards server on http://{host}:{server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def serve_in_thread(host: str = "127.0.0.1", port: int = 0) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """Start the server on a background thread (for embedding and tests)."""
    server = make_server(host, port)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    return server, thread
