"""Real processes for fault injection: a Celery worker, gunicorn, a private PostgreSQL.

Each runs as its own process (group) against the test database, so a test
can SIGKILL it or restart it the way an operator's machine would.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from django.conf import settings
from django.db import connection

from annotate import embedded

REPO = Path(__file__).resolve().parents[2]


def database_url(settings_dict: dict | None = None) -> str:
    s = settings_dict or connection.settings_dict
    user = urllib.parse.quote(s.get("USER") or "postgres")
    password = f":{urllib.parse.quote(s['PASSWORD'])}" if s.get("PASSWORD") else ""
    host = s.get("HOST") or (s.get("OPTIONS") or {}).get("host") or ""
    if host.startswith("/"):  # a Unix socket directory
        return f"postgresql://{user}{password}@/{s['NAME']}?host={urllib.parse.quote(host)}"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgresql://{user}{password}@{host}{port}/{s['NAME']}"


def child_env(**extra: str) -> dict[str, str]:
    """The environment of a child process that talks to the test database and broker."""
    env = dict(os.environ)
    env.update(DJANGO_ENV="test", DATABASE_URL=database_url(), REDIS_URL=settings.CELERY_BROKER_URL,
               PYTHONUNBUFFERED="1", APP_DATA_DIR=str(settings.APP_DATA_DIR))
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Process:
    """A child in its own process group, so a kill reaches all of it and nothing else."""

    def __init__(self, cmd: list[str], *, env: dict[str, str], log: Path):
        self.log_path = log
        self._log = open(log, "w")  # noqa: SIM115 - open for the child's whole life
        self.proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     start_new_session=True)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no handler runs, no transaction commits, nothing is acknowledged."""
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> None:
        if self.alive():
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log.close()

    def output(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")


def celery_worker(tmp_path: Path, *, queue: str = "default", **env: str) -> Process:
    name = f"fault-{queue}-{os.getpid()}-{time.monotonic_ns()}@%h"
    cmd = [sys.executable, "-m", "celery", "-A", "annotate", "worker", "-Q", queue, "-n", name,
           "--pool", "solo", "--loglevel", "INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"]
    return Process(cmd, env=child_env(**env), log=tmp_path / f"worker-{time.monotonic_ns()}.log")


def wait_until(predicate, *, timeout: float, what: str, interval: float = 0.1, proc: Process | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and not proc.alive():
            raise AssertionError(f"{what}: the process exited early\n{proc.output()[-3000:]}")
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what}" + (f"\n{proc.output()[-3000:]}" if proc else ""))


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own (pgserver's binaries), so restarting it disturbs nothing
    else; it starts as a copy of the test database (schema, migrations, triggers)."""

    DB = "load"

    def __init__(self, tmp_path: Path):
        import pgserver

        self.pgdata = tmp_path / "private-pgdata"  # not APP_DATA_DIR/pgdata, the embedded one
        self.server = pgserver.get_server(self.pgdata, cleanup_mode="stop")
        self.socket_dir = str(self.server.get_postmaster_info().socket_dir)
        self.server.psql(f"CREATE DATABASE {self.DB};")
        self._bin = Path(pgserver.__file__).parent / "pginstall" / "bin"

    @property
    def url(self) -> str:
        return f"postgresql://postgres@/{self.DB}?host={urllib.parse.quote(self.socket_dir)}"

    def copy_from(self, settings_dict: dict) -> None:
        host = settings_dict.get("HOST") or (settings_dict.get("OPTIONS") or {}).get("host")
        dump = subprocess.run([str(self._bin / "pg_dump"), "-h", host, "-U", settings_dict.get("USER") or "postgres",
                               "-d", settings_dict["NAME"], "-Fc", "--no-owner"], check=True, capture_output=True)
        subprocess.run([str(self._bin / "pg_restore"), "-h", self.socket_dir, "-U", "postgres", "-d", self.DB,
                        "--no-owner"], input=dump.stdout, check=True, capture_output=True)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver import _commands

        user = "pgserver" if os.geteuid() == 0 else None
        _commands.pg_ctl(["-w", *args], pgdata=self.pgdata, user=user)

    def restart(self, *, down_s: float = 0.0) -> None:
        """A fast shutdown (every backend ended, open transactions rolled back), `down_s` of
        nothing listening, and a start with the same options."""
        self._pg_ctl("-m", "fast", "stop")
        time.sleep(down_s)
        self.server.ensure_postgres_running()
        assert str(self.server.get_postmaster_info().socket_dir) == self.socket_dir

    def stop(self) -> None:
        # Not server.cleanup(): pgserver only stops a server its handle started, and restart()
        # started this one with pg_ctl.
        import contextlib

        with contextlib.suppress(subprocess.CalledProcessError):
            self._pg_ctl("-m", "fast", "stop")


def gunicorn(tmp_path: Path, *, database_url: str, port: int, workers: int = 2, threads: int = 4,
             **env: str) -> Process:
    cmd = [sys.executable, "-m", "gunicorn", "annotate.wsgi:application", "-c", "python:annotate.gunicorn_conf",
           "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--threads", str(threads),
           "--worker-class", "gthread"]
    environment = child_env(DATABASE_URL=database_url, DJANGO_DEBUG="0", API_THROTTLE_USER="100000/min",
                            APP_DATA_DIR=str(tmp_path / "web"), **env)
    return Process(cmd, env=environment, log=tmp_path / "gunicorn.log")


class PrivateRedis:
    """A Redis of the test's own (the embedded server's binary, own port and directory), to stop and start."""

    def __init__(self, tmp_path):
        self.port = free_port()
        self.dir = tmp_path / f"private-redis-{self.port}"
        self.dir.mkdir()
        self.proc = None
        self.url = f"redis://127.0.0.1:{self.port}/0"

    def start(self):
        self.proc = subprocess.Popen([embedded._redis_binary(), "--bind", "127.0.0.1", "--port", str(self.port),
                                      "--dir", str(self.dir), "--appendonly", "yes", "--save", ""],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not embedded._redis_ping(self.port):
            assert time.monotonic() < deadline, "private Redis did not start"
            time.sleep(0.05)

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)
        assert not embedded._redis_ping(self.port)


def bulk_label(*, campaign, user, n: int) -> int:
    """Mark the campaign's first `n` tasks labeled by `user` (every step +1), written in bulk: data for an
    export to chew on, without n round trips through the submit service. Returns the labelings made."""
    from django.utils import timezone

    from labeling.models import Assignment, Step, StepLabel, Task

    now = timezone.now()
    tasks = list(Task.objects.filter(campaign=campaign).order_by("pk")[:n])
    made = Assignment.objects.bulk_create([
        Assignment(task=t, campaign=campaign, solution_id=t.solution_id, annotator=user,
                   status=Assignment.Status.SUBMITTED, submitted_at=now, finish_reason="solution", active_ms=1000)
        for t in tasks])
    steps: dict[int, list] = {a.solution_id: [] for a in made}
    for s in Step.objects.filter(solution_id__in=steps).order_by("index"):
        steps[s.solution_id].append(s)
    StepLabel.objects.bulk_create([StepLabel(assignment=a, step=s, rating=1, chosen_completion=0, final=True)
                                   for a in made for s in steps[a.solution_id]], batch_size=5000)
    return len(made)


def audit_submits(database_url: str, acked: list[dict]) -> dict:
    """Read the database behind a load run: the acknowledged submits missing or changed there (each must
    be stored once, submitted, with its submission id and every step label), double assignments, and
    tasks labeled more often than their campaign's overlap."""
    import psycopg

    with psycopg.connect(database_url) as db:
        rows = db.execute(
            "SELECT a.id, a.submission_id::text, a.status, count(l.id) FROM labeling_assignment a "
            "LEFT JOIN labeling_steplabel l ON l.assignment_id = a.id WHERE a.id = ANY(%s) GROUP BY a.id",
            [[a["assignment"] for a in acked]]).fetchall()
        double = db.execute("SELECT count(*) FROM (SELECT task_id, annotator_id FROM labeling_assignment "
                            "GROUP BY 1, 2 HAVING count(*) > 1) d").fetchone()[0]
        over = db.execute("SELECT count(*) FROM labeling_task t JOIN labeling_campaign c ON c.id = t.campaign_id "
                          "WHERE t.completed > c.overlap").fetchone()[0]
    stored = {r[0]: r[1:] for r in rows}
    lost = [a for a in acked if stored.get(a["assignment"]) != (a["submission_id"], "submitted", a["steps"])]
    return {"lost": lost, "double_assignments": double, "tasks_over_overlap": over}
