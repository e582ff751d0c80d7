"""Precompiled headers for C++ compile checks, built only inside the sandbox.

Parsing ``bits/stdc++.h`` is most of a C++ syntax check; a precompiled header (PCH) of
the headers a unit starts with makes the check several times faster. The rules that
keep it safe and semantics-preserving:

* **The scanner agrees with the preprocessor or gives up.** `leading_includes` reads
  only lines that are exactly ``#include <name>`` (spaces, tabs and a plain ``//``
  comment allowed), or blank. The first line of any other shape ends the scan, and a
  backslash, ``??`` (trigraphs), ``/*``, a carriage return, a form feed or a byte-order
  mark can appear in no accepted line, so no accepted line is joined to, or hidden in,
  another. Anything unusual means no PCH: the unit is compiled as written.
* **Only headers of the compiler's system include directories.** Each name must
  resolve, first in the compiler's own search order, to a regular, world-readable file
  inside one of those directories (no ``..``, no absolute names, no devices or FIFOs).
* **Built in the sandbox.** The PCH is compiled by the unprivileged sandbox uid, with a
  compile's limits and a timeout, in a staging directory of the private cache (see
  `sandbox.private_cache_dir`), then sealed (group `sandbox.SANDBOX_GID`, 0640/0750,
  or 0600/0700 without root) and moved into place; compiles see it read-only.
* **Nothing waits on a build but the compiles that want it, and not for longer than
  their own timeout.** A lock guards only the bookkeeping; a build that fails or runs
  out of time is remembered and the units compile without a PCH.

Semantics never change: the PCH holds exactly the unit's own leading includes, so
force-including it first and re-including them (guarded, a no-op) is what the unit
asked for anyway. The language's `ExecutionSpec.precompiled_header` is built on first
use; any other header set once it has been seen twice.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

from core.languages import ExecutionSpec
from rewards.execution import sandbox
from rewards.execution.limits import Limits

PCH_INSIDE = "/tmp/pch"
"""Where a compile sees its precompiled header directory (read-only)."""
MAX_PCH_SETS = 32
"""Header sets per process that get a precompiled header (each is 2-100 MB on disk)."""
MAX_CACHED = 16
"""Entries kept in the private cache across processes (least recently used go first)."""
RETRY_AFTER_S = 300.0
"""A failed build (say, timed out on a loaded machine) is tried again after this long."""
BUILD_TIMEOUT_S = 60.0
"""Wall-clock limit of one build (bits/stdc++.h takes 5-10 s on an idle core)."""

_INCLUDE = re.compile(r"[ \t]*#[ \t]*include[ \t]*<([^<>\\]*)>[ \t]*(?://[^\\?]*)?")
_BLANK = re.compile(r"[ \t]*(?://[^\\?]*)?")
_HEADER_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.+-]*(?:/[A-Za-z0-9_][A-Za-z0-9_.+-]*)*")
_UNSAFE = re.compile(r"\\|\?\?|/\*|[\r\f\v\x00\ufeff]")


def leading_includes(text: str) -> tuple[str, ...]:
    """The system headers a unit includes before anything else, as the preprocessor
    reads them; () when there is none or a name is not a plain header name.

    Sound because every accepted line is free of anything that joins lines, opens a
    comment or breaks a line in a way other than ``\\n``: a later line, however odd,
    cannot change how the preprocessor reads the accepted ones.
    """
    headers: list[str] = []
    for line in text.split("\n", 200)[:200]:
        if _UNSAFE.search(line):
            break  # a continuation, trigraph, comment or odd line break starts here
        found = _INCLUDE.fullmatch(line)
        if found:
            if not _HEADER_NAME.fullmatch(found.group(1)):
                return ()
            headers.append(found.group(1))
        elif not _BLANK.fullmatch(line):
            break
    return tuple(headers)


_include_dirs: dict[tuple[str, tuple[str, ...]], tuple[str, ...]] = {}


def system_include_dirs(compiler: str, flags: tuple[str, ...]) -> tuple[str, ...]:
    """The ``#include <...>`` search directories of `compiler` with `flags`, in order
    (asked of the compiler itself, in the sandbox, with no program at all; () when it
    does not say, and asked again next time)."""
    key = (compiler, flags)
    if key not in _include_dirs:
        res = sandbox.run([compiler, *flags, "-x", "c++", "-E", "-v", "/dev/null"],
                          limits=Limits(wall_s=30, cpu_s=30, output_bytes=64 << 10))
        text = res.stderr.decode("utf-8", "replace")
        start, end = text.find("#include <...> search starts here:"), text.find("End of search list.")
        if res.returncode != 0 or start < 0 or end < start:
            return ()
        _include_dirs[key] = tuple(os.path.realpath(d.strip())
                                   for d in text[start:end].splitlines()[1:] if d.strip())
    return _include_dirs[key]


def resolve_headers(headers: Sequence[str], dirs: Sequence[str]) -> tuple[str, ...] | None:
    """Host paths of `headers`, each the first match in `dirs`; None unless every one
    is a safe name and its first match is a world-readable regular file inside `dirs`."""
    paths = []
    for name in headers:
        if not _HEADER_NAME.fullmatch(name):
            return None
        for directory in dirs:
            candidate = os.path.join(directory, name)
            if os.path.lexists(candidate):
                break
        else:
            return None
        real = os.path.realpath(candidate)
        try:
            info = os.stat(real)
        except OSError:
            return None
        inside = any(real.startswith(d.rstrip("/") + "/") for d in dirs)
        if not (inside and stat.S_ISREG(info.st_mode) and info.st_mode & stat.S_IROTH):
            return None
        paths.append(real)
    return tuple(paths)


class _Cache:
    """The process's view of precompiled headers: one Future per header set."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # guards the two tables only, never held across a build
        self.builds: dict[tuple[object, ...], tuple[Future[str | None], float]] = {}
        self.seen: Counter[tuple[str, ...]] = Counter()


