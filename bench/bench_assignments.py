"""Benchmark of the annotator assignment engine over real HTTP (gunicorn + PostgreSQL).

    .venv/bin/python bench/bench_assignments.py [--solutions 100000] [--annotators 50] [--seconds 60]
                                                [--workers 4] [--threads 4] [--overlap 2] ...

What it does, in order:

1. Points APP_DATA_DIR at a fresh temporary directory *before* Django is
   imported, so the embedded PostgreSQL and Redis (annotate/embedded.py) are
   new and separate from the development data under .var/. If DATABASE_URL /
   REDIS_URL are set they are used instead (and the benchmark's rows are left
   there: campaign and user names carry a random run id).
2. Migrates, writes a synthetic `solutions` JSONL file (N solutions, 3-5 steps
   each, 4 solutions per problem, ~20% wrong final answers so that the grader
   really runs) and imports it with the real import path
   (labeling.services.imports.solutions_import), timing it. Creates the
   annotators (labeling.services.campaigns.user_create / membership_set) and a
   DRF token for each.
3. Starts gunicorn (gthread workers) on 127.0.0.1 against the same database,
   with DJANGO_DEBUG=0.
4. Runs one thread per simulated annotator, each with its own keep-alive
   http.client connection, looping: POST /api/campaigns/<slug>/next/, then
   POST /api/assignments/<id>/submit/ (every step rated positive), and with
   probability --replay-rate the same submit again (same submission_id). This is
   a closed loop with no think time unless --think-ms is given, i.e. a
   saturation test: each annotator sends its next request as soon as the last
   one is answered.
5. Stops gunicorn, then checks in the database: no task over its overlap, no
   (task, annotator) pair twice, Task.taken/completed agree with the rows,
   every acknowledged submit is stored with its submission_id and its step
   labels, replays created nothing. Then runs diagnostics on the now idle
   database: EXPLAIN (ANALYZE, BUFFERS) of the task-picking query, table
   statistics, and the SQL count and in-process time of one next + submit.
6. Prints the report, writes bench/results/assignments.json, stops the
   embedded servers it started and deletes its temporary directory.
"""

from __future__ import annotations

import argparse
import atexit
import http.client
import json
import math
import os
import platform
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import warnings
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "bench" / "results" / "assignments.json"


# --- arguments -----------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--solutions", type=int, default=100_000, help="solutions in the campaign (default 100000)")
    p.add_argument("--annotators", type=int, default=50, help="concurrent simulated annotators (default 50)")
    p.add_argument("--seconds", type=float, default=60, help="measured duration after warm-up (default 60)")
    p.add_argument("--warmup", type=float, default=5,
                   help="seconds of load before the measured window; their requests are reported apart (default 5)")
    p.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker, gthread (default 4)")
    p.add_argument("--overlap", type=int, default=2, help="annotators per solution (campaign overlap, default 2)")
    p.add_argument("--mode", choices=["first_error", "all_steps"], default="first_error")
    p.add_argument("--qc-rate", type=float, default=0.05,
                   help="campaign qc_rate (default 0.05, the product default; the pool has no gold items)")
    p.add_argument("--replay-rate", type=float, default=0.05, help="share of submits replayed (default 0.05)")
    p.add_argument("--think-ms", type=float, default=0,
                   help="mean pause between an annotator's cycles, ms (default 0 = closed loop, saturation)")
    p.add_argument("--timeout", type=float, default=30, help="client socket timeout, seconds (default 30)")
    p.add_argument("--port", type=int, default=0, help="gunicorn port (default: a free one)")
    p.add_argument("--seed", type=int, default=20260101)
    p.add_argument("--output", type=Path, default=RESULTS)
    p.add_argument("--keep-data", action="store_true", help="keep the temporary data dir (prints its path)")
    p.add_argument("--profile", action="store_true",
                   help="after the run, cProfile 20 in-process next+submit cycles and store the top functions")
    return p.parse_args(argv)


# --- environment: must happen before Django is imported ---------------------------------

def prepare_environment() -> tuple[Path | None, bool]:
    """Fresh APP_DATA_DIR unless both URLs are given. Returns (temp dir, external database?)."""
    external_db = bool(os.environ.get("DATABASE_URL"))
    tmp = Path(tempfile.mkdtemp(prefix="bench-assign-"))
    # Registered first so it runs last: pgserver's own exit hooks recreate the runtime dir inside it.
    atexit.register(lambda: None if os.environ.get("BENCH_KEEP_DATA") else shutil.rmtree(tmp, ignore_errors=True))
    os.environ["APP_DATA_DIR"] = str(tmp)
    os.environ["DJANGO_SETTINGS_MODULE"] = "annotate.settings"
    os.environ["DJANGO_ENV"] = "development"
    # DEBUG off here too: with DEBUG on Django keeps every query of the import in memory.
    os.environ["DJANGO_DEBUG"] = "0"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    sys.path.insert(0, str(REPO))
    return tmp, external_db


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- synthetic data ------------------------------------------------------------------


