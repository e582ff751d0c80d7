"""Test harness that runs INSIDE the sandbox (started as `python -I -S runner.py VERDICT_FD`).

Three processes, so that untrusted code can never report its own verdict:

* the *judge* (this process) reads the job from stdin, runs the test code and compares
  outputs, and writes the verdict, tagged with the per-run nonce, to VERDICT_FD;
* the *host* child, forked before the job (and its nonce) is read, with stdin and
  VERDICT_FD closed: it loads the candidate and answers calls (function and call-based tests), or forks
  one *case* grandchild per stdin/stdout test case and reports what it printed;
* the judge and host mark themselves non-dumpable, so a process of the same uid can
  neither ptrace them nor open their /proc files (memory, descriptors);
* the judge is the subreaper of the run: at the end it kills and reaps every process
  left below it (orphans, daemons, the Java case runner), and reports the largest
  resident set any of them reached (``peak_kb``, from the kernel's rusage).

A candidate that exits early, kills its parent, overrides ``__eq__`` (results cross the
process boundary as plain data), patches ``AssertionError`` or prints "passed" earns no
pass: only the judge writes to VERDICT_FD, after the last test. Standard library only.
"""

import ast
import builtins
import ctypes
import io
import json
import os
import random
import re
import resource
import selectors
import signal
import struct
import sys
import time
import traceback

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
SAFE_SCALARS = (type(None), bool, int, float, str)
RANK = {"passed": 0, "failed": 1, "runtime_error": 2, "timeout": 3, "compile_error": 4,
        "test_error": 5}
BUILTIN_NAMES = frozenset(dir(builtins))


# ------------------------------------------------------------------ wire format


