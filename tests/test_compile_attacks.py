"""Compile-time attacks on the C++ checks, and the precompiled-header rules that stop them.

A program names files for the compiler to read; nothing it names may be read, built or
waited on outside the sandbox. Each attack below is submitted three times (the old
scanner built a precompiled header on the host once an include set had been seen
twice) through compile feedback, unit tests and the composite score, and each asserts:
containment (a compile error or the outcome the preprocessor itself gives), no leaked
content, no process or file left behind, and that other compiles keep going.
"""

import glob
import os
import subprocess
import tempfile
import threading
import time
import uuid

import pytest

from rewards import Sample, TestSpec, compile_feedback, run_tests, score
from rewards.execution import pch, sandbox
from rewards.execution.sandbox import own_uids

MARK = f"ppoattack{uuid.uuid4().hex[:10]}"
SECRET = f"SECRET-{MARK}"
ROOT_SECRET = f"/root/{MARK}-secret.h"
VISIBLE_SECRET = f"/var/tmp/{MARK}-secret.h"
FIFO = f"/var/tmp/{MARK}.fifo"
HOLLOW = "#include <bits/stdc++.h>\nint main() { return 0; }\n"
"""A normal unit (its precompiled header is built once, before the attacks)."""
BODY = "#include <cstdio>\nint main() { return 0; }\n"
"""What follows each attack (a light header: without a PCH, bits/stdc++.h alone can take
seconds on a loaded machine)."""

ATTACKS = {
    # the attacker's trick: gcc reads line 2 as part of the comment (line continuation),
    # a naive scanner reads it as an include; the preprocessor's answer (it compiles) is right
    "continuation_root_include": (f"// c \\\n#include <{ROOT_SECRET}>\n" + BODY, {"ok"}),
    "continuation_visible_secret": (f"// c \\\n#include <{VISIBLE_SECRET}>\n" + BODY, {"ok"}),
    "root_include": (f"#include <{ROOT_SECRET}>\n" + BODY, {"compile_error"}),
    "secret_include": (f"#include <{VISIBLE_SECRET}>\n" + BODY, {"compile_error"}),
    "relative_escape": ("#include <../../../../var/tmp/" + os.path.basename(VISIBLE_SECRET) + ">\n" + BODY,
                        {"compile_error"}),
    "fifo_include": (f"#include <{FIFO}>\n" + BODY, {"compile_error"}),
    "continuation_fifo_include": (f"#include <vector>\n#include <{FIFO}> \\\n" + BODY, {"compile_error"}),
    "dev_zero_include": ("#include </dev/zero>\n" + BODY, {"compile_error"}),
    # every level doubles a type pack: 2^40 types
    "template_bomb": ("template <class... T> struct L {};\n"
                      "template <class... T> L<T..., T...> twice(L<T...>);\nusing L0 = L<int>;\n"
                      + "".join(f"using L{k} = decltype(twice(L{k - 1}{{}}));\n" for k in range(1, 41))
                      + "L40 x;\nint main() { return 0; }\n", {"compile_error"}),
    "macro_bomb": ("#define A0 x x\n" + "".join(f"#define A{k} A{k - 1} A{k - 1}\n" for k in range(1, 40))
                   + "int main() { A39; }\n", {"compile_error"}),
}
TIMEOUT_S = 8.0


def our_files():
    """Run dirs of this process, PCH staging dirs, and PCH dirs in the shared /tmp."""
    tmp = tempfile.gettempdir()
    runs = {p for p in glob.glob(os.path.join(tmp, "ppocoder-run-*")) if os.stat(p).st_uid in own_uids()}
    staging = set(glob.glob(os.path.join(sandbox.private_cache_dir(), ".build-*")))
    return runs | staging | set(glob.glob(os.path.join(tmp, "ppocoder-pch-*")))


