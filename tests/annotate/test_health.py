"""Liveness, readiness and the container health checks."""

import re
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def test_healthz_is_liveness_and_readyz_checks_each_dependency(client, settings, monkeypatch):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200, ready.json()
    assert ready.json() == {"ready": True, "checks": {"database": "ok", "redis": "ok", "migrations": "ok"}}
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"  # nothing listens there
    down = client.get("/readyz")
    assert down.status_code == 503 and down.json()["checks"]["redis"].startswith("Redis: ")
    assert down.json()["checks"]["database"] == "ok"


def test_readyz_names_unapplied_migrations_and_a_database_outage(client, monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    class Fake:
        app_label, name = "labeling", "0099_future"

    monkeypatch.setattr(MigrationExecutor, "migration_plan", lambda self, targets: [(Fake, False)])
    resp = client.get("/readyz")
    assert resp.status_code == 503 and "1 not applied (labeling.0099_future)" in resp.json()["checks"]["migrations"]
    monkeypatch.setattr("annotate.health.check_database", lambda: "PostgreSQL: OperationalError: refused")
    resp = client.get("/readyz")
    assert resp.json()["checks"]["database"].startswith("PostgreSQL:")
    assert resp.json()["checks"]["migrations"] == "migrations: unknown (no database)"


def test_healthcheck_command_for_web_and_beat(settings, capsys):
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    call_command("healthcheck", "web")
    assert capsys.readouterr().out.strip() == "ok"
    with pytest.raises(CommandError, match="beat has not sent"):
        call_command("healthcheck", "beat")
    every = IntervalSchedule.objects.create(every=60, period="seconds")
    task = PeriodicTask.objects.create(name="expire-stale-leases", task="labeling.tasks.expire_stale_leases",
                                       interval=every, last_run_at=timezone.now())
    call_command("healthcheck", "beat")
    task.last_run_at = timezone.now() - timezone.timedelta(hours=1)
    task.save()
    with pytest.raises(CommandError, match="s ago"):
        call_command("healthcheck", "beat")
    settings.CELERY_BROKER_URL = "redis://127.0.0.1:9/0"
    with pytest.raises(CommandError, match="Redis"):
        call_command("healthcheck", "web")


def test_the_docker_image_installs_every_requirements_file_the_makefile_installs():
    makefile = (REPO / "Makefile").read_text()
    dockerfile = (REPO / ".ci" / "Dockerfile").read_text()
    wanted = set(re.findall(r"(?:-r|-c)\s+(\.ci/[\w.-]+\.txt)", makefile))
    assert ".ci/backbone-requirements.txt" in wanted and ".ci/constraints.txt" in wanted
    for path in wanted:
        assert f"COPY {path}" in dockerfile, f"{path} is not copied into the image"
        assert re.search(rf"(?:-r|-c)\s+{re.escape(path)}", dockerfile), f"{path} is not installed in the image"
    assert "pyproject.toml" in dockerfile


def test_probes_stay_on_plain_http_when_django_redirects_to_https(settings):
    from django.test import Client

    settings.SECURE_SSL_REDIRECT = True
    client = Client()  # after the setting: the security middleware reads it when it is built
    assert client.get("/login/").status_code == 301
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
