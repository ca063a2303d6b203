"""Delivery drops the single-column indexes that a composite index already starts with:
account (account, state), batch (batch, state), content type (content type, object id), state
(state, next attempt / claimed at / created at), and the LIKE twins Django adds to indexed text
columns (nothing searches state or operation by prefix). Every index is written again on each
of a delivery's state changes (claimed, delivered, retried), 10,000 rows at a time in a push;
the operation keeps one plain index for the admin's filter.
"""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0010_contact_keys_by_unique_indexes'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AlterField(
            model_name='delivery',
            name='account',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='deliveries', to='bridge.provideraccount'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='batch',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='deliveries', to='bridge.pushbatch'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='content_type',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, to='contenttypes.contenttype'),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='operation',
            field=models.CharField(default='push', help_text='What to do at the provider (push, add_tag…).', max_length=64),
        ),
        migrations.AlterField(
            model_name='delivery',
            name='state',
            field=models.CharField(choices=[('pending', 'Pending'), ('sending', 'Sending'), ('delivered', 'Delivered'), ('failed', 'Failed, will retry'), ('dead', 'Dead'), ('skipped', 'Skipped (unchanged)'), ('cancelled', 'Cancelled')], default='pending', max_length=16),
        ),
        migrations.AddIndex(
            model_name='delivery',
            index=models.Index(fields=['operation'], name='delivery_operation_idx'),
        ),
    ]
