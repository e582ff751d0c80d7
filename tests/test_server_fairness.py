"""The scoring server under one greedy client: it owns the workers, shares them fairly
between requests, and checks body and field sizes before validating, off the event loop.

Timing checks are lower bounds, or compare a small request against another request's
timeouts, so a loaded machine cannot fail them by being slow.
"""

from __future__ import annotations

import http.client
import json
import subprocess
import sys
import threading
import time

import pytest

from rewards.server import serve_in_thread

SLEEPY = {"test_list": ["import time; time.sleep(1.5)", "assert f(1) == 2"]}
GOOD = "def f(a):\n    return a + 1\n"
LOOP = "def f(a):\n    while True:\n        pass\n"
ASSERTS = {"test_list": ["assert f(1) == 2"]}


def _post(address, path: str, payload) -> tuple[int, dict, float]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    conn = http.client.HTTPConnection(*address, timeout=300)
    start = time.perf_counter()
    try:
        conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
        resp = conn.getresponse()
        answer = json.loads(resp.read() or b"{}")
        return resp.status, answer, time.perf_counter() - start
    finally:
        conn.close()


def _health(address) -> tuple[dict, float]:
    conn = http.client.HTTPConnection(*address, timeout=60)
    start = time.perf_counter()
    try:
        conn.request("GET", "/health")
        return json.loads(conn.getresponse().read()), time.perf_counter() - start
    finally:
        conn.close()


@pytest.fixture(scope="module")
def two_workers():
    srv = serve_in_thread(max_workers=2, max_samples=8, max_field_bytes=1000, max_tests_bytes=2000)
    yield srv.address
    srv.stop()


def test_client_threads_are_capped_by_the_servers_workers(two_workers):
    assert _health(two_workers)[0]["max_workers"] == 2
    samples = [{"language": "python", "code": GOOD, "tests": SLEEPY} for _ in range(4)]
    status, answer, seconds = _post(two_workers, "/score",
                                    {"samples": samples, "config": {"threads": 4096, "timeout_s": 20}})
    assert status == 200, answer
    assert [r["outcome"] for r in answer["results"]] == ["passed"] * 4
    assert seconds >= 3.0  # four 1.5 s runs on two workers: two rounds, whatever threads asked


def test_a_small_request_is_not_starved_by_a_large_slow_one(two_workers):
    loops = [{"language": "python", "code": LOOP, "tests": ASSERTS} for _ in range(6)]
    done: dict[str, float] = {}
    start = time.perf_counter()

    def greedy() -> None:
        status, _, _ = _post(two_workers, "/score", {"samples": loops,
                                                     "config": {"threads": 16, "timeout_s": 4}})
        done["greedy"] = time.perf_counter() - start
        done["status"] = status

    client = threading.Thread(target=greedy)
    client.start()
    time.sleep(1.0)
    status, answer, small = _post(two_workers, "/score", {"samples": [
        {"language": "python", "code": GOOD, "tests": ASSERTS}]})
    client.join()
    assert status == 200 and answer["results"][0]["outcome"] == "passed"
    assert done["status"] == 200 and done["greedy"] >= 12  # 6 loops of 4 s on 2 workers
    assert small < 4  # answered within one of the greedy request's runs, not after them
    assert 1.0 + small < done["greedy"]


@pytest.mark.parametrize("path, payload, fragment", [
    ("/score", {"samples": [{"language": "python", "code": GOOD}] * 9}, "samples: 9 entries"),
    ("/score", {"samples": [{"language": "python", "code": GOOD, "code_prefix": "#" * 1001}]},
     "samples[0].code_prefix: 1001 bytes"),
    ("/score", {"samples": [{"language": "python", "code": "s = '" + "€" * 400 + "'"}]},
     "samples[0].code: 1206 bytes"),  # UTF-8 bytes, not characters
    ("/score", {"samples": [{"language": "python", "code": GOOD, "reference": "x" * 2000}]},
     "samples[0].reference"),
    ("/score", {"samples": [{"language": "python", "code": GOOD,
                             "tests": {"test_list": ["assert True"] * 300}}]}, "samples[0].tests"),
    ("/get_reward", {"query": ["x" * 1001], "language": "python"}, "query[0]: 1001 bytes"),
    ("/get_reward", {"query": [GOOD], "labels": [{"tests": {"test_list": ["assert 1"] * 300}}],
                     "language": "python"}, "labels[0].tests"),
    ("/get_reward", {"query": [GOOD], "labels": [json.dumps({"tests": ["x" * 3000]})],
                     "language": "python"}, "labels[0]"),
])
def test_sizes_over_the_limits_are_400_naming_the_field(two_workers, path, payload, fragment):
    status, answer, _ = _post(two_workers, path, payload)
    assert status == 400 and fragment in answer["error"], answer
    assert "--max-" in answer["error"]


def test_requests_within_the_limits_still_score(two_workers):
    status, answer, _ = _post(two_workers, "/score", {"samples": [
        {"language": "python", "code": GOOD, "tests": ASSERTS}] * 8})
    assert status == 200 and [r["outcome"] for r in answer["results"]] == ["passed"] * 8
    status, answer, _ = _post(two_workers, "/get_reward", {
        "query": [GOOD], "labels": [json.dumps({"tests": ASSERTS})], "language": "python"})
    assert status == 200 and answer["rewards"] == [1.0]


@pytest.fixture(scope="module")
def defaults():
    srv = serve_in_thread()
    yield srv.address
    srv.stop()


@pytest.fixture(scope="module")
def own_process():
    """`python -m rewards serve` with its defaults, in its own process: a server sharing the
    test's interpreter would stall the test's own clock along with it."""
    proc = subprocess.Popen([sys.executable, "-m", "rewards", "serve", "--port", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert "http://" in line, line
        host, port = line.strip().rsplit("//", 1)[1].rsplit(":", 1)
        yield host, int(port)
    finally:
        proc.terminate()
        proc.wait(60)


def test_health_answers_while_a_maximum_size_body_is_parsed(own_process):
    """63 MB of tiny samples: decoding alone takes seconds, on another process; the event
    loop keeps answering, and the body is refused for its sample count."""
    defaults = own_process
    body = json.dumps({"samples": [{"language": "python", "code": "x=1"}] * 1_700_000}).encode()
    assert 60 << 20 < len(body) < 64 << 20
    result: dict[str, object] = {}

    def send() -> None:
        result["answer"] = _post(defaults, "/score", body)

    sender = threading.Thread(target=send)
    sender.start()
    latencies = []
    while sender.is_alive():
        latencies.append(_health(defaults)[1])
        time.sleep(0.1)
    status, answer, seconds = result["answer"]  # type: ignore[misc]
    assert status == 400 and "samples: 1700000 entries" in answer["error"]
    assert len(latencies) >= 3 and max(latencies) < 1.0, (max(latencies), seconds)


def test_large_bodies_parse_in_the_parser_process(defaults):
    big = "x = 1\n" * 150_000  # 900 kB: a large body within the field limit
    off = {"use_execution": False, "use_ast": False, "use_dfg": False}
    status, answer, _ = _post(defaults, "/score", {"samples": [{"language": "python", "code": big}] * 2,
                                                   "config": off})
    assert status == 200 and [r["outcome"] for r in answer["results"]] == ["not_run"] * 2
    status, answer, seconds = _post(defaults, "/score", {"samples": [
        {"language": "python", "code": "pass\n", "code_prefix": "#" * (10 << 20)}]})
    assert status == 400 and "samples[0].code_prefix" in answer["error"]
