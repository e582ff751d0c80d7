"""The real server process (``python -m rewards serve``) under RL load: 2,000 mixed requests
from 64 concurrent clients with nothing lost, reset or wrong, and a graceful SIGTERM."""

from __future__ import annotations

import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from contextlib import closing

import pytest

from rewards import RewardConfig, Sample, score

PY_REF = "def add(a, b):\n    total = a + b\n    return total\n"
JAVA_REF = "class A {\n  int add(int a, int b) {\n    int t = a + b;\n    return t;\n  }\n}\n"
MBPP = {"test_list": ["assert add(1, 2) == 3", "assert add(0, 0) == 0"]}
HUMANEVAL = {"test": "def check(candidate):\n    assert candidate(1, 2) == 3\n", "entry_point": "add"}
PROMPT = "<|im_start|>user\nWrite add<|im_end|>\n<|im_start|>assistant\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start_server(tmp_path, *flags: str) -> tuple[subprocess.Popen, tuple[str, int]]:
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rewards", "serve", "--port", str(port), *flags],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                break
        except OSError:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.2)
    return proc, ("127.0.0.1", port)


def _post(conn: http.client.HTTPConnection, path: str, body: bytes | None) -> tuple[int, dict]:
    conn.request("POST" if body is not None else "GET", path, body=body,
                 headers={"Content-Type": "application/json"} if body is not None else {})
    resp = conn.getresponse()
    return resp.status, json.loads(resp.read())


def _comparable(results: list[dict]) -> list[dict]:
    keep = ("total", "execution", "ast", "dfg", "outcome", "pass_ratio")
    return [{k: r[k] for k in keep} for r in results]


def _mixed_requests() -> list[tuple[str, bytes | None, int, object]]:
    """(path, body, expected status, expected answer) of each kind of request; the
    expected scores come from `rewards.score` called directly."""
    config = RewardConfig(timeout_s=30.0)
    score_batches = [
        [Sample("python", PY_REF, reference=PY_REF)],
        [Sample("python", "def add(a, b)\n    return a + b\n", reference=PY_REF)],  # syntax error
        [Sample("python", PY_REF, tests=MBPP)],
        [Sample("python", "def add(a, b):\n    return a - b\n", tests=HUMANEVAL)],
        [Sample("java", JAVA_REF.replace(" t ", " s ").replace("return t;", "return s;"), reference=JAVA_REF)],
        [Sample("python", PY_REF, reference=PY_REF, tests=MBPP),
         Sample("javascript", "let x = 1;\n", reference="let y = 2;\n"),
         Sample("python", "def add(a, b):\n    return (a\n", reference=PY_REF),
         Sample("c", "int add(int a, int b) { return a + b; }\n")],
    ]
    out: list[tuple[str, bytes | None, int, object]] = []
    for batch in score_batches:
        body = {"samples": [{"language": s.language, "code": s.code, "reference": s.reference,
                             "tests": json.dumps(s.tests) if s.tests else None} for s in batch],
                "config": {"timeout_s": 30.0}}
        expected = _comparable([r.to_dict() for r in score(batch, config)])
        out.append(("/score", json.dumps(body).encode(), 200, expected))
    openrlhf = {"query": [PROMPT + PY_REF + "<|im_end|>", PROMPT + "```python\n" + PY_REF + "```<|im_end|>"],
                "prompts": [PROMPT, PROMPT], "labels": [PY_REF, json.dumps({"tests": MBPP})],
                "config": {"timeout_s": 30.0}}
    direct = score([Sample("python", PY_REF, reference=PY_REF), Sample("python", PY_REF, tests=MBPP)], config)
    out.append(("/get_reward", json.dumps(openrlhf).encode(), 200, [r.total for r in direct]))
    # a malformed envelope is a 400 (a sample that cannot be read is only that sample's error)
    bad = {"samples": [{"language": "python", "code": "x = 1\n"}], "config": {"use_ast": "yes"}}
    out.append(("/score", json.dumps(bad).encode(), 400, "config.use_ast: Input should be a valid boolean"))
    out.append(("/health", None, 200, "ok"))
    return out


