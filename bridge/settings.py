"""Settings for CRM Bridge, read from the environment (12-factor, django-environ).

With nothing set, the bridge runs on a SQLite file in the project folder and the django-q2 ORM
broker, which is what the offline demo and the test suite use. Production sets at least
``DATABASE_URL``, ``SECRET_KEY``, ``FIELD_ENCRYPTION_KEY`` and ``ALLOWED_HOSTS``; ``.env.example``
lists every variable.
"""

from pathlib import Path

import django
import environ
from django.core.exceptions import ImproperlyConfigured

from bridge import devkeys
from integrations import registry

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# A .env file beside manage.py is read when present; real environment variables win.
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

# Development runs without keys get keys generated for this checkout, kept in this git-ignored
# folder (bridge/devkeys.py); the admin shows a banner while they are in use.
DEV_KEYS_DIR = env.path("BRIDGE_DEV_KEYS_DIR", default=BASE_DIR / "var")

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set. Set SECRET_KEY in the environment "
            "(or DEBUG=true for a development run with a key generated for this checkout)."
        )
    SECRET_KEY = devkeys.development_secret_key(Path(DEV_KEYS_DIR))

# Provider credentials are encrypted with these Fernet keys (comma-separated, newest first; see
# README "Rotating the encryption key").
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEY", default=[])
FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT = not FIELD_ENCRYPTION_KEYS
if not FIELD_ENCRYPTION_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not set. Generate one with "
            "`python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'` "
            "and set FIELD_ENCRYPTION_KEY (or DEBUG=true for development)."
        )
    FIELD_ENCRYPTION_KEYS = devkeys.development_encryption_keys(Path(DEV_KEYS_DIR))

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_q",
    "import_export",
    "bridge",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Static files straight from the WSGI server, before sessions and CSRF touch the request.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "bridge.urls"
WSGI_APPLICATION = "bridge.wsgi.application"

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
                "bridge.context_processors.security_warnings",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, django-q2 workers, fake providers) share the file: wait for locks
    # instead of failing at once, and let readers run beside the writer (WAL).
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6 behaviour today: "example.com" means https

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")  # what staff see; the database stores UTC
USE_I18N = True
USE_TZ = True

# Numbers typed without a country code ("(202) 555-0143") are read as this region's.
DEFAULT_PHONE_REGION = env.str("DEFAULT_PHONE_REGION", default="US").upper()

STATIC_URL = "static/"
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "var" / "static")
# whitenoise serves the static files from the web processes (no separate file server). In
# production (DEBUG off) that is what `collectstatic` gathered into STATIC_ROOT, under names
# carrying a hash of their content (browsers cache them for a year) with gzip copies beside
# them; a development run (DEBUG) serves the apps' files as they are, no collectstatic needed.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# --- provider accounts from the environment -------------------------------------------------
# Each provider whose credential variable is set gets an account named after it ("aello",
# "leeloo", "aiployees", "aloware"), created or updated after every `migrate` and by
# `python manage.py env_accounts` (bridge/env_accounts.py, which validates the values and names
# the variable at fault). Keyed by variable name, so Django's error pages mask the credentials.
# The variables are declared beside each provider class (``env = EnvVars(…)``), found through
# the registry, which imports nothing of Django.
PROVIDER_ENV_ACCOUNTS = {
    name: env.str(name, default="")
    for variables in registry.env_vars().values()
    for name in variables.names()
}

