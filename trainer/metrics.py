"""Run logs: one JSON line per step (``metrics.jsonl``), a few generated samples per step
(``samples.jsonl``), every evaluation response (``eval_samples.jsonl``), TensorBoard
scalars, a tqdm bar that also says when an evaluation is running.

On resume the JSONL is cut back to the checkpoint's step first, so a killed and
resumed run ends with exactly the lines of an uninterrupted one.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

SHOWN = ("reward/total", "reward/execution", "reward/ast", "reward/dfg", "kl/mean")
"""Metrics shown live on the progress bar when present."""


def truncate_jsonl(path: str | Path, last_step: int) -> None:
    """Keep only the lines of `path` whose "step" is <= last_step (and drop a torn last line)."""
    path = Path(path)
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by a kill
        if row.get("step", math.inf) <= last_step:
            kept.append(line)
    path.write_text("".join(k + "\n" for k in kept))


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    """All rows of a metrics file."""
    return [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]


class MetricsLogger:
    """Writes each step's metrics to JSONL and TensorBoard and shows them on a tqdm bar.

    Only rank 0 logs; other ranks get a logger whose methods do nothing.
    """

    def __init__(self, run_dir: str | Path, total_steps: int, start_step: int = 0,
                 enabled: bool = True, tensorboard: bool = True, progress: bool = True) -> None:
        self.enabled = enabled
        self.path = Path(run_dir) / "metrics.jsonl"
        self.samples_path = Path(run_dir) / "samples.jsonl"
        self.eval_samples_path = Path(run_dir) / "eval_samples.jsonl"
        self._tb = None
        self._bar = None
        if not enabled:
            return
        Path(run_dir).mkdir(parents=True, exist_ok=True)
        truncate_jsonl(self.path, start_step)
        truncate_jsonl(self.samples_path, start_step)
        truncate_jsonl(self.eval_samples_path, start_step)
        if tensorboard:
            from torch.utils.tensorboard import SummaryWriter

            self._tb = SummaryWriter(str(Path(run_dir) / "tensorboard"), purge_step=start_step + 1)
        if progress:
            from tqdm.auto import tqdm

            self._bar = tqdm(total=total_steps, initial=start_step, desc="ppo", dynamic_ncols=True)

    def log(self, step: int, metrics: dict[str, float], advance: bool = True) -> None:
        """Write one row of metrics for `step`; `advance=False` leaves the bar where it is
        (the evaluation before step 1)."""
        if not self.enabled:
            return
        row = {"step": step, **{k: _plain(v) for k, v in metrics.items()}}
        with open(self.path, "a") as f:
            f.write(json.dumps(row) + "\n")
        if self._tb is not None:
            for k, v in row.items():
                if k != "step" and isinstance(v, (int, float)):
                    self._tb.add_scalar(k, v, step)
            self._tb.flush()
        if self._bar is not None:
            shown = {k.split("/", 1)[-1] if k != "kl/mean" else "kl": f"{row[k]:.3g}"
                     for k in SHOWN if isinstance(row.get(k), (int, float))}
            self._bar.set_postfix(shown, refresh=not advance)
            if advance:
                self._bar.update(1)

    def status(self, text: str | None) -> None:
        """Show what the run is doing besides PPO steps (e.g. "eval at step 0: 16/64") on the
        bar's label; None puts the label back."""
        if self._bar is not None:
            self._bar.set_description(text or "ppo", refresh=True)

    def log_eval_samples(self, step: int, records: list[dict[str, Any]]) -> None:
        """Append every response of one evaluation."""
        if not self.enabled or not records:
            return
        with open(self.eval_samples_path, "a") as f:
            for record in records:
                f.write(json.dumps({"step": step, **record}) + "\n")

    def log_samples(self, step: int, samples: list[dict[str, Any]]) -> None:
        """Append a few generated samples of this step (prompt tail, response, reward)."""
        if not self.enabled or not samples:
            return
        with open(self.samples_path, "a") as f:
            for sample in samples:
                f.write(json.dumps({"step": step, **sample}) + "\n")

    def close(self) -> None:
        if self._tb is not None:
            self._tb.close()
        if self._bar is not None:
            self._bar.close()


def _plain(v: Any) -> Any:
    if hasattr(v, "item"):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return str(v)
    return v
