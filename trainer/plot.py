"""The end-of-run PNG: training reward, held-out evaluation, KL and how responses end,
over steps, from ``metrics.jsonl``."""

from __future__ import annotations

from pathlib import Path

from trainer.metrics import read_jsonl

_PANELS = (
    ("reward (train; eval = held-out, before any update at step 0)",
     ("reward/total", "reward/execution", "reward/ast", "reward/dfg", "eval/reward")),
    ("held-out evaluation", ("eval/compile_rate", "eval/pass_rate", "eval/exact_match",
                             "eval/edit_sim", "eval/codebleu")),
    ("KL to reference", ("kl/mean", "eval/kl")),
    ("training rates and how responses end", ("rate/compile", "rate/pass", "end/eos", "end/stop",
                                             "end/function_end", "end/truncated",
                                             "response/empty")),
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
