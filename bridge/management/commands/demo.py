"""``python manage.py demo``: the whole bridge, offline, with one command.

Migrates, creates the demo superuser, demo records and an account per provider pointed at the
local fake providers, then runs the fake providers, the web server and a django-q2 cluster side
by side until Ctrl-C, printing the admin URL and login.

The fakes call the bridge back as the services would: fake Aiployees "calls" every lead pushed
to it a few seconds later and posts the post-call result to the Aiployees account's webhook
URL (the result appears on the lead), and fake Leeloo sends one ORDER for a demo contact (it
appears on the contact's page and in Orders).
"""

import os
import signal
import socket
import subprocess
import sys
import time
from argparse import ArgumentTypeError
from urllib.error import URLError
from urllib.request import urlopen

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from bridge import inbox
from bridge.demo_data import (
    DEMO_SOURCE,
    create_demo_accounts,
    create_demo_alert_channel,
    create_demo_data,
    create_demo_routing,
    issue_demo_intake_token,
)
from bridge.models import Contact, ProviderAccount
from integrations.fakes.core import post_json

#: Seconds fake Aiployees waits before "calling" a pushed lead.
CALL_DELAY_SECONDS = 5

DEMO_USER, DEMO_PASSWORD = "admin", "admin"


class Command(BaseCommand):
    help = "Run the offline demo: migrate, demo data, web server and django-q2 cluster."

    def add_arguments(self, parser):
        parser.add_argument(
            "--port", type=_port, default=8000, help="Web server port (default 8000)."
        )
        parser.add_argument(
            "--fakes-port",
            type=_port,
            default=8765,
            help="Port of the local fake providers (default 8765).",
        )
        parser.add_argument(
            "--no-serve", action="store_true", help="Prepare the data and exit (no processes)."
        )

    def handle(self, *args, port, fakes_port, no_serve, **options):
        if not no_serve:
            _check_ports_free(port, fakes_port)
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
        if create_demo_routing():
            self.stdout.write(f"Routing: leads from '{DEMO_SOURCE}' go to the AI caller at once.")
        if create_demo_alert_channel():
            self.stdout.write("Alerts: emailed to ops@example.com, printed by the cluster.")
        if no_serve:
            return
        processes = self._start(port, fakes_port)
        self._connect_webhooks(f"http://127.0.0.1:{port}", f"http://127.0.0.1:{fakes_port}")
        url = f"http://127.0.0.1:{port}/admin/"
        self.stdout.write(self.style.SUCCESS(f"\nCRM Bridge is running at {url}"))
        self.stdout.write(self.style.SUCCESS(f"Log in as {DEMO_USER} / {DEMO_PASSWORD}"))
        self._show_intake(f"http://127.0.0.1:{port}")
        self.stdout.write("Press Ctrl-C to stop.\n")
        self._wait(processes)

    def _show_intake(self, bridge_url: str) -> None:
        """A curl line that posts a lead as the demo's web form would: it is routed to fake
        Aiployees, "called" a few seconds later, and the call's result lands on the lead."""
        token = issue_demo_intake_token()
        self.stdout.write(
            f"\nPost a lead as the '{DEMO_SOURCE}' landing page would (this token works until "
            "the next demo start):\n"
            f"  curl -s {bridge_url}/api/v1/leads -H 'Authorization: Bearer {token}' "
            '-H \'Content-Type: application/json\' -d \'{"contact": {"firstName": "Ada", '
            '"phone": "+13105550199"}, "message": "Call me about the van"}\''
        )

    def _ensure_superuser(self):
        users = get_user_model()
        if not users.objects.filter(username=DEMO_USER).exists():
            users.objects.create_superuser(DEMO_USER, "admin@example.com", DEMO_PASSWORD)

    def _start(self, port, fakes_port):
        manage = [sys.executable, "manage.py"]
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",  # the receiver URLs shown
        }
        commands = {
            "fake providers": [*manage, "fakeproviders", "--port", str(fakes_port)],
            "web": [*manage, "runserver", f"127.0.0.1:{port}", "--noreload"],
            "worker": [*manage, "qcluster"],
        }
        return {name: subprocess.Popen(cmd, env=env) for name, cmd in commands.items()}

    def _connect_webhooks(self, bridge_url: str, fakes_url: str) -> None:
        """Point fake Aiployees' post-call webhook at the bridge, and have fake Leeloo send
        one ORDER for a demo contact, once both servers answer."""
        if not (_answers(f"{fakes_url}/_control/faults") and _answers(f"{bridge_url}/admin/")):
            self.stderr.write("The fake providers or the web server did not start in time.")
            return
        aiployees = ProviderAccount.objects.filter(name="aiployees", provider="aiployees").first()
        if aiployees is not None:
            post_json(
                f"{fakes_url}/_control/webhook",
                {
                    "provider": "aiployees",
                    "url": inbox.webhook_url(aiployees, bridge_url),
                    "delay": CALL_DELAY_SECONDS,
                },
            )
            self.stdout.write(
                f"Fake Aiployees calls each pushed lead {CALL_DELAY_SECONDS} s later; the "
                "result appears on the lead."
            )
        leeloo = ProviderAccount.objects.filter(name="leeloo", provider="leeloo").first()
        buyer = Contact.objects.exclude(phone="").order_by("pk").first()
        if leeloo is not None and buyer is not None:
            post_json(
                f"{fakes_url}/_control/emit",
                {
                    "provider": "leeloo",
                    "type": "ORDER",
                    "url": inbox.webhook_url(leeloo, bridge_url),
                    "fields": {"phone": buyer.phone, "email": buyer.email},
                },
            )
            self.stdout.write(f"Fake Leeloo sent an order for {buyer}.")

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


def _port(value: str) -> int:
    """A TCP port number, for ``--port`` and ``--fakes-port``."""
    try:
        port = int(value)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ArgumentTypeError(f"{value!r} is not a port number (1-65535)")
    return port


def _check_ports_free(port: int, fakes_port: int) -> None:
    """Refuse to start when the web or the fakes' port cannot be used, before anything runs.

    Otherwise the demo would print "running… log in" and then die in a child process while
    the command itself exits 0.
    """
    if port == fakes_port:
        raise CommandError(
            f"--port and --fakes-port are both {port}: the web server and the fake providers "
            "need a port each."
        )
    for name, option, number in (
        ("web server", "--port / PORT", port),
        ("fake providers", "--fakes-port / FAKES_PORT", fakes_port),
    ):
        reason = _why_busy(number)
        if reason:
            raise CommandError(
                f"Port {number} for the {name} is not free on 127.0.0.1 ({reason}). Stop what "
                f"uses it or choose another with {option}, e.g. make demo PORT=8100 "
                "FAKES_PORT=8865."
            )


def _why_busy(port: int) -> str:
    """Why 127.0.0.1:``port`` cannot be listened on, or "" when it can.

    Binds as the servers will (address reuse on, so a previous run's closing connections do
    not count) and lets the port go at once.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as error:
            return error.strerror or str(error)
    return ""


def _answers(url: str, seconds: float = 30) -> bool:
    """Whether ``url`` answers (any status) within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urlopen(url, timeout=2):  # noqa: S310 - the demo's own loopback servers
                return True
        except URLError as error:
            if getattr(error, "code", None):  # an HTTP error status: it answers
                return True
        except OSError:
            pass
        time.sleep(0.3)
    return False
