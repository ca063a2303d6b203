"""Alerts: staff are told when something breaks, once, and again when it is mended.

``conditions`` (what counts as broken, keyed per account or sync) → ``job`` (the minute's
run: open, resolve, send what is pending) → ``channels`` (email, Slack-compatible webhook);
``digest`` (the daily summary); ``links`` (absolute admin URLs for the messages). The job is
registered with ``bridge.schedules`` from the app's ready (:func:`alert_jobs`); its task path
is ``bridge.alerts.run_alerts``.
"""

from .channels import ChannelError
from .job import run_alerts, send_test

__all__ = ["ChannelError", "alert_jobs", "run_alerts", "send_test"]


def alert_jobs(job):
    """The alerts' recurring job: every minute, check, open, resolve, send, digest."""
    return [
        job(
            "alerts: check conditions, send alerts and the daily digest",
            "bridge.alerts.run_alerts",
            minutes=1,
        )
    ]
