"""Request ids and JSON logs."""

import io
import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory

from annotate.request_id import RequestIdFilter, RequestIdMiddleware

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def json_log(settings):
    """A logger writing through the production JSON formatter and the request-id filter."""
    from logging.config import dictConfig

    stream = io.StringIO()
    dictConfig({"version": 1, "disable_existing_loggers": False,
                "formatters": {"json": settings.LOGGING["formatters"]["json"]},
                "filters": {"rid": {"()": RequestIdFilter}},
                "handlers": {"mem": {"class": "logging.StreamHandler", "stream": stream, "formatter": "json",
                                     "filters": ["rid"]}},
                "loggers": {"test.rid": {"handlers": ["mem"], "level": "INFO", "propagate": False}}})
    yield logging.getLogger("test.rid"), stream
    logging.getLogger("test.rid").handlers.clear()


def test_every_line_a_request_logs_carries_its_id_and_the_response_returns_it(json_log):
    log, stream = json_log

    def view(request):
        log.info("labeling", extra={"assignment": 7})
        return HttpResponse("ok")

    mw = RequestIdMiddleware(view)
    resp = mw(RequestFactory().get("/x"))
    given = mw(RequestFactory().get("/x", HTTP_X_REQUEST_ID="lb-2f9c1e77"))
    hostile = mw(RequestFactory().get("/x", HTTP_X_REQUEST_ID='"}\n{"forged": 1'))
    log.info("outside a request")
    lines = [json.loads(x) for x in stream.getvalue().splitlines()]
    assert len(lines) == 4
    assert lines[0]["request_id"] == resp["X-Request-ID"] and len(resp["X-Request-ID"]) == 32
    assert lines[0]["message"] == "labeling" and lines[0]["assignment"] == 7 and lines[0]["level"] == "INFO"
    assert lines[0]["logger"] == "test.rid" and lines[0]["time"]
    assert lines[1]["request_id"] == given["X-Request-ID"] == "lb-2f9c1e77"  # a proxy's id is kept
    assert hostile["X-Request-ID"] != '"}\n{"forged": 1' and lines[2]["request_id"] == hostile["X-Request-ID"]
    assert lines[3]["request_id"] == "-"


@pytest.mark.django_db
def test_every_response_has_a_request_id(client):
    resp = client.get("/healthz")
    assert len(resp["X-Request-ID"]) == 32
    assert client.get("/healthz", HTTP_X_REQUEST_ID="abcdef12-3456")["X-Request-ID"] == "abcdef12-3456"


def test_production_logs_json_lines():
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "LOG_FORMAT"}}
    env.update(DJANGO_ENV="production", DJANGO_SECRET_KEY="s" * 50, DATABASE_URL="postgresql://u:p@db:5432/a",
               REDIS_URL="redis://r:6379/0")
    code = "import django, logging; django.setup(); logging.getLogger('labeling').warning('import %s failed', 3)"
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, env={**env, "DJANGO_SETTINGS_MODULE":
                          "annotate.settings"}, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    line = json.loads(proc.stderr.strip().splitlines()[-1])
    assert line["message"] == "import 3 failed" and line["level"] == "WARNING" and line["request_id"] == "-"
    bad = subprocess.run([sys.executable, "-c", "import annotate.settings"], cwd=REPO,
                         env={**env, "LOG_FORMAT": "xml"}, capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "LOG_FORMAT must be json or plain" in bad.stderr


def test_gunicorn_access_lines_are_json_with_the_request_id():
    from types import SimpleNamespace

    from gunicorn.config import Config

    from annotate.gunicorn_json import JsonLogger

    cfg = Config()
    cfg.set("accesslog", "-")
    logger = JsonLogger(cfg)
    stream = io.StringIO()
    for h in logger.access_log.handlers:
        h.stream = stream
    resp = SimpleNamespace(status_code=503, headers=[("X-Request-ID", "abc123abc123")], sent=57)
    from datetime import timedelta

    logger.access(resp, None, {"REQUEST_METHOD": "POST", "PATH_INFO": '/api/x"y', "REMOTE_ADDR": "10.0.0.1",
                               "HTTP_USER_AGENT": 'evil "agent"'}, timedelta(milliseconds=12.5))
    line = json.loads(stream.getvalue())
    assert line == {**line, "status": 503, "path": '/api/x"y', "request_id": "abc123abc123",
                    "duration_ms": 12.5, "user_agent": 'evil "agent"', "method": "POST"}
