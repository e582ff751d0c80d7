"""veRL's SandboxFusion rewards against our ``/run_code``, side by side with veRL's own
in-process scorer; prints ratios.

* Scoring: the same 200 APPS-style samples (stdin/stdout problems of 10 kinds, each
  with 4 test cases; 60% right answers, 25% wrong, 15% crashing) scored by veRL's
  ``sandbox_fusion.compute_score`` pointed at our server process (``python -m rewards
  serve``: every test case a ``/run_code`` request, run in our sandbox) and by veRL's
  ``prime_code.compute_score`` (the fallback its default scorer uses without a sandbox
  URL: the candidate runs in a forked process of the scorer, no isolation). Both get
  ``continuous=True`` as veRL's default scorer passes it, and the samples go through one
  at a time, as veRL's naive reward manager sends them. Rounds alternate (prime_code,
  ours, prime_code, ...); the printed ratio is the median of the per-round throughput
  ratios (>1: ours is faster). Both must give the same score to every sample.
* Load: ``/run_code`` requests per second at 1, 8 and 32 concurrent clients (each with a
  kept-alive connection) for a fixed time, a Python program and a C++ one (compiled once,
  then reused for every request with the same source), every answer checked.

Usage: ``python bench/sandbox_fusion.py [--samples 200] [--rounds 3] [--seconds 6]``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import requests
from verl.utils.reward_score import prime_code
from verl.utils.reward_score import sandbox_fusion as verl_sf

# (solution, reference function over the input text) per problem kind
PROBLEMS = [
    ("a, b = map(int, input().split())\nprint(a + b)", lambda s: str(sum(map(int, s.split())))),
    ("xs = list(map(int, input().split()))\nprint(max(xs))", lambda s: str(max(map(int, s.split())))),
    ("s = input().strip()\nprint(s[::-1])", lambda s: s.strip()[::-1]),
    ("print(len(input().split()))", lambda s: str(len(s.split()))),
    ("n = int(input())\nr = 1\nfor i in range(2, n + 1):\n    r = r * i % 1000007\nprint(r)",
     lambda s: str(_fact(int(s)))),
    ("n = int(input())\na, b = 0, 1\nfor _ in range(n):\n    a, b = b, a + b\nprint(a)",
     lambda s: str(_fib(int(s)))),
    ("xs = sorted(map(int, input().split()))\nprint(' '.join(map(str, xs)))",
     lambda s: " ".join(map(str, sorted(map(int, s.split()))))),
    ("s = input().strip()\nprint('YES' if s == s[::-1] else 'NO')",
     lambda s: "YES" if s.strip() == s.strip()[::-1] else "NO"),
    ("import math\na, b = map(int, input().split())\nprint(math.gcd(a, b))",
     lambda s: str(__import__("math").gcd(*map(int, s.split())))),
    ("xs = list(map(int, input().split()))\nacc = 0\nout = []\nfor x in xs:\n    acc += x\n"
     "    out.append(acc)\nprint(' '.join(map(str, out)))", lambda s: " ".join(map(str, _prefix(s)))),
]
INPUTS = [lambda r: f"{r.randint(1, 999)} {r.randint(1, 999)}",
          lambda r: " ".join(str(r.randint(-99, 99)) for _ in range(r.randint(1, 8))),
          lambda r: "".join(r.choice("abc") for _ in range(r.randint(1, 9))),
          lambda r: " ".join("w" * r.randint(1, 4) for _ in range(r.randint(1, 7))),
          lambda r: str(r.randint(1, 300)), lambda r: str(r.randint(1, 60)),
          lambda r: " ".join(str(r.randint(-50, 50)) for _ in range(r.randint(1, 8))),
          lambda r: r.choice(["abba", "abc", "racecar", "xy", "a"]),
          lambda r: f"{r.randint(1, 999)} {r.randint(1, 999)}",
          lambda r: " ".join(str(r.randint(-9, 9)) for _ in range(r.randint(1, 8)))]


def _fact(n: int) -> int:
    r = 1
    for i in range(2, n + 1):
        r = r * i % 1000007
    return r


def _fib(n: int) -> int:
    a, b = 0, 1
    for _ in range(n):
        a, b = b, a + b
    return a


def _prefix(s: str) -> list[int]:
    out, acc = [], 0
    for x in map(int, s.split()):
        acc += x
        out.append(acc)
    return out


def samples(n: int) -> list[tuple[str, dict]]:
    """(completion, test cases) pairs: right, wrong (last line altered) or crashing."""
    rng = random.Random(0)
    out = []
    for k in range(n):
        kind = k % len(PROBLEMS)
        code, solve = PROBLEMS[kind]
        inputs = [INPUTS[kind](rng) for _ in range(4)]
        cases = {"inputs": [i + "\n" for i in inputs], "outputs": [solve(i) + "\n" for i in inputs]}
        pick = rng.random()
        if pick < 0.25:
            code += "\nprint(0)"  # an extra line: wrong on every case
        elif pick < 0.4:
            code = "import sys\n" + code.replace("print(", "print(1 // 0, ", 1)
        out.append((f"```python\n{code}\n```", cases))
    return out


def start_server() -> tuple[subprocess.Popen, str]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "rewards", "serve", "--port", str(port)],
                            cwd=tempfile.gettempdir(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            env={**os.environ, "PYTHONPATH": os.getcwd()})
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}/run_code"
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()}") from None
            time.sleep(0.2)


def score_all(batch: list[tuple[str, dict]], url: str | None) -> tuple[list[float], float]:
    start = time.perf_counter()
    scores = []
    for completion, cases in batch:
        if url:
            scores.append(float(verl_sf.compute_score(url, None, 1024, completion, cases, continuous=True)[0]))
        else:
            scores.append(float(prime_code.compute_score(completion, cases, continuous=True)[0]))
    return scores, time.perf_counter() - start


def bench_scoring(url: str, n: int, rounds: int) -> None:
    batch = samples(n)
    score_all(batch[:10], url)  # warm the server's zygotes
    ratios = []
    for r in range(rounds):
        theirs, t_theirs = score_all(batch, None)
        ours, t_ours = score_all(batch, url)
        agree = sum(a == b for a, b in zip(ours, theirs))
        ratios.append(t_theirs / t_ours)
        print(f"round {r}: prime_code {n / t_theirs:6.1f} samples/s, ours (veRL client -> /run_code) "
              f"{n / t_ours:6.1f} samples/s, ratio {t_theirs / t_ours:.2f}; same score on {agree}/{n}"
              f" (mean {statistics.mean(ours):.3f} vs {statistics.mean(theirs):.3f})", flush=True)
    print(f"scoring throughput, ours / prime_code (median of {rounds} rounds): {statistics.median(ratios):.2f}x")


def load_level(url: str, code: str, language: str, clients: int, seconds: float) -> str:
    """`clients` threads post `code` with fresh stdin until `seconds` pass; one report line."""
    done, wrong, latencies = [0], [0], []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        session = requests.Session()
        k = seed
        while time.monotonic() < stop:
            t0 = time.perf_counter()
            answer = session.post(url, json={"code": code, "language": language,
                                             "stdin": f"{k} {k + 1}"}).json()
            with lock:
                latencies.append(time.perf_counter() - t0)
                done[0] += 1
                wrong[0] += answer["run_result"]["stdout"].strip() != str(2 * k + 1)
            k += 1

    threads = [threading.Thread(target=client, args=(1000 * i,)) for i in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return (f"{clients:2d} clients: {done[0] / elapsed:6.1f} requests/s, "
            f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
            f"p99 {latencies[int(len(latencies) * 0.99)] * 1000:.0f} ms, wrong answers {wrong[0]}")


def bench_load(url: str, seconds: float) -> None:
    programs = {"python": "import sys\nprint(sum(map(int, sys.stdin.read().split())))",
                "cpp": ("#include <iostream>\nint main(){long a,b,s=0;while(std::cin>>a)s+=a;"
                        "std::cout<<s<<std::endl;}")}
    for language, code in programs.items():
        requests.post(url, json={"code": code, "language": language, "stdin": "1 2"})  # build/warm
        for clients in (1, 8, 32):
            print(f"/run_code {language:6s} " + load_level(url, code, language, clients, seconds), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--no-load", action="store_true")
    args = parser.parse_args()
    print(f"cpus: {os.cpu_count()}, load average: {os.getloadavg()[0]:.1f}")
    proc, url = start_server()
    try:
        bench_scoring(url, args.samples, args.rounds)
        if not args.no_load:
            bench_load(url, args.seconds)
    finally:
        proc.terminate()
        proc.wait(60)


if __name__ == "__main__":
    main()
