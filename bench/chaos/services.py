"""A private PostgreSQL and Redis for the soak, on free ports in a temporary directory.

The soak restarts both mid-run. The system's PostgreSQL (5432) and Redis (6379) serve other
work on the machine, so the soak never touches them: it ``initdb``s a cluster of its own, run
as the ``postgres`` OS user when started as root (PostgreSQL refuses to run as root), and
starts its own ``redis-server``. Both are removed when the soak ends.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from bench import common


def pg_bin(name: str) -> str:
    """A PostgreSQL server binary (``initdb``, ``pg_ctl``): Debian keeps them off the PATH."""
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if found:
        return found[0]
    located = shutil.which(name)
    if not located:
        raise RuntimeError(f"{name} is not installed (PostgreSQL's server binaries)")
    return located


def _as_postgres(command: list[str]) -> list[str]:
    """``command`` run as the ``postgres`` user when this process is root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


class PrivatePostgres:
    """A throw-away PostgreSQL cluster on 127.0.0.1:``port``, trust auth for ``postgres``."""

    def __init__(self):
        self.port = common.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="soak-pg-"))
        self.data = self.dir / "data"
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/soak"

    def _run(self, *args: str, timeout: float = 120) -> None:
        subprocess.run(
            _as_postgres(list(args)), check=True, timeout=timeout, stdout=subprocess.DEVNULL
        )

    def start(self) -> PrivatePostgres:
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self._run(
            pg_bin("initdb"),
            "-D",
            str(self.data),
            "-A",
            "trust",
            "-U",
            "postgres",
            "-E",
            "UTF8",
            "--no-sync",
        )
        self._pg_ctl("start")
        subprocess.run(
            _as_postgres(
                [
                    "psql",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    str(self.port),
                    "-U",
                    "postgres",
                    "-q",
                    "-c",
                    "CREATE DATABASE soak",
                ]
            ),
            check=True,
            stdout=subprocess.DEVNULL,
        )
        return self

    def _pg_ctl(self, action: str, *extra: str) -> None:
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.dir} -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            pg_bin("pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.dir / "server.log"),
            "-o",
            options,
            "-w",
            *extra,
            action,
        )

    def restart(self) -> None:
        """Stop (fast: every connection is cut) and start again: what a restart does to apps."""
        self._pg_ctl("restart", "-m", "fast")

    def stop(self) -> None:
        with contextlib.suppress(subprocess.SubprocessError, OSError):
            self._pg_ctl("stop", "-m", "fast")
        shutil.rmtree(self.dir, ignore_errors=True)


class PrivateRedis:
    """``redis-server`` on 127.0.0.1:``port`` without persistence: a restart loses the queue,
    as an unpersisted broker does (the bridge's sweeps must pick up what was lost)."""

    def __init__(self):
        self.port = common.free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="soak-redis-"))
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        command = [
            shutil.which("redis-server") or "redis-server",
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(self.dir),
            "--loglevel",
            "warning",
        ]
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        deadline = time.monotonic() + 20
        while not self.answers():
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        import redis

        try:
            return bool(redis.Redis.from_url(self.url, socket_connect_timeout=1).ping())
        except redis.RedisError:
            return False

    def restart(self, down_seconds: float = 2.0) -> None:
        """Kill it, leave it down a moment, start it again on the same port."""
        self.stop(keep_dir=True)
        time.sleep(down_seconds)
        self.start()

    def stop(self, keep_dir: bool = False) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        if not keep_dir:
            shutil.rmtree(self.dir, ignore_errors=True)
