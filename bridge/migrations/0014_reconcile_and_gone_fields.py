"""The scheduled full reconcile: its interval and hour per resource, and what it finds.

``SyncState.reconcile_hours``/``reconcile_hour`` time each resource's full run (default daily
at 03:00 UTC); ``RemoteLink.remote_gone_at`` marks a person Leeloo no longer lists, with a
partial index (only marked rows) for the admin's filter; ``SyncRun.gone_count`` says how many
a run marked. New nullable columns or constant defaults: no table is rewritten.
"""

import django.core.validators
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0013_remotelink_identity_per_type'),
        ('contenttypes', '0002_remove_content_type_name'),
    ]

    operations = [
        migrations.AddField(
            model_name='remotelink',
            name='remote_gone_at',
            field=models.DateTimeField(blank=True, help_text='When a complete full sync found the provider no longer lists this record (the local record stays); cleared when it is listed again.', null=True, verbose_name='gone from the provider'),
        ),
        migrations.AddField(
            model_name='syncrun',
            name='gone_count',
            field=models.PositiveIntegerField(blank=True, help_text='Linked records a complete full run found the provider no longer lists.', null=True, verbose_name='marked gone'),
        ),
        migrations.AddField(
            model_name='syncstate',
            name='reconcile_hour',
            field=models.PositiveSmallIntegerField(default=3, help_text='The hour of the day (UTC) the reconcile schedule is aligned to.', validators=[django.core.validators.MaxValueValidator(23)], verbose_name='reconcile at (hour, UTC)'),
        ),
        migrations.AddField(
            model_name='syncstate',
            name='reconcile_hours',
            field=models.PositiveIntegerField(default=24, help_text='A full run on its own schedule: re-reads everything (people edited without a new message too), writes only what changed, and marks people Leeloo no longer lists. 0: never.', validators=[django.core.validators.MaxValueValidator(720)], verbose_name='reconcile every (hours)'),
        ),
        migrations.AddIndex(
            model_name='remotelink',
            index=models.Index(condition=models.Q(('remote_gone_at__isnull', False)), fields=['account', 'remote_gone_at'], name='remotelink_gone_idx'),
        ),
    ]