@pytest.fixture(scope="module")
def attacked(sandbox_leftovers):
    for path in (ROOT_SECRET, VISIBLE_SECRET):
        with open(path, "w") as f:
            f.write(f"#error {SECRET}\nint leaked = 1; // {SECRET}\n")
        os.chmod(path, 0o600)
    os.mkfifo(FIFO, 0o666)
    # warm: the standard header's PCH exists before the clock starts
    assert [r.outcome for r in compile_feedback("cpp", [HOLLOW] * 2)] == ["ok", "ok"]
    files_before = our_files()
    try:
        normal: dict[str, object] = {}

        def normal_compiles():
            start = time.monotonic()
            res = compile_feedback("cpp", [HOLLOW, "int main() { return 0; }\n"] * 2, workers=1)
            normal["outcomes"], normal["seconds"] = [r.outcome for r in res], time.monotonic() - start

        codes = [code for code, _ in ATTACKS.values()] * 3
        start = time.monotonic()
        side = threading.Thread(target=normal_compiles)
        side.start()
        compiled = compile_feedback("cpp", codes, timeout_s=TIMEOUT_S, workers=2)
        attack_s = time.monotonic() - start
        side.join()
        tests = run_tests("cpp", [code for code, _ in ATTACKS.values()],
                          [TestSpec.from_io([""], [""])] * len(ATTACKS), timeout_s=TIMEOUT_S, workers=2)
        scored = score([Sample("cpp", code) for code, _ in ATTACKS.values()])
        deadline = time.monotonic() + 5
        while sandbox_leftovers(MARK) and time.monotonic() < deadline:
            time.sleep(0.1)
        yield {"compiled": compiled, "tests": tests, "scored": scored, "normal": normal,
               "attack_s": attack_s, "leftover": sandbox_leftovers(MARK),
               "new_files": our_files() - files_before}
    finally:
        for path in (ROOT_SECRET, VISIBLE_SECRET, FIFO):
            if os.path.lexists(path):
                os.unlink(path)


@pytest.mark.parametrize("name", list(ATTACKS))
def test_attack_is_contained(attacked, name):
    k = list(ATTACKS).index(name)
    expected = ATTACKS[name][1]
    for round_ in range(3):
        res = attacked["compiled"][k + round_ * len(ATTACKS)]
        assert res.outcome in expected, (name, round_, [str(m) for m in res.messages])
    assert attacked["tests"][k].outcome != "passed" or expected == {"ok"}
    assert attacked["scored"][k].outcome in expected


def test_nothing_leaks(attacked):
    texts = [str(m) for r in attacked["compiled"] + attacked["tests"] for m in r.messages]
    texts += [e for r in attacked["scored"] for e in r.errors]
    assert not [t for t in texts if SECRET in t]
    # no cache entry holds anything but system headers
    for listed in glob.glob(os.path.join(sandbox.private_cache_dir(), "pch-*", "pch.h")):
        with open(listed) as f:
            assert MARK not in f.read()
        with open(listed + ".gch", "rb") as f:
            assert SECRET.encode() not in f.read()


def test_nothing_left_behind(attacked):
    assert attacked["leftover"] == []
    assert attacked["new_files"] == set()


def test_other_compiles_kept_going(attacked):
    # a FIFO blocks its own compile until the timeout; the compiles beside it finish first
    assert attacked["normal"]["outcomes"] == ["ok"] * 4
    assert attacked["normal"]["seconds"] < attacked["attack_s"]
    # 30 attack compiles, 2 at a time, none longer than the timeout (plus its PCH wait)
    assert attacked["attack_s"] < 30 * 2 * TIMEOUT_S / 2 + 60


# --------------------------------------------------------------------------- the rules


TRICKS = [
    "// c \\\n#include <map>\n#include <vector>\n",
    "#include <vector> \\\n#include <map>\n",
    "#include <vector>\\   \n#include <map>\n",
    "/*\n#include <map>\n*/\n#include <vector>\n",
    "#include <vector>\r#include <map>\n",
    "#include <vector>\r\n#include <map>\n",
    "#include <vector>\n??/\n#include <map>\n",
    "\ufeff#include <vector>\n",
    "#include <vector> // fine\n\n#include <map>\nint x;\n",
    "#  include   <vector>\t\n",
    "#include <vector>\n#define X\n#include <map>\n",
    "#if 0\n#include <map>\n#endif\n#include <vector>\n",
    "%:include <map>\n#include <vector>\n",
    "#include <vector>\f\n#include <map>\n",
    "#include <vector> /* x */\n#include <map>\n",
    "// a comment\n#include <vector>\n#include <map>\nint main() {}\n",
]


