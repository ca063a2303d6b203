"""docs/screenshots.py's pieces that can be checked in seconds, and the README's pictures.

The script itself runs the whole demo and a browser for a minute (``make screenshots``); CI
does not run it. What is checked here is what keeps it safe and its output in place: the demo
it starts uses its own database and no Redis whatever the developer's environment says, its
process group is stopped, a failing step is named, and every picture the README shows exists.
"""

from __future__ import annotations

import importlib.util
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
SCRIPT = ROOT / "docs" / "screenshots.py"
MAX_BYTES = 400 * 1024


def load_script():
    spec = importlib.util.spec_from_file_location("docs_screenshots", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


shots = load_script()


def readme_images() -> list[str]:
    return re.findall(r"!\[[^\]]*\]\(docs/screenshots/([^)]+)\)", README.read_text())


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's header (its IHDR chunk)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path.name} is not a PNG"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_the_readme_shows_every_picture_the_script_takes_and_each_exists():
    named = readme_images()
    assert sorted(named) == sorted(shots.SHOTS), "README and docs/screenshots.py SHOTS differ"
    for name in named:
        path = shots.OUT_DIR / name
        assert path.is_file(), f"README shows {name}, missing from docs/screenshots/"
        width, height = png_size(path)
        assert (width, height) == (1366, 900), f"{name} is {width}×{height}, not the viewport"
        assert path.stat().st_size < MAX_BYTES, f"{name} is over {MAX_BYTES // 1024} KB"
    assert "make screenshots" in README.read_text()


def test_a_free_port_can_be_listened_on():
    port = shots.free_port()
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", port))
        sock.listen()


def test_the_database_is_the_scripts_own_and_starts_empty(tmp_path):
    database = tmp_path / "var" / "shots.sqlite3"
    database.parent.mkdir()
    for suffix in ("", "-journal", "-wal", "-shm"):
        Path(f"{database}{suffix}").write_text("old run")
    assert shots.fresh_database(database) == database
    assert list(database.parent.iterdir()) == []
    # The default is its own file under var/, never the demo's db.sqlite3.
    assert shots.DATABASE == ROOT / "var" / "screenshots.sqlite3"


def test_the_demo_environment_overrides_a_developers_database_and_redis(tmp_path):
    from cryptography.fernet import Fernet

    database = tmp_path / "shots.sqlite3"
    developer = {
        "PATH": "/usr/bin",
        "DATABASE_URL": "postgres://postgres@127.0.0.1:5432/crm_bridge",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "FIELD_ENCRYPTION_KEY": "the-developers-key",
    }
    env = shots.demo_environment(database, 8123, base=developer)
    assert env["DATABASE_URL"] == f"sqlite:///{database}"
    assert env["REDIS_URL"] == ""
    assert env["Q_CLUSTER_NAME"] != "crm-bridge"
    assert env["BRIDGE_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert env["FIELD_ENCRYPTION_KEY"] != "the-developers-key"
    Fernet(env["FIELD_ENCRYPTION_KEY"].encode())  # a valid key: raises otherwise
    assert env["PATH"] == "/usr/bin"
    assert developer["DATABASE_URL"].startswith("postgres://")  # the caller's dict untouched


def test_the_bridges_settings_read_that_environment_as_meant(tmp_path):
    """Django itself, started with the script's environment, uses its SQLite file and the ORM
    broker (a ``.env`` beside manage.py cannot win over variables that are set)."""
    database = tmp_path / "shots.sqlite3"
    env = shots.demo_environment(database, 8124, base={"PATH": "/usr/bin:/bin"})
    code = (
        "import django; django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default']['NAME']); "
        "print(settings.Q_CLUSTER.get('orm'), settings.Q_CLUSTER.get('redis'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "bridge.settings"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    name, broker = result.stdout.splitlines()[-2:]
    assert name == str(database)
    assert broker == "default None"
    assert not database.exists()  # reading settings creates nothing


def test_stopping_the_demo_stops_its_whole_process_group(tmp_path):
    """The demo's children (server, fakes, cluster) share its group and stop with it."""
    leader = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time; "
            "child = subprocess.Popen(['sleep', '60']); print(child.pid, flush=True); "
            "time.sleep(60)",
        ],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    child_pid = int(leader.stdout.readline())
    assert alive(child_pid)
    shots.stop_demo(leader, seconds=5)
    assert leader.returncode is not None
    deadline = time.monotonic() + 5
    while alive(child_pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(child_pid), "the demo's child outlived the stop"


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_a_demo_that_stops_early_fails_the_step_at_once(tmp_path):
    log = tmp_path / "demo.log"
    log.write_text("")
    process = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    process.wait()
    with pytest.raises(shots.StepFailed, match="exit code 3"):
        shots.wait_for_demo(process, "http://127.0.0.1:9/", log, seconds=30)


def test_a_failing_step_is_named():
    with pytest.raises(shots.StepFailed, match=r"step 'push page' failed: ValueError: no form"):
        with shots.step("push page"):
            raise ValueError("no form")


def test_stopping_an_already_stopped_demo_is_harmless():
    process = subprocess.Popen([sys.executable, "-c", "pass"], start_new_session=True)
    process.wait()
    shots.stop_demo(process)
    assert process.returncode == 0
