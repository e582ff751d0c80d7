"""Zygote: a warm interpreter that forks one fresh, isolated test run per request.

Runs INSIDE a bubblewrap sandbox (PID, network, IPC, mount namespaces; read-only
root) as root with only CAP_SYS_ADMIN, CAP_SETUID, CAP_SETGID and CAP_KILL, started as
``python -I -S zygote.py``. Per request (4-byte length + JSON on stdin):

1. the zygote forks PID 1 of a new PID namespace (it asks for one for its next child with
   unshare(CLONE_NEWPID), then points its later children back at its own namespace);
2. PID 1 joins the run's memory cgroup (where the scorer has one: it bounds everything
   the run holds, shm and memfd included), unshares new mount and IPC namespaces (SysV
   shm, semaphores and message queues die with the run), mounts a fresh tmpfs on ``/tmp``
   and ``/dev/shm`` (nothing survives into the next run) and its own /proc, sets the
   rlimits, drops to the run's unprivileged uid (no groups, no_new_privs, no
   capabilities) and runs `runner.run_sample` (judge + candidate host) from the already
   imported code;
3. only then does the zygote move the job itself (a second frame: the tests, expected
   outputs and the run's nonce) to PID 1 with splice(2), kernel to kernel: neither the
   zygote's memory, nor so any run forked from it later, ever holds a job; PID 1 forks
   the candidate's host process before it reads the job;
4. the verdict comes back on a pipe. When PID 1 (the judge) exits, the kernel kills and
   reaps everything left in its namespace before the zygote's wait for it returns; on the
   deadline the zygote kills PID 1 (which empties the namespace the same way) and every
   process of the run's uid (a `kill(-1)` sent as that uid).

The judge's modules (imported by `runner`) and the standard library modules that
programs use most (`PRELOAD`) are imported before the first request.

Replies: 4-byte length + JSON ``{"verdict": str|None, "timed_out": bool}``.
"""

import ctypes
import importlib
import json
import os
import resource
import selectors
import signal
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import runner  # noqa: E402

PRELOAD = ("typing", "math", "collections", "itertools", "functools", "heapq", "bisect",
           "string", "copy", "operator", "hashlib", "fractions", "decimal", "statistics",
           "datetime")
"""The standard library that HumanEval, MBPP and APPS programs import most, imported once
here (as `runner` imports the judge's own, `ast` and `re`), so that no run imports them
again from disk (`ast` alone took about 10 ms a run, more on a loaded machine). A forked
run finds them in `sys.modules`, on pages it shares with the zygote until it writes to
them; what a run changes in a module stays in that run's copy."""
for _name in PRELOAD:
    importlib.import_module(_name)

LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNS, CLONE_NEWPID, CLONE_NEWIPC = 0x00020000, 0x20000000, 0x08000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 8, 4096, 16384, 1 << 18
PR_SET_PDEATHSIG, PR_SET_NO_NEW_PRIVS = 1, 38
OWN_PID_NS = os.open("/proc/self/ns/pid", os.O_RDONLY)
"""The zygote's own PID namespace (its children's again after each run's PID 1)."""
LIMITS = {"as": resource.RLIMIT_AS, "cpu": resource.RLIMIT_CPU, "fsize": resource.RLIMIT_FSIZE,
          "nofile": resource.RLIMIT_NOFILE, "nproc": resource.RLIMIT_NPROC, "core": resource.RLIMIT_CORE}


def check(result, what):
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def mount_tmpfs(path, size_mb, mode="1777"):
    os.makedirs(path, exist_ok=True)
    data = f"size={size_mb}m,mode={mode}".encode()
    check(LIBC.mount(b"tmpfs", path.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, data), f"mount {path}")


