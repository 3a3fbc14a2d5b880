"""docker-compose.yml must stay in step with the settings it configures.

Docker is not needed: the file is parsed and checked against annotate/settings.py,
so renaming a queue, a setting or a variable without updating the stack fails here.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from django.conf import settings

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
SETTINGS_FILE = REPO / "annotate" / "settings.py"

APP_SERVICES = ("migrate", "web", "worker", "training", "scoring", "beat")
DATA_SERVICES = ("web", "worker", "training", "scoring")
EXPECTED_SERVICES = {"postgres", "redis", *APP_SERVICES}
REQUIRED_PRODUCTION_VARS = {"DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
# How settings.py reads a variable: env("X"), env_bool("X", ...), env_int, env_list,
# and _service_url("X", ...) for the service URLs.
ENV_READ = re.compile(r"\b(?:env|env_bool|env_int|env_list|_service_url)\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']")
# ${NAME}, ${NAME:-default}, ${NAME-default}, ${NAME:?message}, ${NAME?message}
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict:
    assert COMPOSE_FILE.is_file(), f"{COMPOSE_FILE} is missing"
    data = yaml.safe_load(COMPOSE_FILE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def settings_env_names() -> set[str]:
    names = set(ENV_READ.findall(SETTINGS_FILE.read_text()))
    assert {"DJANGO_ENV", "DJANGO_SECRET_KEY", "DATABASE_URL", "REDIS_URL"} <= names, "settings regex broke"
    return names


def resolve(value) -> str:
    """Compose interpolation with an empty environment: defaults are used."""

    def sub(match: re.Match) -> str:
        name, op, arg = match.groups()
        if op in (":-", "-"):
            return arg
        return f"<{name}>"

    return INTERPOLATION.sub(sub, str(value))


def environment(service: dict) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def command(service: dict) -> list[str]:
    cmd = service.get("command")
    assert cmd, "service has no command"
    return shlex.split(cmd) if isinstance(cmd, str) else [str(part) for part in cmd]


def option(args: list[str], *names: str) -> str | None:
    """The value of the last occurrence of an option (`-Q x`, `--queues=x`, `-Qx`)."""
    found = None
    for i, arg in enumerate(args):
        for name in names:
            if arg == name and i + 1 < len(args):
                found = args[i + 1]
            elif name.startswith("--") and arg.startswith(name + "="):
                found = arg.split("=", 1)[1]
            elif not name.startswith("--") and arg.startswith(name) and len(arg) > len(name):
                found = arg[len(name) :].lstrip("=")
    return found


def celery_args(service: dict, subcommand: str) -> list[str]:
    args = command(service)
    if args[:3] == ["python", "-m", "celery"]:
        args = args[2:]
    assert args[0] == "celery", args
    assert option(args, "-A", "--app") == "annotate", "Celery app must be annotate (annotate/celery.py)"
    assert subcommand in args, args
    return args


def depends_on(service: dict) -> dict:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):  # short form: no condition at all
        deps = {name: {} for name in deps}
    return deps


def volume_targets(service: dict) -> dict[str, str]:
    """target path -> source, for `source:target[:mode]` and long-form mounts."""
    mounts = {}
    for volume in service.get("volumes") or []:
        if isinstance(volume, str):
            source, target = volume.split(":")[:2]
        else:
            source, target = volume.get("source"), volume.get("target")
        mounts[target] = source
    return mounts


def test_expected_services_exist(services):
    missing = EXPECTED_SERVICES - set(services)
    assert not missing, f"missing services: {sorted(missing)}"


@pytest.mark.parametrize(
    ("name", "image", "probe"),
    [("postgres", "postgres:16", "pg_isready"), ("redis", "redis:7", "redis-cli")],
)
def test_backing_services_have_image_healthcheck_and_named_volume(compose, services, name, image, probe):
    service = services[name]
    assert service.get("image") == image
    test = service.get("healthcheck", {}).get("test")
    assert test, f"{name} has no healthcheck"
    test_text = test if isinstance(test, str) else " ".join(map(str, test))
    assert probe in test_text
    if name == "redis":
        assert "ping" in test_text
    named = set(compose.get("volumes") or {})
    sources = set(volume_targets(service).values())
    assert sources & named, f"{name} must keep its data in a named volume, has {sources}"


def test_app_services_are_built_from_the_ci_dockerfile(services):
    for name in APP_SERVICES:
        build = services[name].get("build")
        assert isinstance(build, dict), f"{name} must build the app image"
        assert build.get("context") == "."
        assert build.get("dockerfile") == ".ci/Dockerfile"


def test_app_env_names_are_read_by_settings(services):
    known = settings_env_names()
    for name in APP_SERVICES:
        env = environment(services[name])
        unknown = set(env) - known
        assert not unknown, f"{name} sets variables settings.py never reads: {sorted(unknown)}"
        missing = REQUIRED_PRODUCTION_VARS - set(env)
        assert not missing, f"{name} lacks required production variables: {sorted(missing)}"
        assert env.get("DJANGO_ENV") == "production"


def test_app_services_share_one_environment(compose, services):
    shared = compose.get("x-app-env")
    assert isinstance(shared, dict), "the shared x-app-env block is missing"
    for name in APP_SERVICES:
        assert environment(services[name]) == environment({"environment": shared}), name


def test_secret_key_is_required_not_defaulted(services):
    value = environment(services["web"])["DJANGO_SECRET_KEY"]
    match = INTERPOLATION.fullmatch(value)
    assert match and match.group(1) == "DJANGO_SECRET_KEY" and match.group(2) in (":?", "?"), value


def test_database_url_matches_postgres_service(services):
    pg = environment(services["postgres"])
    url = urlsplit(resolve(environment(services["web"])["DATABASE_URL"]))
    assert url.scheme in {"postgres", "postgresql"}
    assert url.hostname == "postgres"
    assert (url.port or 5432) == 5432
    assert url.username == resolve(pg["POSTGRES_USER"])
    assert url.password == resolve(pg["POSTGRES_PASSWORD"])
    assert url.path.lstrip("/") == resolve(pg["POSTGRES_DB"])


def test_redis_url_points_at_redis_service(services):
    url = urlsplit(resolve(environment(services["web"])["REDIS_URL"]))
    assert url.scheme == "redis"
    assert url.hostname == "redis"


def test_data_dirs_live_in_the_shared_appdata_volume(compose, services):
    assert "appdata" in (compose.get("volumes") or {})
    env = environment(services["web"])
    for var in ("CHECKPOINT_DIR", "EXPORT_DIR"):
        assert resolve(env[var]).startswith("/data/"), f"{var}={env[var]} is not under /data"
    for name in DATA_SERVICES:
        assert volume_targets(services[name]).get("/data") == "appdata", f"{name} must mount appdata at /data"


def test_worker_consumes_the_default_queue(services):
    args = celery_args(services["worker"], "worker")
    queues = option(args, "-Q", "--queues")
    assert queues == settings.CELERY_TASK_DEFAULT_QUEUE
    assert settings.CELERY_TRAINING_QUEUE not in queues.split(",")


def test_training_worker_consumes_training_queue_one_at_a_time(services):
    args = celery_args(services["training"], "worker")
    assert option(args, "-Q", "--queues") == settings.CELERY_TRAINING_QUEUE
    assert option(args, "-c", "--concurrency") == "1"
    routed = {route["queue"] for route in settings.CELERY_TASK_ROUTES.values()}
    assert settings.CELERY_TRAINING_QUEUE in routed


def test_scoring_workers_consume_the_scoring_queue_and_scale_out(services):
    args = celery_args(services["scoring"], "worker")
    assert option(args, "-Q", "--queues") == settings.CELERY_SCORING_QUEUE
    assert option(args, "-c", "--concurrency") == "1"
    assert resolve(option(args, "--device", "--device")) == "auto"
    # --scale scoring=N needs replicas that differ: no fixed container name or published port.
    assert "container_name" not in services["scoring"] and not services["scoring"].get("ports")
    assert option(args, "-n", "--hostname").endswith("@%h")
    assert settings.CELERY_TASK_ROUTES["active_learning.tasks.score_chunk"]["queue"] == settings.CELERY_SCORING_QUEUE


def test_beat_uses_the_database_scheduler(services):
    args = celery_args(services["beat"], "beat")
    scheduler = option(args, "-S", "--scheduler")
    assert scheduler == settings.CELERY_BEAT_SCHEDULER == "django_celery_beat.schedulers:DatabaseScheduler"


def test_web_runs_gunicorn_on_the_wsgi_application(services):
    args = command(services["web"])
    if args[:3] == ["python", "-m", "gunicorn"]:
        args = args[2:]
    assert args[0] == "gunicorn", args
    module, _, attr = settings.WSGI_APPLICATION.rpartition(".")
    assert f"{module}:{attr}" in args
    bind = option(args, "-b", "--bind")
    assert bind and bind.startswith("0.0.0.0:"), bind
    port = bind.rsplit(":", 1)[1]
    published = [str(p) for p in services["web"].get("ports") or []]
    assert any(p.endswith(f":{port}") for p in published), published


def test_migrate_runs_once_before_the_app(services):
    args = command(services["migrate"])
    assert args[:3] == ["python", "manage.py", "migrate"] and "--noinput" in args, args
    assert str(services["migrate"].get("restart", "no")) == "no", "a one-shot service must not restart"
    for name in ("web", "worker", "training", "beat"):
        assert depends_on(services[name]).get("migrate", {}).get("condition") == "service_completed_successfully"


def test_app_services_wait_for_healthy_backing_services(services):
    for name in APP_SERVICES:
        deps = depends_on(services[name])
        for backing in ("postgres", "redis"):
            assert deps.get(backing, {}).get("condition") == "service_healthy", f"{name} -> {backing}"


def test_dockerfile_exists_and_pins_cpu_torch(services):
    dockerfiles = {(services[name]["build"]["context"], services[name]["build"]["dockerfile"]) for name in APP_SERVICES}
    assert len(dockerfiles) == 1, dockerfiles
    context, dockerfile = dockerfiles.pop()
    path = REPO / context / dockerfile
    assert path.is_file(), f"{path} is missing"
    text = path.read_text()
    assert re.search(r"^FROM python:3\.11-slim\b", text, re.MULTILINE)
    assert re.search(r"(?<![\w.])torch==2\.13\.0(?![\w.])", text), "torch must be pinned to exactly 2.13.0"
    assert "https://download.pytorch.org/whl/cpu" in text
    assert "-c .ci/constraints.txt" in text
    assert "collectstatic --noinput" in text
    # The same pin as the project and its constraints.
    assert "torch==2.13.0" in (REPO / "pyproject.toml").read_text()
    assert "torch==2.13.0" in (REPO / ".ci" / "constraints.txt").read_text().splitlines()


def test_every_long_running_service_has_a_healthcheck(services):
    for name in ("web", "worker", "training", "scoring", "beat"):
        check = services[name].get("healthcheck")
        assert check and check.get("test"), f"{name} has no healthcheck"
        assert "healthcheck" in " ".join(check["test"]), f"{name} should run manage.py healthcheck"
    assert "--node default@" in " ".join(services["worker"]["healthcheck"]["test"])
    assert "--node training@" in " ".join(services["training"]["healthcheck"]["test"])
    assert "--node scoring@" in " ".join(services["scoring"]["healthcheck"]["test"])