def write_solutions_jsonl(path: Path, n: int, rng: random.Random) -> dict:
    """N solutions of the `solutions` format: 4 per problem, 3-5 steps, ~20% wrong answers."""
    per_problem = 4
    wrong = 0
    steps_total = 0
    with open(path, "w") as fh:
        for i in range(n):
            pid = i // per_problem
            a, b, c = 17 + pid % 83, 3 + pid % 29, 2 + pid % 7
            truth = a + b * c
            n_steps = rng.randint(3, 5)
            is_wrong = rng.random() < 0.2
            answer = truth + rng.randint(1, 9) if is_wrong else truth
            wrong += is_wrong
            steps = [
                f"Step {k + 1} of attempt {i}: we have {a} + {b} \\cdot {c}; partial value {a + k * b}."
                for k in range(n_steps - 1)
            ]
            steps.append(f"So the result is ${answer}$.\n\n# Answer\n\n{answer}")
            steps_total += n_steps
            rec = {
                "problem": f"Benchmark problem {pid}: compute ${a} + {b} \\cdot {c}$.",
                "problem_id": f"bench-{pid}",
                "source": "bench",
                "ground_truth_answer": str(truth),
                "steps": steps,
                "generator": "bench-synthetic",
                "id": f"bench-sol-{i}",
            }
            fh.write(json.dumps(rec) + "\n")
    return {"solutions": n, "problems": math.ceil(n / per_problem), "steps": steps_total, "wrong_answers": wrong,
            "file_bytes": path.stat().st_size}


