"""Settings come from the environment; production refuses to start without its secrets."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

PRINT = (
    "import json; from bridge import settings as s; "
    "print(json.dumps({'engine': s.DATABASES['default']['ENGINE'], "
    "'name': str(s.DATABASES['default']['NAME']), 'debug': s.DEBUG, 'hosts': s.ALLOWED_HOSTS, "
    "'region': s.DEFAULT_PHONE_REGION, 'tz': s.TIME_ZONE, 'q': s.Q_CLUSTER, "
    "'csrf': s.CSRF_TRUSTED_ORIGINS}))"
)


def load_settings(**env):
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DATABASE_URL",
            "SECRET_KEY",
            "DEBUG",
            "REDIS_URL",
            "FIELD_ENCRYPTION_KEY",
            "DJANGO_SETTINGS_MODULE",
        }
    }
    clean.update(env)
    return subprocess.run(
        [sys.executable, "-c", PRINT], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_defaults_are_sqlite_and_the_orm_broker_in_debug():
    result = load_settings(DEBUG="true")
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.sqlite3"
    assert values["name"].endswith("db.sqlite3")
    assert values["q"]["orm"] == "default" and "redis" not in values["q"]
    assert values["q"]["max_attempts"] == 1 and values["q"]["ack_failures"] is True
    assert values["q"]["retry"] > values["q"]["timeout"]


def test_production_values_come_from_the_environment():
    result = load_settings(
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEY="aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=",
        DATABASE_URL="postgres://app:pw@db.internal:5432/crm",
        REDIS_URL="redis://cache:6379/0",
        ALLOWED_HOSTS="crm.example.com,www.example.com",
        CSRF_TRUSTED_ORIGINS="https://crm.example.com",
        DEFAULT_PHONE_REGION="gb",
        TIME_ZONE="Europe/London",
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["engine"] == "django.db.backends.postgresql"
    assert values["debug"] is False
    assert values["hosts"] == ["crm.example.com", "www.example.com"]
    assert values["csrf"] == ["https://crm.example.com"]
    assert values["region"] == "GB" and values["tz"] == "Europe/London"
    assert values["q"]["redis"] == "redis://cache:6379/0" and "orm" not in values["q"]


def test_production_refuses_to_start_without_a_secret_key():
    result = load_settings()
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr


def test_production_refuses_to_start_without_an_encryption_key():
    result = load_settings(SECRET_KEY="x" * 50)
    assert result.returncode != 0
    assert "FIELD_ENCRYPTION_KEY is not set" in result.stderr


def test_check_deploy_with_production_settings_reports_nothing_serious():
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        SECRET_KEY="k" * 20 + "-production-grade-secret-with-enough-entropy-0123456789",
        FIELD_ENCRYPTION_KEY="aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=",
        ALLOWED_HOSTS="crm.example.com",
        DEBUG="false",
    )
    for name in (
        "SECURE_SSL_REDIRECT",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "DJANGO_ALLOW_ASYNC_UNSAFE",
    ):
        env.pop(name, None)
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    reported = {
        line.split(")")[0].lstrip("?: (")
        for line in result.stderr.splitlines()
        if line.startswith("?: (")
    }
    # Only the HSTS preload notice, which is an opt-in decision per domain.
    assert reported <= {"security.W021"}, result.stderr


MAILER = (
    "import json, os, warnings\n"
    "with warnings.catch_warnings(record=True) as caught:\n"
    "    warnings.simplefilter('always')\n"
    "    import django\n"
    "    os.environ['DJANGO_SETTINGS_MODULE'] = 'bridge.settings'\n"
    "    django.setup()\n"
    "    from django.core import mail\n"
    "    m = mail.mailers.default if hasattr(mail, 'mailers') else mail.get_connection()\n"
    "removed = [str(w.message) for w in caught if w.category.__name__.startswith('RemovedIn')\n"
    "    and ('EMAIL' in str(w.message) or 'MAILER' in str(w.message))]\n"
    "print(json.dumps({'backend': type(m).__module__, 'host': m.host, 'port': m.port,\n"
    "    'user': m.username, 'tls': m.use_tls, 'timeout': m.timeout, 'removed': removed}))\n"
)


def test_production_mail_comes_from_the_environment_on_either_django():
    """SMTP for the alerts from EMAIL_* in the environment, through EMAIL_* settings on Django
    5.2 and MAILERS on 6.1+ — without a mail deprecation warning on either."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DEBUG", "DJANGO_SETTINGS_MODULE", "EMAIL_BACKEND"}
    }
    env.update(
        SECRET_KEY="x" * 50,
        FIELD_ENCRYPTION_KEY="aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=",
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="587",
        EMAIL_HOST_USER="alerts",
        EMAIL_USE_TLS="true",
        EMAIL_TIMEOUT="7",
    )
    result = subprocess.run(
        [sys.executable, "-c", MAILER], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values == {
        "backend": "django.core.mail.backends.smtp",
        "host": "smtp.example.com",
        "port": 587,
        "user": "alerts",
        "tls": True,
        "timeout": 7,
        "removed": [],
    }