def write_all(fd, data):
    """Write every byte of `data` to the blocking descriptor `fd` (os.write may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def kill_group(pid):
    """SIGKILL the process group that `pid` leads, then `pid` itself; either may be gone."""
    for target in (-pid, pid):
        try:
            os.kill(target, signal.SIGKILL)
        except OSError:
            pass


def send(fd, obj):
    data = json.dumps(obj).encode()
    write_all(fd, struct.pack("<I", len(data)) + data)


def recv(fd, deadline=None):
    (size,) = struct.unpack("<I", _read_exact(fd, 4, deadline))
    if size > 1 << 28:
        raise ValueError("corrupted message")
    return json.loads(_read_exact(fd, size, deadline))


def _read_exact(fd, n, deadline):
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            sel = selectors.DefaultSelector()
            sel.register(fd, selectors.EVENT_READ)
            ready = sel.select(left)
            sel.close()
            if not ready:
                raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def encode(value):
    """Built-in data only, tagged so that list/tuple/set/dict/bytes survive JSON."""
    kind = type(value)
    if kind in SAFE_SCALARS:
        return value
    if kind is list:
        return {"l": [encode(v) for v in value]}
    if kind is tuple:
        return {"t": [encode(v) for v in value]}
    if kind is dict:
        return {"d": [[encode(k), encode(v)] for k, v in value.items()]}
    if kind is set:
        return {"s": [encode(v) for v in value]}
    if kind is frozenset:
        return {"f": [encode(v) for v in value]}
    if kind is bytes:
        return {"b": value.hex()}
    if kind is complex:
        return {"c": [value.real, value.imag]}
    raise TypeError(f"a value of type {kind.__name__} cannot be compared (built-in data types only)")


def decode(value):
    if not isinstance(value, dict):
        return value
    (tag, body), = value.items()
    if tag == "l":
        return [decode(v) for v in body]
    if tag == "t":
        return tuple(decode(v) for v in body)
    if tag == "d":
        return {decode(k): decode(v) for k, v in body}
    if tag == "s":
        return {decode(v) for v in body}
    if tag == "f":
        return frozenset(decode(v) for v in body)
    if tag == "b":
        return bytes.fromhex(body)
    if tag == "c":
        return complex(*body)
    raise ValueError(f"bad tag {tag!r}")


def _prctl(option, value):
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _no_dump():
    _prctl(PR_SET_DUMPABLE, 0)


def _children():
    """Pids whose parent is this process (orphans of the run are reparented here)."""
    me, found = os.getpid(), []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", "rb") as f:
                    stat = f.read()
            except OSError:
                continue
            if int(stat[stat.rindex(b")") + 2:].split()[1]) == me:  # field 4: the parent
                found.append(int(name))
    return found


def reap_all(first, seconds=2.0):
    """Kill `first` and every process left below this one, reap them all; the largest
    resident set (KiB) that any reaped process reached."""
    try:
        os.kill(first, signal.SIGKILL)
        os.waitpid(first, 0)
    except OSError:
        pass
    deadline = time.monotonic() + seconds
    while True:
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            break  # nothing left below us (the usual case: no scan of /proc at all)
        if time.monotonic() > deadline:
            break
        for pid in _children():
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.002)
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss


def _error_line(exc, filename):
    """The last traceback line that lies in `filename` (the candidate or the test)."""
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    if line is None and isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno
    return line


def _describe(exc):
    return f"{type(exc).__name__}: {exc}"[:500]


# ------------------------------------------------------------------ host child


def host_main(cmd_fd, reply_fd):
    """Loop of the host child: load / call / stdio requests from the judge."""
    os.dup2(os.open(os.devnull, os.O_RDONLY), 0)
    namespace = None
    code = None
    solution = None  # the one instance of a LeetCode-style class Solution
    while True:
        try:
            req = recv(cmd_fd)
        except (EOFError, OSError):
            os._exit(0)
        op = req["op"]
        if op == "load":
            sys.path.extend(req.get("path", []))
            namespace = {"__name__": "__candidate__", "__builtins__": __builtins__}
            solution = None
            random.seed(0)
            try:
                exec(compile(req["code"], "<candidate>", "exec"), namespace)
            except BaseException as exc:  # noqa: BLE001 - any failure is the candidate's
                send(reply_fd, {"error": _describe(exc), "line": _error_line(exc, "<candidate>"),
                                "syntax": isinstance(exc, SyntaxError)})
                continue
            names = [k for k, v in namespace.items() if callable(v) and not k.startswith("__")]
            send(reply_fd, {"names": names})
        elif op == "call":
            try:
                args = [decode(a) for a in req["args"]]
                kwargs = {k: decode(v) for k, v in req["kwargs"].items()}
                if req.get("method") and solution is None and isinstance(namespace.get("Solution"), type):
                    solution = namespace["Solution"]()
                value = _target(namespace, solution, req["name"])(*args, **kwargs)
                sys.stdout.flush()
                send(reply_fd, {"value": encode(value)})
            except BaseException as exc:  # noqa: BLE001
                send(reply_fd, {"error": _describe(exc), "line": _error_line(exc, "<candidate>")})
        elif op == "prepare":
            code = req["code"]
            if req.get("python"):
                sys.path.extend(req.get("path", []))
                code = compile(code, "<candidate>", "exec")
            elif req.get("server"):
                code = CaseServer(req["server"], (cmd_fd, reply_fd))
            send(reply_fd, {"ok": True})
        elif op == "case":
            if isinstance(code, CaseServer):
                send(reply_fd, code.run(req))
            else:
                send(reply_fd, run_case(code, req, cmd_fd, reply_fd))


def _target(namespace, solution, name):
    """The function `name`: a method of the Solution instance (APPS call-based tests run
    LeetCode-style ``class Solution`` code that way), else a top-level function."""
    if solution is not None and callable(getattr(solution, name, None)):
        return getattr(solution, name)
    if callable(namespace.get(name)):
        return namespace[name]
    raise NameError(f"the program defines no function {name!r}")


class CaseServer:
    """A warm runtime (the Java CaseRunner) that runs every case of one program.

    Started on the first case; after a timeout or a crash it is killed and the next case
    starts a fresh one. Frames are big-endian: see CaseRunner.java.
    """

    def __init__(self, argv, private_fds):
        self.argv, self.private_fds, self.pid = argv, private_fds, None

    def start(self):
        to_r, to_w = os.pipe()
        from_r, from_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.setpgid(0, 0)
            for fd in (*self.private_fds, to_w, from_r):
                os.close(fd)
            os.dup2(to_r, 0)
            os.dup2(from_w, 1)
            os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            try:
                os.execvp(self.argv[0], self.argv)
            finally:
                os._exit(127)
        os.close(to_r)
        os.close(from_w)
        self.pid, self.to_w, self.from_r = pid, to_w, from_r

    def stop(self):
        if self.pid is not None:
            kill_group(self.pid)
            os.waitpid(self.pid, 0)
            os.close(self.to_w)
            os.close(self.from_r)
            self.pid = None

    def run(self, req):
        start = time.monotonic()
        fresh = self.pid is None
        if fresh:
            self.start()
        data = _bytes(req["input"])
        # the first case also pays for the JVM's start
        deadline = start + req["timeout"] + (10 if fresh else 2)
        try:
            write_all(self.to_w, struct.pack(">iii", int(req["timeout"] * 1000), req["cap"], len(data)) + data)
            (status,) = struct.unpack(">i", _read_exact(self.from_r, 4, deadline))
            out = _read_exact(self.from_r, struct.unpack(">i", _read_exact(self.from_r, 4, deadline))[0], deadline)
            err = _read_exact(self.from_r, struct.unpack(">i", _read_exact(self.from_r, 4, deadline))[0], deadline)
        except (TimeoutError, EOFError, OSError):
            self.stop()
            timed_out = time.monotonic() >= deadline
            return {"stdout": "", "stderr": "the runtime died" if not timed_out else "",
                    "exit": None if timed_out else 1, "timeout": timed_out, "truncated": False,
                    "wall": time.monotonic() - start}
        timed_out = status == 124
        if status in (124, 125):  # timed out or flooded its output: the runtime halts
            self.stop()
        return {"stdout": out[:req["cap"]].decode("utf-8", "replace"),
                "stderr": err[-4096:].decode("utf-8", "replace"), "exit": status,
                "timeout": timed_out, "truncated": len(out) > req["cap"],
                "wall": time.monotonic() - start}


def run_case(program, req, cmd_fd, reply_fd):
    """Fork one case process with the given stdin; collect its capped output.

    Three steps: spawn (the process in its own group, on three fresh pipes), pump (feed
    stdin, read stdout/stderr until it exits, passes the cap or the time limit), reap
    (wait out the time limit, then kill its group)."""
    pid, in_w, out_r, err_r = _spawn_case(program, (cmd_fd, reply_fd))
    start = time.monotonic()
    deadline = start + req["timeout"]
    out = {out_r: bytearray(), err_r: bytearray()}
    timed_out, truncated, status = _pump_case(pid, _bytes(req["input"]), in_w, out, out_r, req["cap"],
                                              deadline)
    status, late = _reap_case(pid, status, timed_out or truncated, deadline)
    for fd in (out_r, err_r):
        try:
            os.close(fd)
        except OSError:
            pass
    return {"stdout": out[out_r][:req["cap"]].decode("utf-8", "replace"),
            "stderr": out[err_r][:4096].decode("utf-8", "replace"),
            "exit": os.waitstatus_to_exitcode(status), "timeout": timed_out or late,
            "truncated": truncated, "wall": time.monotonic() - start}


def _spawn_case(program, private_fds):
    """Fork the case process, in its own process group, with stdin/stdout/stderr on fresh
    pipes and `private_fds` closed; (pid, stdin's write end, stdout's and stderr's read ends)."""
    in_r, in_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        os.setpgid(0, 0)
        for fd in (*private_fds, in_w, out_r, err_r):
            os.close(fd)
        os.dup2(in_r, 0)
        os.dup2(out_w, 1)
        os.dup2(err_w, 2)
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        _case_child(program)
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    return pid, in_w, out_r, err_r


def _pump_case(pid, data, in_w, out, out_r, cap, deadline):
    """Feed `data` to the case's stdin and read its output into `out` (fd -> bytearray) until
    the process exits, its stdout passes `cap` or the deadline passes. Closes in_w.

    The case ends when its process exits, even if a daemon it left holds the pipes: a
    pidfd says when (on kernels without pidfd_open, a poll of waitpid every 50 ms).
    Returns (timed_out, truncated, wait status if the exit was already reaped, else None).
    """
    sel = selectors.DefaultSelector()
    for fd in out:
        sel.register(fd, selectors.EVENT_READ)
    os.set_blocking(in_w, False)
    if data:
        sel.register(in_w, selectors.EVENT_WRITE)
    else:
        os.close(in_w)
    try:
        pidfd = os.pidfd_open(pid)
        sel.register(pidfd, selectors.EVENT_READ)
    except (AttributeError, OSError):
        pidfd = None
    timed_out = truncated = exited = False
    status = None
    while len(sel.get_map()) > (pidfd is not None) and not exited and not truncated:
        left = deadline - time.monotonic()
        if left <= 0:
            timed_out = True
            break
        ready = sel.select(min(left, 0.05) if pidfd is None else left)
        if pidfd is None and status is None:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                status, exited = code, True
        for key, _ in ready:
            if key.fd == pidfd:
                exited = True
            elif key.fd == in_w:
                data = _feed(sel, in_w, data)
            else:
                chunk = os.read(key.fd, 1 << 16)
                if not chunk:
                    sel.unregister(key.fd)
                out[key.fd] += chunk
                truncated = truncated or len(out[key.fd]) > cap
    if exited:
        truncated = _drain(out, out_r, cap) or truncated
    for key in list(sel.get_map().values()):
        sel.unregister(key.fd)
        if key.fd not in out:
            os.close(key.fd)
    sel.close()
    return timed_out, truncated, status


def _feed(sel, in_w, data):
    """One non-blocking write of stdin; at the end (or a reader gone) close it. What is left."""
    try:
        sent = os.write(in_w, data)
    except OSError:
        sent = len(data)
    data = data[sent:]
    if not data:
        sel.unregister(in_w)
        os.close(in_w)
    return data


def _drain(out, out_r, cap):
    """Read what an exited case wrote before it exited, up to `cap` per pipe; True if its
    stdout passed `cap`."""
    for fd in out:
        os.set_blocking(fd, False)
        try:
            while len(out[fd]) <= cap:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    break
                out[fd] += chunk
        except (BlockingIOError, OSError):
            pass
    return len(out[out_r]) > cap


def _reap_case(pid, status, give_up, deadline):
    """The case's wait status: already known, or waited for until the deadline (unless
    `give_up`), then its process group killed. (status, whether the deadline passed here)."""
    timed_out = False
    if status is None and not give_up:
        left = deadline - time.monotonic()
        while left > 0:
            done, code = os.waitpid(pid, os.WNOHANG)
            if done:
                return code, False
            time.sleep(min(0.002, left))
            left = deadline - time.monotonic()
        timed_out = True
    if status is None:
        kill_group(pid)
        _, status = os.waitpid(pid, 0)
    return status, timed_out


def _bytes(text):
    """UTF-8 of a case's text; lone surrogates (undecodable input bytes) survive or are replaced."""
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _case_child(program):
    """Run the program of one case in this (already redirected) process; never returns."""
    if isinstance(program, list):
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # the usual disposition for programs
        try:
            os.execvp(program[0], program)
        except OSError as exc:
            os.write(2, f"cannot run {program[0]}: {exc}\n".encode())
            os._exit(127)
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)),
                                 encoding="utf-8", errors="replace")
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                  encoding="utf-8", errors="replace")
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="replace", write_through=True)
    code = 0
    try:
        exec(program, {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            code = exc.code or 0
        else:
            sys.stderr.write(f"{exc.code}\n")
            code = 1
    except BaseException as exc:  # noqa: BLE001
        line = _error_line(exc, "<candidate>")
        sys.stderr.write(f"line {line}: {_describe(exc)}\n")
        code = 1
    try:
        sys.stdout.flush()
    except BaseException:  # noqa: BLE001
        code = code or 1
    os._exit(code & 0xFF)


# ------------------------------------------------------------------ judge


class CandidateError(BaseException):
    """The candidate raised or died during a call (a BaseException: tests cannot swallow it)."""

    def __init__(self, text, line):
        super().__init__(text)
        self.text, self.line = text, line


class CaseTimeout(BaseException):
    """The candidate ran past the time budget."""


class TestCodeError(BaseException):
    """The test code cannot be run as written (the caller's error, outcome ``test_error``)."""


class Judge:
    def __init__(self, job, cmd_fd, reply_fd):
        self.job, self.cmd_fd, self.reply_fd = job, cmd_fd, reply_fd
        self.deadline = time.monotonic() + job["timeout"]
        self.passed = self.total = 0
        self.first_failing_line = None
        self.messages = []
        self.outcome = None

    def ask(self, request, deadline=None):
        send(self.cmd_fd, request)
        try:
            return recv(self.reply_fd, min(deadline or self.deadline, self.deadline))
        except TimeoutError:
            raise CaseTimeout() from None
        except (EOFError, OSError, ValueError):
            raise CandidateError("the candidate's process died (exit, kill or crash)", None) from None

    def note(self, outcome, line, text, in_test_code=False):
        if self.outcome is None or RANK[outcome] > RANK[self.outcome]:
            self.outcome = outcome
        if self.first_failing_line is None:
            self.first_failing_line = line
        if len(self.messages) < 20:
            self.messages.append({"line": line, "text": text[:500], "in_test_code": in_test_code})

    # -- assert-style tests (HumanEval, MBPP)

    def check_assert(self, value, line):
        self.total += 1
        if value:
            self.passed += 1
        else:
            self.note("failed", line, "assertion failed", in_test_code=True)

    def proxy(self, name, method=False):
        # method: the entry point may be a method of LeetCode's class Solution (LeetCodeDataset)
        def call(*args, **kwargs):
            try:
                payload = {"op": "call", "name": name, "method": method, "args": [encode(a) for a in args],
                           "kwargs": {k: encode(v) for k, v in kwargs.items()}}
            except TypeError as exc:  # the test hands over what cannot cross to the candidate
                raise TestCodeError(f"the test passes {name}() a value the judge cannot send: "
                                    f"{exc}") from None
            reply = self.ask(payload)
            if "error" in reply:
                raise CandidateError(reply["error"], reply.get("line"))
            return decode(reply["value"])

        call.__name__ = name
        return call

    def load(self):
        """Load the candidate in the host; its callable names, or None when loading failed."""
        job = self.job
        reply = self.ask({"op": "load", "code": job["code"], "path": job.get("path", [])})
        if "error" in reply:
            kind = "compile_error" if reply.get("syntax") else "runtime_error"
            self.note(kind, reply.get("line"), reply["error"])
            return None
        return reply["names"]

    def provided(self, names, own=frozenset()):
        """Proxies of the candidate's functions that the task's contract lets the test call:
        the entry point, and every function whose name is not a builtin's (MBPP asserts
        name the function; HumanEval's helpers). A candidate that defines `len`, `set` or
        `AssertionError` changes nothing the test computes; `own`: names the test binds."""
        entry = self.job.get("entry_point")
        return {name: self.proxy(name) for name in names
                if (name == entry or name not in BUILTIN_NAMES) and name not in own}

    def task_helpers(self, names, trees):
        """The task's own functions that the test calls (HumanEval/38's encode_cyclic,
        /32's poly), defined in the judge from the code the task gave (the prompt, job
        ``prefix``), not from the candidate's copy, which could be anything."""
        tree = _parse_or_none(self.job.get("prefix") or "", "<task>")
        entry = self.job.get("entry_point")
        if tree is None:
            return {}
        keep = [s for s in tree.body if isinstance(s, (ast.Import, ast.ImportFrom))
                or isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and s.name != entry
                and not _stub(s)
                or isinstance(s, (ast.Assign, ast.AnnAssign))
                and not any(isinstance(n, ast.Call) for n in ast.walk(s))]
        used = {n.id for tree in trees for n in ast.walk(tree) if isinstance(n, ast.Name)}
        wanted = used & {s.name for s in keep if hasattr(s, "name")}
        if not wanted:
            return {}
        env = {"__name__": "__task__", "__builtins__": builtins}
        for stmt in keep:  # the task's code is trusted like its tests; a statement that
            try:           # needs what the prefix left out is skipped
                exec(compile(ast.Module([stmt], []), "<task>", "exec"), env)
            except Exception:  # noqa: BLE001, S110
                pass
        for name, fn in self.provided(names, frozenset(env)).items():
            env[name] = fn  # a helper may call the candidate's functions
        return {name: env[name] for name in wanted if name in env}

    def run_function_tests(self):
        job = self.job
        names = self.load()
        if names is None:
            return
        sources = [job["test"]] if job.get("test") else []
        sources += list(job.get("asserts") or [])
        trees = [_parse_or_none(source, f"<test{k}>") for k, source in enumerate(sources)]
        if None in trees:  # TestSpec rejects such tests; a judge on another Python may not
            self.note("test_error", None, "the test code does not compile", in_test_code=True)
            return
        helpers = self.task_helpers(names, trees) if job.get("prefix") else {}
        for k, tree in enumerate(trees):
            own = _top_level_names(tree)
            env = {"__name__": "__test__", "__builtins__": builtins, **self.provided(names, own),
                   **helpers, "__ppo_assert__": self.check_assert}
            random.seed(0)
            try:
                tree = ast.fix_missing_locations(_SoftAsserts().visit(tree))
                exec(compile(tree, f"<test{k}>", "exec"), env)
                if k == 0 and job.get("test") and job.get("entry_point") and "check" in own:
                    env["check"](self.proxy(job["entry_point"], method=True))
            except CaseTimeout:
                self.note("timeout", None, "time limit exceeded")
                return
            except CandidateError as exc:
                self.note("runtime_error", exc.line, exc.text)
                return
            except TestCodeError as exc:
                self.note("test_error", None, str(exc), in_test_code=True)
                return
            except Exception as exc:  # noqa: BLE001 - the test broke on a wrong answer
                self.total += 1
                self.note("failed", _error_line(exc, f"<test{k}>"), f"test raised {_describe(exc)}",
                          in_test_code=True)
        if self.outcome is None and self.total == 0:
            self.note("failed", None, "no check ran: the test executed no assert", in_test_code=True)
        if self.outcome is None:
            self.outcome = "passed"

    # -- call-based tests (APPS problems with a fn_name)

    def run_call_tests(self):
        job = self.job
        if self.load() is None:
            return
        name = job["entry_point"]
        for k, (args, expected) in enumerate(job["calls"]):
            self.total += 1
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.note("timeout", None, f"call {k}: time limit exceeded")
                return
            request = {"op": "call", "name": name, "method": True, "kwargs": {},
                       "args": [encode(a) for a in _int_keys_first(args)]}
            try:
                reply = self.ask(request, time.monotonic() + min(job["case_timeout"], left))
            except CaseTimeout:
                self.note("timeout", None, f"call {k}: time limit exceeded")
                return
            except CandidateError as exc:  # the host is gone: no later call can run
                self.note("runtime_error", None, f"call {k}: {exc.text}")
                return
            if "error" in reply:
                self.note("runtime_error", reply.get("line"), f"call {k}: {reply['error']}")
                continue
            if same_value(decode(reply["value"]), expected):
                self.passed += 1
            else:
                self.note("failed", None, f"call {k}: wrong return value")
        if self.outcome is None:
            self.outcome = "passed"

    # -- stdin/stdout tests (APPS, CodeContests)

    def run_stdio_tests(self):
        job = self.job
        program = job["code"] if job.get("python") else job["command"]
        self.ask({"op": "prepare", "code": program, "python": bool(job.get("python")),
                  "path": job.get("path", []), "server": job.get("server")})
        for k, (given, expected) in enumerate(job["cases"]):
            self.total += 1
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.note("timeout", None, f"case {k}: time limit exceeded")
                return
            timeout = min(job["case_timeout"], left)
            try:
                slack = 15 if job.get("server") else 5  # a warm runtime's start
                res = self.ask({"op": "case", "input": given, "timeout": timeout,
                                "cap": job["cap"]}, time.monotonic() + timeout + slack)
            except CaseTimeout:
                self.note("timeout", None, f"case {k}: time limit exceeded")
                return
            except CandidateError as exc:
                self.note("runtime_error", None, f"case {k}: {exc.text}")
                return
            if res["timeout"]:
                self.note("timeout", None, f"case {k}: time limit exceeded")
                return
            if res["exit"] != 0 or res["truncated"]:
                why = "output limit exceeded" if res["truncated"] else f"exit status {res['exit']}"
                line = _line_in(res["stderr"]) if job.get("python") else None
                self.note("runtime_error", line, f"case {k}: {why}: {res['stderr'][-300:]}")
                continue
            if same_output(res["stdout"], expected):
                self.passed += 1
            else:
                self.note("failed", None, f"case {k}: wrong answer")
        if self.outcome is None:
            self.outcome = "passed"

    # -- one plain run: what the program printed and its exit status (rewards.sandbox_fusion)

    def run_program(self):
        job = self.job
        self.ask({"op": "prepare", "code": job["code"], "python": True, "path": job.get("path", [])})
        self.program = self.ask({"op": "case", "input": job["stdin"], "timeout": job["case_timeout"],
                                 "cap": job["cap"]}, time.monotonic() + job["case_timeout"] + 5)
        self.outcome = "passed"


def _line_in(stderr):
    """The candidate's line in the "line N: Error: ..." that `host_main` wrote last (the
    program's own stderr output comes before it and may say "line" too)."""
    found = re.findall(r"line (\d+): ", stderr)
    return int(found[-1]) if found else None


def _stub(node):
    """A function whose body is only a docstring, ``pass`` or ``...``: the task's target
    (what the answer must write, whatever the tests call it), never a helper it gives."""
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        return False
    return all(isinstance(b, ast.Pass) or isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant)
               for b in node.body)


def _parse_or_none(source, filename):
    try:
        return ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return None


def _top_level_names(tree):
    """Names the test code binds at its top level (its imports, functions, variables)."""
    defs = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
    found = set()
    for stmt in tree.body:  # into if/try/for blocks, not into the bodies of functions
        for node in [stmt] if isinstance(stmt, defs) else ast.walk(stmt):
            if isinstance(node, defs):
                found.add(node.name)
            elif isinstance(node, (ast.Import, ast.ImportFrom)):
                found.update((a.asname or a.name).split(".")[0] for a in node.names)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                found.add(node.id)
    return found


def _as_lists(value):
    """Tuples as lists, all the way down (JSON expected values have no tuples)."""
    if isinstance(value, (list, tuple)):
        return [_as_lists(v) for v in value]
    if isinstance(value, dict):
        return {k: _as_lists(v) for k, v in value.items()}
    return value


def _int_keyed(value):
    """A dict whose keys all read as integers, with integer keys (JSON made them strings)."""
    if isinstance(value, dict) and value:
        try:
            return {int(k): v for k, v in value.items()}
        except (TypeError, ValueError):
            pass
    return value


def _int_keys_first(args):
    """APPS's rule for arguments: a first-argument dict gets its integer keys back."""
    return [_int_keyed(args[0]), *args[1:]] if args else []


def same_value(got, expected):
    """A call-based return value against the expected one, by APPS's rules: tuples are
    lists, and a one-element expected list also matches the element it holds.

    Equality is stricter than Python's ``==`` (which APPS and LiveCodeBench use): a bool
    equals only a bool (``True`` is not ``1``), numbers compare by exact value (``1.0``
    matches ``1``; ``1.0000001`` does not, and no tolerance applies), and everything else
    must have the same type (a set never equals a list)."""
    got = _as_lists(got)
    wanted = [expected]
    if isinstance(expected, list) and len(expected) == 1:
        wanted.append(expected[0])
    return any(_equal(got, _as_lists(_int_keyed(w))) for w in wanted)


def _equal(got, want):
    numbers = (int, float)
    if type(got) in numbers and type(want) in numbers:
        return got == want
    if type(got) is not type(want):
        return False
    if isinstance(want, list):
        return len(got) == len(want) and all(_equal(g, w) for g, w in zip(got, want))
    if isinstance(want, dict):
        return got.keys() == want.keys() and all(_equal(got[k], want[k]) for k in want)
    return got == want


_NUMBER = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?[0-9]+))?")
_INTEGER = re.compile(r"[+-]?[0-9]+")
FLOAT_ERROR = 1e-6


