"""One full active-learning cycle (retrain -> score -> refill) on a 100k-solution pool.

    .venv/bin/python bench/bench_cycle.py [--pool 100000] [--labeled 2500] [--reseed] [--cycles 1]
                                          [--db-name bench_cycle] [--out bench/results/cycle_cpu.json]

Target (issue 4): a full cycle under 15 minutes on this 2-core CPU machine at 100k solutions.

What it does:

1. Creates the database `--db-name` on the embedded PostgreSQL (or DATABASE_URL's server) and
   migrates it, so the development and test databases are never touched.
2. Seeds it through the real import service, timed:
   - `--labeled` synthetic GSM8K solutions with exact step labels (an injected, carried-forward
     error in two of three) as PRM800K phase-2 records, i.e. submitted annotator labels;
   - an unlabeled pool of `--pool` solutions: the 5,276 real model solutions of the demo file plus
     synthetic GSM8K-train solutions (references and corruptions from further seeds) up to the
     size. Correctness comes from the import's own grader.
   A database already seeded with the same parameters is reused with everything in it (earlier
   runs, the active model, the stored settings), so its next cycle is a warm-started one;
   --reseed recreates it for a first cycle from scratch.
3. Runs `--cycles` cycles with the campaign's shipped defaults through the same services the
   training worker runs (training_run_request + cycle_run_inline), and reads each stage's time
   from the run's report.
4. Checks the refill: the queue's head must be wrong-answer solutions in descending PRM score.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench.bench_dashboard import bench_database, log  # noqa: E402

SLUG = "bench-cycle"
MARKER = "bench_cycle seed v2"
TARGET_S = 15 * 60
DEMO = REPO / "labeling" / "demo_data" / "gsm8k_example_model_solutions.jsonl"
TRAIN = REPO / "active_learning" / "data" / "gsm8k_train.jsonl"


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pool", type=int, default=100_000, help="unlabeled pool solutions (default 100000)")
    p.add_argument("--labeled", type=int, default=2_500, help="labeled solutions (default 2500, ~10k labeled steps)")
    p.add_argument("--cycles", type=int, default=1)
    p.add_argument("--db-name", default="bench_cycle")
    p.add_argument("--reseed", action="store_true")
    p.add_argument("--model-config", default=None, help="JSON ModelConfig overrides for the campaign")
    p.add_argument("--train-config", default=None, help="JSON TrainConfig overrides for the campaign")
    p.add_argument("--scoring-workers", type=int, default=0,
                   help="score through this many real Celery scoring workers (one torch thread each, private Redis) "
                        "instead of in this process")
    p.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "cycle_cpu.json")
    args = p.parse_args(argv)
    if not args.db_name.startswith("bench"):
        p.error("--db-name must start with 'bench'")  # --reseed drops it
    return args


def prepare_database(args) -> bool:
    """Create (or reuse) the benchmark database; returns whether it needs seeding."""
    return bench_database(db_name=args.db_name, slug=SLUG, marker=MARKER, want=seed_params(args),
                          reseed=args.reseed)[1]


def seed_params(args) -> dict:
    return {"pool": args.pool, "labeled": args.labeled}


def write_seed_files(args, directory: Path) -> tuple[Path, Path, dict]:
    from active_learning.prm.synthetic import build_examples, prm800k_records, read_gsm8k

    # Labeled: the first problems of GSM8K train, references and corruptions (seed 0), as
    # PRM800K records from eight labelers.
    labeled = directory / "labeled.jsonl"
    truth: dict[str, str] = {}
    n = 0
    with open(labeled, "w") as fh:
        examples = itertools.islice(build_examples(read_gsm8k(TRAIN), variants=2, seed=0), args.labeled)
        for rec in prm800k_records(examples, timestamp="2026-11-01T12:00:00"):
            rec["labeler"] = f"bench-labeler-{n % 8}"
            truth[rec["question"]["problem"]] = rec["question"]["ground_truth_answer"]
            fh.write(json.dumps(rec) + "\n")
            n += 1
    labeled_problems = set(truth)
    # Pool: real model solutions first, then synthetic ones from problems not in the labeled set.
    pool = directory / "pool.jsonl"
    m = 0
    seen: set[tuple] = set()
    with open(pool, "w") as fh:
        with open(DEMO) as demo:
            for line in demo:
                rec = json.loads(line)
                for key, value in rec.items():
                    if isinstance(value, dict) and "solution" in value and m < args.pool:
                        steps = [s.strip() for s in value["solution"].split("\n") if s.strip()]
                        answer = rec["ground_truth"].rsplit("A:", 1)[-1].strip()
                        fh.write(json.dumps({"problem": rec["question"], "ground_truth_answer": answer,
                                             "steps": steps, "id": f"demo-{key}-{m}", "source": "gsm8k-test",
                                             "generator": key}) + "\n")
                        seen.add(tuple(steps))
                        m += 1
        for seed in itertools.count(1):
            if m >= args.pool:
                break
            for ex in build_examples(read_gsm8k(TRAIN), variants=4, seed=seed):
                if m >= args.pool:
                    break
                if ex.problem in labeled_problems or ex.steps in seen:
                    continue
                seen.add(ex.steps)
                if ex.answer_correct:
                    truth.setdefault(ex.problem, ex.answer)
                gt = truth.get(ex.problem)
                if gt is None:
                    continue  # build_examples yields a problem's reference first, so this is rare
                fh.write(json.dumps({"problem": ex.problem, "ground_truth_answer": gt, "steps": list(ex.steps),
                                     "answer": ex.answer, "problem_id": ex.group, "source": "gsm8k-train",
                                     "id": f"{ex.key}-s{seed}", "generator": "synthetic"}) + "\n")
                m += 1
            if seed > 50:
                raise SystemExit(f"could only build {m} distinct pool solutions")
    return labeled, pool, {"labeled_records": n, "pool_records": m}


def seed(args) -> dict:
    from labeling.models import Campaign
    from labeling.services.campaigns import campaign_create
    from labeling.services.imports import solutions_import

    campaign = campaign_create(slug=SLUG, name="Cycle benchmark", qc_rate=0.0, overlap=1,
                               description="seeding")
    out: dict = {}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.monotonic()
        labeled, pool, counts = write_seed_files(args, Path(tmp))
        out["write_files_s"] = round(time.monotonic() - t0, 1)
        out.update(counts)
        log(f"seed files written: {counts}")
        for name, path in (("labeled", labeled), ("pool", pool)):
            t0 = time.monotonic()
            res = solutions_import(campaign=campaign, path=path)
            out[f"import_{name}_s"] = round(time.monotonic() - t0, 1)
            out[f"import_{name}"] = {k: v for k, v in res.as_dict().items() if k != "disagreements"}
            log(f"imported {name} in {out[f'import_{name}_s']} s:\n{res.summary()}")
    Campaign.objects.filter(pk=campaign.pk).update(description=MARKER + json.dumps({"params": seed_params(args)}))
    return out


def dataset(campaign) -> dict:
    from active_learning.services.training import submitted_label_count
    from labeling.models import StepLabel

    tasks = campaign.tasks
    return {
        "tasks": tasks.count(),
        "unlabeled_pool": tasks.filter(completed=0).count(),
        "wrong_answer_pool": tasks.filter(completed=0, solution__answer_is_correct=False).count(),
        "submitted_labels": submitted_label_count(campaign),
        "step_labels": StepLabel.objects.filter(assignment__campaign=campaign).count(),
    }


def check_queue_head(campaign, n: int = 20) -> dict:
    """The first queued items must be wrong answers, in descending model score."""
    from active_learning.services.refill import queue_order

    head = queue_order(campaign, limit=n)
    wrong = [t for t in head if t.queue_strategy == "convincing_wrong"]
    scores = [t.queue_score for t in wrong]
    return {
        "head": len(head),
        "wrong_answer_in_head": sum(1 for t in head if t.solution.answer_is_correct is False),
        "convincing_wrong_in_head": len(wrong),
        "scores_descending": scores == sorted(scores, reverse=True),
        "top_scores": [round(s, 4) for s in scores[:5]],
    }


def cycle_with_workers(run_id: int, workers: list) -> object:
    """Train here, fan the score stage out to the real scoring workers, refill here: one full cycle."""
    from active_learning.models import TrainingRun
    from active_learning.services.refill import run_refill
    from active_learning.services.score_stage import score_stage_plan
    from active_learning.services.training import training_run_execute

    training_run_execute(run_id=run_id)
    score_stage_plan(run_id=run_id)
    while True:
        run = TrainingRun.objects.get(pk=run_id)
        if run.status != TrainingRun.Status.RUNNING or run.stage != TrainingRun.Stage.SCORING:
            break
        if any(p.poll() is not None for p in workers):
            raise SystemExit("a scoring worker died during the benchmark")
        time.sleep(0.2)
    run_refill(run_id=run_id)
    return TrainingRun.objects.get(pk=run_id)


def main(argv=None) -> None:
    args = parse_args(argv)
    redis = None
    if args.scoring_workers:
        from bench.bench_scoring import Redis

        redis = Redis(Path(tempfile.mkdtemp(prefix="bench-cycle-redis-")))
        os.environ["REDIS_URL"] = redis.url
    try:
        _main(args, redis)
    finally:
        if redis is not None:
            redis.stop()


def _main(args, redis) -> None:
    need_seed = prepare_database(args)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    import torch

    from active_learning.models import ActiveLearningConfig
    from active_learning.services.cycles import cycle_run_inline
    from active_learning.services.training import al_config_get_or_create, training_run_request
    from labeling.models import Campaign

    result: dict = {
        "machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "when": datetime.now(UTC).isoformat(timespec="seconds"), "args": {k: str(v) for k, v in vars(args).items()},
    }
    if need_seed:
        log("seeding (real import service)...")
        result["seed"] = seed(args)
    campaign = Campaign.objects.get(slug=SLUG)
    result["dataset"] = dataset(campaign)
    log(f"dataset: {result['dataset']}")
    config = al_config_get_or_create(campaign=campaign)
    if args.model_config is not None:
        config.model_config = json.loads(args.model_config)
    if args.train_config is not None:
        config.train_config = json.loads(args.train_config)
    ActiveLearningConfig.objects.filter(pk=config.pk).update(model_config=config.model_config,
                                                             train_config=config.train_config)
    result["cycles"] = []
    workers = []
    if args.scoring_workers:
        from bench.bench_scoring import start_workers

        tmp = Path(tempfile.mkdtemp(prefix="bench-cycle-workers-"))
        workers = start_workers(args.scoring_workers, argparse.Namespace(threads=1, device="cpu"), tmp)
        result["scoring_workers"] = args.scoring_workers
    try:
        for i in range(args.cycles):
            run = training_run_request(campaign=campaign, enqueue=False)
            log(f"cycle {i + 1}: run {run.pk} ({run.config['model']}, {run.config['train']})")
            t0 = time.monotonic()
            run = cycle_with_workers(run.pk, workers) if workers else cycle_run_inline(run_id=run.pk)
            wall = time.monotonic() - t0
            _record(result, run, wall, campaign)
    finally:
        if workers:
            from bench.bench_scoring import stop_workers

            stop_workers(workers)
    _write(result, args)


def _record(result, run, wall, campaign) -> None:
    rep = run.report or {}
    train = rep.get("train", {})
    scoring = rep.get("scoring", {})
    row = {
        "run": run.pk, "status": run.status, "error": run.error, "wall_s": round(wall, 1),
        "cycle_seconds": rep.get("cycle_seconds"), "data": run.data_counts,
        "train_seconds_total": rep.get("train_seconds"), "train": train,
        "train_s_per_10k_labeled_steps": round(train["seconds"] * 10_000 / train["labeled_steps"], 1)
        if train.get("labeled_steps") else None,
        "scoring": scoring, "refill": rep.get("refill"), "metrics": run.metrics,
        "queue_head": check_queue_head(campaign),
    }
    result["cycles"].append(row)
    log(json.dumps({k: row[k] for k in ("status", "wall_s", "train_seconds_total", "scoring", "queue_head")}))


def _write(result, args) -> None:
    result["target_s"] = TARGET_S
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, default=str))
    log(f"wrote {args.out}")
    bad = [c["run"] for c in result["cycles"]
           if c["status"] != "succeeded" or not c["queue_head"]["scores_descending"]
           or not c["queue_head"]["convincing_wrong_in_head"]]
    if bad:
        raise SystemExit(f"cycle(s) {bad} failed or queued the wrong head; see {args.out}")


if __name__ == "__main__":
    main()
