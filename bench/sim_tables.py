"""Markdown tables from a simulate_active_learning run, with 95% intervals over seeds.

    .venv/bin/python bench/sim_tables.py bench/results/simulation_warm_5seeds/curves.json

Prints, for step AUROC, first-error F1 and ECE: each arm's mean held-out curve; each arm's
final data-efficiency ratio against uniform with its interval (seeds resampled whole); and,
for warm arms, warm minus cold at equal human labels, paired by seed. Recomputed from the
curves, so it also reads runs written before the intervals were stored.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from active_learning.prm.simulate import Curve, SimulationConfig, mean_curve, seed_intervals, warm_gain  # noqa: E402


def fmt(v, digits=3):
    return "" if v is None else f"{v:.{digits}f}"


def curve_table(curves, arms, metric) -> str:
    means = {a: dict(mean_curve([c for c in curves if c.strategy == a], metric)) for a in arms}
    budgets = sorted({b for m in means.values() for b in m})
    lines = [f"| labels | {' | '.join(arms)} |", "| ---: |" + " ---: |" * len(arms)]
    for b in budgets:
        lines.append(f"| {b} | " + " | ".join(fmt(means[a].get(b)) for a in arms) + " |")
    return "\n".join(lines)


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    curves = [Curve(**c) for c in data["curves"]]
    cfg = data["config"]
    config = SimulationConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in cfg.items()})
    arms = [a for a, _, _ in config.arms()]
    for metric in ("step_auroc", "first_error_f1", "ece", "solution_auroc"):
        print(f"\n### {metric}: mean held-out curve\n")
        print(curve_table(curves, arms, metric))
        if metric == "ece":
            continue
        print(f"\n{metric}: final ratio against uniform [95% over seeds]\n")
        for arm, iv in seed_intervals(curves, metric).items():
            bound = "at least " if iv["lower_bound"] else ""
            print(f"- {arm} at {iv['labels']} labels: {bound}{iv['ratio']:.2f}x [{iv['low']:.2f}, {iv['high']:.2f}]")
    for arm, gain in warm_gain(curves, config).items():
        print(f"\n### {arm} minus {gain['against']} at equal human labels (mean [95% over seeds])\n")
        print("| labels | step AUROC | first-error F1 | ECE | solution AUROC |\n| ---: | --- | --- | --- | --- |")
        rows = {m: {r["labels"]: r for r in gain[m]} for m in ("step_auroc", "first_error_f1", "ece", "solution_auroc")}
        for b in sorted(rows["step_auroc"]):
            cells = []
            for m in rows:
                r = rows[m].get(b)
                cells.append("" if r is None else f"{r['mean']:+.3f} [{fmt(r['low'])}, {fmt(r['high'])}]")
            print(f"| {b} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main(sys.argv[1])
