"""Scale reward scoring out over a Ray cluster.

`RayRewardPool` keeps a pool of Ray actors, each a long-lived scoring process with
its own warm workers (the Java compiler JVM, the Node worker, the Python sandbox
zygotes and the native engine). A batch is split into one contiguous chunk per actor
(samples of one prompt, which share a reference, stay together), the chunks are
scored in parallel, and the results come back in input order. An actor that dies (its
process killed, its node lost) loses no sample: its chunk is scored again on a fresh
actor that takes its place in the pool (up to `max_retries` times per chunk)::

    from rewards import RewardConfig, Sample
    from rewards.ray_pool import RayRewardPool

    with RayRewardPool(RewardConfig(), actors=8, address="auto") as pool:
        breakdowns = pool.score(samples)          # list[RewardBreakdown]
        future = pool.submit(more_samples)        # concurrent.futures.Future

Without `address` (and without a running `ray.init`) a local Ray instance is
started, and stopped again by `close()`. Every node needs this package installed
(``pip install 'ppocoder[ray]'``). Instead of the PPOCoder reward the actors can run
any reward function: a ``"module:function"`` path or a picklable callable taking a
list of `Sample` and returning one result per sample.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from rewards.composite import RewardConfig, Sample, import_reward, score

__all__ = ["RayRewardPool"]

RewardFunction = Callable[[list[Sample]], Sequence[Any]]


class _ScoringActor:
    """One Ray actor: scores chunks with the PPOCoder reward or a given function."""

    def __init__(self, config: RewardConfig, fn: str | RewardFunction | None) -> None:
        self.config = config
        self.fn = import_reward(fn) if isinstance(fn, str) else fn

    def score(self, samples: list[Sample]) -> tuple[list[Any], float]:
        start = time.perf_counter()
        out = list(self.fn(samples)) if self.fn is not None else score(samples, self.config)
        if len(out) != len(samples):
            raise ValueError(f"reward function returned {len(out)} results for {len(samples)} samples")
        return out, time.perf_counter() - start


class RayRewardPool:
    """A pool of Ray actors that score batches of samples in parallel.

    `actors` actors, each reserving `cpus_per_actor` CPUs of the cluster; `config`
    is the PPOCoder reward's configuration (`fn`, when given, replaces the PPOCoder
    reward). `address` connects to a running cluster ("auto" or "ray://host:port");
    `init_kwargs` go to ``ray.init`` when this pool starts Ray itself. A chunk whose actor
    dies is retried on a replacement actor, at most `max_retries` times.
    """

    def __init__(
        self,
        config: RewardConfig | None = None,
        actors: int = 2,
        *,
        fn: str | RewardFunction | None = None,
        cpus_per_actor: float = 1.0,
        address: str | None = None,
        init_kwargs: dict[str, Any] | None = None,
        max_retries: int = 3,
    ) -> None:
        try:
            import ray
        except ImportError as exc:  # pragma: no cover - exercised only without ray
            raise ImportError("RayRewardPool needs Ray: pip install 'ppocoder[ray]'") from exc
        if actors < 1:
            raise ValueError(f"actors must be >= 1, got {actors}")
        if max_retries < 0:
            raise ValueError(f"max_retries must be >= 0, got {max_retries}")
        if isinstance(fn, str):
            import_reward(fn)  # a bad path fails here, with a clear message, not in every actor
        self._ray = ray
        self._owns_ray = not ray.is_initialized()
        if self._owns_ray:
            kwargs = {"include_dashboard": False, "log_to_driver": False, **(init_kwargs or {})}
            ray.init(address=address, **kwargs)
        from ray.exceptions import OutOfMemoryError, RayActorError, WorkerCrashedError

        self._actor_lost = (RayActorError, WorkerCrashedError, OutOfMemoryError)
        self.max_retries = max_retries
        actor_cls = ray.remote(num_cpus=cpus_per_actor)(_ScoringActor)
        self._new_actor = lambda: actor_cls.remote(config or RewardConfig(), fn)
        self._actors = [self._new_actor() for _ in range(actors)]
        self._replace_lock = threading.Lock()
        self.replaced = 0
        """Actors replaced after they died, since the pool started."""
        self._next = 0  # first actor of the next batch: small batches rotate over the pool
        self._waiters = ThreadPoolExecutor(max_workers=4, thread_name_prefix="ray-rewards")

    @property
    def actors(self) -> int:
        return len(self._actors)

    def submit_timed(self, samples: Sequence[Sample]) -> Future:
        """Start scoring `samples`; a Future of (results in input order, seconds the
        slowest actor spent on its chunk)."""
        samples = list(samples)
        n, k = len(samples), len(self._actors)
        if k == 0:
            raise RuntimeError("the pool is closed")
        chunks = [c for c in (samples[i * n // k:(i + 1) * n // k] for i in range(k)) if c]
        slots = [(self._next + j) % k for j in range(len(chunks))]
        self._next = (self._next + len(chunks)) % k
        pending = {}  # ref -> (chunk index, actor slot, actor, tries so far)
        for j, chunk in enumerate(chunks):
            actor = self._actors[slots[j]]
            pending[actor.score.remote(chunk)] = (j, slots[j], actor, 0)

        def gather() -> tuple[list[Any], float]:
            parts: list[list[Any]] = [[] for _ in chunks]
            slowest = 0.0
            while pending:
                [ref], _ = self._ray.wait(list(pending), num_returns=1)
                j, slot, actor, tries = pending.pop(ref)
                try:
                    parts[j], seconds = self._ray.get(ref)
                except self._actor_lost as exc:
                    actor = self._replace(slot, actor)  # the pool stays whole either way
                    if tries >= self.max_retries:
                        raise RuntimeError(f"a chunk of {len(chunks[j])} samples lost {tries + 1} "
                                           f"actors (max_retries={self.max_retries})") from exc
                    pending[actor.score.remote(chunks[j])] = (j, slot, actor, tries + 1)
                    continue
                slowest = max(slowest, seconds)
            return [r for part in parts for r in part], slowest

        return self._waiters.submit(gather)

    def _replace(self, slot: int, dead: Any) -> Any:
        """The live actor of `slot`: a new one if `dead` still holds it (another batch may
        have replaced it already)."""
        with self._replace_lock:
            if slot < len(self._actors) and self._actors[slot] is dead:
                try:
                    self._ray.kill(dead, no_restart=True)
                except Exception:  # noqa: BLE001 - it is gone already
                    pass
                self._actors[slot] = self._new_actor()
                self.replaced += 1
            if not self._actors:
                raise RuntimeError("the pool is closed")
            return self._actors[slot]

    def submit(self, samples: Sequence[Sample]) -> Future:
        """Start scoring `samples`; a Future of the results, in input order."""
        timed, plain = self.submit_timed(samples), Future()

        def unwrap(f: Future) -> None:
            exc = f.exception()
            if exc is not None:
                plain.set_exception(exc)
            else:
                plain.set_result(f.result()[0])

        timed.add_done_callback(unwrap)
        return plain

    def score(self, samples: Sequence[Sample]) -> list[Any]:
        """Score `samples` and wait: `rewards.score`'s result (or `fn`'s), in input order."""
        return self.submit(samples).result()

    def close(self) -> None:
        """Stop the actors, and Ray itself when this pool started it."""
        self._waiters.shutdown(wait=True, cancel_futures=True)
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []
        if self._owns_ray and self._ray.is_initialized():
            self._ray.shutdown()

    def __enter__(self) -> RayRewardPool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
