"""`python -m rewards score` and `python -m rewards serve`, run as real processes."""

from __future__ import annotations

import http.client
import json
import signal
import socket
import subprocess
import sys
import time

import pytest

REF = "def inc(a):\n    b = a + 1\n    return b\n"


def _run(args, cwd, stdin=None):
    return subprocess.run([sys.executable, "-m", "rewards", *args], cwd=cwd, input=stdin,
                          capture_output=True, text=True, timeout=300)


def test_score_reads_jsonl_and_prints_one_line_per_sample(tmp_path):
    rows = [
        {"language": "python", "code": REF, "reference": REF},
        {"language": "python", "code": "def inc(a):\n    return (a\n", "reference": REF},
        {"language": "python", "code": "def inc(a):\n    return a + 2\n",
         "tests": {"asserts": ["assert inc(1) == 2"]}},
    ]
    src = tmp_path / "samples.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    done = _run(["score", str(src), "--no-dfg", "--weights", "1,2,0"], tmp_path)
    assert done.returncode == 0, done.stderr
    out = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["outcome"] for r in out] == ["ok", "compile_error", "failed"]
    assert out[0]["total"] == pytest.approx(1.0 + 2.0 * 1.0)
    assert out[0]["dfg"] is None
    assert out[2]["execution"] == pytest.approx(-0.3) and out[2]["pass_ratio"] == 0.0

    piped = _run(["score", "-", "-o", str(tmp_path / "o.jsonl")], tmp_path, stdin=json.dumps(rows[0]))
    assert piped.returncode == 0, piped.stderr
    assert json.loads((tmp_path / "o.jsonl").read_text())["total"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("{bad json\n", "invalid JSON"),
        (json.dumps({"language": "cobol", "code": "x"}) + "\n", "unsupported language"),
        (json.dumps({"language": "python", "code": "x", "tests": {"nope": 1}}) + "\n", "tests"),
    ],
)
def test_score_reports_bad_input_with_status_2(tmp_path, content, fragment):
    src = tmp_path / "bad.jsonl"
    src.write_text(content)
    done = _run(["score", str(src)], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("error:") and fragment in done.stderr
    assert _run(["score", str(tmp_path / "missing.jsonl")], tmp_path).returncode == 2
    assert _run(["score", str(src), "--weights", "1,2"], tmp_path).returncode == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_answers_http_until_interrupted(tmp_path):
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "rewards", "serve", "--port", str(port)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("POST", "/score", json.dumps(
                    {"samples": [{"language": "python", "code": REF, "reference": REF}]}))
                resp = conn.getresponse()
                break
            except ConnectionRefusedError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "server did not start"
                time.sleep(0.2)
        assert resp.status == 200
        assert json.loads(resp.read())["results"][0]["total"] == pytest.approx(3.0)
        conn.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    assert proc.returncode == 0
    assert f"http://127.0.0.1:{port}" in proc.stdout.read()


def test_serve_reports_bad_settings_and_a_busy_port_with_status_2(tmp_path):
    done = _run(["serve", "--max-inflight", "0"], tmp_path)
    assert done.returncode == 2 and "max_inflight must be >= 1" in done.stderr
    done = _run(["serve", "--language", "cobol"], tmp_path)
    assert done.returncode == 2 and "unsupported language 'cobol'" in done.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        done = _run(["serve", "--port", str(busy.getsockname()[1])], tmp_path)
    assert done.returncode == 2 and "cannot serve on 127.0.0.1" in done.stderr
