"""Settings for the test suite: the project's own, with test-only secrets and plain HTTP.

Anything set in the environment still wins (CI sets DATABASE_URL for the PostgreSQL pass).
"""

import os

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789")
os.environ.setdefault("FIELD_ENCRYPTION_KEY", "aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")

from bridge.settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast test users
