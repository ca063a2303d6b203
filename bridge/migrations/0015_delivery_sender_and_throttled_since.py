"""A delivery remembers who claimed it, and an account since when it has answered 429.

``Delivery.claimed_by`` is the slot lease holder of the drain sending it: a "sending" delivery
is recovered only once no live lease of that holder is left (its worker is provably gone),
never by elapsed time alone (issue 15, point 5). Rows claimed before this migration have no
holder and keep the old rule (the account's timeouts plus a margin).
``ProviderAccount.throttled_since`` is set by the first 429 and cleared by the next delivery
sent, so the dashboard shows an account that has been refusing us for hours (point 6).
"""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0014_reconcile_and_gone_fields'),
    ]

    operations = [
        migrations.AddField(
            model_name='delivery',
            name='claimed_by',
            field=models.CharField(blank=True, help_text='The slot lease holder sending it: while that lease lives it is not recovered.', max_length=100),
        ),
        migrations.AddField(
            model_name='provideraccount',
            name='throttled_since',
            field=models.DateTimeField(blank=True, help_text='When the provider started answering 429; cleared by the next delivery sent.', null=True, verbose_name='answering 429 since'),
        ),
    ]
