"""The fanned-out score stage through real Celery scoring workers: 1 against 2 worker processes.

    .venv/bin/python bench/bench_scoring.py [--pool 20000] [--workers 1,2] [--repeats 1] [--chunk-size 1000]
                                            [--threads 1] [--device cpu] [--db-name bench_scoring]
                                            [--out bench/results/scoring_fanout.json]

Target (issue 16): with one torch thread per process, 2 scoring workers score the pool at least
1.8x as fast as 1 on this machine. Also projects the score stage of 1M and 10M pools for N
workers from the measured per-chunk figures.

What it does:

1. Creates (or reuses) the database `--db-name` and seeds it like bench_cycle.py (the real
   import service): 500 labeled synthetic solutions and a pool of `--pool` solutions (the 5,276
   real GSM8K model solutions first, then synthetic ones).
2. Trains the campaign's model once with the shipped architecture (the bundled MiniLM cut to 2
   layers) and a few optimizer steps: throughput does not depend on what the model learned.
3. Starts a private Redis on a free port (nothing shared with `make run`), then for each worker
   count: clears the model's scores, starts that many real `celery worker -Q scoring -c 1
   --torch-threads T` processes and waits until they are ready, plans the stage (the same
   service score_pool calls) and times it until the last chunk closes it. Worker start-up is
   outside the timing; each worker's one model load is inside it.
4. Reads the chunk rows: chunks per worker, per-chunk seconds, and how often the model loaded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_dashboard import bench_database, log  # noqa: E402

SLUG = "bench-cycle"  # bench_cycle's seed, reused as is
MARKER = "bench_cycle seed v2"
TARGET_RATIO = 1.8


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", type=int, default=20_000)
    p.add_argument("--labeled", type=int, default=500)
    p.add_argument("--workers", default="1,2", help="worker counts to time, comma-separated (first: the baseline)")
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--chunk-size", type=int, default=1000)
    p.add_argument("--threads", type=int, default=1, help="torch threads per worker process")
    p.add_argument("--device", default="cpu")
    p.add_argument("--db-name", default="bench_scoring")
    p.add_argument("--reseed", action="store_true")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "scoring_fanout.json")
    args = p.parse_args(argv)
    if not args.db_name.startswith("bench"):
        p.error("--db-name must start with 'bench'")
    return args


class Redis:
    def __init__(self, directory: Path):
        from annotate import embedded

        self.port = embedded._free_port()
        self.proc = subprocess.Popen([embedded._redis_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
                                      "--dir", str(directory), "--save", "", "--appendonly", "no"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not embedded._redis_ping(self.port):
            if time.monotonic() > deadline:
                raise SystemExit("private Redis did not start")
            time.sleep(0.05)
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def start_workers(n: int, args, tmp: Path) -> list[subprocess.Popen]:
    procs = []
    env = {**os.environ, "LOG_LEVEL": "INFO", "PYTHONUNBUFFERED": "1"}
    for i in range(n):
        log_path = tmp / f"worker-{n}-{i}.log"
        cmd = [sys.executable, "-m", "celery", "-A", "annotate", "worker", "-Q", "scoring", "-n",
               f"bench-scoring-{n}-{i}@%h", "-c", "1", "--torch-threads", str(args.threads), "--device", args.device,
               "--without-gossip", "--without-mingle", "--loglevel", "INFO"]
        procs.append(subprocess.Popen(cmd, cwd=REPO, env=env, stdout=open(log_path, "w"),  # noqa: SIM115
                                      stderr=subprocess.STDOUT, start_new_session=True))
        procs[-1].log_path = log_path
    deadline = time.monotonic() + 120
    for p in procs:
        while "ready." not in p.log_path.read_text(errors="replace"):
            if p.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"a scoring worker did not start:\n{p.log_path.read_text()[-2000:]}")
            time.sleep(0.2)
    return procs


def stop_workers(procs) -> None:
    import signal

    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGTERM)
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)


def model_for(campaign):
    """The campaign's active model, trained once here (few steps) if it has none."""
    from active_learning.models import ActiveLearningConfig, PRMModel
    from active_learning.services.training import al_config_get_or_create, training_run_execute, training_run_request

    model = PRMModel.objects.filter(campaign=campaign, is_active=True).first()
    if model is not None and Path(model.checkpoint_path).is_dir():
        return model
    config = al_config_get_or_create(campaign=campaign)
    ActiveLearningConfig.objects.filter(pk=config.pk).update(train_config={"max_steps": 20}, promotion_gate=False,
                                                             max_regression=None)
    run = training_run_request(campaign=campaign, enqueue=False)
    training_run_execute(run_id=run.pk)
    from active_learning.models import TrainingRun

    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED)
    return PRMModel.objects.get(campaign=campaign, is_active=True)


