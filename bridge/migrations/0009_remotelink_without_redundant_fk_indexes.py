"""RemoteLink drops the indexes Django gave its two foreign keys: each is the leading column
of a composite index already (the unique (account, remote id) and (account, record), and the
(content type, object id) record index), so they served no query and cost every link written.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0008_contact_indexes_that_serve_a_query'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AlterField(
            model_name='remotelink',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='links', to='bridge.provideraccount'),
        ),
        migrations.AlterField(
            model_name='remotelink',
            name='content_type',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='contenttypes.contenttype'),
        ),
    ]
