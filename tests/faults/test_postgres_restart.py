"""Fault injection: PostgreSQL restarts while annotators label.

A private PostgreSQL cluster (a copy of the test database) serves a real
gunicorn; a dozen API clients lease and submit tasks in a closed loop; the
cluster is stopped (pg_ctl stop -m fast: every backend ended, open
transactions rolled back) in the middle and started again 2 s later. While it is down the API answers
JSON 503 "unavailable", never a 500 or an HTML page; the clients retry a
submit with the same submission id; once it is back, labeling goes on by
itself. Every acknowledged submit is in the database with its step labels.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from collections import Counter

import pytest
from django.db import connection

from tests.faults.harness import REPO, PrivatePostgres, audit_submits, child_env, free_port, gunicorn, wait_until
from tests.faults.load import Load

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.worker]

CLIENTS = 12
DOWN_S = 2.0  # seconds with no PostgreSQL at all


def _seed(pg: PrivatePostgres, demo_file, tmp_path) -> dict:
    sample = tmp_path / "solutions.jsonl"
    with open(demo_file, "rb") as src:
        sample.write_bytes(b"".join(next(src) for _ in range(300)))  # 1,200 solutions
    out = subprocess.run([sys.executable, "-m", "tests.faults.seed_campaign", str(sample), str(CLIENTS)], cwd=REPO,
                         env=child_env(DATABASE_URL=pg.url), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as resp:
            return resp.status == 200
    except OSError:
        return False


def test_postgres_restart_under_load_loses_nothing_and_recovers_by_itself(tmp_path, demo_file):
    pg = PrivatePostgres(tmp_path)
    web = None
    try:
        pg.copy_from(connection.settings_dict)
        seeded = _seed(pg, demo_file, tmp_path)
        port = free_port()
        web = gunicorn(tmp_path, database_url=pg.url, port=port)
        wait_until(lambda: _healthy(port), timeout=60, what="gunicorn", proc=web)
        load = Load(port=port, slug=seeded["slug"], tokens=seeded["tokens"]).start()
        wait_until(lambda: len(load.acked) >= 100, timeout=60, what="100 submits before the fault", proc=web)
        down_at = time.monotonic()
        pg.restart(down_s=DOWN_S)
        up_at = time.monotonic()
        wait_until(lambda: load.acked_after(up_at) >= 100, timeout=60, what="100 submits after the restart", proc=web)
        load.stop()
    finally:
        if web is not None:
            web.stop()
    try:
        samples = load.samples
        statuses = Counter(s.status for s in samples)
        during = [s for s in samples if s.t >= down_at]
        first_ok_after = min(s.t for s in during if s.status == 200 and s.t >= up_at)
        five_hundreds = [s for s in samples if s.status >= 500 and (s.status, s.error) != (503, "unavailable")]
        assert five_hundreds == [], Counter((s.status, s.error) for s in five_hundreds)
        assert set(statuses) <= {200, 503}, statuses  # and no dropped connection (-1) either
        assert statuses[503] > 0  # the outage was seen, and answered as the JSON 503
        assert first_ok_after - up_at < 5, f"recovered {first_ok_after - up_at:.1f} s after PostgreSQL was back"

        # Every acknowledged submit is stored, once, with all its step labels.
        acked = load.acked
        audit = audit_submits(pg.url, acked)
        assert audit["lost"] == [] and len(acked) >= 200
        assert audit["double_assignments"] == 0 and audit["tasks_over_overlap"] == 0
        print(f"\n{len(samples)} requests, {len(acked)} acknowledged submits, statuses {dict(statuses)}, "
              f"restart took {up_at - down_at:.2f} s, first 200 {first_ok_after - up_at:.2f} s after")
    finally:
        pg.stop()
