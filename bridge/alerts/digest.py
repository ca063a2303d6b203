"""The daily digest: every open alert and the last day's counts, to every enabled channel.

It is due for a channel once ``BRIDGE_ALERT_DIGEST_HOUR`` (UTC) has passed since the channel's
last digest (a new channel waits for the next one). The minute's job sends it, so a channel
that failed is tried again on the next run; its error is the channel's last error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bridge.conf import bridge_setting
from bridge.models import Alert, AlertChannel, Delivery, InboundEvent, SyncRun

from .channels import ChannelError, send
from .conditions import when

#: Open alerts listed one by one in a digest; more are counted.
LISTED = 50


def digest_moment(now: datetime) -> datetime:
    """The latest digest time at or before ``now``: today's hour, or yesterday's."""
    hour = bridge_setting("BRIDGE_ALERT_DIGEST_HOUR", 8, minimum=0)
    moment = now.astimezone(UTC).replace(hour=min(hour, 23), minute=0, second=0, microsecond=0)
    return moment if moment <= now else moment - timedelta(days=1)


def send_due_digests(now: datetime) -> dict:
    """Send the digest to each enabled channel it is due for; counts sent and failed."""
    moment = digest_moment(now)
    due = list(AlertChannel.objects.filter(enabled=True, digest_sent_at__lt=moment))
    if not due:
        return {}
    subject, text = render_digest(now)
    sent = failed = 0
    for channel in due:
        mine = AlertChannel.objects.filter(pk=channel.pk)
        if not mine.filter(digest_sent_at__lt=moment).update(digest_sent_at=now):
            continue  # another run is sending it (a compare-and-set claim)
        try:
            send(channel, subject, text)
        except ChannelError as error:  # given back, so the next run tries again
            mine.update(
                digest_sent_at=channel.digest_sent_at, last_error=str(error), last_error_at=now
            )
            failed += 1
            continue
        mine.update(last_sent_at=now, last_error="")
        sent += 1
    return {"digests_sent": sent, "digests_failed": failed}


def last_day_counts(now: datetime) -> dict[str, int]:
    """What went wrong in the last 24 hours (each count read on an index of its table)."""
    since = now - timedelta(days=1)
    return {
        "alerts opened": Alert.objects.filter(opened_at__gte=since).count(),
        "alerts resolved": Alert.objects.filter(resolved_at__gte=since).count(),
        "deliveries dead": Delivery.objects.filter(
            state=Delivery.State.DEAD, updated_at__gte=since
        ).count(),
        "inbound events failed": InboundEvent.objects.filter(
            state=InboundEvent.State.FAILED, received_at__gte=since
        ).count(),
        "sync runs failed": SyncRun.objects.filter(
            status=SyncRun.Status.FAILED, started_at__gte=since
        ).count(),
    }


def render_digest(now: datetime) -> tuple[str, str]:
    """The digest's subject and text."""
    open_alerts = Alert.objects.filter(resolved_at__isnull=True).order_by(
        "severity", "opened_at"
    )  # critical first
    total = open_alerts.count()
    lines = [f"CRM Bridge, the day to {when(now)}.", ""]
    if total:
        lines.append(f"Open alerts ({total}):")
        for alert in open_alerts[:LISTED]:
            since = when(alert.opened_at)
            lines.append(f"- [{alert.severity}] {alert.subject} (since {since}) {alert.link}")
        if total > LISTED:
            lines.append(f"- … and {total - LISTED} more in the admin's Alerts list.")
    else:
        lines.append("No open alerts.")
    lines += ["", "Last 24 hours:"]
    lines += [f"- {label}: {count}" for label, count in last_day_counts(now).items()]
    subject = f"Daily digest: {total} open alert{'s' if total != 1 else ''}"
    return subject, "\n".join(lines)
