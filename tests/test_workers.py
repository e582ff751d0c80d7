"""Persistent workers: nothing starts on import, the zygote pool has a maximum, and idle
workers (zygotes, the Java and Node checkers) are stopped after the idle timeout."""

import json
import os
import subprocess
import sys

IMPORT_ONLY = """
import json, sys, threading
import rewards
from rewards.execution import sandbox, workers
print(json.dumps({"threads": [t.name for t in threading.enumerate()],
                  "native_loaded": "core._native" in sys.modules,
                  "slots_made": sandbox._slot_queue.cache_info().currsize,
                  "spawner_made": workers._spawn_requests.cache_info().currsize}))
"""

POOL = """
import json, threading, time
from rewards import TestSpec, compile_feedback, run_tests
from rewards.execution import workers

spec = TestSpec(asserts=("assert f() == 1",))
peak = 0
done = threading.Event()

def sample():
    global peak
    while not done.is_set():
        peak = max(peak, workers._zygotes.alive())
        time.sleep(0.01)

sampler = threading.Thread(target=sample)
sampler.start()
code = "import time\\ndef f():\\n    time.sleep(0.3)\\n    return 1\\n"
res = run_tests("python", [code] * 8, [spec] * 8, workers=6)
done.set()
sampler.join()
java = compile_feedback("java", ["class A {}"])
busy = {"java": workers._workers["java"].running}
node = compile_feedback("javascript", ["let x = 1;"])
busy["node"] = workers._workers["node"].running
time.sleep(4)
idle = {"zygotes": workers._zygotes.alive(), "java": workers._workers["java"].running,
        "node": workers._workers["node"].running,
        "reaper": any(t.name == "ppocoder-reaper" for t in threading.enumerate())}
again = run_tests("python", ["def f():\\n    return 1\\n"], [spec])
print(json.dumps({"outcomes": [r.outcome for r in res + again] + [java[0].outcome, node[0].outcome],
                  "peak": peak, "busy": busy, "idle": idle}))
"""


def run_python(code, tmp_path, **env):
    # cwd: `python -c` puts the working directory first on sys.path; keep the source
    # tree (which has no compiled extension) off it
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         timeout=600, env={**os.environ, **env})
    assert res.returncode == 0, res.stderr[-3000:]
    return json.loads(res.stdout.strip().splitlines()[-1])


def test_import_starts_nothing(tmp_path):
    # nor reads the maximums: a bad one fails the first call that uses it, not the import
    out = run_python(IMPORT_ONLY, tmp_path, PPOCODER_MAX_TIMEOUT_S="bad")
    assert out == {"threads": ["MainThread"], "native_loaded": False, "slots_made": 0, "spawner_made": 0}


def test_zygote_pool_is_bounded_and_idle_workers_stop(tmp_path):
    out = run_python(POOL, tmp_path, PPOCODER_ZYGOTES="2", PPOCODER_WORKER_IDLE_S="1")
    assert out["outcomes"] == ["passed"] * 9 + ["ok", "ok"]
    assert 1 <= out["peak"] <= 2  # 6 callers, at most 2 zygotes
    assert out["busy"] == {"java": True, "node": True}
    assert out["idle"] == {"zygotes": 0, "java": False, "node": False, "reaper": False}
