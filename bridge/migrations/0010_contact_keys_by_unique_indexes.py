"""Contact's phones and emails are looked up by their unique indexes only.

``contact_email_idx`` and ``contact_phone_idx`` duplicated the partial unique indexes
(``contact_phone_unique``, ``contact_email_unique_ci``) for queries that did not name their
conditions; every look-up by key now does (``Contact.objects.holding``). Nine indexes are left
for every contact a sync writes (docs/benchmarks.md, "Sync").
"""

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0009_remotelink_without_redundant_fk_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_email_idx',
        ),
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_phone_idx',
        ),
    ]
