"""SandboxFusion's /run_code served by our server, judged by veRL's own client.

veRL's `sandbox_fusion` module (installed with --no-deps by scripts/test.sh) posts each
test case to the URL and turns the answer into True / False / -2 (runtime error) /
-3 (timeout) / -4 (compile error); these tests point it at a real `serve_in_thread`
server and check that every case lands where veRL expects it, in every language.
"""

from __future__ import annotations

import base64
import json
import threading

import pytest
import requests

# veRL 0.9.1 goes in with --no-deps (scripts/test.sh)
from verl.utils.reward_score import default_compute_score
from verl.utils.reward_score import sandbox_fusion as verl_sf
from verl.utils.reward_score.sandbox_fusion.utils import call_sandbox_api, check_correctness

from rewards.server import serve_in_thread


@pytest.fixture(scope="module")
def url():
    running = serve_in_thread()
    yield running.url + "/run_code"
    running.stop()


# Programs that read two integers and print their sum; a wrong one prints the difference,
# a crashing one divides by zero or indexes out of range, a looping one never ends.
SUM = {
    "python": {"right": "a, b = map(int, input().split())\nprint(a + b)",
               "wrong": "a, b = map(int, input().split())\nprint(a - b)",
               "crash": "a, b = map(int, input().split())\nprint(a // 0)",
               "loop": "while True:\n    pass",
               "broken": "def f(:\n    pass"},
    "cpp": {"right": "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a+b<<\"\\n\";}",
            "wrong": "#include <iostream>\nint main(){long a,b;std::cin>>a>>b;std::cout<<a-b<<\"\\n\";}",
            "crash": "#include <cstdlib>\nint main(){abort();}",
            "loop": "int main(){volatile int x=0; for(;;) x++;}",
            "broken": "int main(){ return undefined_name; }"},
    "java": {"right": "import java.util.*;\npublic class Main{public static void main(String[] x){"
                      "Scanner s=new Scanner(System.in);long a=s.nextLong(),b=s.nextLong();"
                      "System.out.println(a+b);}}",
             "wrong": "import java.util.*;\npublic class Main{public static void main(String[] x){"
                      "Scanner s=new Scanner(System.in);long a=s.nextLong(),b=s.nextLong();"
                      "System.out.println(a-b);}}",
             "crash": "public class Main{public static void main(String[] x){int[] a=new int[1];"
                      "System.out.println(a[5]);}}",
             "loop": "public class Main{public static void main(String[] x){while(true){}}}",
             "broken": "public class Main{public static void main(String[] x){int y = \"s\";}}"},
    "go": {"right": "package main\nimport \"fmt\"\nfunc main(){var a,b int\nfmt.Scan(&a,&b)\nfmt.Println(a+b)}",
           "wrong": "package main\nimport \"fmt\"\nfunc main(){var a,b int\nfmt.Scan(&a,&b)\nfmt.Println(a-b)}",
           "crash": "package main\nfunc main(){var s []int\n_ = s[3]}",
           "loop": "package main\nfunc main(){for {}}",
           "broken": "package main\nimport \"fmt\"\nfunc main(){ x := 1 }"},
    "rust": {"right": "use std::io::*;\nfn main(){let mut s=String::new();stdin().read_to_string(&mut s).unwrap();"
                      "let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();"
                      "println!(\"{}\",v[0]+v[1]);}",
             "wrong": "use std::io::*;\nfn main(){let mut s=String::new();stdin().read_to_string(&mut s).unwrap();"
                      "let v:Vec<i64>=s.split_whitespace().map(|x|x.parse().unwrap()).collect();"
                      "println!(\"{}\",v[0]-v[1]);}",
             "crash": "fn main(){let v: Vec<i32> = Vec::new(); println!(\"{}\", v[3]);}",
             "loop": "fn main(){loop {}}",
             "broken": "fn main(){ let x: i32 = \"s\"; }"},
    "typescript": {"right": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
                            "console.log(a + b);",
                   "wrong": "const [a, b] = require('fs').readFileSync(0, 'utf8').trim().split(/\\s+/).map(Number);\n"
                            "console.log(a - b);",
                   "crash": "throw new Error('boom');",
                   "loop": "while (true) {}",
                   "broken": "const x: number = 'text';\nconsole.log(x);"},
}
CASES = {"inputs": ["1 2\n", "40 2\n", "-5 5\n"], "outputs": ["3\n", "42\n", "0\n"]}
EXPECTED = {"right": [True, True, True], "wrong": [False, False, False],
            "crash": [-2, -2, -2], "loop": [-3, -3, -3], "broken": [-4, -4, -4]}