# --- django-q2: the transport under the bridge's own outbox -------------------------------
# The bridge keeps its own attempts and backoff on Delivery rows, so django-q2 must never
# re-run a task by itself: max_attempts 1, failures acknowledged, and `retry` well above
# `timeout` (a worker killed mid-task otherwise makes django-q2 re-deliver it forever and ignore
# max_attempts: django-q2 issues #327, #298).
REDIS_URL = env.str("REDIS_URL", default="")
Q_CLUSTER = {
    "name": env.str("Q_CLUSTER_NAME", default="crm-bridge"),
    "workers": env.int("Q_WORKERS", default=4),
    "timeout": env.int("Q_TIMEOUT", default=120),
    "retry": env.int("Q_RETRY", default=600),
    "max_attempts": 1,
    "ack_failures": True,
    # Successes are kept without django-q2's own pruning, which reads every kept row for each
    # task saved and made the monitor the cluster's bottleneck; bridge/task_history.py prunes
    # them to BRIDGE_TASK_HISTORY every five minutes instead.
    "save_limit": 0,
    "queue_limit": 50,
    "catch_up": False,
    "label": "Background tasks",
    # Workers may start child processes: a long sync reads its pages in one
    # (BRIDGE_SYNC_READ_PROCESS_PAGES). django-q2 stops its workers itself either way.
    "daemonize_workers": False,
}
BRIDGE_TASK_HISTORY = env.int("BRIDGE_TASK_HISTORY", default=1000)
if REDIS_URL:
    Q_CLUSTER["redis"] = REDIS_URL
else:
    Q_CLUSTER["orm"] = "default"

# The cache counts the public endpoints' rate limits (bridge/public.py): Redis, shared by every
# web process, when there is one; else each process's memory.
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("Q_CLUSTER_NAME", default="crm-bridge"),
        }
    }

# Hosts a provider account's base URL may name besides the provider's documented ones (and where
# plain http is accepted): comma-separated host names. A staff user who is not a superuser can
# point an account only at these or the documented hosts (bridge/provider_hosts.py). The demo
# (DEBUG) allows the local fake providers on the loopback; production allows none by default.
BRIDGE_ALLOWED_PROVIDER_HOSTS = env.list(
    "BRIDGE_ALLOWED_PROVIDER_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else []
)

# --- the outbox: the bridge's own attempts and backoff --------------------------------------
# A transient failure is retried after base·2^(attempt-1) seconds (with jitter, capped) until
# BRIDGE_MAX_ATTEMPTS; a delivery left "sending" is sent again once its worker is provably gone
# (its slot lease expired; rows claimed before migration 0015: after the account's timeouts
# plus the margin).
BRIDGE_MAX_ATTEMPTS = env.int("BRIDGE_MAX_ATTEMPTS", default=8)
BRIDGE_RETRY_BASE_SECONDS = env.float("BRIDGE_RETRY_BASE_SECONDS", default=5.0)
BRIDGE_RETRY_CAP_SECONDS = env.float("BRIDGE_RETRY_CAP_SECONDS", default=900.0)
BRIDGE_STRANDED_MARGIN_SECONDS = env.float("BRIDGE_STRANDED_MARGIN_SECONDS", default=60.0)
# The longest a provider's 429 Retry-After may hold an account (an hour): longer, infinite or
# far-future values are cut to it, and the account shows "answering 429 since" meanwhile.
BRIDGE_RETRY_AFTER_CAP_SECONDS = env.float("BRIDGE_RETRY_AFTER_CAP_SECONDS", default=3600.0)
if not 1 <= BRIDGE_RETRY_AFTER_CAP_SECONDS <= 7 * 24 * 3600:
    raise ImproperlyConfigured(
        "BRIDGE_RETRY_AFTER_CAP_SECONDS must be between 1 and 604800 (a week) seconds, "
        f"not {BRIDGE_RETRY_AFTER_CAP_SECONDS}."
    )
# Wake the django-q2 cluster when deliveries are queued (off only in unit tests).
BRIDGE_KICK_WORKERS = env.bool("BRIDGE_KICK_WORKERS", default=True)
# Slots one drain task leases at most (0: all of the account's concurrency). A drain is one
# Python process, whose deliveries per second have a ceiling; above this many slots an account's
# sending is spread over several django-q2 workers, one drain task per share, each leasing what
# is free (docs/benchmarks.md, "Push throughput").
BRIDGE_DRAIN_SLOTS = env.int("BRIDGE_DRAIN_SLOTS", default=16)

