"""One scheduler for sandboxed runs: bounded worker slots, batches served round-robin,
results streamed as they finish.

Every sandboxed run of the toolkit (`run_tests`, `compile_feedback`, and through them
`rewards.score`, `trainer.evaluate` and the HTTP server) goes through a `Scheduler`:

* A batch is a list of jobs (callables). `Scheduler.submit` queues them and returns a
  `Batch`, an iterator of ``(index, result)`` in the order the jobs *finish*: a sample
  that loops until its timeout holds one worker for its own time only, and every other
  result arrives meanwhile. There is no chunk barrier.
* The scheduler owns ``max_workers`` slots. A batch runs at most ``workers`` jobs at once
  (its own cap, 0: all slots). When a slot frees, the next job comes from the *next*
  batch in turn that has one waiting (round-robin over batches), so concurrent batches
  share the slots evenly whatever their sizes.
* A batch with nothing running may start one job even when every slot is busy (its
  *first slot*): a 1-sample request is never queued behind the long runs of another.
  At most ``max_workers + batches - 1`` jobs run at once, and the HTTP server bounds the
  batches (``--max-inflight``).
* A run still going after `SLOW_S` (almost always a loop on its way to its timeout; a
  HumanEval sample's tests take milliseconds) gives its slot back (`release_slot`, called
  by the sandboxed run while it waits) and goes on to its own deadline beside the
  others. At most ``max_workers`` released runs exist at once, so the processes running
  stay below twice the slots. Its verdict is the same: the time limit is the run's own.
  Only schedulers made with ``release_slow`` do this: the process-wide one does; one
  made with a fixed ``max_workers`` (the server's ``--max-workers``, a bound its operator
  sized memory for) does not unless asked.

The process-wide scheduler (`default_scheduler`) has ``os.cpu_count()`` slots, or more
while a batch asks for more workers (a library caller's ``workers=16`` runs 16 at once,
as before). A scheduler made with a fixed ``max_workers`` never grows: the server makes
one from ``--max-workers`` and runs its requests under it (`using`). Worker threads are
started on demand and end after a minute idle; none is started on import.

    >>> s = Scheduler(max_workers=2)
    >>> sorted(s.submit([lambda: 1, lambda: 2]))
    [(0, 1), (1, 2)]
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import queue
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar

T = TypeVar("T")

IDLE_S = 60.0
"""A worker thread with nothing to do for this long ends."""
SLOW_S = 0.5
"""A sandboxed run still waiting for its verdict after this long releases its slot."""

_local = threading.local()


class _Failed:
    """A job's exception, carried to the batch's reader."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class Batch(Generic[T]):
    """The jobs of one `Scheduler.submit` call: iterate for ``(index, result)`` as each job
    finishes. A job's exception is raised by the iteration (the batch's waiting jobs are
    then cancelled). `close` (or leaving a ``with`` block, or dropping the iterator early)
    cancels the jobs that have not started."""

    def __init__(self, scheduler: Scheduler, jobs: Sequence[Callable[[], T]], cap: int) -> None:
        self._scheduler = scheduler
        self.pending: deque[tuple[int, Callable[[], T]]] = deque(enumerate(jobs))
        self.cap = cap
        self.running = 0
        self.size = len(jobs)
        self._results: queue.SimpleQueue[tuple[int, T | _Failed]] = queue.SimpleQueue()
        self._received = 0

    def __iter__(self) -> Iterator[tuple[int, T]]:
        try:
            while self._received < self.size:
                index, result = self._results.get()
                self._received += 1
                if isinstance(result, _Failed):
                    raise result.exc
                yield index, result
        finally:
            self.close()

    def results(self) -> list[T]:
        """Every result, in job order (waits for all)."""
        out: list[Any] = [None] * self.size
        for index, result in self:
            out[index] = result
        return out

    def close(self) -> None:
        """Cancel the jobs that have not started (running ones finish; their results are dropped)."""
        self._scheduler._cancel(self)

    def __enter__(self) -> Batch[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _deliver(self, index: int, result: T | _Failed) -> None:
        self._results.put((index, result))


class Scheduler:
    """Worker slots shared by batches of jobs (see the module docstring).

    `max_workers` None: one slot per CPU core, grown while a batch asks for more; a
    number fixes the slots (a batch's ``workers`` above it is capped at it).
    `release_slow`: slow runs give their slots back (`release_slot`); default: only when
    the slots are not fixed."""

    def __init__(self, max_workers: int | None = None, release_slow: bool | None = None) -> None:
        if max_workers is not None and (not isinstance(max_workers, int) or max_workers < 1):
            raise ValueError(f"max_workers must be a whole number >= 1, got {max_workers!r}")
        self.fixed = max_workers is not None
        self.release_slow = not self.fixed if release_slow is None else bool(release_slow)
        self._base = max_workers or max(os.cpu_count() or 1, 1)
        self._lock = threading.Lock()
        self._work = threading.Condition(self._lock)
        self._batches: list[Batch[Any]] = []
        self._turn = 0  # index in _batches of the batch served next
        self._handoff: deque[tuple[Batch[Any], int, Callable[[], Any]]] = deque()
        self._running = 0
        self._released = 0  # jobs that gave their slot back and still run
        self._idle = 0

    @property
    def max_workers(self) -> int:
        """Slots now: the fixed count, or the cores (or the largest active batch's cap)."""
        if self.fixed:
            return self._base
        return max([self._base, *(b.cap for b in self._batches)])

    def submit(self, jobs: Sequence[Callable[[], T]], workers: int = 0) -> Batch[T]:
        """Queue `jobs`; at most `workers` of them run at once (0: all slots). Returns the
        `Batch` to read results from as they finish."""
        if not isinstance(workers, int) or workers < 0:
            raise ValueError(f"workers must be a whole number >= 0, got {workers!r}")
        cap = workers or self._base
        if self.fixed:
            cap = min(cap, self._base)
        batch: Batch[T] = Batch(self, list(jobs), cap)
        if batch.size:
            with self._lock:
                self._batches.append(batch)
                self._pump()
        return batch

    def map(self, fn: Callable[[Any], T], items: Sequence[Any], workers: int = 0) -> list[T]:
        """``[fn(x) for x in items]`` run as one batch, in order."""
        return self.submit([_bind(fn, x) for x in items], workers).results()

    # --- inside: everything below runs with the lock held ------------------------------

    def _next_job(self) -> tuple[Batch[Any], int, Callable[[], Any]] | None:
        """The next job to start: round-robin over the batches with one waiting."""
        n = len(self._batches)
        slots = self.max_workers
        for step in range(n):
            k = (self._turn + step) % n
            batch = self._batches[k]
            if not batch.pending or batch.running >= batch.cap:
                continue
            if self._running >= slots and batch.running > 0:
                continue  # every slot busy; only a batch with nothing running gets its first slot
            index, job = batch.pending.popleft()
            batch.running += 1
            self._running += 1
            self._turn = (k + 1) % n
            if not batch.pending:
                self._drop(batch)
            return batch, index, job
        return None

    def _drop(self, batch: Batch[Any]) -> None:
        """Take a batch with nothing left to start out of the rotation."""
        try:
            k = self._batches.index(batch)
        except ValueError:
            return
        del self._batches[k]
        if k < self._turn:
            self._turn -= 1
        if self._batches:
            self._turn %= len(self._batches)
        else:
            self._turn = 0

    def _pump(self) -> None:
        """Start every job the slots allow, on idle threads or new ones."""
        started = 0
        while (job := self._next_job()) is not None:
            self._handoff.append(job)
            started += 1
        if not started:
            return
        for _ in range(max(0, len(self._handoff) - self._idle)):
            threading.Thread(target=self._worker, name="ppocoder-run", daemon=True).start()
        self._work.notify(started)

    def _cancel(self, batch: Batch[Any]) -> None:
        with self._lock:
            batch.pending.clear()
            self._drop(batch)

    def _worker(self) -> None:
        with self._lock:
            while True:
                while not self._handoff:
                    self._idle += 1
                    woke = self._work.wait(IDLE_S)
                    self._idle -= 1
                    if not woke and not self._handoff:
                        return
                batch, index, job = self._handoff.popleft()
                ticket = _local.ticket = [self, batch, False]  # [.., .., released]
                self._lock.release()
                try:
                    result: Any = job()
                except BaseException as exc:  # noqa: BLE001 - handed to the batch's reader
                    result = _Failed(exc)
                    self._cancel(batch)
                finally:
                    _local.ticket = None
                    self._lock.acquire()
                if ticket[2]:
                    self._released -= 1
                else:
                    batch.running -= 1
                    self._running -= 1
                batch._deliver(index, result)
                self._pump()

    def _release(self, ticket: list[Any]) -> None:
        with self._lock:
            if not self.release_slow or ticket[2] or self._released >= self.max_workers:
                return
            ticket[2] = True
            self._released += 1
            ticket[1].running -= 1
            self._running -= 1
            self._pump()


def release_slot() -> None:
    """Called by a job that is now waiting on a slow run: its slot (and its batch's share)
    goes to the next job while it keeps running (see the module docstring). A no-op
    outside a scheduler's worker, when already released, or when ``max_workers`` released
    runs exist already."""
    ticket = getattr(_local, "ticket", None)
    if ticket is not None:
        ticket[0]._release(ticket)


def _bind(fn: Callable[[Any], T], x: Any) -> Callable[[], T]:
    return lambda: fn(x)


_default: Scheduler | None = None
_default_lock = threading.Lock()
_current: contextvars.ContextVar[Scheduler | None] = contextvars.ContextVar("ppocoder_scheduler",
                                                                           default=None)


def default_scheduler() -> Scheduler:
    """The process-wide scheduler (made on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Scheduler()
        return _default


def current() -> Scheduler:
    """The scheduler runs go to here: the one `using` set, else the process-wide one."""
    return _current.get() or default_scheduler()


@contextlib.contextmanager
def using(scheduler: Scheduler) -> Iterator[Scheduler]:
    """Within the block (in this thread or task), sandboxed runs go to `scheduler`."""
    token = _current.set(scheduler)
    try:
        yield scheduler
    finally:
        _current.reset(token)


__all__ = ["SLOW_S", "Batch", "Scheduler", "current", "default_scheduler", "release_slot", "using"]
