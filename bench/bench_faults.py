"""The fault audit, rerun: what the system does when PostgreSQL, Redis or a worker goes away.

    .venv/bin/python bench/bench_faults.py [--clients 200] [--down-s 5] [--skip-kill] [--quick]

Three scenarios, each with real processes (tests/faults/harness.py), on a
fresh embedded PostgreSQL and Redis under a temporary APP_DATA_DIR:

1. postgres: gunicorn (4 gthread workers x 8 threads) serves --clients API
   clients in a closed lease -> submit loop (tests/faults/load.py) on a
   private PostgreSQL cluster; after --warm-s the cluster is stopped
   (`pg_ctl stop -m fast`), left down --down-s, and started again; the load
   runs --after-s more. Reported: requests by status, answers that were
   neither 200 nor the JSON 503, dropped connections, acknowledged submits
   missing from the database (rows lost), double assignments, and the time
   from PostgreSQL being back to the first 200 and to the first second at
   80% of the throughput before the fault.
2. broker: a private Redis is the broker. With it stopped, an export, an
   import and a retrain are requested (the dashboard's forms and the API,
   in-process); then Redis comes back with a worker and beat's outbox relay.
   Reported: each request's latency with Redis down, and the time from
   Redis being back to both jobs succeeded.
3. kill: a Celery worker (its own process) is SIGKILLed half-way through an
   import of the 5,276-solution demo file and, separately, through an export
   of 3,000 labelings; beat's reaper runs every JOB_REAP_SECONDS with the
   shipped JOB_STALE_SECONDS. Reported: time from the kill to the job failed
   with its reason, rows and files left behind (0), and that the rerun succeeds.

Results go to bench/results/faults.json; BENCHMARKS.md and docs/reliability.md
quote them.
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "faults.json"
DEMO = REPO / "labeling" / "demo_data" / "gsm8k_example_model_solutions.jsonl"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--clients", type=int, default=200)
    p.add_argument("--workers", type=int, default=4, help="gunicorn workers (gthread, 8 threads each)")
    p.add_argument("--warm-s", type=float, default=8)
    p.add_argument("--down-s", type=float, default=5)
    p.add_argument("--after-s", type=float, default=12)
    p.add_argument("--skip-kill", action="store_true", help="leave out scenario 3 (it waits for the reaper)")
    p.add_argument("--quick", action="store_true", help="20 clients, 2 s down, and a 5 s stale limit for scenario 3")
    p.add_argument("--output", type=Path, default=RESULTS)
    return p.parse_args(argv)


def prepare_environment() -> Path:
    tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    atexit.register(lambda: shutil.rmtree(tmp, ignore_errors=True))
    for var in ("DATABASE_URL", "REDIS_URL"):
        os.environ.pop(var, None)
    os.environ.update(APP_DATA_DIR=str(tmp), DJANGO_SETTINGS_MODULE="annotate.settings", DJANGO_ENV="development",
                      DJANGO_DEBUG="0", LOG_LEVEL="WARNING")
    sys.path.insert(0, str(REPO))
    return tmp


# --- scenario 1 -------------------------------------------------------------------------------


def postgres_restart(tmp: Path, args) -> dict:
    from django.db import connection

    from tests.faults.harness import PrivatePostgres, audit_submits, child_env, free_port, gunicorn, wait_until
    from tests.faults.load import Load

    pg = PrivatePostgres(tmp)
    web = None
    try:
        pg.copy_from(connection.settings_dict)
        import subprocess

        seeded = subprocess.run([sys.executable, "-m", "tests.faults.seed_campaign", str(DEMO), str(args.clients)],
                                cwd=REPO, env=child_env(DATABASE_URL=pg.url, DJANGO_ENV="development"),
                                check=True, capture_output=True, text=True)
        seed = json.loads(seeded.stdout.strip().splitlines()[-1])
        port = free_port()
        web = gunicorn(tmp, database_url=pg.url, port=port, workers=args.workers, threads=8,
                       DJANGO_ENV="development", LOG_LEVEL="ERROR")
        import urllib.request

        def up():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    return r.status == 200
            except OSError:
                return False

        wait_until(up, timeout=60, what="gunicorn", proc=web)
        log(f"postgres: {args.clients} clients for {args.warm_s}s, then PostgreSQL down {args.down_s}s")
        load = Load(port=port, slug=seed["slug"], tokens=seed["tokens"]).start()
        started = time.monotonic()
        time.sleep(args.warm_s)
        down_at = time.monotonic()
        pg.restart(down_s=args.down_s)
        up_at = time.monotonic()
        time.sleep(args.after_s)
        load.stop()
        ended = time.monotonic()
    finally:
        if web is not None:
            web.stop()
    try:
        samples = load.samples
        acked = load.acked
        audit = audit_submits(pg.url, acked)
    finally:
        pg.stop()
    # Throughput: 200s by the half second they were answered in. With 200 clients in a closed loop
    # a request waits seconds in gunicorn's queue, so its send time says little about the server.
    # The baseline is the steady state just before the fault (the last 4 s; the first seconds are
    # gunicorn warming up with every client arriving at once).
    bucket = 0.5
    per_b = Counter(int((s.done - started) / bucket) for s in samples if s.status == 200)
    down_b, up_b, end_b = (int((t - started) / bucket) for t in (down_at, up_at, ended))
    before = [per_b[i] / bucket for i in range(max(0, down_b - int(4 / bucket)), down_b)] or [0]
    baseline = statistics.median(before)
    after_ok = [s.done for s in samples if s.status == 200 and s.done >= up_at]
    # Time from PostgreSQL being back to the end of the first whole bucket at 80% of the baseline.
    recovered_80 = next(((i + 1) * bucket - (up_at - started) for i in range(up_b + 1, end_b)
                         if per_b[i] / bucket >= 0.8 * baseline), None)
    timeline = [per_b[i] / bucket for i in range(0, end_b)]
    latency = sorted(s.done - s.t for s in samples if s.status == 200 and s.done < down_at)
    statuses = Counter(s.status for s in samples)
    bad = Counter(f"{s.status} {s.error}" for s in samples
                  if s.status not in (200, 204, -1) and (s.status, s.error) != (503, "unavailable"))
    return {
        "clients": args.clients, "gunicorn": f"{args.workers} workers x 8 threads", "down_s": round(up_at - down_at, 2),
        "requests": len(samples), "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "unexpected_answers": dict(bad), "dropped_connections": statuses.get(-1, 0),
        "json_503_during_outage": sum(1 for s in samples if s.status == 503 and s.error == "unavailable"),
        "acknowledged_submits": len(acked), "rows_lost": len(audit["lost"]),
        "double_assignments": audit["double_assignments"], "tasks_over_overlap": audit["tasks_over_overlap"],
        "throughput_before_per_s": baseline,
        "latency_p50_before_s": round(latency[len(latency) // 2], 2) if latency else None,
        "first_200_answered_after_back_s": round(min(after_ok) - up_at, 3) if after_ok else None,
        "recovered_to_80pct_s": round(recovered_80, 1) if recovered_80 is not None else None,
        "ok_per_s_by_half_second": timeline,
        "fault_window_half_seconds": [down_b, up_b],
    }


# --- scenario 2 -------------------------------------------------------------------------------


def broker_outage(tmp: Path) -> dict:
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import Client
    from rest_framework.authtoken.models import Token

    from active_learning.models import ActiveLearningConfig
    from annotate.celery import app
    from labeling.models import Job
    from labeling.services.campaigns import campaign_create, user_create
    from labeling.services.imports import solutions_import
    from labeling.services.outbox import outbox_relay
    from tests.faults.harness import PrivateRedis, bulk_label, celery_worker, wait_until

    redis_server = PrivateRedis(tmp)
    redis_server.start()
    saved = (app.conf.broker_url, app.conf.result_backend, settings.CELERY_BROKER_URL)
    app.conf.broker_url = app.conf.result_backend = settings.CELERY_BROKER_URL = redis_server.url
    app._pool = None
    app.amqp._producer_pool = None
    worker = None
    try:
        manager = user_create(username="bench-boss", password=None, is_staff=True)
        campaign = campaign_create(slug="bench-broker", name="Broker outage", created_by=manager)
        sample = tmp / "sample.jsonl"
        with open(DEMO, "rb") as src:
            sample.write_bytes(b"".join(next(src) for _ in range(200)))
        solutions_import(campaign=campaign, path=sample)
        bulk_label(campaign=campaign, user=manager, n=300)
        ActiveLearningConfig.objects.create(campaign=campaign, min_labels=0)
        web = Client()
        web.force_login(manager)
        api = Client(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=manager).key}")

        redis_server.stop()
        timings = {}
        t0 = time.monotonic()
        r = web.post(f"/manage/{campaign.slug}/data/export/", {"format": "prm800k", "aggregate": "none"})
        timings["export_request_s"] = (round(time.monotonic() - t0, 3), r.status_code)
        t0 = time.monotonic()
        r = web.post(f"/manage/{campaign.slug}/data/import/", {"format": "auto", "file": SimpleUploadedFile(
            "more.jsonl", sample.read_bytes()[:20000].rsplit(b"\n", 1)[0] + b"\n")})
        timings["import_request_s"] = (round(time.monotonic() - t0, 3), r.status_code)
        t0 = time.monotonic()
        r = api.post(f"/api/manage/campaigns/{campaign.slug}/retrain/", content_type="application/json")
        timings["retrain_request_s"] = (round(time.monotonic() - t0, 3), r.status_code)
        waiting = sorted(Job.objects.filter(campaign=campaign).values_list("status", flat=True))
        log(f"broker: with Redis down {timings}; jobs {waiting}")

        redis_server.start()
        back = time.monotonic()
        worker = celery_worker(tmp, DJANGO_ENV="development")
        relayed = 0

        def done():
            nonlocal relayed
            relayed += outbox_relay()  # what beat's relay does every OUTBOX_RELAY_SECONDS
            return not Job.objects.filter(campaign=campaign).exclude(status__in=["succeeded", "failed"]).exists()

        wait_until(done, timeout=120, what="the jobs to run after the outage", interval=0.5, proc=worker)
        final = dict(Job.objects.filter(campaign=campaign).values_list("kind", "status"))
        return {"requests_with_redis_down": {k: {"seconds": v[0], "status": v[1]} for k, v in timings.items()},
                "jobs_while_down": waiting, "messages_relayed": relayed, "jobs_after": final,
                "jobs_done_after_back_s": round(time.monotonic() - back, 2)}
    finally:
        if worker is not None:
            worker.stop()
        app.conf.broker_url, app.conf.result_backend, settings.CELERY_BROKER_URL = saved
        app._pool = None
        app.amqp._producer_pool = None
        if redis_server.proc and redis_server.proc.poll() is None:
            redis_server.stop()


# --- scenario 3 -------------------------------------------------------------------------------


def worker_kill(tmp: Path, stale_s: int | None) -> dict:
    from django.conf import settings

    from labeling.models import Job, Solution, Task
    from labeling.services.campaigns import campaign_create, user_create
    from labeling.services.imports import solutions_import
    from labeling.services.jobs import export_job_create, import_job_create, jobs_reap
    from tests.faults.harness import bulk_label, celery_worker, wait_until

    if stale_s is not None:
        settings.JOB_STALE_SECONDS = stale_s
    reap_every = float(os.environ.get("JOB_REAP_SECONDS", "30")) if stale_s is None else 1.0
    out: dict = {"job_stale_seconds": settings.JOB_STALE_SECONDS, "reaper_every_s": reap_every,
                 "heartbeat_every_s": settings.JOB_HEARTBEAT_SECONDS}

    def reaped(job_id, killed_at):
        def failed():
            jobs_reap()
            return Job.objects.get(pk=job_id).status == "failed"
        while not failed():
            time.sleep(reap_every)
        return round(time.monotonic() - killed_at, 1), Job.objects.get(pk=job_id).error

    # import
    campaign = campaign_create(slug="bench-kill-import", name="Kill mid-import")
    data = DEMO.read_bytes()
    worker = celery_worker(tmp, DJANGO_ENV="development", IMPORT_BATCH_SIZE="50")
    try:
        job = import_job_create(campaign=campaign, filename="demo.jsonl", chunks=iter([data]), user=None)
        half = data.count(b"\n") // 2
        seen = wait_until(lambda: (j := Job.objects.get(pk=job.pk)).progress_done >= half and j, timeout=300,
                          what="half the import", interval=0.2, proc=worker)
        worker.kill()
        killed = time.monotonic()
    finally:
        worker.stop()
    took, error = reaped(job.pk, killed)
    out["import"] = {"progress_seen_at_kill": f"{seen.progress_done}/{seen.progress_total} lines",
                     "kill_to_failed_s": took, "error": error,
                     "solutions_left": Solution.objects.filter(tasks__campaign=campaign).count(),
                     "upload_left": Path(job.params["path"]).exists()}
    worker = celery_worker(tmp, DJANGO_ENV="development")
    try:
        again = import_job_create(campaign=campaign, filename="demo.jsonl", chunks=iter([data]), user=None)
        wait_until(lambda: Job.objects.get(pk=again.pk).status in ("succeeded", "failed"), timeout=300,
                   what="the rerun", interval=0.5, proc=worker)
    finally:
        worker.stop()
    out["import"]["rerun"] = Job.objects.get(pk=again.pk).status
    out["import"]["tasks_after_rerun"] = Task.objects.filter(campaign=campaign).count()
    log(f"kill: import {out['import']}")

    # export
    labeled = campaign_create(slug="bench-kill-export", name="Kill mid-export")
    solutions_import(campaign=labeled, path=DEMO)
    bulk_label(campaign=labeled, user=user_create(username="bench-labeler", password=None), n=3000)
    out_dir = Path(settings.EXPORT_DIR) / labeled.slug
    worker = celery_worker(tmp, DJANGO_ENV="development", EXPORT_CHUNK_SIZE="5")
    try:
        job = export_job_create(campaign=labeled, user=None, fmt="prm800k")
        wait_until(lambda: any(p.stat().st_size > 100_000 for p in out_dir.glob(".*.jsonl.*")), timeout=300,
                   what="a partly written export", interval=0.1, proc=worker)
        worker.kill()
        killed = time.monotonic()
    finally:
        worker.stop()
    took, error = reaped(job.pk, killed)
    out["export"] = {"kill_to_failed_s": took, "error": error, "files_left": sorted(p.name for p in out_dir.iterdir())}
    worker = celery_worker(tmp, DJANGO_ENV="development")
    try:
        again = export_job_create(campaign=labeled, user=None, fmt="prm800k")
        wait_until(lambda: Job.objects.get(pk=again.pk).status in ("succeeded", "failed"), timeout=300,
                   what="the export rerun", interval=0.5, proc=worker)
    finally:
        worker.stop()
    rerun = Job.objects.get(pk=again.pk)
    out["export"]["rerun"] = rerun.status
    out["export"]["rerun_rows"] = rerun.result.get("rows")
    log(f"kill: export {out['export']}")
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.quick:
        args.clients, args.down_s, args.warm_s, args.after_s = 20, 2, 4, 6
    tmp = prepare_environment()
    from annotate import embedded

    result = {"benchmark": "fault audit", "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "args": {
        k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}, "nproc": os.cpu_count()}
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0, interactive=False)
        result["postgres_restart"] = postgres_restart(tmp, args)
        log(f"postgres: {result['postgres_restart']}")
        result["broker_outage"] = broker_outage(tmp)
        log(f"broker: {result['broker_outage']}")
        if not args.skip_kill:
            result["worker_sigkill"] = worker_kill(tmp, 5 if args.quick else None)
    finally:
        embedded.stop_started_here()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, default=str) + "\n")
    log(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
