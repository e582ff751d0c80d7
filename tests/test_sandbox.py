"""The sandbox itself: isolation level, limits, scrubbed environment, degraded levels."""

import json
import os
import subprocess
import sys

import pytest

from rewards.execution import sandbox
from rewards.execution.sandbox import LEVELS, Limits, isolation_level


def test_level_is_reported_and_strongest_here():
    level = isolation_level()
    assert level in LEVELS
    # the strongest level the host allows: namespaces exactly when bubblewrap can make them
    probe = subprocess.run(["bwrap", "--unshare-pid", "--unshare-net", "--ro-bind", "/", "/",
                            "--proc", "/proc", "--dev", "/dev", "true"], capture_output=True)
    if os.geteuid() == 0:
        assert level == ("namespaces" if probe.returncode == 0 else "uid")
    else:
        assert level == "rlimits"


def test_unprivileged_uid_and_read_only_host():
    res = sandbox.run(["sh", "-c", "id -u; touch /etc/ppocoder-x 2>/dev/null && echo wrote; "
                                   "touch ok && echo box-writable; ls /root | wc -l"])
    uid, *rest = res.stdout.decode().split()
    assert int(uid) in sandbox.SANDBOX_UIDS
    assert "wrote" not in rest and "box-writable" in rest
    assert rest[-1] == "0"  # the host user's home is hidden
    assert not os.path.exists("/etc/ppocoder-x")


def test_pid_and_network_namespaces():
    res = sandbox.run(["sh", "-c", "ls /proc | grep -c '^[0-9]'; cat /sys/class/net/*/operstate 2>/dev/null | "
                                   "sort -u | tr '\\n' ' '; python3 -c 'import socket; "
                                   "socket.create_connection((\"1.1.1.1\", 53), timeout=1)' 2>&1 | tail -1"])
    lines = res.stdout.decode().strip().split("\n")
    assert int(lines[0]) < 10  # only the run's own processes are visible
    assert "unreachable" in lines[-1].lower() or "Errno" in lines[-1]


def test_environment_is_scrubbed(monkeypatch):
    monkeypatch.setenv("PPOCODER_SECRET_TOKEN", "hunter2")
    res = sandbox.run(["env"])
    env = res.stdout.decode()
    assert "hunter2" not in env and "PATH=" in env


def test_wall_clock_timeout_and_output_cap():
    res = sandbox.run(["sleep", "30"], limits=Limits(wall_s=0.5))
    assert res.timed_out and res.returncode is None and res.wall_s < 10
    res = sandbox.run(["sh", "-c", "yes"], limits=Limits(output_bytes=1000))
    assert res.truncated and len(res.stdout) == 1000


def test_rlimits_apply():
    res = sandbox.run(["cat", "/proc/self/limits"],
                      limits=Limits(address_space_mb=512, file_size_mb=4, open_files=64, processes=32, cpu_s=3))
    soft = {line[:26].strip(): line[26:].split()[0] for line in res.stdout.decode().splitlines()[1:]}
    assert soft["Max address space"] == str(512 << 20)
    assert soft["Max file size"] == str(4 << 20)
    assert soft["Max open files"] == "64"
    assert soft["Max processes"] == "32"
    assert soft["Max cpu time"] == "3"
    assert soft["Max core file size"] == "0"


def test_extra_output_channel():
    box = sandbox.Sandbox(Limits())
    try:
        res = box.run(["python3", "-c", "import os, sys; os.write(int(sys.argv[1]), b'secret\\n'); print('public')",
                       "{fd:verdict}"], extra_fds=("verdict",))
    finally:
        box.close()
    assert res.extra["verdict"] == b"secret\n" and res.stdout == b"public\n"


def test_bad_forced_level_is_a_value_error(tmp_path):
    code = "from rewards.execution.sandbox import isolation_level\nisolation_level()\n"
    env = {**os.environ, "PPOCODER_ISOLATION": "bogus"}
    # cwd: `python -c` puts the working directory first on sys.path; keep the source
    # tree (which has no compiled extension) off it
    res = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                         cwd=tmp_path)
    assert res.returncode != 0 and "ValueError" in res.stderr


