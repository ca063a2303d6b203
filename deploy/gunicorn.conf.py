"""gunicorn's settings for CRM Bridge: ``gunicorn -c deploy/gunicorn.conf.py bridge.wsgi``.

Every value comes from the environment with a default fit for one small machine
(docs/deploy.md, "Sizing"): ``GUNICORN_WORKERS`` processes (else ``WEB_CONCURRENCY``, else 2) of
``GUNICORN_THREADS`` threads each (4), listening on ``GUNICORN_BIND`` (else ``0.0.0.0:$PORT``
when a platform sets ``PORT``, else 127.0.0.1:8000, behind the TLS proxy). Requests are logged
to stdout, errors to stderr, for systemd's journal or the container log. On SIGTERM a worker
finishes the requests it holds for up to ``GUNICORN_GRACEFUL_TIMEOUT`` seconds (30) before it is
killed; a request running past ``GUNICORN_TIMEOUT`` (60) has its worker replaced.
"""

import os
import re

from gunicorn.glogging import Logger

# A webhook receiver's URL carries its account's secret token: /hooks/<account>/<token>/.
WEBHOOK_TOKEN = re.compile(r"(/hooks/[^/?]+/)[^/?]+")


class RedactingLogger(Logger):
    """gunicorn's logger, whose access lines never show a webhook token or a query string."""

    def atoms(self, resp, req, environ, request_time):
        atoms = super().atoms(resp, req, environ, request_time)
        path = WEBHOOK_TOKEN.sub(r"\1[redacted]", environ.get("PATH_INFO", ""))
        atoms["U"] = path
        atoms["q"] = "[redacted]" if environ.get("QUERY_STRING") else ""
        atoms["r"] = f"{environ['REQUEST_METHOD']} {path} {environ['SERVER_PROTOCOL']}"
        return atoms


def _positive_int(name: str, default: int) -> int:
    """``name`` from the environment as a whole number of at least 1, or a clear refusal."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = 0
    if value < 1:
        raise SystemExit(f"{name} must be a whole number of at least 1, not {raw!r}.")
    return value


def _bind() -> str:
    """Where to listen: GUNICORN_BIND, else the platform's PORT on every interface, else local."""
    if os.environ.get("GUNICORN_BIND", "").strip():
        return os.environ["GUNICORN_BIND"].strip()
    if os.environ.get("PORT", "").strip():
        return f"0.0.0.0:{_positive_int('PORT', 8000)}"
    return "127.0.0.1:8000"


wsgi_app = "bridge.wsgi:application"
bind = _bind()
worker_class = "gthread"
workers = _positive_int("GUNICORN_WORKERS", _positive_int("WEB_CONCURRENCY", 2))
threads = _positive_int("GUNICORN_THREADS", 4)
timeout = _positive_int("GUNICORN_TIMEOUT", 60)
graceful_timeout = _positive_int("GUNICORN_GRACEFUL_TIMEOUT", 30)
keepalive = 5
# A worker is replaced after this many requests (spread so they do not all restart at once):
# memory a long-lived process gathered is given back.
max_requests = _positive_int("GUNICORN_MAX_REQUESTS", 2000)
max_requests_jitter = max_requests // 10
logger_class = RedactingLogger
accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms "%(a)s"'
# Headers the proxy sets are trusted only from the loopback (gunicorn's default), and Django reads
# X-Forwarded-Proto itself when BEHIND_TLS_PROXY is set.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
# No control socket (gunicorn 25.1+): its one default path would be fought over by every gunicorn
# on the machine (make serve, the benchmarks, the tests); systemd or the container stops this one.
control_socket_disable = True
proc_name = os.environ.get("GUNICORN_PROC_NAME", "crm-bridge-web")
