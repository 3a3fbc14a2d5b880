"""Commands start the embedded servers only when they need them, and stop what they started."""

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def _env(data_dir: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ENV"}}
    env.update(APP_DATA_DIR=str(data_dir), XDG_RUNTIME_DIR="")
    return env


def _servers(data_dir: Path) -> list:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if str(data_dir) in " ".join(p.info["cmdline"] or []):
                found.append(p)
        except psutil.Error:
            continue
    return found


def _gone(data_dir: Path, seconds: float = 15) -> list:
    """The servers still running after up to `seconds`: a stopped postmaster takes a moment to exit."""
    deadline = time.monotonic() + seconds
    while (left := _servers(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def _manage(data_dir, *args):
    return subprocess.run([sys.executable, "manage.py", *args], cwd=REPO, env=_env(data_dir), capture_output=True,
                          text=True, timeout=240)


@pytest.mark.parametrize("args", [["help"], ["check"], ["healthcheck", "web"], ["--version"]])
def test_commands_that_need_no_server_start_none(tmp_path, args):
    data = tmp_path / "var"
    proc = _manage(data, *args)
    assert _servers(data) == []
    assert not (data / "pgdata").exists() and not (data / "redis" / "redis.pid").exists()
    if args[0] == "healthcheck":  # nothing runs, and it says so instead of starting it
        assert proc.returncode != 0 and "PostgreSQL" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr


@pytest.mark.timeout_sensitive
def test_a_command_that_needs_the_database_stops_the_servers_it_started(tmp_path):
    data = tmp_path / "var"
    proc = _manage(data, "showmigrations", "labeling")
    assert proc.returncode == 0, proc.stderr
    assert "[ ] 0001_initial" in proc.stdout  # it reached the (new, empty) database
    assert _gone(data) == []
    assert (data / "pgdata" / "PG_VERSION").exists()  # the data stays