DEGRADED = """
import json, os, time, psutil
from rewards import TestSpec, run_tests, compile_feedback
from rewards.execution.sandbox import isolation_level, memory_guard
mark = "ppodegraded" + str(os.getpid())
io = TestSpec.from_io(["2\\n"], ["4\\n"], timeout_s=20)
daemon = ("import os\\nif os.fork() == 0:\\n    os.setsid()\\n"
          "    os.execv('/bin/sh', ['sh', '-c', 'sleep 1000; : MARK'])\\nprint(4)\\n").replace("MARK", mark)
codes = ["print(int(input()) * 2)\\n", "print(5)\\n", daemon]
res = run_tests("python", codes, [io] * 3, workers=1)
hack = run_tests("python", ["import os\\nos._exit(0)\\n"],
                 [TestSpec(test="def check(c):\\n    assert c() == 1\\n", entry_point="f")])
c = run_tests("c", ["#include <stdio.h>\\nint main(void){int x; scanf(\\"%d\\",&x); printf(\\"%d\\\\n\\",2*x);}\\n"], [io])
java = run_tests("java", ["import java.util.*;\\npublic class Main { public static void main(String[] a) { "
                          "System.out.println(new Scanner(System.in).nextInt() * 2); } }\\n"], [io], memory_mb=512)
cpp = compile_feedback("cpp", ["#include <vector>\\nint main() { std::vector<int> v; }\\n"] * 2)
comp = compile_feedback("java", ["class A { int f() { return 1; } }", "class A { int f() { return ; } }"])
time.sleep(0.5)
left = [p.pid for p in psutil.process_iter(["cmdline"]) if mark in " ".join(p.info["cmdline"] or [])]
print(json.dumps({"level": isolation_level(), "guard": memory_guard(isolation_level()), "outcomes": [r.outcome for r in res + hack + c + java],
                  "isolation": [r.isolation for r in res], "compile": [r.outcome for r in comp + cpp],
                  "left": left}))
"""


@pytest.mark.parametrize("level", ["uid", "rlimits"])
def test_degraded_levels_still_score_and_say_so(level, tmp_path):
    env = {**os.environ, "PPOCODER_ISOLATION": level}
    res = subprocess.run([sys.executable, "-c", DEGRADED], env=env, capture_output=True, text=True,
                         cwd=tmp_path, timeout=600)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["level"] == level
    guard = f"+{out['guard']}" if out["guard"] else ""  # the memory cgroup, where the host has one
    assert out["isolation"] == [f"{level}+rlimit{guard}"] * 3
    assert out["outcomes"] == ["passed", "failed", "passed", "runtime_error", "passed", "passed"], out
    assert out["compile"] == ["ok", "compile_error", "ok", "ok"], out
    if level == "uid":  # a separate uid lets the sandbox kill even setsid daemons
        assert out["left"] == []
    else:
        for pid in out["left"]:  # at this level a daemon may survive: clean it up here
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass
    assert "RuntimeWarning" in res.stderr or "isolation level" in res.stderr


USERNS = """
import json, sys
sys.path.insert(0, sys.argv[1])
from rewards.execution import sandbox
res = sandbox.run(["sh", "-c", "id -u; ls /proc | grep -c '^[0-9]'; touch /etc/x 2>/dev/null || echo ro; "
                   "python3 -c 'import socket; socket.create_connection((\\"1.1.1.1\\", 53), timeout=1)' "
                   "2>/dev/null || echo nonet; sleep 30"], limits=sandbox.Limits(wall_s=2))
print(json.dumps({"level": sandbox.isolation_level(), "out": res.stdout.decode().split(),
                  "timed_out": res.timed_out}))
"""


def test_unprivileged_caller_gets_user_namespaces():
    import shutil
    import tempfile

    # a world-readable copy of the sandbox and limits modules, run by "nobody" with the
    # system interpreter (they need only the standard library)
    where = tempfile.mkdtemp(prefix="ppocoder-userns-")
    try:
        package = os.path.join(where, "rewards", "execution")
        os.makedirs(package)
        for name in ("sandbox.py", "limits.py", "memcg.py", "seccomp.py"):
            shutil.copy(os.path.join(os.path.dirname(sandbox.__file__), name), package)
        for init in (os.path.join(where, "rewards"), package):
            open(os.path.join(init, "__init__.py"), "w").close()
        for root, _dirs, files in os.walk(where):
            os.chmod(root, 0o755)
            for name in files:
                os.chmod(os.path.join(root, name), 0o644)
        python = shutil.which("python3", path="/usr/local/bin:/usr/bin:/bin")
        # as root, become "nobody" first; a non-root caller already is unprivileged
        become = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
        res = subprocess.run([*become, python, "-c", USERNS, where],
                             capture_output=True, text=True, cwd=where, timeout=120,
                             env={"PATH": "/usr/bin:/bin", "HOME": "/tmp"})
    finally:
        shutil.rmtree(where, ignore_errors=True)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    probe = subprocess.run([*become, "bwrap", "--unshare-user", "--unshare-pid", "--ro-bind", "/", "/",
                            "true"], capture_output=True)
    if probe.returncode != 0:  # no unprivileged user namespaces on this host
        assert out["level"] == "rlimits"
        return
    assert out["level"] == "userns"
    uid, pids, *rest = out["out"]
    assert uid == "65534" and int(pids) < 10 and "ro" in rest and "nonet" in rest, out
    assert out["timed_out"]