def same_output(got, expected):
    """Whether a program's stdout matches the expected text.

    Equal when the lines match after trimming trailing blanks; else token by token
    (split on white space), where two tokens match when they are the same text, or:

    * both integers (``[+-]?[0-9]+``): the same value, exactly (``007`` is ``7``; no
      tolerance, as testlib's ``ncmp`` and veRL prime_code's integer check, which skips
      APPS's ``np.allclose`` when every token is an integer);
    * an integer and a decimal: the same value as decimals (``3`` is ``3.0``,
      ``999999937`` is not ``999999000.0``), as LiveCodeBench, which compares lines as
      ``Decimal`` values (here without ``Decimal``: digits and a power of ten);
    * both non-integer numbers (a point or an exponent): absolute or relative error at
      most 1e-6 against the expected value, as testlib's ``doubleCompare`` (Codeforces
      checkers such as ``rcmp6``).

    A number is ``[+-]?digits[.digits][e[+-]digits]`` in ASCII: ``nan``, ``inf``,
    ``1_000`` and ``0x10`` are text and must match exactly."""
    def lines(text):
        return [line.rstrip() for line in text.strip("\n").split("\n")]

    if lines(got) == lines(expected):
        return True
    a, b = got.split(), expected.split()
    return len(a) == len(b) and all(x == y or _same_number(x, y) for x, y in zip(a, b))


