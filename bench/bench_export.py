"""Benchmark of the label exports against a PostgreSQL COPY of the same rows, on 1.07M step labels.

    .venv/bin/python bench/bench_export.py [--formats trl,prm800k,...] [--reseed] [--repeat 1]

Target (ML-toolkit issue): every export format within 5x of a `COPY` of the same step labels
joined with their step text, timed in the same run, with RSS <= 200 MB.

What it does:

1. Uses the manager-dashboard benchmark's database and seed (bench/bench_dashboard.py: 130,000
   submitted assignments, 1,075,024 step labels, 66,000 solutions); seeds it if missing.
2. COPY baseline: `COPY (SELECT assignment, solution, step index, rating, flagged, step text
   FROM step labels JOIN steps JOIN submitted assignments of the campaign) TO STDOUT`, written by
   the client to a file, timed before the formats and again after them (the median is the
   baseline, so a machine that slows down during the run does not flatter the ratios).
3. Each format runs in its own child process (`--child FORMAT`), so its peak RSS
   (ru_maxrss, which includes Django and the interpreter) is its own. The child times
   `labels_export` to a file, the format's default aggregation, and reports rows and bytes.
4. Prints a table (seconds, ratio to COPY, rows, MB written, peak RSS) and writes
   bench/results/export.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))
sys.path.insert(0, str(REPO))

import bench_dashboard as bd  # noqa: E402 - shares the dashboard benchmark's seed

RESULTS = REPO / "bench" / "results" / "export.json"
FORMATS = ("prm800k", "trl", "processbench", "critique", "math_shepherd", "openrlhf", "rlhflow", "hf-dataset")
TARGET_RATIO = 5.0
TARGET_RSS_MB = 200.0


def _django(args):
    dargs = bd.parse_args(["--db-name", args.db_name] + (["--reseed"] if args.reseed else []))
    _, need_seed = bd.prepare_database(dargs)
    import django

    django.setup()
    return dargs, need_seed


def copy_baseline(campaign_id: int, out: Path) -> dict:
    from django.db import connection

    sql = (
        "COPY (SELECT sl.assignment_id, st.solution_id, st.index, sl.rating, sl.flagged, st.text "
        "FROM labeling_steplabel sl JOIN labeling_step st ON st.id = sl.step_id "
        "JOIN labeling_assignment a ON a.id = sl.assignment_id "
        "WHERE a.campaign_id = %s AND a.status = 'submitted' "
        "ORDER BY sl.assignment_id, st.index) TO STDOUT"
    )
    connection.ensure_connection()
    t0 = time.perf_counter()
    n = 0
    with connection.connection.cursor() as cur, open(out, "wb") as fh, cur.copy(sql, [campaign_id]) as copy:
        for block in copy:
            fh.write(block)
            n += len(block)
    seconds = time.perf_counter() - t0
    with open(out, "rb") as fh:
        lines = sum(1 for _ in fh)
    return {"seconds": round(seconds, 3), "rows": lines, "mb": round(n / 1e6, 1)}


def child(fmt: str, args) -> None:
    _django(args)
    from labeling.models import Campaign
    from labeling.services.exports import ExportOptions, labels_export

    campaign = Campaign.objects.get(slug=bd.SLUG)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        out = Path(tmp) / ("ds" if fmt == "hf-dataset" else "export.jsonl")
        rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t0 = time.perf_counter()
        result = labels_export(campaign=campaign, fmt=fmt, options=ExportOptions(fmt=fmt), output=out)
        seconds = time.perf_counter() - t0
        size = sum(p.stat().st_size for p in out.iterdir()) if out.is_dir() else out.stat().st_size
    print(json.dumps({
        "format": fmt, "aggregate": result.aggregate, "seconds": round(seconds, 3), "rows": result.rows,
        "skipped": result.skipped, "mb": round(size / 1e6, 1), "rss_before_mb": round(rss0, 1),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
    }))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--db-name", default="bench_dashboard")
    p.add_argument("--reseed", action="store_true")
    p.add_argument("--formats", default=",".join(FORMATS))
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args.child, args)
        return 0
    dargs, need_seed = _django(args)
    from django.core.management import call_command

    from labeling.models import Campaign

    call_command("migrate", interactive=False, verbosity=0)
    if need_seed:
        bd.log("seeding the dashboard benchmark's data")
        bd.seed(dargs)
    campaign = Campaign.objects.get(slug=bd.SLUG)
    from labeling.models import StepLabel

    labels = StepLabel.objects.filter(assignment__campaign=campaign, assignment__status="submitted").count()
    result = {"benchmark": "export vs COPY", "command": " ".join([".venv/bin/python", "bench/bench_export.py",
                                                                 *sys.argv[1:]]),
              "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": bd.machine_info(), "git": bd.git_info(),
              "step_labels": labels, "target_ratio": TARGET_RATIO, "target_rss_mb": TARGET_RSS_MB}
    copies = []
    with tempfile.TemporaryDirectory(prefix="bench-copy-") as tmp:
        copies.append(copy_baseline(campaign.pk, Path(tmp) / "copy.tsv"))
        bd.log(f"COPY baseline: {copies[-1]}")
        formats = []
        for fmt in args.formats.split(","):
            out = subprocess.run([sys.executable, __file__, "--child", fmt, "--db-name", args.db_name],
                                 capture_output=True, text=True, env=os.environ.copy())
            if out.returncode != 0:
                bd.log(f"{fmt} failed: {out.stderr[-2000:]}")
                return 1
            formats.append(json.loads(out.stdout.strip().splitlines()[-1]))
            bd.log(f"{fmt}: {formats[-1]}")
        copies.append(copy_baseline(campaign.pk, Path(tmp) / "copy.tsv"))
        bd.log(f"COPY baseline again: {copies[-1]}")
    base = statistics.median(c["seconds"] for c in copies)
    for f in formats:
        f["ratio_to_copy"] = round(f["seconds"] / base, 2)
        f["within_target"] = f["ratio_to_copy"] <= TARGET_RATIO and f["peak_rss_mb"] <= TARGET_RSS_MB
    result.update(copy=copies, copy_seconds=base, formats=formats)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nCOPY of {labels:,} step labels with their text: {base:.2f} s (median of {len(copies)})")
    print(f"{'format':<14}{'agg':<10}{'s':>8}{'x COPY':>8}{'rows':>9}{'MB':>7}{'RSS MB':>8}  target")
    for f in formats:
        print(f"{f['format']:<14}{f['aggregate']:<10}{f['seconds']:>8.2f}{f['ratio_to_copy']:>8.2f}{f['rows']:>9}"
              f"{f['mb']:>7.1f}{f['peak_rss_mb']:>8.1f}  {'met' if f['within_target'] else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