# --- the inbox: provider webhooks (bridge/inbox/) ---------------------------------------------
# Where providers reach this bridge (the receiver URLs shown on account pages and printed by
# `webhook_url` start with it). A request body over the limit is refused (413); each account
# takes this many requests a minute (its option webhook_rate_per_minute overrides). An event
# that came too early (its lead's push has not recorded the remote id) is retried after
# base·2^(attempt-1) seconds, capped, up to the attempts; events are kept for the retention
# days (a repeat within them takes effect once). The minute's sweep processes events left
# waiting this long by a killed web process or worker.
BRIDGE_PUBLIC_URL = env.str("BRIDGE_PUBLIC_URL", default="http://127.0.0.1:8000")
BRIDGE_WEBHOOK_MAX_BYTES = env.int("BRIDGE_WEBHOOK_MAX_BYTES", default=1024 * 1024)
BRIDGE_WEBHOOK_RATE_PER_MINUTE = env.int("BRIDGE_WEBHOOK_RATE_PER_MINUTE", default=600)
BRIDGE_INBOX_MAX_ATTEMPTS = env.int("BRIDGE_INBOX_MAX_ATTEMPTS", default=8)
BRIDGE_INBOX_RETRY_BASE_SECONDS = env.float("BRIDGE_INBOX_RETRY_BASE_SECONDS", default=15.0)
BRIDGE_INBOX_RETRY_CAP_SECONDS = env.float("BRIDGE_INBOX_RETRY_CAP_SECONDS", default=900.0)
BRIDGE_INBOX_RETENTION_DAYS = env.int("BRIDGE_INBOX_RETENTION_DAYS", default=30)
BRIDGE_INBOX_STRANDED_SECONDS = env.float("BRIDGE_INBOX_STRANDED_SECONDS", default=30.0)

# --- syncs from the providers (bridge/sync/) -----------------------------------------------
# Records per list request; a running sync silent this long is taken over by the next one; a
# sync started by a task hands over to a fresh task after this long (default: three quarters
# of the worker timeout, so no worker is killed mid-sync).
BRIDGE_SYNC_PAGE_SIZE = env.int("BRIDGE_SYNC_PAGE_SIZE", default=100)
# Records a sync writes per transaction (consecutive pages together; see bridge/sync/paging.py).
BRIDGE_SYNC_WRITE_BATCH = env.int("BRIDGE_SYNC_WRITE_BATCH", default=1000)
# Batches a people pull writes at once, each on its own connection (PostgreSQL; offsets still
# commit in order). 1 writes one batch at a time while the next is prepared.
BRIDGE_SYNC_WRITERS = env.int("BRIDGE_SYNC_WRITERS", default=2)
# A sync with at least this many pages left reads them in a child process (0: never).
BRIDGE_SYNC_READ_PROCESS_PAGES = env.int("BRIDGE_SYNC_READ_PROCESS_PAGES", default=20)
BRIDGE_SYNC_STALE_SECONDS = env.float("BRIDGE_SYNC_STALE_SECONDS", default=600.0)
BRIDGE_SYNC_TASK_SECONDS = env.float(
    "BRIDGE_SYNC_TASK_SECONDS", default=Q_CLUSTER["timeout"] * 0.75
)

# --- import/export of contacts and leads (django-import-export; bridge/resources/) ------------
# The preview is a dry run inside a transaction that is rolled back; a confirmed import runs in
# one transaction and is rolled back whole if any row fails. Exports read rows in chunks.
IMPORT_EXPORT_USE_TRANSACTIONS = True
IMPORT_EXPORT_SKIP_ADMIN_CONFIRM = False
IMPORT_EXPORT_CHUNK_SIZE = 2000
# An uploaded file larger than this, or with more rows, is refused with a message.
BRIDGE_IMPORT_MAX_BYTES = env.int("BRIDGE_IMPORT_MAX_BYTES", default=5 * 1024 * 1024)
BRIDGE_IMPORT_MAX_ROWS = env.int("BRIDGE_IMPORT_MAX_ROWS", default=50_000)
# Bounds checked before and while a file is parsed (bridge/uploads.py), so a small hostile file
# stays cheap: columns (declared by an XLSX sheet or found in any row), characters in one cell
# (Excel's own limit), what an XLSX may unzip to (each part and all together; sheets are
# streamed), and the shared strings and other parts openpyxl reads whole before the first row.
BRIDGE_IMPORT_MAX_COLUMNS = env.int("BRIDGE_IMPORT_MAX_COLUMNS", default=100)
BRIDGE_IMPORT_MAX_CELL_CHARS = env.int("BRIDGE_IMPORT_MAX_CELL_CHARS", default=32_767)
BRIDGE_IMPORT_MAX_UNZIPPED_BYTES = env.int(
    "BRIDGE_IMPORT_MAX_UNZIPPED_BYTES", default=50 * 1024 * 1024
)
BRIDGE_IMPORT_MAX_SHARED_STRINGS_BYTES = env.int(
    "BRIDGE_IMPORT_MAX_SHARED_STRINGS_BYTES", default=10 * 1024 * 1024
)

