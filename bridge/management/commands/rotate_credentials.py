"""``python manage.py rotate_credentials``: re-encrypt stored credentials with the newest key."""

from django.core.management.base import BaseCommand
from django.db import connection, transaction

from bridge.crypto import rotate
from bridge.models import ProviderAccount


class Command(BaseCommand):
    help = "Re-encrypt every provider credential with the first key in FIELD_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        table = ProviderAccount._meta.db_table
        rotated = 0
        with transaction.atomic():
            rows = list(
                ProviderAccount.objects.select_for_update()
                .exclude(credential="")
                .values_list("pk", flat=True)
            )
            with connection.cursor() as cursor:
                for pk in rows:
                    cursor.execute(f"SELECT credential FROM {table} WHERE id = %s", [pk])
                    (stored,) = cursor.fetchone()
                    if not stored:
                        continue
                    cursor.execute(
                        f"UPDATE {table} SET credential = %s WHERE id = %s", [rotate(stored), pk]
                    )
                    rotated += 1
        self.stdout.write(self.style.SUCCESS(f"Re-encrypted {rotated} credential(s)."))
