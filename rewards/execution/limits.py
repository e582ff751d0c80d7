"""Resource limits of sandboxed runs, and the validation every limit goes through.

Every limit a caller gives (a timeout, a memory size, an output cap, a process count)
must be a positive, finite number; anything else raises a `ValueError` that names the
field (the HTTP server answers it with 400). A value above its configurable maximum is
capped at the maximum, so that no caller can pin a sandbox for longer, or make it
larger, than the operator allows.

The maximums default to `Maximums()` and are read from the environment on every
check, so a server or a Ray actor inherits them from its launcher:

=============================  =========  ============================================
variable                       default    bounds
=============================  =========  ============================================
``PPOCODER_MAX_TIMEOUT_S``     60         one sample's compile or whole test run (s)
``PPOCODER_MAX_MEMORY_MB``     8192       the memory of one run
``PPOCODER_MAX_OUTPUT_BYTES``  67108864   stdout (or stderr) of one run or case
``PPOCODER_MAX_PROCESSES``     4096       processes and threads of one run
=============================  =========  ============================================

    >>> check_timeout("timeout_s", 1e6)
    60.0
    >>> check_timeout("timeout_s", -5)
    Traceback (most recent call last):
    ...
    ValueError: timeout_s must be a positive finite number, got -5
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields

MIN_MEMORY_MB = 64
"""Below this no runtime starts (the interpreter or JVM itself would fail, not the program)."""


@dataclass(frozen=True)
class Maximums:
    """The largest value each limit may take (see the module docstring for the variables)."""

    timeout_s: float = 60.0
    memory_mb: int = 8192
    output_bytes: int = 64 << 20
    processes: int = 4096


_ENV = {f.name: f"PPOCODER_MAX_{f.name.upper()}" for f in fields(Maximums)}


def maximums() -> Maximums:
    """The maximums in force: the defaults, overridden by ``PPOCODER_MAX_*`` variables."""
    given = {}
    for name, variable in _ENV.items():
        raw = os.environ.get(variable, "").strip()
        if raw:
            try:
                value = float(raw)
            except ValueError:
                raise ValueError(f"{variable} must be a number, got {raw!r}") from None
            given[name] = _positive(variable, value, math.inf, integer=name != "timeout_s")
    return Maximums(**given)


def _positive(name: str, value: object, maximum: float, *, integer: bool) -> float:
    """`value`, a positive finite number (whole if `integer`), capped at `maximum`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{name} must be a number, got {type(value).__name__} {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a positive finite number, got {value!r}")
    if integer and value != int(value):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    value = min(value, maximum)
    return int(value) if integer else float(value)


def check_timeout(name: str, value: object) -> float:
    """`value` as seconds: a positive finite number, capped at the maximum timeout."""
    return _positive(name, value, maximums().timeout_s, integer=False)


def check_memory(name: str, value: object) -> int:
    """`value` as MB: a whole number of at least `MIN_MEMORY_MB`, capped at the maximum."""
    mb = int(_positive(name, value, maximums().memory_mb, integer=True))
    if mb < MIN_MEMORY_MB:
        raise ValueError(f"{name} must be at least {MIN_MEMORY_MB} MB, got {value!r}")
    return mb


def check_output_bytes(name: str, value: object) -> int:
    """`value` as a byte count: a whole positive number, capped at the maximum output."""
    return int(_positive(name, value, maximums().output_bytes, integer=True))


def check_count(name: str, value: object, maximum: int) -> int:
    """`value` as a whole positive number, capped at `maximum`."""
    return int(_positive(name, value, maximum, integer=True))


def check_workers(name: str, value: object) -> int:
    """A worker count: 0 (one per core) or a whole positive number (capped at the process
    maximum)."""
    if isinstance(value, int) and not isinstance(value, bool) and value == 0:
        return 0
    return check_count(name, value, maximums().processes)


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed run. None switches a limit off (persistent workers,
    which set their own per request); every other value is validated (`ValueError`) and
    capped (the clock at the maximum timeout plus 120 s of start-up slack)."""

    wall_s: float | None = 10.0
    """Wall-clock timeout; the whole process tree is killed when it passes."""
    cpu_s: int | None = 20
    """RLIMIT_CPU per process (seconds)."""
    address_space_mb: int | None = 1024
    """RLIMIT_AS (virtual memory) per process."""
    file_size_mb: int | None = 16
    """RLIMIT_FSIZE: the largest file a process may write."""
    open_files: int | None = 256
    """RLIMIT_NOFILE."""
    processes: int | None = 64
    """RLIMIT_NPROC for the run's own uid (not enforced at the ``rlimits`` level)."""
    output_bytes: int = 1 << 20
    """stdout and stderr are each cut after this many bytes (and the run killed)."""
    tmpfs_mb: int = 64
    """Size of each tmpfs (``/tmp``, ``/dev/shm``, the working directory)."""
    memory_mb: int | None = None
    """All the memory the run may hold, its processes together (anonymous, memfd, SysV
    shm, tmpfs files, kernel buffers): the limit of its memory cgroup where the host has
    one (`rewards.execution.memcg`). None: no group."""

    def __post_init__(self) -> None:
        caps = maximums()
        # a run's clock also covers start-up (a JVM's) and the judge's slack around the
        # caller's timeout; its address space, what a runtime reserves without using
        bounds = {"wall_s": caps.timeout_s + 120, "cpu_s": caps.timeout_s + 120,
                  "address_space_mb": 4 * caps.memory_mb, "file_size_mb": caps.memory_mb,
                  "open_files": 1 << 20, "processes": caps.processes,
                  "output_bytes": caps.output_bytes, "tmpfs_mb": caps.memory_mb,
                  "memory_mb": caps.memory_mb}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name not in ("output_bytes", "tmpfs_mb"):
                continue
            checked = _positive(f"Limits.{f.name}", value, bounds[f.name], integer=f.name != "wall_s")
            object.__setattr__(self, f.name, checked)