@pytest.mark.parametrize("kind", list(EXPECTED))
@pytest.mark.parametrize("language", list(SUM))
def test_verl_check_correctness_classifies_every_case(url, language, kind):
    results, metadata = check_correctness(url, CASES, SUM[language][kind], timeout=3,
                                          language=language)
    expected = EXPECTED[kind]
    if kind == "broken" and language == "python":
        expected = [-2, -2, -2]  # SandboxFusion has no compile step for Python: `python x.py` exits 1
    assert results == expected, [m.get("status") for m in metadata]
    if kind == "broken" and language != "python":
        assert metadata[0]["compile_status"] == "Finished" and metadata[0]["compile_stderr"]


def test_verl_compute_score_stdin_and_continuous(url):
    right = f"```python\n{SUM['python']['right']}\n```"
    wrong = f"```python\n{SUM['python']['wrong']}\n```"
    sem = threading.Semaphore(8)
    assert verl_sf.compute_score(url, sem, 1024, right, json.dumps(CASES))[0] == 1.0
    assert verl_sf.compute_score(url, sem, 1024, wrong, CASES)[0] == 0.0
    half = {"inputs": ["0 0\n", "1 2\n"], "outputs": ["0\n", "3\n"]}  # a - b is right for 0 0
    assert verl_sf.compute_score(url, sem, 1024, wrong, half, continuous=True)[0] == 0.5


def test_verl_call_based_problems_through_its_python_wrapper(url):
    code = "class Solution:\n    def add(self, a, b):\n        return a + b\n"
    cases = {"fn_name": "add", "inputs": ["1\n2", "[1]\n[2]", "5\n7"], "outputs": ["3", "[1, 2]", "12"]}
    assert check_correctness(url, cases, code, timeout=5)[0] == [True, True, True]
    wrong = "def add(a, b):\n    return a * b\n"
    # [1] * [2] raises: veRL's wrapper reports it on stderr and prints nothing (a wrong answer)
    assert check_correctness(url, cases, wrong, timeout=5)[0] == [False, False, False]
    dying = "import os\ndef add(a, b):\n    os._exit(4)\n"
    assert check_correctness(url, cases, dying, timeout=5)[0] == [-2, -2, -2]
    looping = "def add(a, b):\n    while True:\n        pass\n"
    assert check_correctness(url, {**cases, "inputs": cases["inputs"][:1], "outputs": ["3"]},
                             looping, timeout=2)[0] == [-3]


@pytest.mark.parametrize("source", ["codecontests", "apps", "codeforces", "taco"])
def test_verl_default_compute_score_uses_our_server(url, source):
    sem = threading.Semaphore(4)
    right = f"```python\n{SUM['python']['right']}\n```"
    crash = f"```python\n{SUM['python']['crash']}\n```"
    truth = json.dumps(CASES)
    assert default_compute_score(source, right, truth, sandbox_fusion_url=url,
                                 concurrent_semaphore=sem, memory_limit_mb=1024) == 1.0
    assert default_compute_score(source, crash, truth, sandbox_fusion_url=url,
                                 concurrent_semaphore=sem, memory_limit_mb=1024) == 0.0


def test_scores_match_verls_in_process_prime_code_scorer(url):
    from verl.utils.reward_score import prime_code

    half = {"inputs": ["0 0\n", "1 2\n"], "outputs": ["0\n", "3\n"]}
    for kind in ("right", "wrong", "crash"):
        answer = f"```python\n{SUM['python'][kind]}\n```"
        for cases in (CASES, half):
            ours = verl_sf.compute_score(url, None, 1024, answer, cases, continuous=True)[0]
            theirs = float(prime_code.compute_score(answer, cases, continuous=True)[0])
            assert ours == pytest.approx(theirs), (kind, cases)


