"""Settings for the test suite: the project's own, with test-only secrets and plain HTTP.

Anything set in the environment still wins (CI sets DATABASE_URL for the PostgreSQL pass).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
# Retries in milliseconds, not minutes, so retry paths run within a test.
os.environ.setdefault("BRIDGE_RETRY_BASE_SECONDS", "0.05")
os.environ.setdefault("BRIDGE_RETRY_CAP_SECONDS", "0.5")
os.environ.setdefault("BRIDGE_STRANDED_MARGIN_SECONDS", "1")
os.environ.setdefault("BRIDGE_KICK_WORKERS", "false")
# The local fake providers listen on the loopback over plain http.
os.environ.setdefault("BRIDGE_ALLOWED_PROVIDER_HOSTS", "127.0.0.1,localhost")

from bridge.settings import *  # noqa: E402,F403

# A developer's .env with real provider credentials must not create accounts in test databases.
PROVIDER_ENV_ACCOUNTS = {}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users

# A file, not memory, for SQLite's test database: a django-q2 cluster started by a test runs in
# another process and must see the same database.
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    (BASE_DIR / "var").mkdir(exist_ok=True)  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "var" / "test-db.sqlite3")}  # noqa: F405

# The test suite renders admin pages without running `collectstatic`: static files come from the
# apps as in a development run (tests/test_deploy.py checks the production storage itself).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
