"""The HTTP scoring server (uvicorn + FastAPI), started for real on a loopback port."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time

import pytest

from rewards.server import serve_in_thread

REF = "def f(a):\n    b = a + 1\n    return b\n"
SLOW_TESTS = {"test_list": ["import time; time.sleep(2)", "assert f(1) == 2"]}


@pytest.fixture(scope="module")
def server():
    srv = serve_in_thread()
    yield srv.address
    srv.stop()


def _request(address, method, path, body=None, headers=None, conn=None):
    own = conn is None
    conn = conn or http.client.HTTPConnection(*address, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        data = resp.read()
        ctype = resp.getheader("Content-Type", "")
        return resp.status, (json.loads(data or b"{}") if "json" in ctype else data.decode()), resp
    finally:
        if own:
            conn.close()


def test_health_lists_languages(server):
    status, body, _ = _request(server, "GET", "/health")
    assert status == 200 and body["status"] == "ok"
    assert {"python", "java", "cpp", "c", "c_sharp", "javascript", "php"} <= set(body["languages"])


def test_score_returns_one_breakdown_per_sample(server):
    payload = {
        "samples": [
            {"language": "python", "code": REF, "reference": REF},
            {"language": "python", "code": "def f(a):\n  return (a\n", "reference": REF},
            {"language": "python", "code": REF, "tests": json.dumps({"test_list": ["assert f(1) == 2"]})},
        ],
        "config": {"use_dfg": False, "ast_weight": 2},
    }
    # the body is JSON whatever the Content-Type says (curl -d sends a form type)
    status, body, _ = _request(server, "POST", "/score", json.dumps(payload),
                               {"Content-Type": "application/x-www-form-urlencoded"})
    assert status == 200, body
    good, bad, tested = body["results"]
    assert good["execution"] == 1.0 and good["ast"] == 1.0 and good["dfg"] is None
    assert good["total"] == pytest.approx(3.0)
    assert bad["outcome"] == "compile_error" and bad["execution"] == -1.0
    assert tested["outcome"] == "passed" and tested["pass_ratio"] == 1.0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "invalid JSON"),
        (b"", "invalid JSON"),
        (b"[]", "Input should be an object"),
        (json.dumps({"samples": [], "config": {"use_ast": "yes"}}).encode(), "config.use_ast"),
        (json.dumps({"samples": [{"language": "python", "code": "x"}], "config": {"timeout_s": -1}}).encode(),
         "timeout"),
    ],
)
def test_malformed_requests_get_400_and_the_server_survives(server, body, fragment):
    status, answer, _ = _request(server, "POST", "/score", body, {"Content-Type": "application/json"})
    assert status == 400, answer
    assert fragment in answer["error"]
    assert _request(server, "GET", "/health")[0] == 200


@pytest.mark.parametrize(
    ("sample", "fragment"),
    [
        ({"language": "cobol", "code": "x"}, "unsupported language"),
        ({"language": "python", "code": "x", "tests": [1, 2]}, "samples[0].tests"),
        ({"language": "python", "code": "x", "tests": {"stdio": 5}}, "samples[0].tests"),
        ({"language": "python"}, "samples[0]: give exactly one of 'code'"),
    ],
)
def test_a_sample_that_cannot_be_read_is_that_samples_error(server, sample, fragment):
    good = {"language": "python", "code": "x = 1\n"}
    body = json.dumps({"samples": [sample, good]}).encode()
    status, answer, _ = _request(server, "POST", "/score", body, {"Content-Type": "application/json"})
    assert status == 200, answer
    bad, scored = answer["results"]
    assert bad["outcome"] == "invalid" and bad["total"] == -1.0 and fragment in bad["errors"][0]
    assert scored["outcome"] == "ok" and scored["total"] == 1.0
    reward = {"query": ["x = 1\n", "y = 2\n"], "labels": [{"language": "cobol"}, None], "language": "python"}
    status, answer, _ = _request(server, "POST", "/get_reward", json.dumps(reward).encode(),
                                 {"Content-Type": "application/json"})
    assert status == 200 and answer["rewards"] == [-1.0, 1.0]


def test_a_declared_oversized_body_gets_a_readable_413(server):
    status, answer, _ = _request(server, "POST", "/score", b"{}", {"Content-Length": str(10**12)})
    assert status == 413 and "over the limit" in answer["error"]


def test_a_70_mb_body_sent_whole_gets_a_readable_413_on_a_connection_that_stays_usable(server):
    conn = http.client.HTTPConnection(*server, timeout=120)
    try:
        body = b'{"samples": [], "pad": "' + b"x" * (70 * 2**20) + b'"}'
        status, answer, _ = _request(server, "POST", "/score", body, conn=conn)
        assert status == 413 and "67108864" in answer["error"]
        assert _request(server, "GET", "/health", conn=conn)[0] == 200  # same connection
    finally:
        conn.close()


def test_a_chunked_body_over_the_limit_gets_413():
    srv = serve_in_thread(max_body_bytes=1000)
    try:
        chunks = (b"x" * 300 for _ in range(10))
        conn = http.client.HTTPConnection(*srv.address, timeout=30)
        conn.request("POST", "/score", body=chunks, encode_chunked=True)
        resp = conn.getresponse()
        assert resp.status == 413 and b"over the limit of 1000 bytes" in resp.read()
        conn.close()
    finally:
        srv.stop()


def test_unknown_endpoint_is_404(server):
    assert _request(server, "GET", "/nope")[0] == 404
    assert _request(server, "POST", "/nope", b"{}")[0] == 404


def test_keep_alive_serves_many_requests_on_one_connection(server):
    conn = http.client.HTTPConnection(*server, timeout=60)
    try:
        payload = json.dumps({"samples": [{"language": "python", "code": REF, "reference": REF}]})
        for _ in range(5):
            status, body, resp = _request(server, "POST", "/score", payload, conn=conn)
            assert status == 200 and body["results"][0]["total"] == pytest.approx(3.0)
            assert resp.getheader("Connection") != "close"
        local = conn.sock.getsockname()
        assert _request(server, "GET", "/health", conn=conn)[0] == 200
        assert conn.sock.getsockname() == local  # still the same socket
    finally:
        conn.close()


def test_saturated_server_answers_503_with_retry_after():
    srv = serve_in_thread(max_inflight=1, max_queue=0)
    try:
        slow = json.dumps({"samples": [{"language": "python", "code": REF, "tests": SLOW_TESTS}],
                           "config": {"timeout_s": 20}})
        first: list = []
        worker = threading.Thread(target=lambda: first.append(_request(srv.address, "POST", "/score", slow)))
        worker.start()
        deadline = time.monotonic() + 20
        while _request(srv.address, "GET", "/health")[1]["in_flight"] < 1:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        status, answer, resp = _request(srv.address, "POST", "/score", slow)
        assert status == 503 and "busy" in answer["error"]
        assert resp.getheader("Retry-After") == "1"
        worker.join(60)
        assert first[0][0] == 200 and first[0][1]["results"][0]["outcome"] == "passed"
        assert _request(srv.address, "POST", "/score", slow)[0] == 200  # free again
    finally:
        srv.stop()


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1024) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def test_slow_and_idle_clients_are_cut_off():
    srv = serve_in_thread(read_timeout_s=1.0, keep_alive_s=1.0)
    try:
        silent = socket.create_connection(srv.address)  # connects, never sends
        slowloris = socket.create_connection(srv.address)
        slowloris.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\n")  # and never finishes the head
        trickle = socket.create_connection(srv.address)
        trickle.sendall(b"POST /score HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
        start = time.monotonic()
        for sock in (silent, slowloris, trickle):
            assert _closed_within(sock, 10), "a stalled connection was kept open"
            sock.close()
        assert time.monotonic() - start < 10
        conn = http.client.HTTPConnection(*srv.address, timeout=30)
        assert _request(srv.address, "GET", "/health", conn=conn)[0] == 200
        assert _closed_within(conn.sock, 10)  # idle keep-alive connection closed by the server
        conn.close()
        assert _request(srv.address, "GET", "/health")[0] == 200  # and the server is fine
    finally:
        srv.stop()


def test_openapi_schema_describes_the_endpoints(server):
    status, schema, _ = _request(server, "GET", "/openapi.json")
    assert status == 200
    assert {"/score", "/get_reward", "/health", "/metrics"} <= set(schema["paths"])
    body = schema["paths"]["/score"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/ScoreRequest"}
    components = schema["components"]["schemas"]
    assert {"samples", "config"} <= set(components["ScoreRequest"]["properties"])
    assert {"query", "prompts", "labels"} <= set(components["RewardRequest"]["properties"])
    assert "use_dfg" in components["RewardConfigFields"]["properties"]


def test_prometheus_metrics(server):
    _request(server, "POST", "/score", json.dumps({"samples": [{"language": "python", "code": REF}]}))
    _request(server, "POST", "/score", b"{bad")
    status, text, _ = _request(server, "GET", "/metrics")
    assert status == 200
    lines = text.splitlines()
    assert any(line.startswith('ppocoder_requests_total{endpoint="/score",status="200"}') for line in lines)
    assert any(line.startswith('ppocoder_requests_total{endpoint="/score",status="400"}') for line in lines)
    assert any(line.startswith('ppocoder_request_seconds_bucket{endpoint="/score"') for line in lines)
    assert any(line.startswith('ppocoder_samples_total{outcome="ok"}') for line in lines)
    assert 'ppocoder_requests_in_flight{state="scoring"} 0.0' in lines
    assert 'ppocoder_requests_in_flight{state="queued"} 0.0' in lines
    live = next(line for line in lines if line.startswith("ppocoder_sandbox_processes "))
    assert float(live.split()[1]) >= 0


@pytest.fixture(scope="module")
def python_server():
    srv = serve_in_thread(default_language="python")
    yield srv.address
    srv.stop()


def test_openrlhf_get_reward_protocol(python_server):
    prompt = "<|im_start|>user\nComplete the function<|im_end|>\n<|im_start|>assistant\n"
    payload = {
        "query": [prompt + "```python\n" + REF + "```<|im_end|>",
                  prompt + "def f(a):\n  return (a\n<|im_end|>",
                  prompt + REF + "<|im_end|>",  # unfenced, ends in the EOS token's text
                  prompt + "```java\nclass A { int f(int a) { return a; } }\n```<|im_end|>",
                  prompt + REF + "<|endoftext|>"],
        "prompts": [prompt] * 5,
        "labels": [REF, REF, REF, "", {"reference": REF, "tests": {"test_list": ["assert f(1) == 2"]}}],
    }
    status, body, _ = _request(python_server, "POST", "/get_reward", json.dumps(payload))
    assert status == 200, body
    assert body["rewards"] == body["scores"]
    assert body["rewards"][0] == pytest.approx(3.0)
    assert body["rewards"][2] == pytest.approx(3.0)
    # the java answer on a python server is scored as python (a compile error): the task's
    # language wins over a fence tag
    assert body["extra_logs"]["execution"] == [1.0, -1.0, 1.0, -1.0, 1.0]
    assert body["rewards"][1] < 1.0
    assert body["rewards"][3] == -1.0  # a java fence on a python server: a python compile error
    assert body["rewards"][4] == pytest.approx(3.0)  # tests passed + ast + dfg
    # a language in the body wins over the server's default
    java = {"query": ["class A { int f(int a) { return a; } }"], "language": "java",
            "config": {"use_ast": False, "use_dfg": False}}
    status, body, _ = _request(python_server, "POST", "/get_reward", json.dumps(java))
    assert status == 200 and body["rewards"] == [1.0]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"prompts": []}, "query: Field required"),
        ({"query": ["x"], "prompts": ["a", "b"]}, "prompts: 2 entries for 1 queries"),
        ({"query": ["x"], "language": "cobol"}, "unsupported language"),
        ({"query": [1]}, "query[0]: Input should be a valid string"),
    ],
)
def test_openrlhf_bad_requests(python_server, payload, fragment):
    status, body, _ = _request(python_server, "POST", "/get_reward", json.dumps(payload))
    assert status == 400 and fragment in body["error"]


@pytest.mark.parametrize("label", [3, {"tests": 3}, {"language": "cobol"}])
def test_openrlhf_a_label_that_cannot_be_read_is_that_samples_error(python_server, label):
    payload = {"query": ["x = 1\n", "y = 2\n"], "labels": [label, None]}
    status, body, _ = _request(python_server, "POST", "/get_reward", json.dumps(payload))
    assert status == 200 and body["rewards"] == [-1.0, 1.0]


def test_openrlhf_without_any_language_is_that_samples_error(server):
    status, body, _ = _request(server, "POST", "/get_reward", json.dumps({"query": ["x = 1"]}))
    assert status == 200 and body["rewards"] == [-1.0]
