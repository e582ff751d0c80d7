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
