"""Contact keeps the indexes a query uses, and drops those only writes paid for.

Dropped: ``contact_name_idx`` (first, last name; the admin searches names by the UPPER()
prefix indexes of 0007) and the indexes ``db_index`` made on ``last_name``, ``lead_source``
and ``country`` with their ``varchar_pattern_ops`` twins (case-sensitive LIKE, which nothing
runs). ``lead_source`` and ``country`` get one plain index each again, for the admin's value
filters. Sixteen indexes become eleven: a sync writing 100,000 contacts measured the COPY into
``bridge_contact`` as most of its database time (docs/benchmarks.md, "Sync").
"""


from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0007_admin_search_indexes'),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='contact',
            name='contact_name_idx',
        ),
        migrations.AlterField(
            model_name='contact',
            name='country',
            field=models.CharField(blank=True, help_text='ISO country code, e.g. US.', max_length=2),
        ),
        migrations.AlterField(
            model_name='contact',
            name='last_name',
            field=models.CharField(blank=True, max_length=150),
        ),
        migrations.AlterField(
            model_name='contact',
            name='lead_source',
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(fields=['lead_source'], name='contact_lead_source_idx'),
        ),
        migrations.AddIndex(
            model_name='contact',
            index=models.Index(fields=['country'], name='contact_country_idx'),
        ),
    ]