def _same_number(token, expected):
    x, y = _NUMBER.fullmatch(token), _NUMBER.fullmatch(expected)
    if not (x and y and (x[2] or x[3]) and (y[2] or y[3])):  # "." and "+" are not numbers
        return False
    if not (_INTEGER.fullmatch(token) or _INTEGER.fullmatch(expected)):
        a, b = float(token), float(expected)
        if abs(a) != float("inf") and abs(b) != float("inf"):
            error = abs(a - b)
            return error <= FLOAT_ERROR + 1e-15 or error <= FLOAT_ERROR * abs(b) + 1e-15
    try:
        return _exact_value(x) == _exact_value(y)
    except ValueError:  # an exponent of thousands of digits
        return False


def _exact_value(match):
    """A number as (negative, significant digits, power of ten), the same for every
    spelling of one value (``3``, ``3.0``, ``0.3e1``); any length, without float()."""
    sign, whole, fraction, exponent = match.groups(default="")
    digits = (whole + fraction).lstrip("0")
    if not digits:
        return False, "", 0
    kept = digits.rstrip("0")
    return sign == "-", kept, int(exponent or 0) - len(fraction) + len(digits) - len(kept)


class _SoftAsserts:
    """Rewrites `assert X` into `__ppo_assert__(bool(X), line)`: every assert is counted."""

    def visit(self, tree):
        class Rewrite(ast.NodeTransformer):
            def visit_Assert(self, node):
                call = ast.Call(func=ast.Name("__ppo_assert__", ast.Load()),
                                args=[node.test, ast.Constant(node.lineno)], keywords=[])
                return ast.copy_location(ast.Expr(call), node)

        return Rewrite().visit(tree)


