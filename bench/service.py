"""The scoring service under load, and what HTTP costs over calling `rewards.score`.

* Overhead: the same batch of 32 samples (16 Python programs with MBPP-style unit tests,
  16 with a reference for AST/data-flow match, a quarter of each broken) scored by
  `rewards.score` in this process (the anchor) and by ``POST /score`` to the real server
  process (``python -m rewards serve``), alternating rounds (anchor, ours, anchor, ...);
  the median of the per-round ratios is the HTTP overhead. Both sides must give the same
  scores; the script checks it.
* Load: 1, 8, 32 and 64 concurrent clients, each with a kept-alive connection, sending
  one-sample requests (the way OpenRLHF calls ``/get_reward``: one query per request)
  for a fixed time; throughput and p50/p99 latency per level, and every answer checked.

* Starvation: one client sends 32 samples that sleep until their timeout (4 s, asking for
  ``threads: 16``); meanwhile another client sends five 1-sample requests, one after
  another; their median latency is the number (target: within 2 s; the server shares its
  workers round-robin between requests, `rewards.execution.scheduler`).

Usage: ``python bench/service.py [--rounds 7] [--seconds 8] [--only starvation]``.
"""

from __future__ import annotations

import argparse
import http.client
import json
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's code, not an installed copy

from rewards import RewardConfig, Sample, score

REF = "def add(a, b):\n    total = a + b\n    return total\n"
TESTS = {"test_list": ["assert add(1, 2) == 3", "assert add(-1, 1) == 0", "assert add(2, 5) == 7"]}


def batch32() -> list[Sample]:
    samples = []
    for k in range(32):
        body = f"def add(a, b):\n    s = a + b  # variant {k}\n    return s\n"
        if k % 4 == 3:
            body = body.replace("return s", "return s -")  # a syntax error
        elif k % 4 == 2:
            body = body.replace("a + b", "a - b")  # wrong answer
        samples.append(Sample("python", body, tests=TESTS) if k < 16 else Sample("python", body, reference=REF))
    return samples


def as_json(samples: list[Sample]) -> bytes:
    return json.dumps({"samples": [{"language": s.language, "code": s.code, "reference": s.reference,
                                    "tests": s.tests} for s in samples]}).encode()


def comparable(results: list[dict]) -> list[tuple]:
    return [(r["total"], r["outcome"], r["ast"], r["dfg"]) for r in results]


def start_server() -> tuple[subprocess.Popen, tuple[str, int]]:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "rewards", "serve", "--port", str(port),
                             "--language", "python"], cwd=tempfile.gettempdir(),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, ("127.0.0.1", port)
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {proc.stderr.read().decode()}") from None
            time.sleep(0.2)


def post(conn: http.client.HTTPConnection, path: str, body: bytes) -> dict:
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
    resp = conn.getresponse()
    data = resp.read()
    if resp.status != 200:
        raise RuntimeError(f"{path}: HTTP {resp.status}: {data[:200]!r}")
    return json.loads(data)


def overhead(address: tuple[str, int], rounds: int) -> None:
    samples = batch32()
    body = as_json(samples)
    conn = http.client.HTTPConnection(*address, timeout=300)
    direct = comparable([r.to_dict() for r in score(samples, RewardConfig())])  # warm both sides
    served = comparable(post(conn, "/score", body)["results"])
    if served != direct:
        raise SystemExit("the server's scores differ from rewards.score's")
    ratios, anchor_times, ours_times = [], [], []
    for _ in range(rounds):
        start = time.perf_counter()
        score(samples, RewardConfig())
        anchor = time.perf_counter() - start
        start = time.perf_counter()
        post(conn, "/score", body)
        ours = time.perf_counter() - start
        anchor_times.append(anchor)
        ours_times.append(ours)
        ratios.append(ours / anchor)
    conn.close()
    ratio = statistics.median(ratios)
    print(f"batch of 32 (16 with unit tests, 16 structural): rewards.score {statistics.median(anchor_times) * 1e3:.0f} ms,"
          f" POST /score {statistics.median(ours_times) * 1e3:.0f} ms; median ratio {ratio:.3f} "
          f"-> HTTP overhead {100 * (ratio - 1):+.1f}% (target <= +10%) over {rounds} rounds")


