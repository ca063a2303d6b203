"""Settings for the benchmarks: the project's own, on a PostgreSQL database of their own.

``DATABASE_URL`` wins when set (the enqueue benchmark's SQLite reference sets it); otherwise the
benchmarks use ``crm_bench`` on 127.0.0.1:5432, which ``bench/common.py`` creates and migrates.
DEBUG stays off so Django does not keep every query in memory; retries are fast so the fault
suites finish in minutes; provider-call logs are at WARNING so 640 lines a second do not go to
the terminal (the per-call INFO line is measured separately in docs/benchmarks.md).
"""

import os

os.environ.setdefault("SECRET_KEY", "bench-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/crm_bench")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("BRIDGE_RETRY_BASE_SECONDS", "0.2")
os.environ.setdefault("BRIDGE_RETRY_CAP_SECONDS", "2")
os.environ.setdefault("BRIDGE_STRANDED_MARGIN_SECONDS", "2")
os.environ.setdefault("BRIDGE_MAX_ATTEMPTS", "50")
os.environ.setdefault("BRIDGE_KICK_WORKERS", "false")
# The local fake providers listen on the loopback over plain http.
os.environ.setdefault("BRIDGE_ALLOWED_PROVIDER_HOSTS", "127.0.0.1,localhost")
os.environ.setdefault("LOG_LEVEL", "WARNING")

from bridge.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]

# The speed-to-lead benchmark's servers add the bare reference view (bench/urls.py).
if os.environ.get("BENCH_URLS") == "true":
    ROOT_URLCONF = "bench.urls"

# The benchmarks render admin pages without running `collectstatic`: static files come from the
# apps as in a development run (tests/test_deploy.py checks the production storage itself).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