_cache = _Cache()


def with_pch(ex: ExecutionSpec, argv: Sequence[str], text: str,
             wait_s: float) -> tuple[list[str], dict[str, str]]:
    """`argv` with ``-include`` of a precompiled header of the unit's leading includes,
    plus the read-only bind it needs; `argv` unchanged when there is none (yet).

    Waits at most `wait_s` for a build in progress (the caller's own timeout).
    """
    unchanged: tuple[list[str], dict[str, str]] = (list(argv), {})
    if not ex.precompiled_header:
        return unchanged
    headers = leading_includes(text)
    if not headers:
        return unchanged
    with _cache.lock:
        _cache.seen[headers] += 1
        if headers != (ex.precompiled_header,) and _cache.seen[headers] < 2:
            return unchanged
    flags = tuple(a for a in argv if a.startswith(("-std=", "-O")))
    entry = precompiled_header(argv[0], flags, headers, wait_s)
    if entry is None:
        return unchanged
    return [argv[0], "-include", f"{PCH_INSIDE}/pch.h", *argv[1:]], {entry: PCH_INSIDE}


def precompiled_header(compiler: str, flags: tuple[str, ...], headers: tuple[str, ...],
                       wait_s: float) -> str | None:
    """The cache directory holding ``pch.h`` (including `headers`) and ``pch.h.gch``;
    built in the sandbox on first use. None when ineligible, failed or still building."""
    dirs = system_include_dirs(compiler, flags)
    paths = resolve_headers(headers, dirs) if dirs else None
    if paths is None:
        return None
    key = (compiler, flags, headers)
    with _cache.lock:
        known = _cache.builds.get(key)
        if known is not None and known[0].done() and known[0].result() is None \
                and time.monotonic() - known[1] > RETRY_AFTER_S:
            known = None  # a failed build, long ago: try again
        if known is None:
            if len(_cache.builds) >= MAX_PCH_SETS:
                return None
            known = (Future(), time.monotonic())
            _cache.builds[key] = known
            # built in its own thread, so that no compile waits longer than it chose to
            threading.Thread(target=_build_into, args=(known[0], compiler, flags, headers, paths),
                             name="ppocoder-pch", daemon=True).start()
    try:
        return known[0].result(timeout=wait_s)
    except FutureTimeout:
        return None