def test_call_sandbox_api_answer_shape(url):
    answer, error = call_sandbox_api(url, "import sys\nprint(sys.stdin.read().upper(), end='')\n"
                                     "print('e', file=sys.stderr)", "abc", 5, 5, 256)
    assert error is None
    assert answer["status"] == "Success" and answer["message"] == ""
    assert answer["compile_result"] is None and answer["files"] == {}
    assert "executor_pod_name" in answer
    run = answer["run_result"]
    assert run["status"] == "Finished" and run["return_code"] == 0
    assert run["stdout"] == "ABC" and run["stderr"] == "e\n" and run["execution_time"] > 0


def test_compile_answer_shapes(url):
    ok = requests.post(url, json={"code": SUM["cpp"]["right"], "language": "cpp", "stdin": "2 2"}).json()
    assert ok["status"] == "Success" and ok["compile_result"]["return_code"] == 0
    assert ok["run_result"]["stdout"] == "4\n"
    bad = requests.post(url, json={"code": SUM["cpp"]["broken"], "language": "cpp"}).json()
    assert bad["status"] == "Failed" and bad["run_result"] is None
    assert bad["compile_result"]["status"] == "Finished" and bad["compile_result"]["return_code"] != 0
    assert "undefined_name" in bad["compile_result"]["stderr"]
    slow = requests.post(url, json={"code": SUM["cpp"]["loop"], "language": "cpp",
                                    "run_timeout": 1}).json()
    assert slow["status"] == "Failed" and slow["run_result"]["status"] == "TimeLimitExceeded"
    assert slow["run_result"]["return_code"] is None


@pytest.mark.parametrize("language", ["lua", "cobol", "sql"])
def test_a_language_we_do_not_run_gets_sandbox_errors_own_answer(url, language):
    reply = requests.post(url, json={"code": "print(1)", "language": language})
    assert reply.status_code == 200
    answer = reply.json()
    assert answer["status"] == "SandboxError" and "not supported" in answer["message"]
    assert answer["compile_result"] is None and answer["run_result"] is None
    results, _ = check_correctness(url, {"inputs": [""], "outputs": ["1"]}, "print(1)",
                                   language="lua")
    assert results == [-1]  # veRL's answer to a sandbox error


@pytest.mark.parametrize("body", [b"{not json", b"[]", json.dumps({"language": "python"}).encode(),
                                  json.dumps({"code": "1", "language": "python",
                                              "run_timeout": -1}).encode(),
                                  json.dumps({"code": "1", "language": "python",
                                              "files": {"../x": "AA=="}}).encode()])
def test_malformed_bodies_get_400_and_the_server_survives(url, body):
    reply = requests.post(url, data=body, headers={"Content-Type": "application/json"})
    assert reply.status_code == 400 and reply.json()["error"]
    assert requests.post(url, json={"code": "print(2)", "language": "python"}).json()["status"] == "Success"


def test_files_are_given_and_fetched(url):
    code = "print(open('data/in.txt').read().strip()); open('out.txt', 'w').write('made')"
    answer = requests.post(url, json={
        "code": code, "language": "python",
        "files": {"data/in.txt": base64.b64encode(b"given").decode()},
        "fetch_files": ["out.txt", "missing.txt"]}).json()
    assert answer["status"] == "Success", answer
    assert answer["run_result"]["stdout"] == "given\n"
    assert answer["files"] == {"out.txt": base64.b64encode(b"made").decode()}


def test_the_same_program_compiles_once_for_many_cases(url):
    import time

    code = SUM["rust"]["right"] + "\n// unique " + str(time.time())
    start = time.perf_counter()
    first = requests.post(url, json={"code": code, "language": "rust", "stdin": "1 1"}).json()
    cold = time.perf_counter() - start
    start = time.perf_counter()
    second = requests.post(url, json={"code": code, "language": "rust", "stdin": "2 2"}).json()
    warm = time.perf_counter() - start
    assert first["run_result"]["stdout"] == "2\n" and second["run_result"]["stdout"] == "4\n"
    assert second["compile_result"]["execution_time"] == first["compile_result"]["execution_time"]
    assert warm < cold


