"""The end-of-run PNG: reward components and KL over steps, from ``metrics.jsonl``."""

from __future__ import annotations

from pathlib import Path

from trainer.metrics import read_jsonl

_PANELS = (
    ("reward", ("reward/total", "reward/execution", "reward/ast", "reward/dfg")),
    ("KL to reference", ("kl/mean",)),
    ("rates", ("rate/compile", "rate/pass")),
    ("losses", ("loss/policy", "loss/value")),
)


def plot_metrics(metrics_path: str | Path, out_path: str | Path) -> Path:
    """Draw the panels above (those with data) into `out_path` (PNG) and return it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_jsonl(metrics_path)
    panels = [(title, [k for k in keys if any(isinstance(r.get(k), (int, float)) for r in rows)])
              for title, keys in _PANELS]
    panels = [(t, k) for t, k in panels if k] or [("reward", [])]
    fig, axes = plt.subplots(len(panels), 1, figsize=(7, 2.4 * len(panels)), sharex=True,
                             squeeze=False)
    for ax, (title, keys) in zip(axes[:, 0], panels):
        for k in keys:
            pts = [(r["step"], r[k]) for r in rows if isinstance(r.get(k), (int, float))]
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker=".", label=k)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        if keys:
            ax.legend(fontsize=7, loc="best")
    axes[-1, 0].set_xlabel("PPO step")
    fig.tight_layout()
    out_path = Path(out_path)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path
