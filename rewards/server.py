"""The reward-scoring HTTP server: uvicorn + FastAPI, requests parsed by `rewards.schema`.

    python -m rewards serve --host 127.0.0.1 --port 8008 [--language python]

Endpoints (JSON in, JSON out; the body is read as JSON whatever its Content-Type):

- ``POST /score``: ``{"samples": [{"language", "code", "reference"?, "tests"?, ...}],
  "config": {...}?}`` -> ``{"results": [RewardBreakdown as an object, ...]}``.
- ``POST /get_reward``: OpenRLHF's remote reward protocol (``--remote_rm_url
  http://host:port/get_reward``): ``{"query": [prompt + response], "prompts": [...],
  "labels": [...]}`` -> ``{"rewards": [...], "scores": [...], "extra_logs": {"execution",
  "ast", "dfg"}}``. See `rewards.schema.parse_reward_request` for how a query becomes a
  program and where its language comes from.
- ``POST /run_code``: SandboxFusion's API (veRL's ``reward.sandbox_fusion.url``), see
  `rewards.sandbox_fusion`: one program, its stdin, compile and run results.
- ``GET /health``, ``GET /metrics`` (Prometheus), ``GET /openapi.json``, ``GET /docs``.

A sample that cannot be read (an unknown language, tests that do not parse) gets its own
``outcome: "invalid"`` and the compile-error value; the others are scored. Errors are
``{"error": "..."}``: 400 for a malformed envelope (the message names the field), 413 for a body over ``--max-body-mb`` (the body is read and dropped, so the
client gets the answer, not a broken pipe), 503 with ``Retry-After`` when ``--max-inflight``
requests are scoring and ``--max-queue`` more are waiting, 500 if scoring itself fails.

Limits, checked before a request is validated (400 naming the field and the option):
``--max-samples`` samples or queries per request, ``--max-field-kb`` per code, code_prefix,
reference, prompt or query, ``--max-tests-mb`` per sample's tests (`rewards.request_limits`).
Bodies are decoded off the event loop (over 1 MiB: in a parser process), so
``/health`` answers while a maximum-size body is read.

Fair scheduling: the server owns the sandbox workers (``--max-workers``, default one per
core). A request's ``config.threads`` is capped at it; every request's runs go to one
scheduler (`rewards.execution.scheduler`) that serves the requests round-robin, one run
at a time, and lets a request with nothing running start its first run at once. A 1-sample
request is answered in about its own run time while another client's large slow batch runs.

Under load: the listen backlog is 2048; connections stay open between requests
(keep-alive) until idle for ``--keep-alive-timeout`` seconds; a request's head and body
must arrive within ``--read-timeout`` seconds of its first byte, so slow or stalled
clients (slowloris) are cut off. SIGTERM (or Ctrl-C) stops accepting connections, lets
every accepted request finish (up to ``--shutdown-timeout`` seconds) and exits with 0.
Programs run in the sandbox (`rewards.score`), never in the server's process.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import anyio
import h11
import uvicorn
from fastapi import FastAPI, Request
from fastapi.openapi.utils import get_openapi
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from pydantic import BaseModel
from starlette.requests import ClientDisconnect
from uvicorn.protocols.http.h11_impl import H11Protocol

from core import languages
from rewards import sandbox_fusion
from rewards.composite import RewardBreakdown, RewardConfig, Sample
from rewards.execution.scheduler import Scheduler
from rewards.execution.scheduler import using as using_scheduler
from rewards.request_limits import ParserDied, ParserProcess, RequestLimits, parse_body
from rewards.schema import (
    RequestError,
    RewardRequest,
    ScoreRequest,
    fields_model,
    reward_answer,
    score_items,
)
from rewards.server_settings import ServerSettings

__all__ = ["RunningServer", "ServerSettings", "create_app", "serve", "serve_in_thread"]

SCORING_PATHS = ("/score", "/get_reward", "/run_code")



# --- metrics --------------------------------------------------------------------------------

class _Metrics:
    """Prometheus metrics of one app (its own registry, so several apps can share a process)."""

    def __init__(self, state: _State) -> None:
        self.registry = r = CollectorRegistry()
        self.requests = Counter("ppocoder_requests", "HTTP requests by endpoint and status",
                                ["endpoint", "status"], registry=r)
        self.latency = Histogram("ppocoder_request_seconds", "Request latency by endpoint", ["endpoint"],
                                 buckets=(.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120),
                                 registry=r)
        self.samples = Counter("ppocoder_samples", "Scored samples by execution outcome", ["outcome"],
                               registry=r)
        inflight = Gauge("ppocoder_requests_in_flight", "Scoring requests accepted and not yet "
                         "answered, by state (scoring or queued)", ["state"], registry=r)
        inflight.labels("scoring").set_function(lambda: state.limiter.borrowed_tokens)
        inflight.labels("queued").set_function(lambda: state.admitted - state.limiter.borrowed_tokens)
        processes = Gauge("ppocoder_sandbox_processes", "Live processes started by the server "
                          "(sandboxed programs, compiler and test workers)", registry=r)
        processes.set_function(lambda: _descendant_count(os.getpid()))


def _descendant_count(root: int) -> int:
    """Processes below `root` in the process tree (read from /proc; 0 where there is none)."""
    children: dict[int, list[int]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return 0
    for entry in entries:
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read()
        except OSError:
            continue  # exited meanwhile
        ppid = int(stat[stat.rfind(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(int(entry))
    count, todo = 0, [root]
    while todo:
        kids = children.get(todo.pop(), [])
        count += len(kids)
        todo.extend(kids)
    return count


# --- admission, body size, metrics: one ASGI layer in front of the app --------------------

class _TooLarge(Exception):
    """Raised while reading a body that grows past the limit (chunked, no Content-Length)."""


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status_code=status, media_type="application/json", headers=headers)


class _Guard:
    """Refuses scoring requests beyond capacity (503) and bodies over the limit (413)
    before the app reads them, and records every request's metrics."""

    def __init__(self, app: Any, settings: ServerSettings, metrics: _Metrics, state: _State) -> None:
        self.app, self.settings, self.metrics, self.state = app, settings, metrics, state

    def close(self) -> None:
        """Stop the request parser processes (when the server stops)."""
        self.state.parser.close()

    async def __call__(self, scope: dict, receive: Callable[[], Awaitable[dict]],
                       send: Callable[[dict], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        endpoint = path if path in (*SCORING_PATHS, "/health", "/metrics") else "other"
        start = time.perf_counter()
        status = [500]  # what the client was answered, for the metrics

        async def tracked_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            if path in SCORING_PATHS and scope["method"] == "POST":
                await self._scoring(scope, receive, tracked_send)
            else:
                await self.app(scope, receive, tracked_send)
        finally:
            self.metrics.requests.labels(endpoint, str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)

    async def _scoring(self, scope: dict, receive: Callable, send: Callable) -> None:
        s, state = self.settings, self.state
        limit = s.max_body_bytes
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await _json(413, {"error": f"body of {int(declared)} bytes is over the limit of {limit} "
                                       f"bytes (--max-body-mb)"})(scope, receive, send)
            return  # uvicorn reads and drops the rest of the body, then keeps the connection
        if state.admitted >= s.max_inflight + s.max_queue:
            await _json(503, {"error": f"busy: {state.admitted} requests in flight; retry later"},
                        {"Retry-After": "1"})(scope, receive, send)
            return
        received = 0

        async def counting_receive() -> dict:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise _TooLarge
            return message

        state.admitted += 1
        try:
            await self.app(scope, counting_receive, send)
        finally:
            state.admitted -= 1


class _ScoringFailed(Exception):
    """`rewards.score` failed on a valid request (a bug): answered with 500."""


@dataclass
class _State:
    limiter: anyio.CapacityLimiter
    scheduler: Scheduler
    parser: _Parser
    admitted: int = 0


IN_THREAD_BYTES = 1 << 20
"""Bodies up to this size are decoded on a thread; larger ones in a parser process."""


class _Parser:
    """Decodes, checks and validates request bodies off the event loop (`parse_body`): on a
    thread when small, in a parser process when large, so that a maximum-size body never
    holds the interpreter lock the event loop needs (``/health`` keeps answering). Up to two
    parser processes start with the first large bodies, and again if one dies."""

    def __init__(self, settings: ServerSettings) -> None:
        self.limits = RequestLimits(settings.max_samples, settings.max_field_bytes,
                                    settings.max_tests_bytes)
        self.language, self.tokens = settings.default_language, tuple(settings.special_tokens)
        self.reward_config = settings.reward_config
        self._idle = [ParserProcess() for _ in range(max(1, min(2, settings.max_inflight)))]
        self._all = list(self._idle)
        self._turns = anyio.CapacityLimiter(len(self._idle))

    async def parse(self, body: bytes, endpoint: str) -> tuple[list[Sample], RewardConfig]:
        args = (body, endpoint, self.limits, self.language, self.tokens, self.reward_config)
        if len(body) <= IN_THREAD_BYTES:
            return await anyio.to_thread.run_sync(parse_body, *args)
        async with self._turns:
            process = self._idle.pop()
            try:
                return await anyio.to_thread.run_sync(process.parse, *args)
            except ParserDied as exc:
                raise _ScoringFailed(f"{exc}; retry with a smaller body") from None
            finally:
                self._idle.append(process)

    def close(self) -> None:
        for process in self._all:
            process.close()


def _score_fairly(samples: list[Sample], config: RewardConfig, scheduler: Scheduler
                  ) -> list[RewardBreakdown]:
    """`score` on the server's scheduler: the server owns the workers, so a request's
    threads are capped at ``--max-workers`` and its runs take turns with every other request's."""
    config.threads = min(config.threads or scheduler.max_workers, scheduler.max_workers)
    with using_scheduler(scheduler):
        return score_items(samples, config)


# --- the app ----------------------------------------------------------------------------------

RewardBreakdownFields = fields_model(RewardBreakdown)


class ScoreResponse(BaseModel):
    """Answer of ``POST /score``: one breakdown per sample, in order."""

    results: list[RewardBreakdownFields]  # type: ignore[valid-type]


class RewardResponse(BaseModel):
    """Answer of ``POST /get_reward`` (OpenRLHF): totals, and the components for logging."""

    rewards: list[float]
    scores: list[float]
    extra_logs: dict[str, list[float]]


def _body_schema(name: str) -> dict[str, Any]:
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{name}"}}}}}


def _answers(name: str) -> dict[int | str, dict[str, Any]]:
    error = {"content": {"application/json": {"schema": {
        "type": "object", "properties": {"error": {"type": "string"}}}}}}
    return {200: {"model": {"ScoreResponse": ScoreResponse, "RewardResponse": RewardResponse}[name]},
            400: {"description": "malformed body or bad field", **error},
            413: {"description": "body too large", **error},
            503: {"description": "busy: retry after Retry-After seconds", **error}}


def create_app(settings: ServerSettings | None = None) -> Any:
    """The ASGI app of the scoring server (FastAPI inside the admission/metrics layer)."""
    settings = settings or ServerSettings()
    state = _State(anyio.CapacityLimiter(settings.max_inflight),
                   Scheduler(settings.max_workers or max(os.cpu_count() or 1, 1)), _Parser(settings))
    workers = state.scheduler.max_workers
    metrics = _Metrics(state)
    app = FastAPI(title="PPOCoder rewards", version="0.1.0",
                  description="Execution, AST and data-flow rewards for generated code.")

    async def run_scoring(samples: list[Sample], config: RewardConfig) -> list[RewardBreakdown]:
        try:
            results = await anyio.to_thread.run_sync(_score_fairly, samples, config, state.scheduler,
                                                     limiter=state.limiter)
        except ValueError as exc:  # rewards.score and the sandbox name the bad field or limit
            raise RequestError(str(exc)) from None
        except Exception as exc:  # noqa: BLE001 - the server must survive any scoring failure
            raise _ScoringFailed(f"{type(exc).__name__}: {exc}") from exc
        for r in results:
            metrics.samples.labels(r.outcome).inc()
        return results

    async def parsed(request: Request) -> tuple[list[Sample], RewardConfig]:
        return await state.parser.parse(await request.body(), request.url.path)

    @app.post("/score", openapi_extra=_body_schema("ScoreRequest"), responses=_answers("ScoreResponse"),
              summary="Score samples with rewards.score")
    async def score_endpoint(request: Request) -> Response:
        samples, config = await parsed(request)
        results = await run_scoring(samples, config)
        return _json(200, {"results": [r.to_dict() for r in results]})

    @app.post("/get_reward", openapi_extra=_body_schema("RewardRequest"),
              responses=_answers("RewardResponse"), summary="OpenRLHF's remote reward protocol")
    async def get_reward(request: Request) -> Response:
        samples, config = await parsed(request)
        return _json(200, reward_answer(await run_scoring(samples, config)))

    @app.post("/run_code", summary="SandboxFusion's /run_code (veRL's sandbox_fusion rewards)",
              openapi_extra=_body_schema("RunCodeRequest"))
    async def run_code(request: Request) -> Response:
        body = await request.body()
        try:
            answer = await anyio.to_thread.run_sync(sandbox_fusion.run_code_body, body,
                                                    limiter=state.limiter)
        except ValueError as exc:
            raise RequestError(str(exc)) from None
        metrics.samples.labels(f"run_code:{answer['status']}").inc()
        return _json(200, answer)

    @app.get("/health", summary="Liveness, supported languages and load")
    async def health() -> dict[str, Any]:
        return {"status": "ok", "languages": languages.names(), "in_flight": state.admitted,
                "default_language": settings.default_language, "max_workers": workers}

    @app.get("/metrics", summary="Prometheus metrics")
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    _add_error_answers(app, settings)
    app.openapi = _openapi_of(app)  # type: ignore[method-assign]
    return _Guard(app, settings, metrics, state)


def _add_error_answers(app: Any, settings: ServerSettings) -> None:
    """`app`'s answers to a bad request (400), a body over the limit (413), a scoring
    failure (500) and a client gone before its answer (400)."""

    @app.exception_handler(RequestError)
    async def bad_request(request: Request, exc: RequestError) -> Response:
        return _json(400, {"error": str(exc)})

    @app.exception_handler(_TooLarge)
    async def too_large(request: Request, exc: _TooLarge) -> Response:
        return _json(413, {"error": f"body over the limit of {settings.max_body_bytes} bytes "
                                    f"(--max-body-mb)"})

    @app.exception_handler(_ScoringFailed)
    async def failed(request: Request, exc: _ScoringFailed) -> Response:
        return _json(500, {"error": str(exc)})

    @app.exception_handler(ClientDisconnect)
    async def gone(request: Request, exc: ClientDisconnect) -> Response:
        return _json(400, {"error": "client disconnected"})  # nobody reads it


def _openapi_of(app: Any) -> Any:
    """`app`'s ``openapi`` method: FastAPI's schema with the request models' schemas added."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description,
                                 routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            for model in (ScoreRequest, RewardRequest, sandbox_fusion.RunCodeRequest):
                model_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
                components.update(model_schema.pop("$defs", {}))
                components[model.__name__] = model_schema
            app.openapi_schema = schema
        return app.openapi_schema

    return openapi


# --- the HTTP protocol: uvicorn's h11 protocol with a read deadline -------------------------

def _protocol(read_timeout_s: float) -> type[H11Protocol]:
    class ReadDeadlineProtocol(H11Protocol):
        """A request's head and body must arrive within `read_timeout_s` of its first byte
        (a new connection: of its opening); otherwise the connection is closed. uvicorn
        alone has no such limit: a client trickling header bytes holds its socket forever."""

        _deadline: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._arm()

        def data_received(self, data: bytes) -> None:
            if self._deadline is None and self.conn.their_state is h11.IDLE:
                self._arm()  # the first byte of the next request on a kept-alive connection
            super().data_received(data)
            if self._deadline is not None and self.conn.their_state is not h11.IDLE and \
                    self.conn.their_state is not h11.SEND_BODY:
                self._disarm()  # request fully read (DONE) or the connection is ending

        def connection_lost(self, exc: Exception | None) -> None:
            self._disarm()
            super().connection_lost(exc)

        def _arm(self) -> None:
            if read_timeout_s > 0:
                self._deadline = self.loop.call_later(read_timeout_s, self._expired)

        def _disarm(self) -> None:
            if self._deadline is not None:
                self._deadline.cancel()
                self._deadline = None

        def _expired(self) -> None:
            self._deadline = None
            if not self.transport.is_closing():
                self.transport.close()

    return ReadDeadlineProtocol


# --- running it -------------------------------------------------------------------------------

def _listen(host: str, port: int, backlog: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(backlog)
    sock.set_inheritable(True)
    return sock


def _uvicorn_server(settings: ServerSettings) -> tuple[uvicorn.Server, _Guard]:
    app = create_app(settings)
    config = uvicorn.Config(
        app, http=_protocol(settings.read_timeout_s), lifespan="off",
        loop="asyncio", timeout_keep_alive=settings.keep_alive_s,  # type: ignore[arg-type]
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s) or None,
        limit_concurrency=settings.max_connections, backlog=settings.backlog,
        access_log=settings.verbose, log_level="info" if settings.verbose else "warning")
    return uvicorn.Server(config), app


def serve(settings: ServerSettings | None = None, **kwargs: Any) -> None:
    """Run the scoring server until SIGTERM or SIGINT, then finish the accepted requests
    and return. Keyword arguments are `ServerSettings` fields."""
    settings = settings or ServerSettings(**kwargs)
    sock = _listen(settings.host, settings.port, settings.backlog)
    server, app = _uvicorn_server(settings)
    port = sock.getsockname()[1]
    print(f"ppocoder rewards server on http://{settings.host}:{port}", flush=True)
    # uvicorn re-raises the signal once it has shut down; exiting normally is the point
    handlers = {sig: signal.signal(sig, lambda *_: None) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
        sock.close()
        app.close()


@dataclass
class RunningServer:
    """A server started by `serve_in_thread`."""

    address: tuple[str, int]
    server: uvicorn.Server
    thread: threading.Thread
    app: Any = None

    @property
    def url(self) -> str:
        return f"http://{self.address[0]}:{self.address[1]}"

    def stop(self, timeout: float = 30.0) -> None:
        """Graceful shutdown: accepted requests finish first."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.app is not None:
            self.app.close()


def serve_in_thread(settings: ServerSettings | None = None, **kwargs: Any) -> RunningServer:
    """Start the server on a background thread (for embedding and tests); port 0 picks a
    free port. Returns once it accepts connections."""
    settings = settings or ServerSettings(**{"port": 0, **kwargs})
    sock = _listen(settings.host, settings.port, settings.backlog)
    server, app = _uvicorn_server(settings)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True,
                              name="ppocoder-rewards-server")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the rewards server did not start")
        time.sleep(0.01)
    host, port = sock.getsockname()[:2]
    return RunningServer((host, port), server, thread, app)
