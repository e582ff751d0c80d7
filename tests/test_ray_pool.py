"""Ray scale-out of reward scoring: `rewards.ray_pool.RayRewardPool` on a real local Ray
instance (started by the tests, 2 CPUs), and the trainer's ``backend="ray"``."""

from __future__ import annotations

import os
import signal
import time

import pytest
import ray

from rewards import RewardConfig, Sample, TestSpec, score
from rewards.ray_pool import RayRewardPool
from trainer.rollout import RewardWorkers

PY_REF = "def add(a, b):\n    total = a + b\n    return total\n"
JAVA_REF = "class A {\n  int add(int a, int b) {\n    int t = a + b;\n    return t;\n  }\n}\n"


def batch() -> list[Sample]:
    tests = TestSpec.from_humaneval({"test": "def check(f):\n    assert f(2, 3) == 5\n", "entry_point": "add"})
    return [
        Sample("python", PY_REF, reference=PY_REF),
        Sample("python", "def add(a, b):\n    return a - b\n", reference=PY_REF, tests=tests),
        Sample("python", "def add(a, b)\n    return a + b\n", reference=PY_REF),  # syntax error
        Sample("java", JAVA_REF.replace(" t ", " s ").replace("return t;", "return s;"), reference=JAVA_REF),
        Sample("java", "class A { int add(int a, int b) { return a + b } }", reference=JAVA_REF),
        Sample("python", PY_REF, tests=tests),
        Sample("javascript", "let x = 1;\n", reference="let y = 2;\n"),
    ]


@pytest.fixture(scope="module", autouse=True)
def outside_the_source_tree(tmp_path_factory: pytest.TempPathFactory):
    """Ray workers start in the driver's working directory and import from it: in the
    repository root the source tree (without the compiled extension) would shadow the
    installed package, so these tests drive Ray from a scratch directory."""
    before = os.getcwd()
    os.chdir(tmp_path_factory.mktemp("ray-driver"))
    yield
    os.chdir(before)


def comparable(results) -> list[dict]:
    out = []
    for r in results:
        d = r.to_dict()
        d.pop("timings")
        out.append(d)
    return out


def test_pool_starts_and_stops_its_own_ray() -> None:
    assert not ray.is_initialized()
    with RayRewardPool(RewardConfig(use_execution=False), actors=1, init_kwargs={"num_cpus": 1}) as pool:
        assert ray.is_initialized()
        [r] = pool.score([Sample("python", PY_REF, reference=PY_REF)])
        assert (r.ast, r.dfg, r.total) == (1.0, 1.0, 2.0)
    assert not ray.is_initialized()


@pytest.fixture(scope="module")
def local_ray():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_pool_scores_exactly_like_local_scoring(local_ray) -> None:
    samples = batch()
    config = RewardConfig(timeout_s=20.0)
    expected = comparable(score(samples, config))
    with RayRewardPool(config, actors=2) as pool:
        assert ray.is_initialized()
        got = comparable(pool.score(samples))
        again = comparable(pool.submit(samples).result(timeout=120))
    assert got == expected == again
    outcomes = [r["outcome"] for r in got]
    assert outcomes == ["ok", "failed", "compile_error", "ok", "compile_error", "passed", "ok"]
    assert ray.is_initialized()  # a pool on a Ray it did not start leaves it running


def test_results_keep_input_order_and_use_every_actor(local_ray) -> None:
    samples = [Sample("python", "x" * k) for k in range(11)]
    with RayRewardPool(actors=2, fn=lambda chunk: [(len(s.code), os.getpid()) for s in chunk]) as pool:
        out = pool.score(samples)
        assert [n for n, _ in out] == list(range(11))
        assert len({pid for _, pid in out}) == 2
        assert os.getpid() not in {pid for _, pid in out}
        assert pool.score([]) == []
        one = pool.score(samples[:1])  # fewer samples than actors
        assert [n for n, _ in one] == [0]


def test_errors_reach_the_caller(local_ray) -> None:
    with pytest.raises(ValueError, match="module:function"):
        RayRewardPool(actors=1, fn="no_colon_here")
    with pytest.raises(ValueError, match="cannot import"):
        RayRewardPool(actors=1, fn="no_such_module_xyz:f")
    with pytest.raises(ValueError, match="actors"):
        RayRewardPool(actors=0)
    with RayRewardPool(actors=1, fn=lambda chunk: [1.0]) as pool:
        with pytest.raises(Exception, match="returned 1 results for 3 samples"):
            pool.score([Sample("python", "x")] * 3)
        assert pool.score([Sample("python", "y")]) == [1.0]  # the actor survives a bad batch
    with pytest.raises(RuntimeError, match="closed"):
        pool.submit([Sample("python", "x")])


