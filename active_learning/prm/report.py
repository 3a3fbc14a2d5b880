"""Learning-curve plot for simulation results (matplotlib, headless)."""

from __future__ import annotations

from pathlib import Path


def plot_curves(result: dict, path: str | Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")  # no display on workers or CI
    import matplotlib.pyplot as plt

    summary = result["summary"]
    metric = summary["metric"]
    fig, ax = plt.subplots(figsize=(7, 4.5), dpi=120)
    for strategy, curve in sorted(summary["mean_curves"].items()):
        xs = [b for b, _ in curve]
        ys = [q for _, q in curve]
        label = strategy
        eff = summary["efficiency"].get(strategy, {}).get("final")
        if eff:
            label += f" ({'>=' if eff['lower_bound'] else ''}{eff['ratio']:.2f}x vs uniform)"
        ax.plot(xs, ys, marker="o", label=label)
        # Per-seed points, faint, so the spread is visible.
        for c in result["curves"]:
            if c["strategy"] == strategy:
                ax.scatter([p["labels"] for p in c["points"]], [p.get(metric) for p in c["points"]],
                           s=8, alpha=0.25, color=ax.lines[-1].get_color())
    ax.set_xlabel("solutions labeled")
    ax.set_ylabel(f"held-out {metric.replace('_', ' ')}")
    ax.set_title("Active learning vs uniform sampling (mean over seeds)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
