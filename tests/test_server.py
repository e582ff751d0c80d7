"""The HTTP scoring server, started for real on a loopback port."""

from __future__ import annotations

import http.client
import json

import pytest

from rewards.server import serve_in_thread

REF = "def f(a):\n    b = a + 1\n    return b\n"


@pytest.fixture(scope="module")
def server():
    srv, thread = serve_in_thread("127.0.0.1", 0)
    yield srv.server_address
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def _request(address, method, path, body=None, headers=None):
    conn = http.client.HTTPConnection(*address, timeout=60)
    try:
        conn.request(method, path, body=body, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read() or b"{}")
    finally:
        conn.close()


def test_health_lists_languages(server):
    status, body = _request(server, "GET", "/health")
    assert status == 200 and body["status"] == "ok"
    assert {"python", "java", "cpp", "c", "c_sharp", "javascript", "php"} <= set(body["languages"])


def test_score_returns_one_breakdown_per_sample(server):
    payload = {
        "samples": [
            {"language": "python", "code": REF, "reference": REF},
            {"language": "python", "code": "def f(a):\n  return (a\n", "reference": REF},
        ],
        "config": {"use_dfg": False, "ast_weight": 2},
    }
    status, body = _request(server, "POST", "/score", json.dumps(payload))
    assert status == 200, body
    good, bad = body["results"]
    assert good["execution"] == 1.0 and good["ast"] == 1.0 and good["dfg"] is None
    assert good["total"] == pytest.approx(3.0)
    assert bad["outcome"] == "compile_error" and bad["execution"] == -1.0


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{not json", "invalid JSON"),
        (b"\xff\xfe", "invalid JSON"),
        (b"[]", "JSON object"),
        (json.dumps({"samples": "x"}).encode(), "'samples' must be a list"),
        (json.dumps({"samples": [{"language": "cobol", "code": "x"}]}).encode(), "unsupported language"),
        (json.dumps({"samples": [{"language": "python"}]}).encode(), "code must be a string"),
        (json.dumps({"samples": [{"language": "python", "code": "x", "extra": 1}]}).encode(), "unknown fields"),
        (json.dumps({"samples": [], "config": {"nope": 1}}).encode(), "unknown fields"),
        (json.dumps({"samples": [], "config": {"use_ast": "yes"}}).encode(), "must be a bool"),
        (json.dumps({"samples": [], "config": {"execution_values": {"nope": 1}}}).encode(), "unknown fields"),
        (json.dumps({"samples": [], "config": {"execution_values": {"failed": "x"}}}).encode(), "must be a number"),
    ],
)
def test_malformed_requests_get_400_and_the_server_survives(server, body, fragment):
    status, answer = _request(server, "POST", "/score", body, {"Content-Type": "application/json"})
    assert status == 400
    assert fragment in answer["error"]
    assert _request(server, "GET", "/health")[0] == 200


def test_oversized_body_is_refused_without_reading_it(server):
    status, answer = _request(server, "POST", "/score", b"{}", {"Content-Length": str(10**12)})
    assert status == 413 and "body over" in answer["error"]


def test_unknown_endpoint_is_404(server):
    assert _request(server, "GET", "/nope")[0] == 404
    assert _request(server, "POST", "/nope", b"{}")[0] == 404


def test_execution_values_travel_in_the_config(server):
    payload = {"samples": [{"language": "python", "code": "def f(a):\n  return (a\n"}],
               "config": {"execution_values": {"compile_error": -5}}}
    status, body = _request(server, "POST", "/score", json.dumps(payload))
    assert status == 200, body
    assert body["results"][0]["execution"] == -5.0


@pytest.fixture(scope="module")
def python_server():
    srv, thread = serve_in_thread("127.0.0.1", 0, default_language="python")
    yield srv.server_address
    srv.shutdown()
    srv.server_close()
    thread.join(timeout=5)


def test_openrlhf_get_reward_protocol(python_server):
    prompt = "Complete the function:\n"
    payload = {
        "query": [prompt + "```python\n" + REF + "```", prompt + "def f(a):\n  return (a\n"],
        "prompts": [prompt, prompt],
        "labels": [REF, REF],
    }
    status, body = _request(python_server, "POST", "/get_reward", json.dumps(payload))
    assert status == 200, body
    assert body["rewards"] == body["scores"]
    assert body["rewards"][0] == pytest.approx(3.0)
    assert body["extra_logs"]["execution"] == [1.0, -1.0]
    assert body["rewards"][1] < 1.0
    # a language in the body wins over the server's default
    java = {"query": ["class A { int f(int a) { return a; } }"], "language": "java",
            "config": {"use_ast": False, "use_dfg": False}}
    status, body = _request(python_server, "POST", "/get_reward", json.dumps(java))
    assert status == 200 and body["rewards"] == [1.0]


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        ({"prompts": []}, "'query' list"),
        ({"query": ["x"], "prompts": ["a", "b"]}, "lists of 1 entries"),
        ({"query": ["x"], "language": "cobol"}, "unsupported language"),
        ({"query": [1]}, "must be strings"),
        ({"query": ["x"], "labels": [3]}, "labels[0]"),
    ],
)
def test_openrlhf_bad_requests(python_server, payload, fragment):
    status, body = _request(python_server, "POST", "/get_reward", json.dumps(payload))
    assert status == 400 and fragment in body["error"]


def test_openrlhf_without_any_language_is_a_clear_error(server):
    status, body = _request(server, "POST", "/get_reward", json.dumps({"query": ["x = 1"]}))
    assert status == 400 and "no language" in body["error"]