def load(address: tuple[str, int], clients: int, seconds: float, expected: dict[bytes, float]) -> None:
    bodies = list(expected)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    stop_at = time.monotonic() + seconds

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(*address, timeout=300)
        mine: list[float] = []
        i = k
        while time.monotonic() < stop_at:
            body = bodies[i % len(bodies)]
            i += 1
            start = time.perf_counter()
            try:
                answer = post(conn, "/get_reward", body)
                if answer["rewards"] != [expected[body]]:
                    raise RuntimeError(f"wrong answer {answer['rewards']}")
            except Exception as exc:  # noqa: BLE001 - counted and reported
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(*address, timeout=300)
                continue
            mine.append(time.perf_counter() - start)
        conn.close()
        with lock:
            latencies.extend(mine)

    start = time.monotonic()
    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    latencies.sort()
    p50 = latencies[len(latencies) // 2] if latencies else float("nan")
    p99 = latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] if latencies else float("nan")
    print(f"{clients:3d} clients: {len(latencies) / elapsed:7.1f} requests/s   p50 {p50 * 1e3:7.1f} ms   "
          f"p99 {p99 * 1e3:7.1f} ms   ({len(latencies)} answers, {len(errors)} errors)")
    if errors:
        print("   first errors:", errors[:3])


SLEEPER = "def add(a, b):\n    import time\n    time.sleep(600)\n    return a + b\n"


def starvation(address: tuple[str, int], repeats: int = 5) -> None:
    """The greedy client re-sends its batch until the small requests are done, so each
    small request meets a greedy batch that has held the workers for at least 1 s."""
    greedy = json.dumps({"samples": [{"language": "python", "code": SLEEPER, "tests": TESTS}] * 32,
                         "config": {"threads": 16, "timeout_s": 4}}).encode()
    small = json.dumps({"samples": [{"language": "python", "code": REF, "tests": TESTS}]}).encode()
    began: list[float] = []  # when each greedy request was sent
    took: list[float] = []
    done = threading.Event()
    lock = threading.Lock()

    def send_greedy() -> None:
        conn = http.client.HTTPConnection(*address, timeout=900)
        while not done.is_set():
            start = time.perf_counter()
            with lock:
                began.append(start)
            post(conn, "/score", greedy)
            took.append(time.perf_counter() - start)
            with lock:
                began.append(float("inf"))  # none in flight
        conn.close()

    client = threading.Thread(target=send_greedy)
    client.start()
    latencies = []
    for _ in range(repeats):
        while True:  # wait until a greedy request has been running for 1 s
            with lock:
                since = time.perf_counter() - began[-1] if began else -1.0
            if since >= 1.0:
                break
            time.sleep(0.05)
        conn = http.client.HTTPConnection(*address, timeout=900)
        start = time.perf_counter()
        answer = post(conn, "/score", small)
        latencies.append(time.perf_counter() - start)
        conn.close()
        if answer["results"][0]["outcome"] != "passed":
            raise SystemExit(f"the small request was not scored right: {answer}")
    done.set()
    client.join()
    print(f"starvation: 1-sample request while another client's 32 samples sleep to their 4 s "
          f"timeout (threads 16): median {statistics.median(latencies):.2f} s over {repeats} "
          f"(max {max(latencies):.2f} s; target <= 2 s); one 32-sample request took "
          f"{statistics.median(took):.1f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7, help="overhead rounds (default 7)")
    parser.add_argument("--seconds", type=float, default=8.0, help="seconds per load level (default 8)")
    parser.add_argument("--only", choices=("overhead", "load", "starvation"),
                        help="run one part (default: all)")
    args = parser.parse_args()
    proc, address = start_server()
    try:
        if args.only in (None, "starvation"):
            starvation(address)
        if args.only in (None, "overhead"):
            overhead(address, args.rounds)
        if args.only not in (None, "load"):
            return
        prompt = "<|im_start|>user\nWrite add.<|im_end|>\n<|im_start|>assistant\n"
        queries = {
            "structural": (prompt + REF + "<|im_end|>", REF),
            "tests pass": (prompt + "```python\n" + REF + "```<|im_end|>", json.dumps({"tests": TESTS})),
            "tests fail": (prompt + REF.replace("+", "-") + "<|im_end|>", json.dumps({"tests": TESTS})),
            "compile error": (prompt + "def add(a, b)\n    return a\n<|im_end|>", REF),
        }
        expected = {}
        for query, label in queries.values():
            body = json.dumps({"query": [query], "prompts": [prompt], "labels": [label]}).encode()
            conn = http.client.HTTPConnection(*address, timeout=300)
            expected[body] = post(conn, "/get_reward", body)["rewards"][0]
            conn.close()
        print("load: one-query /get_reward requests (structural, tests pass, tests fail, compile "
              f"error in turn), {args.seconds:g} s per level")
        for clients in (1, 8, 32, 64):
            load(address, clients, args.seconds, expected)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)


if __name__ == "__main__":
    main()
