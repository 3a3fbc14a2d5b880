import os
import re
import subprocess
import sys

import pytest
from django.conf import settings
from django.db import connection

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _import_settings(**env):
    full = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"}}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import annotate.settings"], cwd=REPO, env=full, capture_output=True, text=True,
        timeout=60,
    )


def test_production_refuses_to_start_without_a_secret_key():
    proc = _import_settings(DJANGO_ENV="production", DATABASE_URL="postgresql://x@h/db", REDIS_URL="redis://h/0")
    assert proc.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in proc.stderr


def test_production_refuses_embedded_services():
    proc = _import_settings(DJANGO_ENV="production", DJANGO_SECRET_KEY="s" * 50)
    assert proc.returncode != 0
    assert "DATABASE_URL must be set" in proc.stderr


def test_only_postgresql_is_accepted():
    proc = _import_settings(DATABASE_URL="sqlite:///tmp/x.db", REDIS_URL="redis://127.0.0.1:1/0")
    assert proc.returncode != 0
    assert "Only PostgreSQL is supported" in proc.stderr


def test_production_with_everything_set_imports():
    proc = _import_settings(DJANGO_ENV="production", DJANGO_SECRET_KEY="s" * 50,
                            DATABASE_URL="postgresql://u:p@db:5432/annotate", REDIS_URL="redis://r:6379/0")
    assert proc.returncode == 0, proc.stderr


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="per-process databases are on the embedded Redis")
def test_each_parallel_test_process_has_its_own_redis_database_and_directories():
    show = ("from django.conf import settings as s; print(s.REDIS_URL.rsplit('/', 1)[1], s.EXPORT_DIR, "
            "s.CHECKPOINT_DIR, s.IMPORT_UPLOAD_DIR)")
    seen, data = {}, settings.APP_DATA_DIR
    for worker in ("", "gw0", "gw3", "gw14", "main"):
        env = {k: v for k, v in os.environ.items() if k not in {"REDIS_URL", "EXPORT_DIR", "CHECKPOINT_DIR",
                                                                "IMPORT_UPLOAD_DIR", "PYTEST_XDIST_WORKER"}}
        # This session's embedded Redis (same APP_DATA_DIR): the child reuses it rather than starting one.
        env.update(DJANGO_ENV="test", DJANGO_SETTINGS_MODULE="annotate.settings", APP_DATA_DIR=str(data),
                   DATABASE_URL="postgresql://u@h/db", **({"PYTEST_XDIST_WORKER": worker} if worker else {}))
        proc = subprocess.run([sys.executable, "-c", f"import django; django.setup(); {show}"], cwd=REPO, env=env,
                              capture_output=True, text=True, timeout=60)
        seen[worker] = proc.stdout.split() if proc.returncode == 0 else proc.stderr.strip().splitlines()[-1]
    assert seen[""] == ["1", *(str(data / "test-main" / d) for d in ("exports", "checkpoints", "uploads"))]
    for worker in ("gw14", "main"):
        assert seen[worker].endswith(f"PYTEST_XDIST_WORKER is '{worker}': at most 14 test processes (gw0-gw13)")
    for worker, db in (("gw0", "2"), ("gw3", "5")):
        assert seen[worker] == [db, *(str(data / f"test-{worker}" / d) for d in ("exports", "checkpoints", "uploads"))]


@pytest.mark.django_db
def test_tests_run_on_real_postgresql_and_redis():
    assert connection.vendor == "postgresql"
    with connection.cursor() as cur:
        cur.execute("SHOW server_version")
        assert int(cur.fetchone()[0].split(".")[0]) >= 15
    import redis

    client = redis.Redis.from_url(settings.REDIS_URL)
    assert client.ping() is True
    assert client.info("server")["redis_version"]


def test_security_defaults():
    assert settings.SECURE_CONTENT_TYPE_NOSNIFF and settings.X_FRAME_OPTIONS == "DENY"
    assert "django.middleware.csrf.CsrfViewMiddleware" in settings.MIDDLEWARE


def _deploy_check(**env):
    # DJANGO_ALLOW_ASYNC_UNSAFE is set by the browser fixture while it is alive; a deployment never has it.
    dropped = {"DATABASE_URL", "REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    full = {k: v for k, v in os.environ.items() if k not in dropped}
    full.update(DJANGO_ENV="production", DJANGO_SECRET_KEY="k" * 30 + "-production-key-for-checks-" + "z" * 20,
                DATABASE_URL="postgresql://u:p@db.invalid:5432/annotate", REDIS_URL="redis://r.invalid:6379/0", **env)
    return subprocess.run([sys.executable, "manage.py", "check", "--deploy"], cwd=REPO, env=full,
                          capture_output=True, text=True, timeout=120)


def test_check_deploy_is_clean_apart_from_what_the_https_proxy_does():
    proc = _deploy_check()
    assert proc.returncode == 0, proc.stderr
    assert sorted(re.findall(r"\((\w+\.\w+)\)", proc.stderr)) == ["security.W004", "security.W008"], proc.stderr
    assert "Traceback" not in proc.stderr  # nothing touches the (unreachable) database or broker
    https = _deploy_check(DJANGO_SSL_REDIRECT="1", DJANGO_HSTS_SECONDS="31536000", DJANGO_HSTS_INCLUDE_SUBDOMAINS="1",
                          DJANGO_HSTS_PRELOAD="1")
    assert https.returncode == 0 and "System check identified no issues" in https.stdout, https.stderr