def test_run_code_is_counted_in_metrics(url):
    requests.post(url, json={"code": "print(1)", "language": "python"})
    text = requests.get(url.replace("/run_code", "/metrics")).text
    assert 'endpoint="/run_code"' in text and "run_code:Success" in text


# --- red team: what a program might try to pass a case without solving it

def test_printing_the_answer_and_failing_earns_no_pass(url):
    cases = {"inputs": ["1 2\n"], "outputs": ["3\n"]}
    fakes = {"python": "print(3)\nimport sys\nsys.stdout.flush()\nraise SystemExit(1)",
             "cpp": "#include <cstdio>\n#include <cstdlib>\nint main(){puts(\"3\");fflush(stdout);abort();}",
             "go": "package main\nimport (\"fmt\"; \"os\")\nfunc main(){fmt.Println(3); os.Exit(7)}",
             "rust": "fn main(){ println!(\"3\"); std::process::exit(9); }",
             "typescript": "console.log(3); process.exit(5);"}
    for language, code in fakes.items():
        assert check_correctness(url, cases, code, timeout=5, language=language)[0] == [-2], language


def test_a_run_cannot_change_the_build_the_next_case_reuses(url):
    code = ("#include <cstdio>\n#include <unistd.h>\nint main(int argc, char** argv){\n"
            "  FILE* f = fopen(argv[0], \"w\"); FILE* g = fopen(\"/tmp/prog/extra\", \"w\");\n"
            "  unlink(argv[0]);\n  puts(f || g ? \"tampered\" : \"blocked\"); }\n")
    for _ in range(2):
        answer = requests.post(url, json={"code": code, "language": "cpp"}).json()
        assert answer["run_result"]["stdout"] == "blocked\n", answer


def test_a_run_cannot_fake_fetched_files_of_another_request_or_kill_the_server(url):
    # a program that kills the shell around it: its own run fails, the server goes on
    code = "import os, signal\nos.kill(os.getppid(), signal.SIGKILL)\nprint('x')"
    answer = requests.post(url, json={"code": code, "language": "python", "fetch_files": ["a"],
                                      "files": {"a": base64.b64encode(b"1").decode()}}).json()
    assert answer["status"] == "Failed" and answer["files"] == {}
    assert requests.post(url, json={"code": "print(5)", "language": "go"}).json()["status"] == "Failed"
    ok = requests.post(url, json={"code": "print(5)", "language": "python"}).json()
    assert ok["run_result"]["stdout"] == "5\n"


@pytest.mark.parametrize("language,code", [
    ("python", "import socket\ntry:\n    socket.create_connection(('127.0.0.1', 22), timeout=1)\n"
               "    print('connected')\nexcept OSError:\n    print('blocked')"),
    ("go", "package main\nimport (\"fmt\"; \"net\")\nfunc main(){ if _, err := net.Dial(\"tcp\", "
           "\"127.0.0.1:22\"); err == nil { fmt.Println(\"connected\") } else { fmt.Println(\"blocked\") } }"),
    ("rust", "fn main(){ println!(\"{}\", if std::fs::read_to_string(\"/etc/shadow\").is_ok() "
             "{ \"connected\" } else { \"blocked\" }); }"),
])
def test_run_code_runs_in_the_sandbox(url, language, code):
    answer = requests.post(url, json={"code": code, "language": language}).json()
    assert answer["run_result"]["stdout"] == "blocked\n", answer


def test_the_readme_config_line_through_verls_own_loader(url):
    """reward.sandbox_fusion.url=... as veRL's load_reward_manager reads it."""
    from omegaconf import OmegaConf
    from verl.trainer.ppo.reward import load_reward_manager

    config = OmegaConf.from_dotlist([f"reward.sandbox_fusion.url={url}", "reward.sandbox_fusion.max_concurrent=8",
                                     "reward.reward_manager.source=register", "reward.reward_manager.name=naive"])
    compute_score = load_reward_manager(config, None).compute_score
    truth = json.dumps(CASES)
    assert compute_score("codecontests", f"```python\n{SUM['python']['right']}\n```", truth) == 1.0
    assert compute_score("apps", f"```python\n{SUM['python']['wrong']}\n```", truth) == 0.0
