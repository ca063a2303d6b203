"""deploy/: every command the Procfile, the systemd units and docker-compose.yml run is run here.

The files are read as the tools read them (the Procfile's lines, the units' Exec lines, the
compose file's YAML); each command must be one of ``RUN_HERE``, and the end-to-end test runs each
of those with production settings (DEBUG off, bridge/settings.py itself, the test database):
migrate, collectstatic into a temporary STATIC_ROOT, gunicorn with deploy/gunicorn.conf.py on a
free port serving the admin and whitenoise's hashed, gzipped static files, and a django-q2 cluster
running a task.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import django
import pytest
import requests
import yaml
from django.conf import settings
from django.core.management import get_commands

from integrations import registry
from tests.conftest import database_url_for_subprocess

ROOT = Path(__file__).resolve().parent.parent
DEPLOY = ROOT / "deploy"
BIN = Path(sys.executable).parent

# Every command the deployment files name, as written there (a venv's path taken off).
RUN_HERE = {
    ("python", "manage.py", "migrate", "--noinput"),
    ("python", "manage.py", "collectstatic", "--noinput"),
    ("gunicorn", "-c", "deploy/gunicorn.conf.py", "bridge.wsgi"),
    ("python", "manage.py", "qcluster"),
    # docker-compose.yml's health checks of its db and redis services.
    ("pg_isready", "-h", "127.0.0.1", "-p", "5432"),
    ("redis-cli", "-h", "127.0.0.1", "-p", "6379", "ping"),
}


def program(argv: list[str]) -> tuple[str, ...]:
    """The command as RUN_HERE writes it: /srv/crm-bridge/venv/bin/python → python."""
    return (Path(argv[0]).name, *argv[1:])


def procfile_commands() -> dict[str, tuple[str, ...]]:
    lines = (DEPLOY / "Procfile").read_text().splitlines()
    entries = [line.split(":", 1) for line in lines if line.strip() and not line.startswith("#")]
    return {f"Procfile {name}": program(shlex.split(command)) for name, command in entries}


def systemd_commands() -> dict[str, tuple[str, ...]]:
    commands = {}
    for unit in sorted((DEPLOY / "systemd").glob("*.service")):
        for number, line in enumerate(unit.read_text().splitlines()):
            if re.match(r"ExecStart(Pre|Post)?=", line):
                argv = shlex.split(line.split("=", 1)[1])
                commands[f"{unit.name} line {number + 1}"] = program(argv)
    return commands


def compose() -> dict:
    return yaml.safe_load((DEPLOY / "docker-compose.yml").read_text())


def compose_commands() -> dict[str, tuple[str, ...]]:
    commands = {}
    for name, service in compose()["services"].items():
        if "command" in service:
            commands[f"compose {name}"] = program(service["command"])
        test = service.get("healthcheck", {}).get("test")
        if test:
            assert test[0] == "CMD", f"{name}: health check must be an exec-form CMD list"
            commands[f"compose {name} healthcheck"] = program(test[1:])
    return commands


def all_commands() -> dict[str, tuple[str, ...]]:
    return {**procfile_commands(), **systemd_commands(), **compose_commands()}


def test_every_deployment_command_is_one_this_file_runs():
    commands = all_commands()
    assert len(commands) >= 12
    unknown = {where: command for where, command in commands.items() if command not in RUN_HERE}
    assert not unknown, f"commands not run by tests/test_deploy.py: {unknown}"
    # And each file starts the whole setup.
    for source in ("Procfile", "crm-bridge", "compose"):
        named = {c for where, c in commands.items() if where.startswith(source)}
        assert named >= {
            ("python", "manage.py", "migrate", "--noinput"),
            ("python", "manage.py", "collectstatic", "--noinput"),
            ("gunicorn", "-c", "deploy/gunicorn.conf.py", "bridge.wsgi"),
            ("python", "manage.py", "qcluster"),
        }, source


def test_each_command_names_a_real_command_module_and_config_file():
    management = get_commands()
    for where, command in all_commands().items():
        if command[:2] == ("python", "manage.py"):
            assert command[2] in management, f"{where}: no management command {command[2]}"
        elif command[0] == "gunicorn":
            config = command[command.index("-c") + 1]
            assert (ROOT / config).is_file(), f"{where}: no {config}"
            module = __import__(command[-1], fromlist=["application"])
            assert callable(module.application), f"{where}: {command[-1]} has no WSGI app"
        else:
            assert command[0] in {"pg_isready", "redis-cli"}, where


def test_systemd_units_run_as_a_service_user_from_the_env_file():
    units = {unit.name: unit.read_text() for unit in (DEPLOY / "systemd").glob("*.service")}
    assert set(units) == {
        "crm-bridge-migrate.service",
        "crm-bridge-web.service",
        "crm-bridge-worker@.service",
    }
    for name, text in units.items():
        for needed in (
            "[Unit]",
            "[Service]",
            "User=crm-bridge",
            "EnvironmentFile=/etc/crm-bridge/env",
        ):
            assert needed in text, f"{name} lacks {needed}"
        for required in re.findall(r"^Requires=(.+)$", text, re.MULTILINE):
            assert all(unit in units for unit in required.split()), f"{name}: {required}"
    for name in ("crm-bridge-web.service", "crm-bridge-worker@.service"):
        assert "WantedBy=multi-user.target" in units[name]
        # SIGTERM to the main process only: it stops its own workers.
        assert "KillMode=mixed" in units[name]


def test_compose_runs_postgresql_redis_web_and_two_clusters_from_its_env_file():
    services = compose()["services"]
    assert services["db"]["image"].startswith("postgres:")
    assert services["redis"]["image"].startswith("redis:")
    clusters = [
        n for n, s in services.items() if s.get("command") == ["python", "manage.py", "qcluster"]
    ]
    assert len(clusters) == 2
    assert services["web"]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    example = (DEPLOY / "compose.env.example").read_text()
    variables = set(re.findall(r"^([A-Z_]+)=", example, re.MULTILINE))
    assert {
        "SECRET_KEY",
        "FIELD_ENCRYPTION_KEY",
        "ALLOWED_HOSTS",
        "DATABASE_URL",
        "REDIS_URL",
    } <= variables
    # Every variable is one something reads: the app and gunicorn's config (.env.example lists
    # both), or the postgres image.
    documented = set(re.findall(r"^([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.MULTILINE))
    unread = {v for v in variables if not v.startswith("POSTGRES_") and v not in documented}
    assert not unread, f"compose.env.example sets variables nothing reads: {unread}"


def production_env(tmp_path: Path) -> dict[str, str]:
    """bridge/settings.py with DEBUG off on the test database, relaxed only for plain http."""
    env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "REDIS_URL"}}
    # A developer's .env must not add provider accounts to the test database.
    env.update(
        {name: "" for variables in registry.env_vars().values() for name in variables.names()}
    )
    env.update(
        DEBUG="false",
        # The test process's key: django-q2 signs the tasks this test enqueues with it.
        SECRET_KEY=settings.SECRET_KEY,
        FIELD_ENCRYPTION_KEY="aGVsbG8tdGVzdC1rZXktMzItYnl0ZXMtbG9uZy0hISE=",
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url_for_subprocess(),
        STATIC_ROOT=str(tmp_path / "static"),
        SECURE_SSL_REDIRECT="false",
        SESSION_COOKIE_SECURE="false",
        CSRF_COOKIE_SECURE="false",
        Q_CLUSTER_NAME="crm-bridge",
        Q_WORKERS="1",
        PYTHONUNBUFFERED="1",
    )
    return env


def argv_here(command: tuple[str, ...]) -> list[str]:
    """The command with this virtualenv's programs (python, gunicorn)."""
    if command[0] == "python":
        return [sys.executable, *command[1:]]
    if (BIN / command[0]).exists():
        return [str(BIN / command[0]), *command[1:]]
    return list(command)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the main process, then whatever is left of its group killed."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=40)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


