"""Django settings, read from the environment.

Every setting has a safe default for the embedded mode: SQLite and the huey
SQLite queue under DATA_DIR, emails kept in the outbox, a secret key generated
once and kept in DATA_DIR.
"""

from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path

import dj_database_url
from django.utils.translation import gettext_lazy as _

from npsloop.config import email_settings, huey_settings, sqlite_options

BASE_DIR = Path(__file__).resolve().parent
DATA_DIR = Path(os.environ.get("NPSLOOP_DATA_DIR", Path.cwd() / "var")).resolve()
DATA_DIR.mkdir(parents=True, exist_ok=True)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _secret_key() -> str:
    if key := os.environ.get("SECRET_KEY"):
        return key
    # Embedded mode: one random key per data directory, so sessions and rating
    # links survive restarts without anyone choosing a key by hand.
    path = DATA_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
DEBUG = _env_bool("DEBUG", False)
BASE_URL = os.environ.get("BASE_URL", "http://127.0.0.1:8000").rstrip("/")
ALLOWED_HOSTS = [
    h.strip() for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost").split(",") if h
]
CSRF_TRUSTED_ORIGINS = [BASE_URL]

INSTALLED_APPS = [
    # First, so that its registration/ templates (the password reset pages) are used
    # rather than the admin's of the same names.
    "npsloop.web",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "huey.contrib.djhuey",
    "npsloop.accounts",
    "npsloop.mail",
    "npsloop.surveys",
    "npsloop.contacts",
    "npsloop.invitations",
    "npsloop.ingest",
    "npsloop.responses",
    "npsloop.insights",
    "npsloop.segment_sync",
    "npsloop.notifications",
    "npsloop.api",
    "npsloop.ops",
]

MIDDLEWARE = [
    # Request id + access log around everything; /healthz, /readyz and /metrics are
    # answered before sessions and the host check (docs/operations.md).
    "npsloop.ops.middleware.RequestIdMiddleware",
    "npsloop.ops.middleware.OpsEndpointsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "npsloop.web.middleware.SecurityHeadersMiddleware",
    "npsloop.accounts.middleware.CurrentOrganizationMiddleware",
]

