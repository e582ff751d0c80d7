"""Settings of the scoring server (`rewards.server`), apart from it so that the command
line can show their defaults without importing the web stack."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from core import languages
from rewards.schema import SPECIAL_TOKENS


@dataclass
class ServerSettings:
    """Everything ``python -m rewards serve`` can set."""

    host: str = "127.0.0.1"
    port: int = 8008
    verbose: bool = False
    """Log every request (uvicorn's access log)."""
    default_language: str | None = None
    """Language of requests, samples and labels that name none (and whose fence has no tag)."""
    max_inflight: int = 8
    """Requests scored at the same time; they share the sandbox workers round-robin."""
    max_workers: int = 0
    """Sandboxed runs at once, over all requests (0: one per CPU core). A request's
    ``config.threads`` is capped at it; each request in flight may also start one run
    beyond it (its first), so a small request never waits behind a large one."""
    max_samples: int = 4096
    """Samples (``/score``) or queries (``/get_reward``) per request; more get 400."""
    max_field_bytes: int = 1 << 20
    """Largest code, code_prefix, reference, prompt or query (UTF-8 bytes); larger get 400."""
    max_tests_bytes: int = 16 << 20
    """Largest tests value of one sample (about its JSON size); larger get 400."""
    max_queue: int = 256
    """Requests accepted and waiting beyond those; more get 503 + Retry-After."""
    max_body_bytes: int = 64 * 1024 * 1024
    """Largest request body; larger ones get 413."""
    keep_alive_s: float = 75.0
    """An idle connection is closed after this many seconds."""
    read_timeout_s: float = 30.0
    """A request's head and body must arrive within this many seconds of its first byte."""
    shutdown_timeout_s: float = 120.0
    """On SIGTERM, requests still running after this many seconds are cancelled."""
    max_connections: int = 1024
    """Open connections (and requests) beyond this get 503 from uvicorn itself."""
    special_tokens: Sequence[str] = field(default_factory=lambda: SPECIAL_TOKENS)
    """Special-token text that ends a ``/get_reward`` response (see `rewards.schema`)."""
    reward_config: dict | None = None
    """Reward config (RewardConfig's fields) of requests that send none (``serve --config``)."""
    backlog: int = 2048
    """Listen backlog: connections the kernel queues before the server accepts them."""

    def __post_init__(self) -> None:
        if self.default_language is not None:
            self.default_language = languages.get(self.default_language).name  # ValueError now
        for name in ("max_inflight", "max_connections", "backlog", "max_body_bytes", "max_samples",
                     "max_field_bytes", "max_tests_bytes"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("max_queue", "max_workers", "keep_alive_s", "read_timeout_s", "shutdown_timeout_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