# --- the lead intake API (bridge/intake/) --------------------------------------------------
# A body over this many bytes is refused (413) before it is read; refused tokens from one
# address past this many a minute are answered 429; CORS preflights a minute from one address.
BRIDGE_INTAKE_MAX_BYTES = env.int("BRIDGE_INTAKE_MAX_BYTES", default=64 * 1024)
BRIDGE_INTAKE_REFUSED_PER_MINUTE = env.int("BRIDGE_INTAKE_REFUSED_PER_MINUTE", default=30)
BRIDGE_INTAKE_PREFLIGHTS_PER_MINUTE = env.int("BRIDGE_INTAKE_PREFLIGHTS_PER_MINUTE", default=600)

# --- email and alerts (bridge/alerts/) -------------------------------------------------------
# Email goes through Django's mail: printed to the console in a development run (DEBUG), sent
# over SMTP otherwise (EMAIL_HOST, EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD,
# EMAIL_USE_TLS, EMAIL_TIMEOUT in the environment). Alert emails come from DEFAULT_FROM_EMAIL.
# Django 6.1 replaces the EMAIL_* settings with MAILERS (the old ones go in Django 7.0): the
# same environment fills whichever this Django reads.
_mail_backend = env.str("EMAIL_BACKEND", default="") or (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG
    else "django.core.mail.backends.smtp.EmailBackend"
)
_smtp = {
    "host": env.str("EMAIL_HOST", default="localhost"),
    "port": env.int("EMAIL_PORT", default=25),
    "username": env.str("EMAIL_HOST_USER", default=""),
    "password": env.str("EMAIL_HOST_PASSWORD", default=""),
    "use_tls": env.bool("EMAIL_USE_TLS", default=False),
    "timeout": env.int("EMAIL_TIMEOUT", default=10),
}
if django.VERSION >= (6, 1):
    MAILERS = {
        "default": {
            "BACKEND": _mail_backend,
            "OPTIONS": _smtp if _mail_backend.endswith(".smtp.EmailBackend") else {},
        }
    }
else:
    EMAIL_BACKEND = _mail_backend
    EMAIL_HOST, EMAIL_PORT = _smtp["host"], _smtp["port"]
    EMAIL_HOST_USER, EMAIL_HOST_PASSWORD = _smtp["username"], _smtp["password"]
    EMAIL_USE_TLS, EMAIL_TIMEOUT = _smtp["use_tls"], _smtp["timeout"]
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="crm-bridge@localhost")
# An account answering 429 this long is an alert; a sync whose last success is older than this
# many of its intervals is "behind"; the daily digest goes out after this hour (UTC); a webhook
# channel's POST gives up after this many seconds.
BRIDGE_ALERT_THROTTLED_MINUTES = env.int("BRIDGE_ALERT_THROTTLED_MINUTES", default=60)
BRIDGE_ALERT_SYNC_BEHIND_INTERVALS = env.int("BRIDGE_ALERT_SYNC_BEHIND_INTERVALS", default=3)
BRIDGE_ALERT_DIGEST_HOUR = env.int("BRIDGE_ALERT_DIGEST_HOUR", default=8)
BRIDGE_ALERT_WEBHOOK_TIMEOUT = env.float("BRIDGE_ALERT_WEBHOOK_TIMEOUT", default=5.0)

# --- security: sensible in production, relaxed only by DEBUG ------------------------------
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact": {"()": "integrations.secrets.RedactingFilter"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        },
    },
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
    },
}
