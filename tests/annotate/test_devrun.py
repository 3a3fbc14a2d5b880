"""`make run` end to end: embedded servers, migrations, demo data, web + workers + beat,
and a Ctrl-C that leaves no process behind."""

import http.cookiejar
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import psutil
import pytest

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(opener, url):
    with opener.open(url, timeout=10) as resp:
        return resp.status, resp.read().decode()


def _wait_for(url, proc, timeout=240):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"devrun exited early with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError(f"{url} never answered")


def _ours(data_dir: Path) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        cmd = " ".join(p.info["cmdline"] or [])
        if str(data_dir) in cmd:
            found.append(p)
    return found


@pytest.mark.timeout_sensitive
def test_make_run_serves_the_demo_and_stops_cleanly(tmp_path):
    port = _free_port()
    data_dir = tmp_path / "var"
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "DJANGO_ENV"}}
    env.update(APP_DATA_DIR=str(data_dir), PORT=str(port), WEB_CONCURRENCY="2", PYTHONUNBUFFERED="1")
    log = open(tmp_path / "devrun.log", "w+")
    proc = subprocess.Popen([sys.executable, "-m", "annotate.devrun"], cwd=REPO, env=env, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_for(f"{base}/healthz", proc)
        descendants = psutil.Process(proc.pid).children(recursive=True)
        assert len(descendants) >= 5  # gunicorn, three workers, beat (and their children)

        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        status, page = _get(opener, f"{base}/login/")
        assert status == 200 and "Log in" in page
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = urllib.parse.urlencode({"username": "alice", "password": "demo-pass-2026",
                                       "csrfmiddlewaretoken": token, "next": "/"}).encode()
        req = urllib.request.Request(f"{base}/login/", data=form, headers={"Referer": f"{base}/login/"})
        with opener.open(req, timeout=10) as resp:
            home = resp.read().decode()
        assert "GSM8K model solutions: first error" in home
        assert "5260 solutions" in home  # the whole demo pool is there (5,276 with its 16 gold items, not counted)
        log.seek(0)
        assert "demo logins" in log.read()

        # /metrics sums both gunicorn workers (prometheus_client's multiprocess mode): every scrape,
        # whichever worker answers it, reports all the /healthz requests. Without it each worker
        # would report its own share and the scrapes would disagree.
        for _ in range(12):
            _get(opener, f"{base}/healthz")
        counts = set()
        for _ in range(6):
            status, metrics = _get(opener, f"{base}/metrics")
            assert status == 200
            counts.add(sum(float(m) for m in re.findall(
                r'^django_http_requests_total_by_view_transport_method_total\{[^}]*view="healthz"[^}]*\} (\S+)$',
                metrics, re.M)))
        assert len(counts) == 1 and counts.pop() >= 12, counts
        assert 'prm_labels_submitted_total{campaign="gsm8k-first-error"}' in metrics
    finally:
        os.killpg(proc.pid, signal.SIGINT)  # what Ctrl-C in the terminal sends
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            raise
    log.seek(0)
    output = log.read()
    assert "== stopped" in output, output[-2000:]
    time.sleep(0.5)
    leftovers = [p for p in descendants if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert leftovers == [], leftovers
    assert _ours(data_dir) == []  # embedded postgres and redis stopped too
    assert (data_dir / "pgdata" / "PG_VERSION").exists()  # data survives the stop