# --- process CPU accounting (Linux /proc) ------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, CPU seconds) for every process we can read.

    CPU seconds are utime + stime + cutime + cstime: the last two hold the
    time of children already reaped (gunicorn workers, PostgreSQL backends
    that closed after DB_CONN_MAX_AGE, autovacuum workers), so a tree's sum
    does not drop when a child exits.
    """
    out = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = raw[raw.rindex(")") + 2:].split()
        out[int(entry)] = (int(fields[1]), sum(int(f) for f in fields[11:15]) / CLK_TCK)
    return out


def tree_cpu(root: int | None, table: dict[int, tuple[int, float]]) -> float | None:
    if not root or root not in table:
        return None
    children = defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    total, todo = 0.0, [root]
    while todo:
        pid = todo.pop()
        total += table[pid][1]
        todo.extend(children[pid])
    return total


def machine_busy() -> tuple[float, float]:
    """(busy jiffies, total jiffies) from /proc/stat."""
    vals = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = vals[3] + vals[4]
    return sum(vals) - idle, sum(vals)


# --- gunicorn ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(args, port: int, env: dict, logfile: Path) -> tuple[subprocess.Popen, list[str]]:
    cmd = [
        sys.executable, "-m", "gunicorn", "annotate.wsgi:application",
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(args.workers),
        "--worker-class", "gthread", "--threads", str(args.threads),
        "--keep-alive", "75", "--timeout", "120", "--backlog", "2048",
        "--log-level", "warning",
    ]
    fh = open(logfile, "wb")  # noqa: SIM115 - handed to the child, closed by the OS
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    return proc, cmd


def wait_http(port: int, token: str, proc: subprocess.Popen, deadline_s: float = 60) -> None:
    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gunicorn exited with code {proc.returncode}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/campaigns/", headers={"Authorization": f"Token {token}"})
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError("gunicorn did not answer within 60 s")


def warm_workers(port: int, tokens: list[str], n: int) -> None:
    """A few cheap GETs over separate connections so most workers have imported the app before timing."""
    for i in range(n):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/campaigns/", headers={"Authorization": f"Token {tokens[i % len(tokens)]}"})
            conn.getresponse().read()
            conn.close()
        except OSError:
            pass


def connections_per_worker(port: int) -> dict[str, int]:
    """Established server-side connections on `port`, counted per gunicorn worker pid (via `ss -p`)."""
    try:
        text = subprocess.run(["ss", "-Htnp", "state", "established", f"( sport = :{port} )"],
                              capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return {}
    counts: Counter = Counter()
    for line in text.splitlines():
        pids = set(re.findall(r"pid=(\d+)", line))
        counts[",".join(sorted(pids)) or "?"] += 1
    return dict(sorted(counts.items()))


def stop_process_group(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


# --- the simulated annotators ---------------------------------------------------------


class Annotator(threading.Thread):
    def __init__(self, *, idx: int, token: str, port: int, slug: str, args, start_evt: threading.Event,
                 stop_at: list[float], seed: int) -> None:
        super().__init__(name=f"annotator-{idx}", daemon=True)
        self.idx = idx
        self.port = port
        self.slug = slug
        self.args = args
        self.start_evt = start_evt
        self.stop_at = stop_at
        self.rng = random.Random(seed)
        self.headers = {"Authorization": f"Token {token}", "Content-Type": "application/json",
                        "Accept": "application/json"}
        self.conn: http.client.HTTPConnection | None = None
        # (kind, t_start, latency_s, status) per request; status -1 = connection error.
        self.samples: list[tuple[str, float, float, int]] = []
        self.acked: list[dict] = []          # submits answered 200
        self.replays: list[dict] = []        # replays: same submission id again
        self.leased: list[int] = []          # assignment ids received from next
        self.errors: list[str] = []
        self.exhausted = False
        self.retries = Counter()

    def _connect(self) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.args.timeout)
        self.conn.connect()
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _post(self, kind: str, path: str, body: dict) -> tuple[int, dict | None]:
        data = json.dumps(body).encode()
        t0 = time.perf_counter()
        try:
            if self.conn is None:
                self._connect()
            self.conn.request("POST", path, body=data, headers=self.headers)
            resp = self.conn.getresponse()
            raw = resp.read()
        except (OSError, http.client.HTTPException) as exc:
            self.samples.append((kind, t0, time.perf_counter() - t0, -1))
            if len(self.errors) < 50:
                self.errors.append(f"{kind}: {type(exc).__name__}: {exc}")
            if self.conn is not None:
                self.conn.close()
            self.conn = None
            return -1, None
        self.samples.append((kind, t0, time.perf_counter() - t0, resp.status))
        if self.conn.sock is None:  # the server closed the connection: reconnect (with TCP_NODELAY) next time
            self.conn = None
        if resp.status >= 300 and len(self.errors) < 50:
            self.errors.append(f"{kind}: HTTP {resp.status}: {raw[:300]!r}")
        try:
            payload = json.loads(raw) if raw else None
        except ValueError:
            payload = None
        return resp.status, payload

    def run(self) -> None:
        try:
            self._connect()
        except OSError as exc:
            self.errors.append(f"connect: {exc}")
            self.conn = None
        self.start_evt.wait()
        next_path = f"/api/campaigns/{self.slug}/next/"
        while time.perf_counter() < self.stop_at[0]:
            status, task = self._post("next", next_path, {})
            if status == -1:  # connection trouble: next is safe to repeat (it renews our own lease)
                self.retries["next"] += 1
                time.sleep(0.05)
                continue
            if status == 204:
                self.exhausted = True
                break
            if status != 200:
                time.sleep(0.05)
                continue
            aid = task["id"]
            self.leased.append(aid)
            n_steps = len(task["steps"])
            sid = str(uuid.uuid4())
            body = {"submission_id": sid, "ratings": [{"step": i, "rating": 1} for i in range(n_steps)],
                    "finish_reason": "auto", "active_ms": 1000}
            path = f"/api/assignments/{aid}/submit/"
            status, payload = self._post("submit", path, body)
            for _ in range(3):  # outcome unknown: retry with the same submission id (what idempotency is for)
                if status != -1:
                    break
                self.retries["submit"] += 1
                status, payload = self._post("submit", path, body)
            if status == 200:
                self.acked.append({"assignment": aid, "submission_id": sid, "steps": n_steps,
                                   "status": payload.get("status") if payload else None})
                if self.rng.random() < self.args.replay_rate:
                    r_status, r_payload = self._post("replay", path, body)
                    self.replays.append({"assignment": aid, "submission_id": sid, "status": r_status,
                                         "same": bool(r_payload) and r_payload.get("id") == aid
                                         and r_payload.get("status") == "submitted"})
            if self.args.think_ms > 0:
                time.sleep(self.rng.uniform(0.5, 1.5) * self.args.think_ms / 1000)
        if self.conn is not None:
            self.conn.close()


# --- statistics ------------------------------------------------------------------------


def pct(sorted_vals: list[float], p: float) -> float | None:
    if not sorted_vals:
        return None
    k = max(0, math.ceil(p / 100 * len(sorted_vals)) - 1)
    return sorted_vals[k]


def latency_stats(vals: list[float]) -> dict:
    s = sorted(v * 1000 for v in vals)
    if not s:
        return {"count": 0}
    return {
        "count": len(s),
        "mean_ms": round(sum(s) / len(s), 2),
        "p50_ms": round(pct(s, 50), 2),
        "p95_ms": round(pct(s, 95), 2),
        "p99_ms": round(pct(s, 99), 2),
        "p999_ms": round(pct(s, 99.9), 2),
        "max_ms": round(s[-1], 2),
        "within_50ms_pct": round(100 * sum(v <= 50 for v in s) / len(s), 2),
    }


# --- checks and diagnostics ----------------------------------------------------------------


def verify(campaign, annotators: list[Annotator]) -> dict:
    from django.db import connection
    from django.db.models import Count, Min, Sum

    from labeling.models import Assignment, StepLabel, Task

    cid = campaign.pk
    with connection.cursor() as cur:
        cur.execute(
            """SELECT count(*) FROM (SELECT task_id FROM labeling_assignment
                 WHERE campaign_id = %s AND status IN ('leased', 'submitted')
                 GROUP BY task_id HAVING count(*) > %s) x""",
            [cid, campaign.overlap],
        )
        over_overlap = cur.fetchone()[0]
        cur.execute(
            """SELECT count(*) FROM (SELECT 1 FROM labeling_assignment WHERE campaign_id = %s
                 GROUP BY task_id, annotator_id HAVING count(*) > 1) x""",
            [cid],
        )
        dup_pairs = cur.fetchone()[0]
        cur.execute(
            """SELECT count(*) FROM labeling_task t LEFT JOIN (
                   SELECT task_id, count(*) FILTER (WHERE status IN ('leased', 'submitted')) AS taken,
                          count(*) FILTER (WHERE status = 'submitted') AS completed
                   FROM labeling_assignment WHERE campaign_id = %s GROUP BY task_id) a ON a.task_id = t.id
               WHERE t.campaign_id = %s AND (t.taken <> coalesce(a.taken, 0)
                     OR t.completed <> coalesce(a.completed, 0)
                     OR t.is_open <> (coalesce(a.taken, 0) < %s))""",
            [cid, cid, campaign.overlap],
        )
        counter_mismatch = cur.fetchone()[0]

    # Client side: an assignment id handed to two annotators would be a double assignment too.
    owner: dict[int, int] = {}
    cross_owner = 0
    for a in annotators:
        for aid in set(a.leased):
            if aid in owner and owner[aid] != a.idx:
                cross_owner += 1
            owner[aid] = a.idx

    acked = [x for a in annotators for x in a.acked]
    by_sid = {x["submission_id"]: x for x in acked}
    stored = {}
    sids = list(by_sid)
    for i in range(0, len(sids), 5000):
        for row in (
            Assignment.objects.filter(submission_id__in=sids[i:i + 5000])
            .annotate(n_labels=Count("step_labels"), rating_sum=Sum("step_labels__rating"),
                      min_rating=Min("step_labels__rating"))
            .values("id", "submission_id", "status", "n_labels", "rating_sum", "min_rating")
        ):
            stored[str(row["submission_id"])] = row
    lost, wrong_rows = [], []
    for sid, x in by_sid.items():
        row = stored.get(sid)
        if row is None or row["status"] != "submitted" or row["id"] != x["assignment"]:
            lost.append({"ack": x, "row": row and {k: str(v) for k, v in row.items()}})
        elif row["n_labels"] != x["steps"] or row["rating_sum"] != x["steps"] or row["min_rating"] != 1:
            wrong_rows.append({"ack": x, "row": {k: str(v) for k, v in row.items()}})

    native = Assignment.objects.filter(campaign_id=cid, source="native")
    submitted_rows = native.filter(status="submitted").count()
    labels_rows = StepLabel.objects.filter(assignment__campaign_id=cid, assignment__source="native").count()
    replays = [r for a in annotators for r in a.replays]
    status_counts = dict(Counter(native.values_list("status", flat=True)))
    return {
        "tasks_over_overlap": over_overlap,
        "duplicate_task_annotator_pairs": dup_pairs,
        "assignment_ids_served_to_two_annotators": cross_owner,
        "double_assignments": over_overlap + dup_pairs + cross_owner,
        "task_counter_mismatches": counter_mismatch,
        "acknowledged_submits": len(acked),
        "acknowledged_distinct_submission_ids": len(by_sid),
        "lost_submissions": len(lost),
        "lost_examples": lost[:5],
        "submissions_with_wrong_labels": len(wrong_rows),
        "wrong_label_examples": wrong_rows[:5],
        "submitted_rows_in_db": submitted_rows,
        "submitted_rows_not_acknowledged": submitted_rows - len(by_sid),
        "step_label_rows_in_db": labels_rows,
        "step_labels_expected": sum(x["steps"] for x in by_sid.values()),
        "replays": len(replays),
        "replays_ok": sum(r["status"] == 200 and r["same"] for r in replays),
        "replays_created_rows": (submitted_rows - len(by_sid)) + (
            labels_rows - sum(x["steps"] for x in by_sid.values())),
        "assignment_status_counts": status_counts,
        "tasks_in_campaign": Task.objects.filter(campaign_id=cid).count(),
        "tasks_still_open": Task.objects.filter(campaign_id=cid, is_open=True).count(),
    }


def diagnostics(campaign, users, annotator_token_user, profile: bool = False) -> dict:
    """On the idle database after the run: plans, table statistics, SQL per request."""
    from django.db import connection, transaction
    from django.db.models import Exists, OuterRef

    from labeling.models import Assignment, Task

    out: dict = {}
    with connection.cursor() as cur:
        settings_rows = {}
        for name in ("server_version", "shared_buffers", "max_connections", "synchronous_commit", "fsync",
                     "work_mem", "effective_cache_size", "wal_level"):
            cur.execute(f"SHOW {name}")
            settings_rows[name] = cur.fetchone()[0]
        out["postgres_settings"] = settings_rows
        cur.execute(
            """SELECT relname, n_live_tup, n_dead_tup, n_tup_ins, n_tup_upd, n_tup_hot_upd,
                      autovacuum_count, autoanalyze_count
               FROM pg_stat_user_tables WHERE relname IN
               ('labeling_task', 'labeling_assignment', 'labeling_steplabel', 'labeling_membership')
               ORDER BY relname"""
        )
        cols = [c[0] for c in cur.description]
        out["table_stats"] = [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    # The task-picking query of assignment_next (labeling.services.assignments._pick), as the ORM builds it.
    user = users[0]
    seen = Assignment.objects.filter(task_id=OuterRef("pk"), annotator=user)
    qs = (
        Task.objects.filter(campaign=campaign, is_gold=False, is_open=True)
        .filter(~Exists(seen))
        .order_by("-priority", "id")
        .select_for_update(skip_locked=True, of=("self",))[:1]
    )
    plans = {}
    for label in ("first", "second"):
        with transaction.atomic(), connection.cursor() as cur:
            sql, params = qs.query.get_compiler(using="default").as_sql()
            cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql, params)
            plans[label] = "\n".join(r[0] for r in cur.fetchall())
            transaction.set_rollback(True)
    out["pick_sql"] = sql % tuple(repr(p) for p in params)
    out["pick_explain_analyze"] = plans

    out["single_client_in_process"] = probe_phases(campaign, annotator_token_user, cycles=30)
    if profile:
        out["profile_tottime_top25"] = profile_cycles(campaign, annotator_token_user, cycles=20)
    return out


def _cycle(client, slug: str) -> bool:
    r = client.post(f"/api/campaigns/{slug}/next/", {}, content_type="application/json")
    if r.status_code != 200:
        return False
    task = r.json()
    body = {"submission_id": str(uuid.uuid4()), "finish_reason": "auto", "active_ms": 1,
            "ratings": [{"step": i, "rating": 1} for i in range(len(task["steps"]))]}
    r = client.post(f"/api/assignments/{task['id']}/submit/", body, content_type="application/json")
    return r.status_code == 200


def probe_phases(campaign, annotator_token_user, cycles: int) -> dict:
    """One client, in process, idle system: where the time of next and submit goes.

    Wraps (for the probe only) token authentication, the campaign lookup, the
    service call and the payload rendering with timers, and times every SQL
    statement with an execute wrapper. Medians over `cycles` next + submit pairs.
    """
    from django.db import connection
    from django.test import Client
    from rest_framework.authentication import TokenAuthentication

    from labeling import selectors
    from labeling.api import views
    from labeling.services import assignments as svc
    from labeling.services import submissions

    phase_t: dict[str, float] = defaultdict(float)
    sql = {"n": 0, "t": 0.0, "statements": []}

    def timed(name, fn):
        def wrapper(*a, **kw):
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                phase_t[name] += time.perf_counter() - t0
        return wrapper

    def sql_timer(execute, statement, params, many, context):
        t0 = time.perf_counter()
        try:
            return execute(statement, params, many, context)
        finally:
            sql["n"] += 1
            sql["t"] += time.perf_counter() - t0
            short = statement if len(statement) <= 300 else f"{statement[:150]} ... {statement[-150:]}"
            sql["statements"].append(short)

    patches = [
        (TokenAuthentication, "authenticate", "auth"),
        (selectors, "campaign_for_member", "campaign_lookup"),
        (svc, "assignment_next", "service"),
        (submissions, "assignment_submit", "service"),
        (selectors, "assignment_payload", "payload"),
    ]
    originals = [(obj, attr, getattr(obj, attr)) for obj, attr, _ in patches]
    for obj, attr, name in patches:
        setattr(obj, attr, timed(name, getattr(obj, attr)))
    assert views.leasing is svc and views.submissions is submissions and views.selectors is selectors
    user, token = annotator_token_user
    client = Client(HTTP_AUTHORIZATION=f"Token {token}")
    rows: dict[str, list[dict]] = {"next": [], "submit": []}
    last_sql: dict[str, list[str]] = {}
    try:
        with connection.execute_wrapper(sql_timer):
            for _ in range(cycles):
                task = None
                for kind in ("next", "submit"):
                    phase_t.clear()
                    sql.update(n=0, t=0.0, statements=[])
                    t0 = time.perf_counter()
                    if kind == "next":
                        r = client.post(f"/api/campaigns/{campaign.slug}/next/", {},
                                        content_type="application/json")
                        task = r.json() if r.status_code == 200 else None
                    else:
                        body = {"submission_id": str(uuid.uuid4()), "finish_reason": "auto", "active_ms": 1,
                                "ratings": [{"step": i, "rating": 1} for i in range(len(task["steps"]))]}
                        r = client.post(f"/api/assignments/{task['id']}/submit/", body,
                                        content_type="application/json")
                    total = time.perf_counter() - t0
                    rows[kind].append({"total_ms": total * 1000, "sql_ms": sql["t"] * 1000, "sql_statements": sql["n"],
                                       **{f"{k}_ms": v * 1000 for k, v in phase_t.items()}})
                    last_sql[kind] = list(sql["statements"])
                    if task is None:
                        break
                if task is None:
                    break
    finally:
        for obj, attr, fn in originals:
            setattr(obj, attr, fn)

    def median(vals: list[float]) -> float:
        v = sorted(vals)
        return round(v[len(v) // 2], 2) if v else 0.0

    out = {"cycles": len(rows["submit"])}
    for kind, rs in rows.items():
        keys = sorted({k for r in rs for k in r})
        out[kind] = {k: median([r.get(k, 0.0) for r in rs]) for k in keys}
        out[f"{kind}_sql"] = last_sql.get(kind, [])
    return out


def profile_cycles(campaign, annotator_token_user, cycles: int) -> list[str]:
    import cProfile
    import io
    import pstats

    from django.test import Client

    client = Client(HTTP_AUTHORIZATION=f"Token {annotator_token_user[1]}")
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(cycles):
        if not _cycle(client, campaign.slug):
            break
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(25)
    return buf.getvalue().splitlines()


# --- main ------------------------------------------------------------------------------


def machine_info() -> dict:
    mem = subprocess.run(["free", "-h"], capture_output=True, text=True).stdout.strip()
    model = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "cpu_model": model, "free_h": mem, "python": platform.python_version(),
            "kernel": platform.release()}


def git_info() -> dict:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True).stdout.strip()

    return {"commit": git("rev-parse", "HEAD"), "dirty_files": git("status", "--porcelain").splitlines()}


def main(argv=None) -> int:
    args = parse_args(argv)
    # The in-process probe goes through WhiteNoise, which warns that collectstatic never ran.
    warnings.filterwarnings("ignore", message="No directory at")
    if args.keep_data:
        os.environ["BENCH_KEEP_DATA"] = "1"
    tmp, external_db = prepare_environment()
    rng = random.Random(args.seed)
    run_id = uuid.uuid4().hex[:8]
    gunicorn_proc = None
    from annotate import embedded  # no Django import; records which servers this process starts
    result: dict = {"benchmark": "assignment engine over HTTP", "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                    "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                    "machine": machine_info(), "git": git_info()}
    try:
        import django

        log(f"data dir {tmp}; starting Django (embedded PostgreSQL/Redis unless DATABASE_URL/REDIS_URL are set)")
        t0 = time.perf_counter()
        django.setup()
        from django.conf import settings
        from django.core.management import call_command

        log(f"services ready in {time.perf_counter() - t0:.1f}s; migrating")
        call_command("migrate", verbosity=0, interactive=False)

        from rest_framework.authtoken.models import Token

        from labeling.services.campaigns import campaign_create, membership_set, user_create
        from labeling.services.imports import solutions_import

        slug = f"bench-{run_id}"
        campaign = campaign_create(slug=slug, name=f"Benchmark {run_id}", mode=args.mode, overlap=args.overlap,
                                   qc_rate=args.qc_rate)
        data_file = tmp / "solutions.jsonl"
        t0 = time.perf_counter()
        dataset = write_solutions_jsonl(data_file, args.solutions, rng)
        dataset["generate_s"] = round(time.perf_counter() - t0, 2)
        log(f"wrote {dataset['solutions']} solutions ({dataset['steps']} steps, "
            f"{dataset['file_bytes'] / 1e6:.1f} MB) in {dataset['generate_s']}s; importing")

        last = [0.0]

        def progress(done: int, total: int) -> None:
            if time.perf_counter() - last[0] > 15 or done == total:
                last[0] = time.perf_counter()
                log(f"  import {done}/{total}")

        t0 = time.perf_counter()
        imp = solutions_import(campaign=campaign, path=data_file, fmt="solutions", progress=progress)
        import_s = time.perf_counter() - t0
        result["dataset"] = dataset
        result["import"] = {
            "seconds": round(import_s, 2), "solutions_per_s": round(imp.solutions_created / import_s, 1),
            "batch_size": settings.IMPORT_BATCH_SIZE,
            **{k: v for k, v in imp.as_dict().items() if k != "disagreements"},
        }
        log(f"imported in {import_s:.1f}s ({imp.solutions_created / import_s:.0f} solutions/s): "
            + imp.summary().replace("\n", "; "))
        from django.db import connection

        with connection.cursor() as cur:
            cur.execute("ANALYZE")  # what autovacuum would do shortly after a bulk load

        users, tokens = [], []
        for i in range(args.annotators + 1):  # the last one is the probe for diagnostics
            u = user_create(username=f"bench-{run_id}-{i:03d}", password=None)
            membership_set(campaign=campaign, user=u)
            users.append(u)
            tokens.append(Token.objects.create(user=u).key)
        probe = (users.pop(), tokens.pop())

        port = args.port or free_port()
        env = dict(os.environ)
        env.update({
            "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL,
            "DJANGO_ENV": "development", "DJANGO_DEBUG": "0", "PYTHONUNBUFFERED": "1",
        })
        glog = tmp / "gunicorn.log"
        gunicorn_proc, cmd = start_gunicorn(args, port, env, glog)
        result["gunicorn"] = {"command": " ".join(cmd[1:]), "workers": args.workers, "threads": args.threads,
                              "worker_class": "gthread"}
        log(f"gunicorn: {' '.join(cmd[2:])}")
        wait_http(port, tokens[0], gunicorn_proc)
        warm_workers(port, tokens, args.workers * 4)
        connection.close()  # the load generator itself uses no database connection

        start_evt = threading.Event()
        stop_at = [math.inf]
        annotators = [
            Annotator(idx=i, token=tokens[i], port=port, slug=slug, args=args, start_evt=start_evt,
                      stop_at=stop_at, seed=args.seed + i)
            for i in range(args.annotators)
        ]
        for a in annotators:
            a.start()
        time.sleep(0.5)  # let every thread connect
        log(f"load: {args.annotators} annotators, {args.warmup:.0f}s warm-up + {args.seconds:.0f}s measured, "
            f"overlap {args.overlap}, replay rate {args.replay_rate}, think {args.think_ms} ms")
        pg_pid = None
        pidfile = embedded.data_dir() / "pgdata" / "postmaster.pid"
        if not external_db and pidfile.exists():
            pg_pid = int(pidfile.read_text().split()[0])
        # What the rest of the machine does while we are idle: other processes steal cores from the run.
        time.sleep(1)
        bg_t0, bg0, bg_w0, bg_c0 = _proc_table(), machine_busy(), time.perf_counter(), time.process_time()
        time.sleep(3)
        bg_t1, bg1, bg_w1, bg_c1 = _proc_table(), machine_busy(), time.perf_counter(), time.process_time()
        ours_idle = (bg_c1 - bg_c0) + sum((tree_cpu(root, bg_t1) or 0) - (tree_cpu(root, bg_t0) or 0)
                                          for root in (gunicorn_proc.pid, pg_pid))
        background = {
            "machine_busy_pct": round(100 * (bg1[0] - bg0[0]) / max(1, bg1[1] - bg0[1]), 1),
            "other_processes_cores_used": round(
                (bg1[0] - bg0[0]) / max(1, bg1[1] - bg0[1]) * (os.cpu_count() or 1) - ours_idle / (bg_w1 - bg_w0), 2),
        }
        t_start = time.perf_counter()
        stop_at[0] = t_start + args.warmup + args.seconds
        start_evt.set()
        time.sleep(args.warmup)
        conn_spread = connections_per_worker(port)
        table0, busy0, cpu_self0 = _proc_table(), machine_busy(), time.process_time()
        t_measure = time.perf_counter()
        for a in annotators:
            a.join(timeout=args.warmup + args.seconds + 120)
        t_end = time.perf_counter()
        table1, busy1, cpu_self1 = _proc_table(), machine_busy(), time.process_time()
        hung = [a.name for a in annotators if a.is_alive()]
        window = t_end - t_measure

        cpu = {"window_s": round(window, 2),
               "machine_busy_pct_of_all_cores": round(100 * (busy1[0] - busy0[0]) / max(1, busy1[1] - busy0[1]), 1)}
        for name, root in (("gunicorn", gunicorn_proc.pid), ("postgres", pg_pid)):
            a0, a1 = tree_cpu(root, table0), tree_cpu(root, table1)
            if a0 is not None and a1 is not None:
                cpu[f"{name}_cores_used"] = round((a1 - a0) / window, 2)
        cpu["load_generator_cores_used"] = round((cpu_self1 - cpu_self0) / window, 2)
        ncpu = os.cpu_count() or 1
        ours = sum(cpu.get(k, 0) for k in ("gunicorn_cores_used", "postgres_cores_used", "load_generator_cores_used"))
        cpu["other_processes_cores_used"] = round(cpu["machine_busy_pct_of_all_cores"] / 100 * ncpu - ours, 2)
        cpu["before_load_3s"] = background
        cpu["load_average_at_end"] = os.getloadavg()
        result["cpu"] = cpu

        # --- latencies --------------------------------------------------------------
        by_kind: dict[str, list[float]] = defaultdict(list)
        by_kind_all: dict[str, list[float]] = defaultdict(list)
        statuses: dict[str, Counter] = defaultdict(Counter)
        buckets: dict[int, list[float]] = defaultdict(list)
        for a in annotators:
            for kind, ts, lat, status in a.samples:
                statuses[kind][str(status) if status != -1 else "connection_error"] += 1
                by_kind_all[kind].append(lat)
                if ts >= t_measure:
                    by_kind[kind].append(lat)
                    if kind == "next":
                        buckets[int((ts - t_measure) // 10)].append(lat)
        measured_requests = sum(len(v) for v in by_kind.values())
        measured_submits = sum(
            1 for a in annotators for kind, ts, _, status in a.samples
            if kind == "submit" and status == 200 and ts >= t_measure
        )
        result["latency_measured_window"] = {k: latency_stats(by_kind[k]) for k in ("next", "submit", "replay")}
        result["latency_including_warmup"] = {k: latency_stats(by_kind_all[k]) for k in ("next", "submit", "replay")}
        result["next_latency_per_10s"] = [
            {"from_s": b * 10, **{k: v for k, v in latency_stats(buckets[b]).items() if k in
                                  ("count", "p50_ms", "p99_ms", "max_ms")}}
            for b in sorted(buckets)
        ]
        result["throughput"] = {
            "window_s": round(window, 2),
            "requests_per_s": round(measured_requests / window, 1),
            "submissions_per_s": round(measured_submits / window, 1),
            "next_per_s": round(len(by_kind["next"]) / window, 1),
        }
        per_annotator = sorted(
            (len([1 for kind, ts, _, st in a.samples if kind == "submit" and st == 200 and ts >= t_measure]),
             pct(sorted(lat for kind, ts, lat, _ in a.samples if kind == "next" and ts >= t_measure), 50) or 0)
            for a in annotators
        )
        med_lat = sorted(m for _, m in per_annotator)
        result["fairness"] = {
            "connections_per_gunicorn_worker_pid": conn_spread,
            "submits_per_annotator_min_median_max": [per_annotator[0][0], per_annotator[len(per_annotator) // 2][0],
                                                     per_annotator[-1][0]],
            "next_p50_ms_per_annotator_min_median_max": [round(med_lat[0] * 1000, 1),
                                                         round(med_lat[len(med_lat) // 2] * 1000, 1),
                                                         round(med_lat[-1] * 1000, 1)],
        }
        result["status_codes"] = {k: dict(v) for k, v in statuses.items()}
        result["client_retries"] = dict(sum((a.retries for a in annotators), Counter()))
        result["client_error_examples"] = [e for a in annotators for e in a.errors][:20]
        result["pool_exhausted_annotators"] = sum(a.exhausted for a in annotators)
        result["hung_threads"] = hung

        log("load done; stopping gunicorn")
        stop_process_group(gunicorn_proc)
        text = glog.read_text(errors="replace")
        result["gunicorn_log_tail"] = text.splitlines()[-40:]
        result["gunicorn_log_tracebacks"] = text.count("Traceback")

        log("verifying invariants in the database")
        result["invariants"] = verify(campaign, annotators)
        log("diagnostics on the idle database")
        result["diagnostics"] = diagnostics(campaign, users, probe, profile=args.profile)
        result["ok"] = (
            result["invariants"]["double_assignments"] == 0
            and result["invariants"]["lost_submissions"] == 0
            and result["invariants"]["submissions_with_wrong_labels"] == 0
            and result["invariants"]["replays_created_rows"] == 0
            and result["invariants"]["task_counter_mismatches"] == 0
            and not hung
        )
        report(result)
        args.output.parent.mkdir(parents=True, exist_ok=True)
        tmp_out = args.output.with_suffix(".json.tmp")
        tmp_out.write_text(json.dumps(result, indent=2, default=str) + "\n")
        tmp_out.replace(args.output)
        log(f"wrote {args.output}")
        if external_db:
            log(f"note: rows of campaign '{slug}' and users 'bench-{run_id}-*' were left in DATABASE_URL's database")
        return 0 if result["ok"] else 1
    finally:
        stop_process_group(gunicorn_proc)
        if "django.db" in sys.modules:
            from django.db import connections

            connections.close_all()
        embedded.stop_started_here()
        if args.keep_data:
            log(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def report(r: dict) -> None:
    def row(name: str, s: dict) -> str:
        if not s.get("count"):
            return f"  {name:<8} (none)"
        return (f"  {name:<8} n={s['count']:>7}  p50={s['p50_ms']:>8.2f}  p95={s['p95_ms']:>8.2f}  "
                f"p99={s['p99_ms']:>8.2f}  max={s['max_ms']:>8.2f} ms  <=50ms: {s['within_50ms_pct']}%")

    inv = r["invariants"]
    print()
    print("=" * 100)
    a = r["args"]
    print(f"solutions {a['solutions']}, annotators {a['annotators']}, overlap {a['overlap']}, "
          f"gunicorn {a['workers']}x{a['threads']} gthread, think {a['think_ms']} ms, "
          f"import {r['import']['seconds']} s ({r['import']['solutions_per_s']} solutions/s)")
    print(f"latency, measured window ({r['throughput']['window_s']} s after {a['warmup']} s warm-up):")
    for k in ("next", "submit", "replay"):
        print(row(k, r["latency_measured_window"][k]))
    print("latency, whole run including warm-up:")
    for k in ("next", "submit"):
        print(row(k, r["latency_including_warmup"][k]))
    t = r["throughput"]
    print(f"throughput: {t['requests_per_s']} requests/s, {t['submissions_per_s']} submissions/s")
    print(f"cpu: {r['cpu']}")
    print(f"fairness: {r['fairness']}")
    print(f"status codes: {r['status_codes']}  retries: {r['client_retries']}")
    print(f"double assignments: {inv['double_assignments']} (over overlap {inv['tasks_over_overlap']}, "
          f"duplicate pairs {inv['duplicate_task_annotator_pairs']}, "
          f"ids to two annotators {inv['assignment_ids_served_to_two_annotators']}); "
          f"counter mismatches: {inv['task_counter_mismatches']}")
    print(f"lost submissions: {inv['lost_submissions']} of {inv['acknowledged_distinct_submission_ids']} "
          f"acknowledged; wrong labels: {inv['submissions_with_wrong_labels']}; "
          f"submitted rows not acknowledged: {inv['submitted_rows_not_acknowledged']}")
    print(f"replays: {inv['replays']} ({inv['replays_ok']} answered 200 with the stored assignment); "
          f"rows created by replays: {inv['replays_created_rows']}")
    print(f"assignment statuses: {inv['assignment_status_counts']}")
    d = r["diagnostics"].get("single_client_in_process")
    if d and d.get("cycles"):
        print(f"idle single client, in process, medians of {d['cycles']}:")
        print(f"  next:   {d['next']}")
        print(f"  submit: {d['submit']}")
    print(f"OK: {r['ok']}")
    print("=" * 100)


if __name__ == "__main__":
    sys.exit(main())
