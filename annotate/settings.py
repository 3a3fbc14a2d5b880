"""All settings, read from the environment, with safe development defaults.

Every variable is listed in README.md ("Configuration"). Production
(DJANGO_ENV=production) refuses to start without DJANGO_SECRET_KEY,
DATABASE_URL and REDIS_URL; development starts embedded servers instead.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return default if value is None or value == "" else value


def env_bool(name: str, default: bool) -> bool:
    value = env(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = env(name)
    return default if value is None else int(value)


def env_list(name: str, default: str) -> list[str]:
    return [item.strip() for item in (env(name, default) or "").split(",") if item.strip()]


DJANGO_ENV = env("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "production", "test"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be development, production or test, not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"

SECRET_KEY = env("DJANGO_SECRET_KEY")
if not SECRET_KEY:
    if PRODUCTION:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_ENV=production")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

DEBUG = env_bool("DJANGO_DEBUG", not PRODUCTION)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" + ("" if PRODUCTION else ",testserver"))
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# Embedded servers are a development convenience; production must name real ones.
EMBEDDED_SERVICES = env_bool("EMBEDDED_SERVICES", not PRODUCTION)
APP_DATA_DIR = Path(env("APP_DATA_DIR", str(BASE_DIR / ".var")))
# `make test` runs the suite in parallel (pytest-xdist). Each test process gets
# its own database (pytest-django suffixes the name), Redis database and file
# directories, so two processes never share a queue, a job file or a checkpoint.
# A one-process run uses test-main, so no test writes into the files of `make run`.
TEST_WORKER = env("PYTEST_XDIST_WORKER") if DJANGO_ENV == "test" else None
_TEST_WORKER_INDEX = int(TEST_WORKER[2:]) if TEST_WORKER and re.fullmatch(r"gw\d+", TEST_WORKER) else None
if TEST_WORKER is not None and (_TEST_WORKER_INDEX is None or _TEST_WORKER_INDEX >= 14):
    raise ImproperlyConfigured(f"PYTEST_XDIST_WORKER is {TEST_WORKER!r}: at most 14 test processes (gw0-gw13)")
_FILES_DIR = APP_DATA_DIR / f"test-{TEST_WORKER or 'main'}" if DJANGO_ENV == "test" else APP_DATA_DIR


def _service_url(var: str, start) -> str:
    value = env(var)
    if value:
        return value
    if not EMBEDDED_SERVICES:
        raise ImproperlyConfigured(f"{var} must be set (EMBEDDED_SERVICES is off)")
    return start()


def _database_url() -> str:
    from annotate import embedded

    return _service_url("DATABASE_URL", embedded.postgres_url)


def _redis_url() -> str:
    from annotate import embedded

    url = _service_url("REDIS_URL", embedded.redis_url)
    if DJANGO_ENV == "test" and not env("REDIS_URL"):
        # Tests use their own logical database on the embedded server, so a
        # running `make run` and a test session never share queues.
        # gw0, gw1, ... take databases 2, 3, ... (Redis has 16: 0 for make run, 1 for a serial run).
        index = 1 if _TEST_WORKER_INDEX is None else 2 + _TEST_WORKER_INDEX
        url = url.rsplit("/", 1)[0] + f"/{index}"
    return url


DATABASE_URL = _database_url()
REDIS_URL = _redis_url()

DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DB_CONN_MAX_AGE", 60))}
if not DATABASES["default"]["ENGINE"].endswith("postgresql"):
    raise ImproperlyConfigured("Only PostgreSQL is supported: the assignment engine needs SKIP LOCKED.")
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# The same PostgreSQL backend, with query counts and times exported to Prometheus (/metrics).
DATABASES["default"]["ENGINE"] = "django_prometheus.db.backends.postgresql"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_filters",
    "axes",
    "django_prometheus",
    "pgtrigger",
    "pghistory",
    "pghistory.admin",
    "django_celery_beat",
    "annotate",  # project-level commands (healthcheck)
    "labeling",
    "active_learning",
]

MIDDLEWARE = [
    # First and last: request counts, latency and status codes for Prometheus.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "annotate.request_id.RequestIdMiddleware",
    "labeling.api.errors.ApiErrorShapeMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Attaches the user and URL to audit-trail events made by a request (writes only).
    "pghistory.middleware.HistoryMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "annotate.middleware.ContentSecurityPolicyMiddleware",
    # Last but one, as django-axes asks: it turns a locked-out login into its answer.
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

# /metrics (Prometheus): open to these addresses, or to anyone sending "Authorization: Bearer
# <METRICS_TOKEN>" when that is set (a scraper outside the host).
METRICS_ALLOWED_IPS = env_list("METRICS_ALLOWED_IPS", "127.0.0.1,::1")
METRICS_TOKEN = env("METRICS_TOKEN", "") or ""

# Login lockout (django-axes): AXES_FAILURE_LIMIT failed logins for one username,
# or from one IP address, within AXES_COOLOFF_MINUTES lock that username or IP out
# until the window passes, right password or not.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 10)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("AXES_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
# Behind a proxy the client address is in X-Forwarded-For (DJANGO_SECURE_PROXY_SSL_HEADER says there is one).
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False) else ("REMOTE_ADDR",)
)

ROOT_URLCONF = "annotate.urls"
WSGI_APPLICATION = "annotate.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "labeling.context_processors.navigation",
            ],
        },
    }
]

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

if DJANGO_ENV == "test":
    # Hashing cost is not under test; PBKDF2 would dominate suites that create users.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
# Development serves straight from static/ (no collectstatic step before `make run`).
WHITENOISE_USE_FINDERS = not PRODUCTION
WHITENOISE_AUTOREFRESH = DEBUG
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}

# Security headers. HTTPS-only flags are on in production; behind a TLS proxy
# set SECURE_PROXY_SSL_HEADER through DJANGO_SECURE_PROXY_SSL_HEADER=1.
SECURE_CONTENT_TYPE_NOSNIFF = True
# KaTeX positions glyphs with inline styles, hence 'unsafe-inline' for styles only.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # the labeling page reads it to send X-CSRFToken
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", PRODUCTION)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
# HTTPS redirect and HSTS are off by default: most deployments terminate TLS at a proxy that
# redirects and sets HSTS itself (README, "HTTPS"). Set them here when Django should.
SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", False)
# Probes and scrapers on the private network speak plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", False)
SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
if env_bool("DJANGO_SECURE_PROXY_SSL_HEADER", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "labeling.api.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "labeling.api.pagination.Pagination",
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # Per signed-in user (session or token) and per address for anonymous requests. The
    # counters live in each process's memory (Django's default cache), so with N gunicorn
    # workers a client can reach N times the rate; Redis would share them but put the
    # broker on every request's path, which the outbox exists to avoid.
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.UserRateThrottle",
        "rest_framework.throttling.AnonRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env("API_THROTTLE_USER", "1200/min"),
        "anon": env("API_THROTTLE_ANON", "60/min"),
    },
    "PAGE_SIZE": 50,
    "DEFAULT_PARSER_CLASSES": [
        "labeling.api.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "PRM step-labeling API",
    "DESCRIPTION": "Step-level supervision of LLM math solutions (PRM800K-compatible).",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "labeling.api.schema.document_errors",
    ],
    # Swagger UI from the drf-spectacular-sidecar wheel (static files), never a CDN. (Not Redoc:
    # its page template loads Google Fonts and a logo from Redocly's CDN.)
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status`; name each choice set after its model.
    "ENUM_NAME_OVERRIDES": {
        "CampaignStatusEnum": "labeling.models.Campaign.Status",
        "MembershipStatusEnum": "labeling.models.Membership.Status",
        "AssignmentStatusEnum": "labeling.models.Assignment.Status",
        "TrainingRunStatusEnum": "active_learning.models.TrainingRun.Status",
        "RevealEnum": "labeling.models.Campaign.Reveal",
        "AskEnum": "labeling.models.Campaign.Ask",
        "MemberRoleEnum": "labeling.services.campaigns.MEMBER_ROLES",
        "MembershipRoleEnum": "labeling.models.Membership.Role",
    },
}

# --- Celery -----------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TRAINING_QUEUE = "training"
# The score stage fans out over this queue: one task per chunk of the pool, any
# number of workers on any hosts (docker compose up --scale scoring=N).
CELERY_SCORING_QUEUE = "scoring"
CELERY_TASK_ROUTES = {
    "active_learning.tasks.score_chunk": {"queue": CELERY_SCORING_QUEUE},
    "active_learning.tasks.train_*": {"queue": CELERY_TRAINING_QUEUE},
    "active_learning.tasks.score_pool": {"queue": CELERY_TRAINING_QUEUE},
}
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Workers log through LOGGING (JSON in production, with the request id field), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 60 * 60)
# A minute before the hard kill, the task gets an exception it can clean up after (a launched trainer's
# processes and work directory); the hard limit stays as the backstop.
CELERY_TASK_SOFT_TIME_LIMIT = max(1, CELERY_TASK_TIME_LIMIT - 60)
CELERY_RESULT_EXPIRES = timedelta(days=1)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Product settings -----------------------------------------------------------
# Where trained PRM checkpoints and export files live (a directory, so that
# they can later move to object storage behind the same paths).
CHECKPOINT_DIR = Path(env("CHECKPOINT_DIR", str(_FILES_DIR / "checkpoints")))
EXPORT_DIR = Path(env("EXPORT_DIR", str(_FILES_DIR / "exports")))
IMPORT_BATCH_SIZE = env_int("IMPORT_BATCH_SIZE", 1000)
# Seconds between beat's sweeps that expire stale leases.
LEASE_SWEEP_SECONDS = env_int("LEASE_SWEEP_SECONDS", 60)
# Transactional outbox: requests publish their Celery task after commit with
# these short broker timeouts (seconds), and beat's relay retries the rest.
OUTBOX_BROKER_TIMEOUT_S = float(env("OUTBOX_BROKER_TIMEOUT_S", "1.0"))
OUTBOX_RELAY_SECONDS = env_int("OUTBOX_RELAY_SECONDS", 10)
OUTBOX_PUBLISH_ON_COMMIT = env_bool("OUTBOX_PUBLISH_ON_COMMIT", True)
# The lease of a task the labeling page fetched ahead but has not shown yet;
# the page renews it while open and releases it when it closes.
PREFETCH_LEASE_SECONDS = env_int("PREFETCH_LEASE_SECONDS", 120)
# Active learning: a running cycle renews its lease while it works; a run
# whose lease lapses (its worker died) is marked failed by the next check.
AL_RUN_LEASE_SECONDS = env_int("AL_RUN_LEASE_SECONDS", 180)
# A queued run that no training worker picked up within this is failed.
AL_QUEUED_TIMEOUT_SECONDS = env_int("AL_QUEUED_TIMEOUT_SECONDS", 3 * 60 * 60)
# The score stage: pool solutions per chunk task; a chunk's lease (renewed while
# it scores; one that lapses goes to another worker); attempts before a chunk
# (one that kills its worker each time) fails the run; how long the stage may
# go without any chunk progress before its messages are sent again, and before
# the run fails as stalled (no scoring worker is running).
AL_SCORING_CHUNK_SIZE = env_int("AL_SCORING_CHUNK_SIZE", 1000)
AL_SCORING_CHUNK_LEASE_SECONDS = env_int("AL_SCORING_CHUNK_LEASE_SECONDS", 60)
AL_SCORING_MAX_ATTEMPTS = env_int("AL_SCORING_MAX_ATTEMPTS", 3)
AL_SCORING_REDISPATCH_SECONDS = env_int("AL_SCORING_REDISPATCH_SECONDS", 300)
AL_SCORING_STALL_SECONDS = env_int("AL_SCORING_STALL_SECONDS", 30 * 60)
# How often beat hands lapsed chunks to other workers.
AL_SCORING_REAP_SECONDS = env_int("AL_SCORING_REAP_SECONDS", 15)
# The torch device of this process's scoring ("" = the campaign's score_config.device);
# a worker started with --device cuda sets it.
AL_SCORING_DEVICE = env("AL_SCORING_DEVICE", "")
# Torch CPU threads of a scoring process (0: torch's default); --torch-threads N sets it.
AL_SCORING_TORCH_THREADS = env_int("AL_SCORING_TORCH_THREADS", 0)
# Processes a training run trains on: 1 (in the worker), N, or "auto" (every visible GPU). Above 1
# the training worker launches the toolkit's trainer under accelerate (GPUs) or torchrun (CPU).
AL_TRAIN_PROCESSES = env("AL_TRAIN_PROCESSES", "1")
if AL_TRAIN_PROCESSES != "auto" and not (AL_TRAIN_PROCESSES.isdigit() and int(AL_TRAIN_PROCESSES) >= 1):
    raise ImproperlyConfigured(f"AL_TRAIN_PROCESSES must be a positive integer or auto, not {AL_TRAIN_PROCESSES!r}")
# How often beat checks which campaigns are due for a cycle.
AL_CYCLE_CHECK_SECONDS = env_int("AL_CYCLE_CHECK_SECONDS", 60)
# How often beat refreshes inter-annotator agreement of campaigns with new labels.
AGREEMENT_REFRESH_SECONDS = env_int("AGREEMENT_REFRESH_SECONDS", 120)
# A running import or export job writes a heartbeat every JOB_HEARTBEAT_SECONDS;
# one silent for JOB_STALE_SECONDS lost its worker and is failed. A pending job
# whose message a worker should have taken JOB_PENDING_TIMEOUT_SECONDS ago is failed too.
JOB_HEARTBEAT_SECONDS = env_int("JOB_HEARTBEAT_SECONDS", 10)
JOB_STALE_SECONDS = env_int("JOB_STALE_SECONDS", 90)
JOB_PENDING_TIMEOUT_SECONDS = env_int("JOB_PENDING_TIMEOUT_SECONDS", 3600)
# Where uploaded import files wait for the worker.
IMPORT_UPLOAD_DIR = Path(env("IMPORT_UPLOAD_DIR", str(_FILES_DIR / "uploads")))
# Largest import upload accepted from the web page, in megabytes.
IMPORT_UPLOAD_MAX_MB = env_int("IMPORT_UPLOAD_MAX_MB", 512)

# --- Email: invites to new members are mailed when a mail server is configured,
# else the dashboard shows the one-time link for the manager to pass on.
EMAIL_HOST = env("EMAIL_HOST", "") or ""
EMAIL_PORT = env_int("EMAIL_PORT", 587)
EMAIL_HOST_USER = env("EMAIL_HOST_USER", "") or ""
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD", "") or ""
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "prm-annotate@localhost")
EMAIL_ENABLED = env_bool("EMAIL_ENABLED", bool(EMAIL_HOST))
# How long an invite link works.
INVITE_DAYS = env_int("INVITE_DAYS", 14)
# Where people reach this site: the base of invite links made outside a web request (commands).
SITE_URL = env("SITE_URL", "http://127.0.0.1:8000")

# Production logs one JSON object per line (timestamp, level, logger, message, request_id and
# any extra fields), for a log pipeline; development keeps plain lines.
LOG_FORMAT = env("LOG_FORMAT", "json" if PRODUCTION else "plain")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"LOG_FORMAT must be json or plain, not {LOG_FORMAT!r}")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "annotate.request_id.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s]: %(message)s"},
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "fmt": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level", "name": "logger"},
        },
    },
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": LOG_FORMAT, "filters": ["request_id"]}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", "INFO")},
    "loggers": {"pgserver": {"level": "WARNING"}},
}
