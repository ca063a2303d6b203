"""``python manage.py fakeproviders [--port N]``: run the local fake providers.

Integrators use it to try flows offline; the demo and the benchmarks run it. Point an account's
base URL at ``http://127.0.0.1:PORT/<provider>`` and use the credential it prints.
"""

from django.core.management.base import BaseCommand

from integrations.fakes.core import FakeServer
from integrations.registry import providers


class Command(BaseCommand):
    help = (
        f"Serve fake {', '.join(cls.name for cls in providers().values() if cls.fake)} APIs "
        "on 127.0.0.1."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=8765, help="Port (default 8765).")
        parser.add_argument(
            "--no-record",
            action="store_true",
            help="Do not keep received requests (long benchmark runs).",
        )

    def handle(self, *args, port, no_record, **options):
        server = FakeServer(port=port, record=not no_record)
        self.stdout.write(f"Fake providers on {server.url}")
        for provider_id, fake in server.fakes.items():
            self.stdout.write(
                f"  {provider_id:<10} base URL {server.base_url(provider_id)}  "
                f"credential {fake.credential}"
            )
        self.stdout.write("  control    /_control/faults, /_control/requests, /_control/reset")
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.stop()
