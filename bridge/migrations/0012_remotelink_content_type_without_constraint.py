"""RemoteLink's content type loses its database constraint (not its column or meaning).

A link's record is the pair (content type, object id), and the object id cannot be
constrained (it points into whichever table the type names), so the pair was already kept by
Django alone: deleting a record type cascades to its links in the ORM, as for any generic
relation. The constraint on the type half only cost every link written a deferred trigger
query at commit: in a 100,000-person first pull, 0.45 s of PostgreSQL's 5 s of CPU (perf and
/proc, bench/sync_throughput.py, side by side with the constraint put back).
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0011_delivery_without_redundant_indexes'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AlterField(
            model_name='remotelink',
            name='content_type',
            field=models.ForeignKey(db_constraint=False, db_index=False, on_delete=django.db.models.deletion.CASCADE, to='contenttypes.contenttype'),
        ),
    ]