def test_an_actor_killed_mid_batch_loses_no_sample(local_ray, tmp_path) -> None:
    started = tmp_path / "started"
    started.mkdir()

    def slow_length(chunk: list[Sample]) -> list[tuple[int, int]]:
        (started / str(os.getpid())).touch()
        time.sleep(3)  # long enough for the test to kill the actor while it works
        return [(len(s.code), os.getpid()) for s in chunk]

    samples = [Sample("python", "x" * k) for k in range(200)]
    with RayRewardPool(actors=2, fn=slow_length) as pool:
        future = pool.submit(samples)
        deadline = time.monotonic() + 120
        while len(list(started.iterdir())) < 2:
            assert time.monotonic() < deadline, "the actors never started the batch"
            time.sleep(0.1)
        victim = int(min(p.name for p in started.iterdir()))
        os.kill(victim, signal.SIGKILL)
        out = future.result(timeout=120)
        assert [n for n, _ in out] == list(range(200))  # complete and in input order
        scorers = {pid for _, pid in out}
        assert victim not in scorers and len(scorers) == 2
        assert pool.replaced == 1 and pool.actors == 2
        again = pool.score(samples)  # the pool keeps working, on the replacement
        assert [n for n, _ in again] == list(range(200))
        assert {pid for _, pid in again} == scorers


def test_a_chunk_that_kills_every_actor_fails_after_the_retries(local_ray) -> None:
    def dies_on_poison(chunk: list[Sample]) -> list[int]:
        if any(s.code == "poison" for s in chunk):
            os._exit(1)
        return [len(s.code) for s in chunk]

    with RayRewardPool(actors=1, fn=dies_on_poison, max_retries=1) as pool:
        with pytest.raises(RuntimeError, match="lost 2 actors"):
            pool.score([Sample("python", "ok"), Sample("python", "poison")])
        assert pool.replaced == 2
        assert pool.score([Sample("python", "abc")]) == [3]
    with pytest.raises(ValueError, match="max_retries"):
        RayRewardPool(actors=1, max_retries=-1)


def test_trainer_ray_backend_matches_process_workers(local_ray) -> None:
    samples = batch()[:4]
    config = RewardConfig(timeout_s=20.0)
    local = RewardWorkers(config, workers=0)
    on_ray = RewardWorkers(config, workers=2, backend="ray")
    try:
        expected, _ = local.submit(samples).result(timeout=120)
        got, seconds = on_ray.submit(samples).result(timeout=120)
    finally:
        local.close()
        on_ray.close()
    def plain(results: list) -> list:  # everything but the timings
        return [(r.total, r.components(), r.outcome, r.errors, r.isolation) for r in results]

    assert plain(got) == plain(expected)
    assert seconds > 0
    with pytest.raises(ValueError, match="backend"):
        RewardWorkers(config, backend="slurm")


def test_ppo_run_scores_on_ray(local_ray, tmp_path) -> None:
    import json

    import torch

    from tests.tiny_models import build_tiny_model
    from trainer.config import Config
    from trainer.data import TaskExample
    from trainer.ppo import train

    torch.set_num_threads(1)

    pids = tmp_path / "scorer-pids"

    def count_x(samples: list[Sample]) -> list[float]:  # shipped to the actors by value
        with open(pids, "a") as f:
            f.write(f"{os.getpid()}\n")
        return [s.code.split().count("x") / max(len(s.code.split()), 1) for s in samples]

    cfg = Config()
    cfg.model.name_or_path = build_tiny_model(tmp_path / "tiny", "causal")
    cfg.model.lora = False
    cfg.run.output_dir = str(tmp_path / "run")
    cfg.run.progress = False
    cfg.run.threads = 1
    cfg.generation.max_new_tokens = 6
    cfg.ppo.steps, cfg.ppo.prompts_per_step, cfg.ppo.minibatch_size = 2, 4, 2
    cfg.reward.backend, cfg.reward.workers = "ray", 2
    data = [TaskExample(prompt=p, language="python", code_prefix="", reference=None, tests=None)
            for p in ("def f ( x ) :", "x =", "print (", "y = x")]
    train(cfg, reward_fn=count_x, train_data=data)
    run = tmp_path / "run"
    assert [json.loads(x)["step"] for x in (run / "metrics.jsonl").read_text().splitlines()] == [1, 2]
    samples = [json.loads(x) for x in (run / "samples.jsonl").read_text().splitlines()]
    scorers = set(pids.read_text().split())
    assert scorers and str(os.getpid()) not in scorers  # scored in the Ray actors
    assert samples and all(s["reward"] == count_x([Sample("python", s["response"])])[0] for s in samples)