def run_isolated(req, job_r, verdict_w):
    """In PID 1 of the run's new PID namespace: the run's memory group, new mount and IPC
    namespaces, then drop privileges and run."""
    if req.get("memcg"):
        # the run's memory group, before it allocates or starts a thread ("0": this
        # thread, see `memcg.Group.join_file`)
        with open(req["memcg"], "w") as f:
            f.write("0")
    check(LIBC.unshare(CLONE_NEWNS | CLONE_NEWIPC), "unshare")
    check(LIBC.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    held = [(inside, os.open(path, os.O_PATH)) for inside, path in req.get("binds", {}).items()]
    mount_tmpfs("/tmp", req["tmpfs_mb"])
    mount_tmpfs("/dev/shm", req["tmpfs_mb"])
    uid = req["uid"]
    box = "/tmp/box"
    os.mkdir(box, 0o755)
    os.chown(box, uid, uid)
    for inside, fd in held:  # views of the zygote's files that the new /tmp hid
        os.makedirs(inside, exist_ok=True)
        check(LIBC.mount(f"/proc/self/fd/{fd}".encode(), inside.encode(), None, MS_BIND | MS_REC, None),
              f"bind {inside}")
        os.close(fd)
    check(LIBC.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None), "mount /proc")
    for name, value in req["limits"].items():
        resource.setrlimit(LIMITS[name], (value, value))
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    check(LIBC.capset(header, (ctypes.c_uint32 * 6)()), "clear capabilities")
    check(LIBC.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")
    LIBC.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    os.chdir(box)
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    os.environ.clear()
    os.environ.update(req.get("env", {}))

    def read_job():
        data = bytearray()
        while True:
            chunk = os.read(job_r, 1 << 16)
            if not chunk:
                break
            data += chunk
        os.close(job_r)
        return json.loads(data)

    runner.run_sample(read_job, verdict_w, private_fds=(job_r,))


def relay(src, dst, size):
    """Move `size` bytes from pipe `src` to pipe `dst` inside the kernel (splice(2))."""
    while size:
        try:
            moved = os.splice(src, dst, size)
        except BrokenPipeError:  # the run died before reading its job: discard the rest
            sink = os.open(os.devnull, os.O_WRONLY)
            try:
                moved = os.splice(src, sink, size)
            finally:
                os.close(sink)
        if not moved:
            raise EOFError
        size -= moved


def kill_uid(uid):
    pid = os.fork()
    if pid == 0:
        try:
            os.setresuid(uid, uid, uid)
            os.kill(-1, signal.SIGKILL)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)


def serve_one(req):
    job_r, job_w = os.pipe()
    verdict_r, verdict_w = os.pipe()
    # the next child is PID 1 of a new PID namespace; the zygote's later children
    # (`kill_uid`'s, the next run's) are pointed back at its own namespace right after
    # the fork, in the zygote only (and before the unshare, in case a fork failed)
    check(LIBC.setns(OWN_PID_NS, CLONE_NEWPID), "setns")
    check(LIBC.unshare(CLONE_NEWPID), "unshare")
    child = os.fork()
    if child == 0:
        try:
            os.close(job_w)
            os.close(verdict_r)
            for fd in range(3, 256):
                if fd not in (job_r, verdict_w):
                    try:
                        os.close(fd)
                    except OSError:
                        pass
            run_isolated(req, job_r, verdict_w)
        except BaseException as exc:  # noqa: BLE001 - report and leave
            try:
                os.write(2, f"zygote child: {exc!r}\n".encode())
            finally:
                os._exit(70)
        os._exit(0)
    check(LIBC.setns(OWN_PID_NS, CLONE_NEWPID), "setns")
    os.close(job_r)
    os.close(verdict_w)
    (size,) = struct.unpack("<I", runner._read_exact(0, 4, None))
    try:
        relay(0, job_w, size)
    finally:
        os.close(job_w)
    deadline = time.monotonic() + req["wall_s"]
    data, timed_out = bytearray(), False
    with selectors.DefaultSelector() as sel:
        sel.register(verdict_r, selectors.EVENT_READ)
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                timed_out = True
                break
            if not sel.select(left):
                continue
            chunk = os.read(verdict_r, 1 << 16)
            if not chunk or len(data) > 1 << 22:
                break
            data += chunk
    os.close(verdict_r)
    if timed_out:
        # killing PID 1 empties its namespace; anything else of the run's uid goes too
        os.kill(child, signal.SIGKILL)
        kill_uid(req["uid"])
    # the kernel reaps the whole namespace before its PID 1 is gone
    os.waitpid(child, 0)
    return {"verdict": data.decode("utf-8", "replace") if data else None, "timed_out": timed_out}


def main():
    while True:
        try:
            req = runner.recv(0)
        except (EOFError, OSError):
            return
        reply = serve_one(req)
        runner.send(1, reply)


if __name__ == "__main__":
    main()