def _check(path: str, status: int, answer: dict, expected_status: int, expected: object) -> bool:
    if status != expected_status:
        return False
    if path == "/health":
        return answer["status"] == expected
    if status == 400:
        return answer["error"] == expected
    if path == "/get_reward":
        return answer["rewards"] == pytest.approx(expected) and answer["scores"] == answer["rewards"]
    return _comparable(answer["results"]) == expected


def test_2000_mixed_requests_from_64_clients_lose_nothing(tmp_path):
    kinds = _mixed_requests()
    # half the weight on cheap structural requests, the rest spread over the other kinds
    plan = [0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 7, 8]
    total, clients = 2000, 64
    proc, address = _start_server(tmp_path, "--language", "python")
    outcomes: Counter = Counter()
    failures: list[str] = []
    lock = threading.Lock()
    next_index = iter(range(total))

    def client(k: int) -> None:
        conn = http.client.HTTPConnection(*address, timeout=120)
        while True:
            with lock:
                i = next(next_index, None)
            if i is None:
                break
            path, body, want_status, want = kinds[plan[(i + k) % len(plan)]]
            if i % 10 == 0:  # every tenth request on a fresh connection
                conn.close()
                conn = http.client.HTTPConnection(*address, timeout=120)
            try:
                status, answer = _post(conn, path, body)
            except Exception as exc:  # noqa: BLE001 - a reset or a lost answer is what we count
                with lock:
                    outcomes["error"] += 1
                    failures.append(f"{path}: {type(exc).__name__}: {exc}")
                conn.close()
                conn = http.client.HTTPConnection(*address, timeout=120)
                continue
            good = _check(path, status, answer, want_status, want)
            with lock:
                outcomes["ok" if good else "wrong"] += 1
                if not good:
                    failures.append(f"{path}: {status} {str(answer)[:300]}")
        conn.close()

    try:
        start = time.monotonic()
        threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(600)
        elapsed = time.monotonic() - start
        print(f"\n{total} requests, {clients} clients: {dict(outcomes)} in {elapsed:.1f} s "
              f"({total / elapsed:.0f} requests/s)")
        assert outcomes == Counter(ok=total), failures[:10]
        with closing(http.client.HTTPConnection(*address, timeout=30)) as conn:
            conn.request("GET", "/metrics")
            metrics = conn.getresponse().read().decode()
        served = sum(float(line.split()[1]) for line in metrics.splitlines()
                     if line.startswith("ppocoder_requests_total{"))
        assert served >= total
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=120)
    assert proc.returncode == 0, proc.stderr.read()


def test_sigterm_finishes_accepted_requests_and_refuses_new_ones(tmp_path):
    proc, address = _start_server(tmp_path, "--max-inflight", "2")
    slow = json.dumps({"samples": [{"language": "python", "code": PY_REF, "tests": {
        "test_list": ["import time; time.sleep(3)", "assert add(1, 2) == 3"]}}],
        "config": {"timeout_s": 30}}).encode()
    answers: list = []

    def one() -> None:
        with closing(http.client.HTTPConnection(*address, timeout=120)) as conn:
            try:
                answers.append(_post(conn, "/score", slow))
            except Exception as exc:  # noqa: BLE001
                answers.append(exc)

    try:
        threads = [threading.Thread(target=one) for _ in range(3)]  # 2 scoring, 1 queued
        for t in threads:
            t.start()
        deadline = time.monotonic() + 60
        while True:
            with closing(http.client.HTTPConnection(*address, timeout=30)) as conn:
                if _post(conn, "/health", None)[1]["in_flight"] == 3:
                    break
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(proc.pid, signal.SIGTERM)
        refused_by = time.monotonic() + 10
        while True:  # the listening socket closes at once ...
            try:
                socket.create_connection(address, timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < refused_by, "new connections still accepted after SIGTERM"
            time.sleep(0.05)
        for t in threads:
            t.join(120)
        # ... while every accepted request finishes with its real answer
        assert [a[0] for a in answers] == [200, 200, 200], answers
        assert all(a[1]["results"][0]["outcome"] == "passed" for a in answers)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
