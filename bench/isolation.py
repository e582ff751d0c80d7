"""What per-run isolation costs: this tree against another checkout, alternating.

Each round runs, in a fresh subprocess with ``PYTHONPATH`` set to one tree, a batch of
warm runs (HumanEval-style Python tests forked from zygotes: per run a fresh PID,
mount and IPC namespace, the memory cgroup join) and a batch of cold runs (C stdin/stdout
tests: one bubblewrap sandbox each, with the seccomp filter and the allow-listed tree),
after one warm-up batch. Rounds alternate the baseline and this tree (A B A B ...); the
printed ratio is the median of the per-round ratios of samples per second (this tree /
baseline: above 1 is faster). Usage:
``python bench/isolation.py --baseline /work/main [--rounds 3] [--samples 64] [--workers 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

CHILD = r"""
import json, sys, time
from rewards import TestSpec, run_tests
n, workers = int(sys.argv[1]), int(sys.argv[2])
py = ["def f(x):\n    return x + %d\n" % k for k in range(n)]
py_tests = [TestSpec(test="def check(c):\n    assert c(1) == %d\n" % (k + 1), entry_point="f") for k in range(n)]
c = ["#include <stdio.h>\nint main(void){int x; scanf(\"%%d\", &x); printf(\"%%d\\n\", x + %d);}\n" % k
     for k in range(n)]
c_tests = [TestSpec.from_io(["1\n"], ["%d\n" % (k + 1)]) for k in range(n)]
run_tests("python", py[:workers * 2], py_tests[:workers * 2], workers=workers)  # warm-up
run_tests("c", c[:2], c_tests[:2], workers=workers)
out = {}
for lang, codes, tests in (("python", py, py_tests), ("c", c, c_tests)):
    start = time.perf_counter()
    res = run_tests(lang, codes, tests, workers=workers)
    out[lang] = len(codes) / (time.perf_counter() - start)
    assert all(r.outcome == "passed" for r in res), [r.messages for r in res if r.outcome != "passed"][:2]
print(json.dumps(out))
"""


def one_round(tree: str, samples: int, workers: int) -> dict[str, float]:
    env = {**os.environ, "PYTHONPATH": tree}
    out = subprocess.run([sys.executable, "-c", CHILD, str(samples), str(workers)], env=env,
                         capture_output=True, text=True, cwd=tree, timeout=1200)
    if out.returncode != 0:
        raise SystemExit(f"{tree}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", required=True, help="the other checkout (e.g. /work/main)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    ratios: dict[str, list[float]] = {"python": [], "c": []}
    for k in range(args.rounds):
        base = one_round(args.baseline, args.samples, args.workers)
        ours = one_round(HERE, args.samples, args.workers)
        for lang in ratios:
            ratios[lang].append(ours[lang] / base[lang])
        print(f"round {k + 1}: baseline {base}  this tree {ours}", flush=True)
    for lang, values in ratios.items():
        kind = "warm (zygote fork)" if lang == "python" else "cold (bubblewrap)"
        print(f"{lang:7s} {kind:20s} throughput this tree / baseline: median {statistics.median(values):.3f} "
              f"(rounds: {', '.join(f'{v:.3f}' for v in values)})")


if __name__ == "__main__":
    main()