def test_gunicorn_config_loads_and_refuses_a_bad_worker_count(tmp_path):
    env = production_env(tmp_path)
    check = [*argv_here(("gunicorn", "-c", "deploy/gunicorn.conf.py")), "--check-config"]
    result = subprocess.run(
        [*check, "bridge.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    env["GUNICORN_WORKERS"] = "none"
    result = subprocess.run(
        [*check, "bridge.wsgi"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode != 0
    assert "GUNICORN_WORKERS must be a whole number of at least 1, not 'none'" in result.stderr


@pytest.mark.django_db(transaction=True)
def test_every_command_runs_and_serves_the_production_setup(tmp_path):
    env = production_env(tmp_path)

    def run(command):
        return subprocess.run(argv_here(command), cwd=ROOT, env=env, capture_output=True, text=True)

    migrated = run(("python", "manage.py", "migrate", "--noinput"))
    assert migrated.returncode == 0, migrated.stderr
    assert "No migrations to apply" in migrated.stdout

    collected = run(("python", "manage.py", "collectstatic", "--noinput"))
    assert collected.returncode == 0, collected.stderr
    static = tmp_path / "static"
    assert (static / "staticfiles.json").is_file() and (static / "admin/css/base.css.gz").is_file()

    serve_collected_files_through_gunicorn(env, static)
    run_a_task_in_a_cluster(env)

    for command in RUN_HERE:
        if command[0] in {"pg_isready", "redis-cli"}:
            if not shutil.which(command[0]):
                pytest.skip(f"{command[0]} is not installed here")
            checked = run(command)
            assert checked.returncode == 0, f"{command}: {checked.stdout}{checked.stderr}"


def serve_collected_files_through_gunicorn(env: dict[str, str], static: Path) -> None:
    port = free_port()
    env = {**env, "GUNICORN_BIND": f"127.0.0.1:{port}", "GUNICORN_WORKERS": "1"}
    log = static.parent / "gunicorn.log"
    with open(log, "wb") as out:
        web = subprocess.Popen(
            argv_here(("gunicorn", "-c", "deploy/gunicorn.conf.py", "bridge.wsgi")),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: requests.get(f"{base}/admin/login/", timeout=2), web, log)
        login = requests.get(f"{base}/admin/login/", timeout=10)
        assert login.status_code == 200 and "Log in | CRM Bridge" in login.text
        hashed = re.search(r"/static/(admin/css/base\.[0-9a-f]{12}\.css)", login.text).group(1)

        plain = requests.get(f"{base}/static/admin/css/base.css", timeout=10)
        assert plain.status_code == 200 and plain.headers["Content-Encoding"] == "gzip"
        source = Path(django.__file__).parent / "contrib/admin/static/admin/css/base.css"
        assert plain.text == source.read_text()

        forever = requests.get(f"{base}/static/{hashed}", timeout=10)
        assert forever.status_code == 200 and "immutable" in forever.headers["Cache-Control"]

        requests.get(f"{base}/hooks/someaccount/sekrit-token-4242/?key=qs-secret", timeout=10)
    finally:
        stop(web)
    access = log.read_text()
    assert '"GET /admin/login/ HTTP/1.1" 200' in access
    assert "/hooks/someaccount/[redacted]" in access  # gunicorn's access line
    assert "Method Not Allowed: /hooks/someaccount/********" in access  # Django's own warning
    assert "sekrit-token-4242" not in access and "qs-secret" not in access
    assert web.returncode == 0, access


def run_a_task_in_a_cluster(env: dict[str, str]) -> None:
    from django_q.models import Success
    from django_q.tasks import async_task

    log = Path(env["STATIC_ROOT"]).parent / "qcluster.log"
    with open(log, "wb") as out:
        cluster = subprocess.Popen(
            argv_here(("python", "manage.py", "qcluster")),
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        task_id = async_task("math.hypot", 3, 4)
        wait_for(lambda: Success.objects.get(id=task_id), cluster, log, seconds=60)
        assert Success.objects.get(id=task_id).result == 5.0
    finally:
        stop(cluster)


def wait_for(probe, process: subprocess.Popen, log: Path, seconds: float = 30) -> None:
    """Call ``probe`` until it stops raising; fail with the process's log if it never does."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            probe()
            return
        except Exception:
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{process.args[1:]} did not answer:\n{log.read_text()[-3000:]}")
            time.sleep(0.3)


def test_make_serve_refuses_clearly_when_postgresql_or_redis_is_not_reachable():
    closed = free_port()
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    env.update(
        SERVE_DATABASE_URL=f"postgres://postgres:hunter2pw@127.0.0.1:{closed}/crm_bridge_serve"
    )
    result = subprocess.run(
        [sys.executable, "deploy/serve.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert f"PostgreSQL is not reachable at 127.0.0.1:{closed}" in result.stderr
    assert "hunter2pw" not in result.stderr and "Traceback" not in result.stderr

    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 5432)) != 0:
            pytest.skip("no PostgreSQL on 127.0.0.1:5432 to get past the first check")
    env.update(
        SERVE_DATABASE_URL="postgres://postgres@127.0.0.1:5432/postgres",
        SERVE_REDIS_URL=f"redis://127.0.0.1:{closed}/0",
    )
    result = subprocess.run(
        [sys.executable, "deploy/serve.py"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert f"Redis is not reachable at redis://127.0.0.1:{closed}/0" in result.stderr
