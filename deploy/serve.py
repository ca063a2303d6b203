"""``make serve``: the production setup on this machine, against PostgreSQL and Redis on 127.0.0.1.

What runs is what a server runs (deploy/Procfile): ``manage.py migrate``, ``manage.py
collectstatic``, then gunicorn with deploy/gunicorn.conf.py and one django-q2 cluster
(``manage.py qcluster``), with DEBUG off. Only what plain http on the loopback needs is relaxed:
no redirect to https, cookies sent without TLS, no HSTS (docs/deploy.md, "Trying it locally").

The database is ``SERVE_DATABASE_URL`` (default ``postgres://postgres@127.0.0.1:5432/
crm_bridge_serve``, created when missing), the broker ``SERVE_REDIS_URL`` (default
``redis://127.0.0.1:6379/0``), the port ``SERVE_PORT`` (8000). SECRET_KEY and
FIELD_ENCRYPTION_KEY are taken from the environment, else this checkout's development keys in
var/ (the same ones ``make demo`` uses). Ctrl-C stops the web server and the cluster.

``python deploy/serve.py manage createsuperuser`` runs a management command with the same
settings (a staff login for the served site).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bridge import devkeys  # noqa: E402 - after the project root is importable

DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/crm_bridge_serve"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


class Refusal(Exception):
    """Something the production setup needs is missing: said in one sentence, no traceback."""


def without_password(url: str) -> str:
    """The URL as it may be printed: any password replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def port_answers(host: str, port: int) -> bool:
    """Whether something accepts TCP connections at host:port."""
    try:
        with socket.create_connection((host, port), timeout=2):
            return True
    except OSError:
        return False


def ensure_database(url: str) -> None:
    """Refuse when PostgreSQL does not answer; create the database named by ``url`` if missing."""
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise Refusal(f"SERVE_DATABASE_URL must name a PostgreSQL database, not {parts.scheme}://.")
    host, port = parts.hostname or "127.0.0.1", parts.port or 5432
    if not port_answers(host, port):
        raise Refusal(
            f"PostgreSQL is not reachable at {host}:{port} ({without_password(url)}): start it "
            "(e.g. `service postgresql start`) or set SERVE_DATABASE_URL."
        )
    name = parts.path.lstrip("/")
    admin_url = urlunsplit(parts._replace(path="/postgres"))
    try:
        with psycopg.connect(admin_url, autocommit=True, connect_timeout=5) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
            if not exists:
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
                print(f"Created the database {name}.")
    except psycopg.OperationalError as error:
        first_line = str(error).strip().splitlines()[0]
        raise Refusal(f"PostgreSQL at {host}:{port} refused the connection: {first_line}") from None


def ensure_redis(url: str) -> None:
    """Refuse when Redis does not answer a PING at ``url``."""
    import redis

    try:
        redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=2).ping()
    except redis.RedisError as error:
        raise Refusal(
            f"Redis is not reachable at {without_password(url)} ({error}): start it "
            "(e.g. `service redis-server start`) or set SERVE_REDIS_URL."
        ) from None


def production_environment(port: int) -> dict[str, str]:
    """The environment of every process: production settings, relaxed for http on loopback."""
    keys_dir = Path(os.environ.get("BRIDGE_DEV_KEYS_DIR", ROOT / "var"))
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        DEBUG="false",
        DATABASE_URL=os.environ.get("SERVE_DATABASE_URL", DEFAULT_DATABASE_URL),
        REDIS_URL=os.environ.get("SERVE_REDIS_URL", DEFAULT_REDIS_URL),
        SECRET_KEY=os.environ.get("SECRET_KEY") or devkeys.development_secret_key(keys_dir),
        FIELD_ENCRYPTION_KEY=os.environ.get("FIELD_ENCRYPTION_KEY")
        or ",".join(devkeys.development_encryption_keys(keys_dir)),
        ALLOWED_HOSTS="127.0.0.1,localhost",
        BRIDGE_PUBLIC_URL=f"http://127.0.0.1:{port}",
        # Plain http on the loopback: no https redirect, cookies without TLS, no HSTS.
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        SECURE_HSTS_SECONDS="0",
        GUNICORN_BIND=f"127.0.0.1:{port}",
        PYTHONUNBUFFERED="1",
    )
    # Its own queue on a Redis others may share (one name = one queue: docs/deploy.md).
    env.setdefault("Q_CLUSTER_NAME", "crm-bridge-serve")
    return env


def manage(*args: str) -> list[str]:
    return [sys.executable, "manage.py", *args]


def run_step(command: list[str], env: dict[str, str]) -> None:
    print("$", " ".join(command[1:] if command[0] == sys.executable else command), flush=True)
    if subprocess.run(command, cwd=ROOT, env=env).returncode != 0:
        raise Refusal(f"`{' '.join(command[1:])}` failed (its output is above).")


def start(command: list[str], env: dict[str, str]) -> subprocess.Popen:
    """A child in its own process group: a signal to ``make serve`` reaches only this script,
    which stops each child through its main process (a django-q2 cluster whose workers are
    signalled directly as well does not stop cleanly)."""
    return subprocess.Popen(command, cwd=ROOT, env=env, start_new_session=True)


def stop(processes: dict[str, subprocess.Popen], grace: float = 35.0) -> None:
    """SIGTERM to each main process, then the whole group killed after ``grace`` seconds."""
    for process in processes.values():
        if process.poll() is None:
            process.terminate()
    deadline = time.monotonic() + grace
    for process in processes.values():
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(process.pid, signal.SIGKILL)  # what is left of it (workers included)
        except ProcessLookupError:
            pass
        process.wait()


def serve(env: dict[str, str], port: int) -> int:
    """Run the web server and one cluster until Ctrl-C/SIGTERM or until either one stops."""
    gunicorn = [sys.executable, "-m", "gunicorn", "-c", "deploy/gunicorn.conf.py", "bridge.wsgi"]
    stopping = []
    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, lambda *_: stopping.append(True))
    processes = {"web": start(gunicorn, env), "cluster": start(manage("qcluster"), env)}
    print(
        f"\nCRM Bridge (production settings) at http://127.0.0.1:{port}/admin/ "
        "— Ctrl-C stops it.\n",
        flush=True,
    )
    while not stopping and all(p.poll() is None for p in processes.values()):
        time.sleep(0.5)
    ended = [name for name, p in processes.items() if p.poll() is not None]
    print("Stopping the web server and the cluster…", flush=True)
    stop(processes)
    if ended and not stopping:
        print(f"The {' and '.join(ended)} stopped: see its output above.", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    port = int(os.environ.get("SERVE_PORT", "8000"))
    env = production_environment(port)
    try:
        ensure_database(env["DATABASE_URL"])
        ensure_redis(env["REDIS_URL"])
        if argv[:1] == ["manage"]:
            return subprocess.run(manage(*argv[1:]), cwd=ROOT, env=env).returncode
        if port_answers("127.0.0.1", port):
            raise Refusal(f"Port {port} is taken on 127.0.0.1: set SERVE_PORT to a free one.")
        run_step(manage("migrate", "--noinput"), env)
        run_step(manage("collectstatic", "--noinput"), env)
    except Refusal as refusal:
        print(f"make serve: {refusal}", file=sys.stderr)
        return 2
    return serve(env, port)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