def run_sample(read_job, verdict_fd, private_fds=()):
    """Fork the host child, then read the job (with its nonce), judge, write the verdict.

    `private_fds` (with `verdict_fd`) are closed in the host child before anything else.
    """
    _no_dump()
    _prctl(PR_SET_CHILD_SUBREAPER, 1)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # a case that exits early must not kill us
    cmd_r, cmd_w = os.pipe()
    reply_r, reply_w = os.pipe()
    host = os.fork()
    if host == 0:
        for fd in (verdict_fd, cmd_w, reply_r, *private_fds):
            os.close(fd)
        host_main(cmd_r, reply_w)
        os._exit(0)
    os.close(cmd_r)
    os.close(reply_w)
    job = read_job()
    judge = Judge(job, cmd_w, reply_r)
    try:
        if job["mode"] == "function":
            judge.run_function_tests()
        elif job["mode"] == "calls":
            judge.run_call_tests()
        elif job["mode"] == "program":
            judge.run_program()
        else:
            judge.run_stdio_tests()
    except CaseTimeout:
        judge.note("timeout", None, "time limit exceeded")
    except CandidateError as exc:
        judge.note("runtime_error", exc.line, exc.text)
    peak_kb = reap_all(host)
    verdict = {"nonce": job["nonce"], "outcome": judge.outcome or "runtime_error",
               "passed": judge.passed, "total": judge.total,
               "first_failing_line": judge.first_failing_line, "messages": judge.messages,
               "peak_kb": peak_kb, "program": getattr(judge, "program", None)}
    write_all(verdict_fd, json.dumps(verdict).encode())
    os.close(verdict_fd)
    os._exit(0)


def main():
    run_sample(lambda: json.loads(sys.stdin.buffer.read()), int(sys.argv[1]))


if __name__ == "__main__":
    main()
