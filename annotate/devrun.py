"""`make run`: the whole system in one terminal.

Starts (or reuses) the embedded PostgreSQL and Redis unless DATABASE_URL /
REDIS_URL are set, migrates, loads the demo campaigns, then runs gunicorn,
a Celery worker for the default queue, one for the `training` queue
(concurrency 1), one for the `scoring` queue and beat. Ctrl-C (or SIGTERM)
stops every child process group, then the embedded servers this run
started: nothing is left behind.

`python -m annotate.devrun scoring-worker [celery worker options]` (`make
scoring-worker`) adds one more scoring worker to a running `make run`, in
another terminal, on the same embedded servers.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
PY = sys.executable


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def _services_env() -> dict[str, str]:
    from annotate import embedded

    env = dict(os.environ)
    env.setdefault("DJANGO_SETTINGS_MODULE", "annotate.settings")
    env.setdefault("PYTHONUNBUFFERED", "1")
    if not env.get("DATABASE_URL"):
        env["DATABASE_URL"] = embedded.postgres_url()
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = embedded.redis_url()
    return env


def _manage(env: dict[str, str], *args: str) -> None:
    subprocess.run([PY, "manage.py", *args], cwd=BASE_DIR, env=env, check=True)


def scoring_worker_command(node: str, *extra: str) -> list[str]:
    return [PY, "-m", "celery", "-A", "annotate", "worker", "-Q", "scoring", "-n", node, "--concurrency", "1",
            "--loglevel", "INFO", *extra]


def scoring_worker(extra: list[str]) -> int:
    """One more scoring worker on the servers a running `make run` started (it starts none itself)."""
    from annotate import embedded

    embedded.defer_start()
    env = _services_env()
    if not os.environ.get("REDIS_URL") and env["REDIS_URL"].startswith("redis://127.0.0.1:9/"):
        print("error: the embedded Redis is not running; start `make run` first (or set REDIS_URL and "
              "DATABASE_URL)", file=sys.stderr)
        return 2
    # A node name of its own: Celery's names must differ between workers on one host.
    cmd = scoring_worker_command(f"scoring-{os.getpid()}@%h", *extra)
    print(f"== scoring worker scoring-{os.getpid()}: {' '.join(cmd[1:])}", flush=True)
    os.execve(PY, cmd, env)  # noqa: S606 - our own interpreter and arguments, replacing this process
    return 0  # not reached


def main() -> int:
    if sys.argv[1:2] == ["scoring-worker"]:
        return scoring_worker(sys.argv[2:])
    host = os.environ.get("HOST", "127.0.0.1")
    port = int(os.environ.get("PORT", "8000"))
    if not _port_free(host, port):
        print(f"error: {host}:{port} is in use; stop what runs there or set PORT=...", file=sys.stderr)
        return 2

    from annotate import embedded

    children: list[tuple[str, subprocess.Popen]] = []
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    code = 0
    try:
        env = _services_env()
        print("== migrating", flush=True)
        _manage(env, "migrate", "--noinput")
        print("== loading demo data (idempotent)", flush=True)
        _manage(env, "load_demo")
        commands = {
            "web": [PY, "-m", "gunicorn", "annotate.wsgi:application", "-c", "python:annotate.gunicorn_conf",
                    "--bind", f"{host}:{port}",
                    "--workers", os.environ.get("WEB_CONCURRENCY", "3"), "--access-logfile", "-"],
            "worker": [PY, "-m", "celery", "-A", "annotate", "worker", "-Q", "default", "-n", "default@%h",
                       "--concurrency", "2", "--loglevel", "INFO"],
            "training": [PY, "-m", "celery", "-A", "annotate", "worker", "-Q", "training",
                         "-n", "training@%h", "--concurrency", "1", "--loglevel", "INFO"],
            "scoring": scoring_worker_command("scoring@%h"),
            "beat": [PY, "-m", "celery", "-A", "annotate", "beat", "--loglevel", "INFO",
                     "--schedule", str(embedded.data_dir() / "celerybeat-schedule")],
        }
        for name, cmd in commands.items():
            # Own process group: Ctrl-C reaches only us, and we stop each group whole.
            children.append((name, subprocess.Popen(cmd, cwd=BASE_DIR, env=env, start_new_session=True)))
        from labeling.demo_accounts import DEMO_PASSWORD, DEMO_USERS

        users = ", ".join(u for u, _ in DEMO_USERS)
        print(
            f"\n== PRM Annotate is running at http://{host}:{port}/\n"
            f"   demo logins: {users} / password {DEMO_PASSWORD} (manager has the admin)\n"
            f"   admin: http://{host}:{port}/admin/   press Ctrl-C to stop everything\n",
            flush=True,
        )
        while not stopping:
            for name, proc in children:
                if proc.poll() is not None:
                    print(f"error: {name} exited with code {proc.returncode}; stopping", file=sys.stderr)
                    code = 1
                    stopping = True
            time.sleep(0.3)
    except subprocess.CalledProcessError as exc:
        print(f"error: {' '.join(map(str, exc.cmd))} failed with code {exc.returncode}", file=sys.stderr)
        code = 1
    finally:
        print("\n== stopping", flush=True)
        _stop_children(children)
        embedded.stop_started_here()
        print("== stopped", flush=True)
    return code


def _stop_children(children: list[tuple[str, subprocess.Popen]]) -> None:
    for _, proc in children:
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
    deadline = time.monotonic() + 15
    for name, proc in children:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"{name} did not stop in time; killing it", file=sys.stderr)
        # Kill the whole group: also prefork children that outlived their parent.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


if __name__ == "__main__":
    sys.exit(main())
