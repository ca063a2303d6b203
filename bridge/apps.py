"""App configuration for the bridge."""

from django.apps import AppConfig
from django.db.models.signals import post_migrate


class BridgeConfig(AppConfig):
    """The bridge app: mirror models, provider accounts, deliveries and sync runs."""

    name = "bridge"
    verbose_name = "CRM Bridge"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        """After every migrate: the environment's default accounts and the schedules exist.

        Registers the ``__any`` lookup (``bridge.lookups``).

        django-q2's clusters build kill-safe queues (``bridge.qcluster``).

        Saving an account (or one of its sync states) keeps its sync and reconcile schedules
        in step.

        Every new lead is routed by the routing rules after its transaction commits.

        A contact's tags changed through the m2m API are recorded (``bridge.tag_history``).

        The providers' ``Retry-After`` cap is BRIDGE_RETRY_AFTER_CAP_SECONDS.

        The inbox's and the routing's minute sweeps, and the alerts' minute check, are among
        the bridge's jobs.
        """
        from django.conf import settings

        from bridge import lookups, qcluster, routing, sync, tag_history  # noqa: F401 (``__any``)
        from bridge.alerts import alert_jobs
        from bridge.env_accounts import apply_after_migrate
        from bridge.schedules import add_job_source, ensure_after_migrate
        from integrations import base

        base.RETRY_AFTER_CAP_SECONDS = settings.BRIDGE_RETRY_AFTER_CAP_SECONDS
        qcluster.harden()  # a worker SIGKILLed while idle no longer wedges its cluster

        sync.connect_signals()  # the sync's and the reconcile's, in that order
        routing.connect_signals()  # every new lead is routed once its transaction commits
        tag_history.connect_signals()  # tags added to or taken off a contact
        add_job_source(inbox_jobs)
        add_job_source(routing_jobs)
        add_job_source(alert_jobs)

        post_migrate.connect(
            apply_after_migrate, sender=self, dispatch_uid="bridge.env_accounts.apply"
        )
        post_migrate.connect(
            ensure_after_migrate, sender=self, dispatch_uid="bridge.schedules.ensure"
        )


def inbox_jobs(job):
    """The inbox's recurring job: stranded events, due retries, the retention purge."""
    return [job("inbox: process waiting events and retries", "bridge.inbox.sweep", minutes=1)]


def routing_jobs(job):
    """The routing's recurring job: leads a crash left unrouted between commit and routing."""
    return [job("routing: route new leads left unrouted", "bridge.routing.sweep", minutes=1)]
