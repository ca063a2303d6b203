"""Routing rules (issue 17, section 3): rules, their targets, each lead's routing record,
and an account's time zone for business hours (the site's TIME_ZONE until staff set one).
"""


import bridge.models.accounts
import django.core.validators
import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('bridge', '0015_delivery_sender_and_throttled_since'),
    ]

    operations = [
        migrations.AddField(
            model_name='provideraccount',
            name='time_zone',
            field=models.CharField(blank=True, default=bridge.models.accounts.default_time_zone, help_text="Where the people behind this account work (IANA name, e.g. Europe/Paris): routing rules' business hours are read in it. Blank: the site's time zone.", max_length=64, validators=[bridge.models.accounts.validate_time_zone]),
        ),
        migrations.CreateModel(
            name='LeadRouting',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('routed_at', models.DateTimeField(auto_now_add=True, db_index=True)),
                ('rules', models.JSONField(blank=True, default=list, help_text='Names of the rules matched.')),
                ('fallback', models.BooleanField(default=False, help_text="No rule matched: the lead's source's default routing applied.")),
                ('targets', models.JSONField(blank=True, default=list, help_text='What was queued: account, operation, options, due.')),
                ('skipped', models.JSONField(blank=True, default=list, help_text='Targets not queued, each with its reason.')),
                ('lead', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, related_name='routing', to='bridge.lead')),
            ],
            options={
                'verbose_name': 'lead routing',
                'ordering': ['-routed_at'],
            },
        ),
        migrations.CreateModel(
            name='RoutingRule',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, unique=True)),
                ('enabled', models.BooleanField(db_index=True, default=True)),
                ('order', models.PositiveIntegerField(default=0, help_text='Rules are tried from the lowest order up (then by id).')),
                ('sources', models.CharField(blank=True, help_text="Comma-separated lead sources (a lead's Source, e.g. an intake source's name); the lead's must be one of them.", max_length=500)),
                ('product_reference_contains', models.CharField(blank=True, help_text="Text the lead's product reference contains.", max_length=100)),
                ('product_title_contains', models.CharField(blank=True, help_text="Text the lead's product title contains.", max_length=255)),
                ('countries', models.CharField(blank=True, help_text="Comma-separated ISO country codes (US, FR…); the contact's must be one.", max_length=200)),
                ('has_phone', models.BooleanField(blank=True, help_text='Yes: the contact has a phone; No: it has none.', null=True)),
                ('has_email', models.BooleanField(blank=True, help_text='Yes: the contact has an email; No: it has none.', null=True)),
                ('delay_seconds', models.PositiveIntegerField(default=0, help_text='Wait this long after the lead arrived before pushing (0: at once).', validators=[django.core.validators.MaxValueValidator(2592000)], verbose_name='delay (seconds)')),
                ('business_days', models.CharField(blank=True, help_text='Days pushes may go out, e.g. mon-fri or mon,wed,sat (with the hours below).', max_length=40)),
                ('business_start', models.TimeField(blank=True, help_text='e.g. 09:00', null=True)),
                ('business_end', models.TimeField(blank=True, help_text="e.g. 18:00. Read in each target account's time zone; outside these hours the push waits for the next window.", null=True)),
                ('stop_after_match', models.BooleanField(default=False, help_text='When this rule matches, later rules are not tried.')),
                ('created_at', models.DateTimeField(auto_now_add=True)),
                ('updated_at', models.DateTimeField(auto_now=True)),
                ('tags', models.ManyToManyField(blank=True, help_text="The lead's contact has at least one of these tags.", related_name='routing_rules', to='bridge.tag')),
            ],
            options={
                'ordering': ['order', 'id'],
            },
        ),
        migrations.CreateModel(
            name='RuleTarget',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('operation', models.CharField(default='push', help_text='What to do at the provider (push by default).', max_length=64)),
                ('options', models.JSONField(blank=True, default=dict, help_text='The operation\'s options as on the "Push to…" page, e.g. {"campaign_id": 12}; blank ones use the account\'s defaults.')),
                ('account', models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='routing_targets', to='bridge.provideraccount')),
                ('rule', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='targets', to='bridge.routingrule')),
            ],
            options={
                'constraints': [models.UniqueConstraint(fields=('rule', 'account', 'operation'), name='ruletarget_unique', violation_error_message='This rule already has that account and operation.')],
            },
        ),
    ]