def _build_into(future: Future[str | None], compiler: str, flags: tuple[str, ...],
                headers: tuple[str, ...], paths: tuple[str, ...]) -> None:
    try:
        future.set_result(_build_or_reuse(compiler, flags, headers, paths))
    except Exception:  # noqa: BLE001 - a failed build means compiling without a PCH
        future.set_result(None)


def _entry_name(compiler: str, flags: tuple[str, ...], headers: tuple[str, ...],
                paths: tuple[str, ...]) -> str:
    """A content key: the same compiler binary, flags and header files give the same entry."""
    tool = shutil.which(compiler) or compiler
    facts = [compiler, flags, headers]
    for path in (os.path.realpath(tool), *paths):
        info = os.stat(path)
        facts.append((path, info.st_size, info.st_mtime_ns))
    return "pch-" + hashlib.sha256(repr(facts).encode()).hexdigest()[:32]


def _valid_entry(path: str, headers: tuple[str, ...]) -> bool:
    """An entry this user made, sealed, with the expected header list and a PCH file."""
    try:
        info = os.lstat(path)
        gch = os.lstat(os.path.join(path, "pch.h.gch"))
        with open(os.path.join(path, "pch.h")) as f:
            listed = f.read()
    except OSError:
        return False
    return (stat.S_ISDIR(info.st_mode) and stat.S_ISREG(gch.st_mode) and not info.st_mode & 0o027
            and _sealed(info) and _sealed(gch) and listed == _header_text(headers))


def _sealed(info: os.stat_result) -> bool:
    """Owned by this user and, as root, readable by the sandbox group (see `seal_for_sandbox`)."""
    if info.st_uid != os.geteuid():
        return False
    return os.geteuid() != 0 or (info.st_gid == sandbox.SANDBOX_GID and bool(info.st_mode & 0o040))


def _header_text(headers: tuple[str, ...]) -> str:
    return "".join(f"#include <{h}>\n" for h in headers)


def _build_or_reuse(compiler: str, flags: tuple[str, ...], headers: tuple[str, ...],
                    paths: tuple[str, ...]) -> str | None:
    root = sandbox.private_cache_dir()
    target = os.path.join(root, _entry_name(compiler, flags, headers, paths))
    if _valid_entry(target, headers):
        os.utime(target)  # recently used: kept by the pruning below
        return target
    shutil.rmtree(target, ignore_errors=True)
    staging = tempfile.mkdtemp(prefix=".build-", dir=root)
    try:
        with open(os.path.join(staging, "pch.h"), "w") as f:
            f.write(_header_text(headers))
        os.chmod(staging, 0o755)
        # a compile's limits, with room for the PCH file itself (bits/stdc++.h makes ~100 MB)
        limits = Limits(wall_s=BUILD_TIMEOUT_S, cpu_s=int(BUILD_TIMEOUT_S), address_space_mb=2048,
                        file_size_mb=512, processes=64, output_bytes=64 << 10)
        with sandbox.Sandbox(limits, rw_dir=staging) as box:
            res = box.run([compiler, *flags, "-x", "c++-header", "pch.h", "-o", "pch.h.gch"])
        if res.returncode != 0 or not os.path.isfile(os.path.join(staging, "pch.h.gch")):
            return None
        sandbox.seal_for_sandbox(staging)
        try:
            os.rename(staging, target)
        except OSError:  # another process finished the same entry first
            return target if _valid_entry(target, headers) else None
        _prune(root)
        return target
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _prune(root: str) -> None:
    """Keep the `MAX_CACHED` most recently used entries (and no stale staging dirs)."""
    entries = []
    for entry in os.scandir(root):
        if entry.name.startswith("pch-"):
            entries.append((entry.stat(follow_symlinks=False).st_mtime, entry.path))
        elif entry.name.startswith(".build-") and \
                time.time() - entry.stat(follow_symlinks=False).st_mtime > 3600:
            shutil.rmtree(entry.path, ignore_errors=True)  # left by a killed process
    for _, path in sorted(entries, reverse=True)[MAX_CACHED:]:
        shutil.rmtree(path, ignore_errors=True)
