"""``python manage.py demo``: the whole bridge, offline, with one command.

Migrates, creates the demo superuser, demo records and an account per provider pointed at the
local fake providers, then runs the fake providers, the web server and a django-q2 cluster side
by side until Ctrl-C, printing the admin URL and login.
"""

import os
import signal
import subprocess
import sys
import time

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from bridge.demo_data import create_demo_accounts, create_demo_data

DEMO_USER, DEMO_PASSWORD = "admin", "admin"


class Command(BaseCommand):
    help = "Run the offline demo: migrate, demo data, web server and django-q2 cluster."

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8000, help="Web server port.")
        parser.add_argument(
            "--fakes-port", type=int, default=8765, help="Port of the local fake providers."
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare the data and exit (no processes)."
        )

    def handle(self, *args, port, fakes_port, no_serve, **options):
        call_command("migrate", interactive=False, verbosity=0)
        # Credentials an older demo encrypted with the shared development key: re-encrypt them
        # with this checkout's own (bridge/devkeys.py).
        call_command("rotate_credentials", stdout=open(os.devnull, "w"))  # noqa: SIM115
        self._ensure_superuser()
        counts = create_demo_data()
        self.stdout.write(
            "Demo data: " + ", ".join(f"{count} {name}" for name, count in counts.items())
        )
        accounts = create_demo_accounts(f"http://127.0.0.1:{fakes_port}")
        if accounts:
            self.stdout.write("Accounts on the local fake providers: " + ", ".join(accounts))
        if no_serve:
            return
        processes = self._start(port, fakes_port)
        url = f"http://127.0.0.1:{port}/admin/"
        self.stdout.write(self.style.SUCCESS(f"\nCRM Bridge is running at {url}"))
        self.stdout.write(self.style.SUCCESS(f"Log in as {DEMO_USER} / {DEMO_PASSWORD}"))
        self.stdout.write("Press Ctrl-C to stop.\n")
        self._wait(processes)

    def _ensure_superuser(self):
        users = get_user_model()
        if not users.objects.filter(username=DEMO_USER).exists():
            users.objects.create_superuser(DEMO_USER, "admin@example.com", DEMO_PASSWORD)

    def _start(self, port, fakes_port):
        manage = [sys.executable, "manage.py"]
        env = {**os.environ, "PYTHONUNBUFFERED": "1"}
        commands = {
            "fake providers": [*manage, "fakeproviders", "--port", str(fakes_port)],
            "web": [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            "worker": [*manage, "qcluster"],
        }
        return {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}

    def _wait(self, processes):
        # `kill` (SIGTERM) stops the demo as cleanly as Ctrl-C does: children included.
        signal.signal(signal.SIGTERM, signal.default_int_handler)
        try:
            while all(process.poll() is None for process in processes.values()):
                time.sleep(0.5)
            for name, process in processes.items():
                if process.poll() is not None:
                    self.stderr.write(f"{name} stopped with exit code {process.returncode}")
        except KeyboardInterrupt:
            pass
        finally:
            for process in processes.values():
                if process.poll() is None:
                    process.send_signal(signal.SIGINT)
            for process in processes.values():
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