def preprocessor_includes(text):
    """The headers g++ itself opens first, at depth 1, in order (from -H)."""
    res = subprocess.run(["g++", "-std=c++17", "-fsyntax-only", "-H", "-x", "c++", "-"], input=text.encode(),
                         capture_output=True, timeout=120)
    return [os.path.realpath(line[2:].strip()) for line in res.stderr.decode().splitlines()
            if line.startswith(". ")]


@pytest.mark.parametrize("text", TRICKS)
def test_scanner_agrees_with_the_preprocessor(text):
    headers = pch.leading_includes(text)
    if not headers:
        return  # no PCH: the unit compiles exactly as written
    dirs = pch.system_include_dirs("g++", ("-std=c++17",))
    paths = pch.resolve_headers(headers, dirs)
    assert paths is not None
    assert preprocessor_includes(text)[:len(paths)] == list(paths)


def test_unusual_leading_lines_give_no_pch():
    assert pch.leading_includes("// c \\\n#include <map>\n") == ()
    assert pch.leading_includes("#include <vector>\r#include <map>\n") == ()
    assert pch.leading_includes("#include </etc/passwd>\n") == ()
    assert pch.leading_includes("#include <../x.h>\n") == ()
    assert pch.leading_includes("#include <vector>\n#include <map>\nint x;\n") == ("vector", "map")
    # a later odd line cannot change how the accepted ones read
    assert pch.leading_includes("#include <vector>\n// c \\\n#include <map>\n") == ("vector",)


def test_only_system_headers_are_eligible(tmp_path):
    dirs = pch.system_include_dirs("g++", ("-std=c++17",))
    assert dirs and all(os.path.isabs(d) for d in dirs)
    assert pch.resolve_headers(("bits/stdc++.h", "vector"), dirs) is not None
    fifo = tmp_path / "h.fifo"
    os.mkfifo(fifo)
    for bad in ("/etc/passwd", "../../../etc/passwd", "no_such_header_anywhere.h", str(fifo), "bits"):
        assert pch.resolve_headers((bad,), dirs) is None, bad
    # a first match that is a directory or unreadable is not skipped for a later one
    assert pch.resolve_headers(("c++",), dirs) is None


def test_cache_is_private():
    assert compile_feedback("cpp", [HOLLOW])[0].outcome == "ok"
    root = sandbox.private_cache_dir()
    info = os.lstat(root)
    assert info.st_uid == os.geteuid() and info.st_mode & 0o777 == 0o700
    entries = glob.glob(os.path.join(root, "pch-*"))
    assert entries
    for entry in entries:
        for path in [entry, *glob.glob(os.path.join(entry, "*"))]:
            mode = os.lstat(path).st_mode & 0o777
            assert not mode & 0o007, (path, oct(mode))  # nothing for other users
            if os.geteuid() == 0:
                assert os.lstat(path).st_gid == sandbox.SANDBOX_GID


def test_a_hanging_build_blocks_no_compile(monkeypatch):
    """A build that never finishes: compiles wanting it wait their own timeout at most,
    then compile without it; compiles of other header sets do not wait at all."""
    release = threading.Event()

    def hang(*args):
        release.wait(60)
        return None

    monkeypatch.setattr(pch, "_build_or_reuse", hang)
    unit = "#include <cstdio>\n#include <cstdlib>\n#include <cctype>\nint main() { return 0; }\n"
    try:
        assert compile_feedback("cpp", [unit], timeout_s=3)[0].outcome == "ok"  # first sight: no PCH
        start = time.monotonic()
        res = compile_feedback("cpp", [unit, unit], timeout_s=3, workers=2)
        waited = time.monotonic() - start
        assert [r.outcome for r in res] == ["ok", "ok"]
        assert waited < 3 + 30  # the PCH wait, then a plain compile
        start = time.monotonic()
        assert compile_feedback("cpp", ["#include <cmath>\nint main() { return 0; }\n"])[0].outcome == "ok"
        assert time.monotonic() - start < 30
    finally:
        release.set()