ROOT_URLCONF = "npsloop.urls"
WSGI_APPLICATION = "npsloop.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "npsloop.accounts.context.organization",
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{DATA_DIR / 'npsloop.sqlite3'}"),
        conn_max_age=int(os.environ.get("DB_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = sqlite_options()
    # Tests use a file, not memory, so worker processes started by a test see it.
    DATABASES["default"]["TEST"] = {
        "NAME": os.environ.get("NPSLOOP_TEST_DB", str(DATA_DIR / "test.sqlite3"))
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("de", _("German"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = DATA_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
# No page is framed; the outbox's email preview allows itself (xframe_options_sameorigin).
X_FRAME_OPTIONS = "DENY"
SILENCED_SYSTEM_CHECKS = [
    # HSTS preload is a decision for the owner of the registrable domain, made at
    # hstspreload.org, not one an app on (usually) a subdomain can make.
    "security.W021",
]
if BASE_URL.startswith("https://"):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    # The TLS-terminating proxy must set X-Forwarded-Proto (and drop a client's own).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "31536000"))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = _env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
    # Plain-HTTP requests are redirected to https, except the probes of a load balancer
    # (also answered ahead of SecurityMiddleware by npsloop.ops). SECURE_SSL_REDIRECT=false
    # when the proxy redirects itself and sends no X-Forwarded-Proto.
    SECURE_SSL_REDIRECT = _env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^(healthz|readyz|metrics)$"]
    if not SECURE_SSL_REDIRECT:
        SILENCED_SYSTEM_CHECKS.append("security.W008")  # the operator's proxy redirects

DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# Cache (API rate limits): per process by default; CACHE_URL=redis://host:6379/1
# shares the counters between processes and machines.
CACHE_URL = os.environ.get("CACHE_URL", "")
CACHES = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}
    if CACHE_URL.startswith(("redis://", "rediss://"))
    else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
}

# Email: EMAIL_URL (smtp://user:pass@host:port, smtp+tls://, smtp+ssl://); without
# it every message is kept in the dashboard's outbox instead of being sent.
EMAIL_URL = os.environ.get("EMAIL_URL", "")
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "npsloop <npsloop@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
EMAIL_BACKEND = "npsloop.mail.backends.RecordingBackend"
NPSLOOP_EMAIL = email_settings(EMAIL_URL)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "20"))

# Background jobs: JOBS_URL (sqlite:///path, redis://host:port/db, or "immediate"
# to run jobs in the calling process, used by the test-suite).
JOBS_URL = os.environ.get("JOBS_URL", f"sqlite:///{DATA_DIR / 'jobs.sqlite3'}")
HUEY = huey_settings(JOBS_URL, workers=int(os.environ.get("WORKERS", "2")))

# How long a claimed invitation may stay "sending" before the reconciler
# assumes its worker died and returns it to the pool.
NPSLOOP_CLAIM_TIMEOUT_SECONDS = int(os.environ.get("NPSLOOP_CLAIM_TIMEOUT_SECONDS", "600"))
# Rating links stay valid this long after the invitation was sent.
NPSLOOP_RATING_LINK_DAYS = int(os.environ.get("NPSLOOP_RATING_LINK_DAYS", "180"))
# Segment back-sync: where identify calls go (tests point it at a local receiver).
NPSLOOP_SEGMENT_HOST = os.environ.get("SEGMENT_HOST", "https://api.segment.io")
# Seconds to wait for Segment before counting the attempt as failed (it is retried).
NPSLOOP_SEGMENT_TIMEOUT = float(os.environ.get("SEGMENT_TIMEOUT", "10"))
# Webhooks and integrations: networks that user-entered URLs may reach although they
# are private (comma-separated, e.g. "10.1.2.0/24,127.0.0.1"); by default only public
# addresses. HTTPS only when OUTBOUND_HTTPS_ONLY is on.
NPSLOOP_OUTBOUND_ALLOW = [
    item for item in os.environ.get("OUTBOUND_ALLOW", "").split(",") if item.strip()
]
NPSLOOP_OUTBOUND_HTTPS_ONLY = _env_bool("OUTBOUND_HTTPS_ONLY", False)
# Seconds a webhook or integration receiver gets to answer before the try counts as failed.
NPSLOOP_OUTBOUND_TIMEOUT = float(os.environ.get("OUTBOUND_TIMEOUT", "10"))
# Open sign-up; operators of a private instance turn it off.
NPSLOOP_SIGNUP = _env_bool("NPSLOOP_SIGNUP", True)

# Abuse limits (README, docs/segment.md and docs/survey-loop.md "Limits"), counted in
# CACHES: per process with the default cache, across processes with CACHE_URL. A rate
# is "N/period" (60/min, 5/hour, 100/s; a bare N is per minute); 0 turns it off.
_rate_pattern = r"\d+(\s*/\s*([1-9]\d*)?\s*(s|sec|second|m|min|minute|h|hour|d|day)s?)?"


def _env_rate(name: str, default: str) -> str:
    value = os.environ.get(name, default).strip()
    if not re.fullmatch(_rate_pattern, value.lower()):
        raise ValueError(f"{name}={value!r}: write a rate like 60/min, 5/hour or 100/s (0: off)")
    return value


# Segment ingest: requests (a batch counts once) per survey API key.
NPSLOOP_INGEST_RATE_LIMIT = _env_rate("INGEST_RATE_LIMIT", "120000/min")
# Rating pages (/r/<token>/, its record and thanks pages): requests per client address.
NPSLOOP_RATING_RATE_LIMIT = _env_rate("RATING_RATE_LIMIT", "60/min")
# Password reset form: requests per client address.
NPSLOOP_PASSWORD_RESET_RATE_LIMIT = _env_rate("PASSWORD_RESET_RATE_LIMIT", "5/hour")
# Sign-in: after this many failures for one user name from one address within the
# lockout time, that pair is refused for the lockout time (successful sign-in resets).
NPSLOOP_LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", "5"))
NPSLOOP_LOGIN_LOCKOUT_MINUTES = int(os.environ.get("LOGIN_LOCKOUT_MINUTES", "15"))
# Proxies whose X-Forwarded-For names the client (comma-separated addresses or networks,
# e.g. "127.0.0.1,10.0.0.0/8"); without them the client is REMOTE_ADDR.
NPSLOOP_TRUSTED_PROXIES = [
    str(ipaddress.ip_network(item.strip(), strict=False))
    for item in os.environ.get("TRUSTED_PROXIES", "").split(",")
    if item.strip()
]

# Operations (docs/operations.md). /metrics: with METRICS_TOKEN only for
# "Authorization: Bearer <token>", without it only for clients on this machine.
NPSLOOP_METRICS_TOKEN = os.environ.get("METRICS_TOKEN", "")
# Retention: anonymise (or delete) responses, contacts and their traces older than
# this many months, daily; 0 keeps everything.
NPSLOOP_RETENTION_MONTHS = int(os.environ.get("RETENTION_MONTHS", "0"))
NPSLOOP_RETENTION_MODE = (
    os.environ.get("RETENTION_MODE", "anonymise").strip().lower().replace("anonymize", "anonymise")
)
if NPSLOOP_RETENTION_MODE not in {"anonymise", "delete"} or NPSLOOP_RETENTION_MONTHS < 0:
    raise ValueError("RETENTION_MODE must be anonymise or delete, RETENTION_MONTHS 0 or more")

# LOG_FORMAT=json: one JSON object per line (time, level, logger, message, request_id,
# ...); plain (the default) for a terminal. Both carry the request id on each record.
LOG_FORMAT = os.environ.get("LOG_FORMAT", "plain").strip().lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ValueError(f"LOG_FORMAT {LOG_FORMAT!r} is not supported: use plain or json")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "npsloop.ops.logs.RequestIdFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"},
        "json": {"()": "npsloop.ops.logs.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    # run_huey installs its own (plain) handler on "huey" unless it has one; do not
    # print its lines twice. In JSON mode the worker's lines are JSON too.
    "loggers": {
        "huey": {
            "level": "INFO",
            "propagate": False,
            **({"handlers": ["console"]} if LOG_FORMAT == "json" else {}),
        }
    },
}