def time_stage(campaign, model, n_workers: int, args, tmp: Path) -> dict:
    from django.utils import timezone

    from active_learning.models import ScoringChunk, SolutionScore, TrainingRun
    from active_learning.services.score_stage import score_stage_plan
    from active_learning.services.training import _run_config, al_config_get_or_create

    SolutionScore.objects.filter(model=model).delete()
    procs = start_workers(n_workers, args, tmp)
    try:
        config = _run_config(al_config_get_or_create(campaign=campaign))
        run = TrainingRun.objects.create(campaign=campaign, status=TrainingRun.Status.RUNNING,
                                         stage=TrainingRun.Stage.SCORING, model=model, config=config,
                                         started_at=timezone.now(), worker="bench")
        t0 = time.monotonic()
        ids = score_stage_plan(run_id=run.pk, chunk_size=args.chunk_size)
        while True:
            run.refresh_from_db()
            if run.stage != TrainingRun.Stage.SCORING or run.status != TrainingRun.Status.RUNNING:
                break
            if any(p.poll() is not None for p in procs):
                raise SystemExit("a scoring worker died during the benchmark")
            time.sleep(0.1)
        wall = time.monotonic() - t0
    finally:
        stop_workers(procs)
    if run.status != TrainingRun.Status.RUNNING:
        raise SystemExit(f"the stage failed: {run.error}")
    TrainingRun.objects.filter(pk=run.pk).update(status=TrainingRun.Status.SUCCEEDED, stage=TrainingRun.Stage.DONE)
    chunks = list(ScoringChunk.objects.filter(run=run))
    scored = SolutionScore.objects.filter(model=model).count()
    per_worker: dict[str, int] = {}
    for c in chunks:
        per_worker[c.worker] = per_worker.get(c.worker, 0) + 1
    secs = [c.seconds for c in chunks if c.seconds and c.scored == args.chunk_size]
    return {
        "workers": n_workers, "chunks": len(ids), "scored": scored, "wall_s": round(wall, 2),
        "solutions_per_s": round(scored / wall, 1), "chunks_per_worker": sorted(per_worker.values()),
        "model_loads": sum(c.model_loaded for c in chunks),
        "full_chunk_s_median": round(statistics.median(secs), 3) if secs else None,
        "plan_s": run.report.get("scoring", {}).get("plan_seconds"),
    }


def projections(chunk_s: float, chunk_size: int, plan_s_per_100k: float) -> list[dict]:
    """Score-stage wall time for big pools: chunks spread evenly over N workers, plus planning."""
    rows = []
    for pool in (1_000_000, 10_000_000):
        chunks = -(-pool // chunk_size)
        for n in (1, 2, 8, 32):
            rows.append({"pool": pool, "workers": n, "chunks": chunks,
                         "stage_s": round(-(-chunks // n) * chunk_s + plan_s_per_100k * pool / 100_000, 0)})
    return rows


def main(argv=None) -> None:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="bench-scoring-"))
    redis = Redis(tmp)
    os.environ["REDIS_URL"] = redis.url
    try:
        _, need_seed = bench_database(db_name=args.db_name, slug=SLUG, marker=MARKER,
                                      want={"pool": args.pool, "labeled": args.labeled}, reseed=args.reseed)
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from bench import bench_cycle
        from labeling.models import Campaign

        if need_seed:
            log("seeding (real import service)...")
            bench_cycle.seed(argparse.Namespace(pool=args.pool, labeled=args.labeled))
        campaign = Campaign.objects.get(slug=SLUG)
        model = model_for(campaign)
        counts = [int(x) for x in args.workers.split(",")]
        result: dict = {
            "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
            "when": datetime.now(UTC).isoformat(timespec="seconds"), "args": {k: str(v) for k, v in vars(args).items()},
            "model": {"version": model.version, "backbone": model.backbone, "config": model.config.get("model")},
            "pool": campaign.tasks.filter(completed=0).count(), "runs": [],
        }
        for rep in range(args.repeats):
            for n in counts:
                log(f"repeat {rep + 1}: {n} scoring worker(s)...")
                row = time_stage(campaign, model, n, args, tmp)
                row["repeat"] = rep + 1
                result["runs"].append(row)
                log(json.dumps(row))
        by_n = {n: [r["solutions_per_s"] for r in result["runs"] if r["workers"] == n] for n in counts}
        base = statistics.median(by_n[counts[0]])
        result["throughput_median"] = {str(n): statistics.median(v) for n, v in by_n.items()}
        result["ratio_vs_baseline"] = {str(n): round(statistics.median(v) / base, 2) for n, v in by_n.items()}
        if 2 in by_n and counts[0] == 1:
            result["target"] = {"ratio_2_vs_1": TARGET_RATIO, "met": result["ratio_vs_baseline"]["2"] >= TARGET_RATIO}
        one = [r for r in result["runs"] if r["workers"] == counts[0] and r["full_chunk_s_median"]]
        if one:
            chunk_s = statistics.median(r["full_chunk_s_median"] for r in one)
            plan = statistics.median(r["plan_s"] or 0.0 for r in one) * 100_000 / result["pool"]
            result["projection"] = {"chunk_s": chunk_s, "chunk_size": args.chunk_size,
                                    "note": "chunks spread evenly over N identical workers, one torch thread each; "
                                            "planning scaled linearly from this pool",
                                    "rows": projections(chunk_s, args.chunk_size, plan)}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2))
        log(f"ratios {result['ratio_vs_baseline']}; wrote {args.out}")
    finally:
        redis.stop()


if __name__ == "__main__":
    main()
