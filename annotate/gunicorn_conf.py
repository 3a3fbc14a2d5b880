"""gunicorn settings shared by `make run` and docker-compose (`-c python:annotate.gunicorn_conf`).

Each gunicorn worker is its own process with its own Prometheus counters,
and a scrape reaches whichever worker accepts it. prometheus_client's
multiprocess mode keeps every worker's counters in files under
PROMETHEUS_MULTIPROC_DIR, and /metrics sums them; the variable must be set
before any worker imports prometheus_client, so it is set here, in the
master. By default the directory is this master's own, under the system
temp dir (container-local in docker-compose, never on the shared /data
volume), created empty at start and removed at exit: files of an earlier
run would otherwise be counted again.
"""

import os
import shutil
import tempfile
from pathlib import Path

os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / f"prometheus-web-{os.getpid()}"))

# Only now: prometheus_client picks its value store at import, and the workers fork from here.
from prometheus_client import multiprocess  # noqa: E402

# Access lines as JSON objects too when the application logs JSON (production), with the
# request id the application put on the response, so both kinds of line join on it. A logger
# class, not an access_log_format template: a quote in a path or user agent would break a template.
if (os.environ.get("LOG_FORMAT") or ("json" if os.environ.get("DJANGO_ENV") == "production" else "plain")) == "json":
    logger_class = "annotate.gunicorn_json.JsonLogger"


def on_starting(server):
    target = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True, exist_ok=True)


def on_exit(server):
    shutil.rmtree(os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)


def child_exit(server, worker):
    # A dead worker's live gauges go; its counters stay in the sum.
    multiprocess.mark_process_dead(worker.pid)
