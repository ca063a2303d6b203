"""The minute's job: open an alert per new condition, resolve the ones gone, tell the channels.

Opening and resolving is bookkeeping in the database, done before any sending, so an alert is
never lost to a channel that is down. Sending is per alert and per channel: each channel told
of a phase ("opened", "resolved") is recorded on the alert, a failure is recorded as the
alert's last error and retried on the next run, and the job itself never raises for a channel.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from bridge.models import Alert, AlertChannel

from . import digest
from .channels import ChannelError, send
from .conditions import Condition, current_conditions, when

logger = logging.getLogger("bridge.alerts")

#: Alerts with something to send, taken per run (oldest first); the rest wait for the next.
SEND_BATCH = 100
#: How long a run holds an alert it is sending (a run killed meanwhile frees it after this).
CLAIM_FOR = timedelta(minutes=5)


def run_alerts() -> dict:
    """Check every condition, open and resolve alerts, send what is pending and the daily
    digest when due; counts of what happened (the task's result in django-q2)."""
    now = timezone.now()
    opened, resolved = update_alerts(now)
    sent, failed = send_pending(now)
    digests = digest.send_due_digests(now)
    return {"opened": opened, "resolved": resolved, "sent": sent, "failed": failed, **digests}


# --- opening and resolving ------------------------------------------------------------------


def update_alerts(now: datetime) -> tuple[int, int]:
    """Open an alert for each condition without an open one; resolve open alerts whose
    condition no longer holds (unless their check could not run)."""
    found = current_conditions(now)
    open_alerts = {alert.key: alert for alert in Alert.objects.filter(resolved_at__isnull=True)}
    opened = sum(
        open_alert(condition, now)
        for key, condition in found.conditions.items()
        if key not in open_alerts
    )
    resolved = 0
    for key, alert in open_alerts.items():
        if key not in found.conditions and alert.kind not in found.unchecked:
            resolved += resolve_alert(alert, now)
    return opened, resolved


def open_alert(condition: Condition, now: datetime) -> bool:
    """One new open alert for ``condition`` (False when another run opened it first)."""
    words = condition.words()
    try:
        with transaction.atomic():
            Alert.objects.create(
                key=condition.key,
                kind=condition.kind,
                severity=condition.severity,
                subject=words.subject[:255],
                message=words.message,
                link=words.link[:500],
                opened_at=now,
                pending=True,
            )
    except IntegrityError:  # the unique open alert per condition: a concurrent run made it
        return False
    logger.warning("alert opened: %s", words.subject)
    return True


def resolve_alert(alert: Alert, now: datetime) -> bool:
    """Mark ``alert`` resolved now, with the message saying so (once, even if two runs race)."""
    resolution = (
        f"Resolved: {alert.subject}. The bridge found this no longer holds at {when(now)} "
        f"(opened {when(alert.opened_at)})."
    )
    done = Alert.objects.filter(pk=alert.pk, resolved_at__isnull=True).update(
        resolved_at=now, resolution=resolution, pending=True
    )
    if done:
        logger.info("alert resolved: %s", alert.subject)
    return bool(done)


# --- sending --------------------------------------------------------------------------------


def send_pending(now: datetime) -> tuple[int, int]:
    """Tell every enabled channel what it has not been told yet; (messages sent, failures).

    A channel that fails is not tried again for the other alerts of this run (each gets the
    same error), so one channel that is down costs one timeout a run, not one per alert.
    """
    channels = list(AlertChannel.objects.filter(enabled=True))
    broken: dict[int, str] = {}
    sent = failed = 0
    ids = Alert.objects.filter(pending=True).order_by("opened_at", "id")
    for alert_id in list(ids.values_list("pk", flat=True)[:SEND_BATCH]):
        alert = claim(alert_id, now)
        if alert is None:  # another run has it, or finished it
            continue
        ok, errors = tell_channels(alert, channels, broken)
        sent, failed = sent + ok, failed + len(errors)
        record_outcome(alert, channels, errors, now)
    return sent, failed


def claim(alert_id: int, now: datetime) -> Alert | None:
    """The alert, claimed for this run by a compare-and-set (no transaction is held while
    channels are called); None when another run holds it or nothing is left to send."""
    free = Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)
    taken = Alert.objects.filter(free, pk=alert_id, pending=True).update(
        claimed_until=now + CLAIM_FOR
    )
    return Alert.objects.get(pk=alert_id) if taken else None


def tell_channels(alert: Alert, channels, broken: dict[int, str]) -> tuple[int, list[str]]:
    """Send each phase of ``alert`` to each channel not yet told; (sent, errors)."""
    sent, errors = 0, []
    record = {phase: sorted(alert.told(phase)) for phase in alert.phases()}
    for phase in alert.phases():
        subject, text = render(alert, phase)
        for channel in channels:
            if channel.pk in record[phase]:
                continue
            if channel.pk in broken:
                errors.append(broken[channel.pk])
                continue
            try:
                send(channel, subject, text)
            except ChannelError as error:
                broken[channel.pk] = str(error)
                errors.append(str(error))
                note_channel(channel, error=str(error))
                continue
            record[phase].append(channel.pk)
            note_channel(channel)
            sent += 1
    alert.sent = record
    return sent, errors


def record_outcome(alert: Alert, channels, errors: list[str], now: datetime) -> None:
    """Save what was told, the error when something failed, and whether anything is left."""
    enabled = {channel.pk for channel in channels}
    alert.pending = any(enabled - alert.told(phase) for phase in alert.phases())
    alert.claimed_until = None
    alert.channels_notified = notified_names(alert, channels)
    fields = ["sent", "pending", "claimed_until", "channels_notified"]
    if errors:
        alert.send_attempts += 1
        alert.last_error = "; ".join(dict.fromkeys(errors))[:2000]
        alert.last_error_at = now
        fields += ["send_attempts", "last_error", "last_error_at"]
    alert.save(update_fields=fields)
    if alert.resolved_at is None:  # resolved by another run meanwhile: its message is to send
        Alert.objects.filter(pk=alert.pk, resolved_at__isnull=False).update(pending=True)


def notified_names(alert: Alert, channels) -> str:
    """Who was told of what, in words: "opened: ops-mail, slack; resolved: ops-mail"."""
    names = {channel.pk: channel.name for channel in channels}
    parts = []
    for phase in alert.phases():
        told = sorted(names.get(pk, f"channel #{pk}") for pk in alert.told(phase))
        parts.append(f"{phase}: {', '.join(told) or 'none yet'}")
    return "; ".join(parts)[:1000]


def note_channel(channel: AlertChannel, error: str = "") -> None:
    """The channel's last success, or its last error, for its admin page."""
    now = timezone.now()
    if error:
        channel.last_error, channel.last_error_at = error, now
        fields = {"last_error": error, "last_error_at": now}
    else:
        channel.last_sent_at = now
        fields = {"last_sent_at": now, "last_error": ""}
    AlertChannel.objects.filter(pk=channel.pk).update(**fields)


def render(alert: Alert, phase: str) -> tuple[str, str]:
    """The subject and text of one phase of an alert: short, naming the thing, with its link."""
    link = f"\n{alert.link}" if alert.link else ""
    if phase == "resolved":
        return f"Resolved: {alert.subject}", f"{alert.resolution}{link}"
    label = alert.get_severity_display().upper()
    return f"{label}: {alert.subject}", f"{alert.message}{link}"


def send_test(channel: AlertChannel) -> None:
    """A test message to ``channel`` (the admin's button); :class:`ChannelError` on failure."""
    try:
        send(
            channel,
            "Test alert",
            f"This is a test alert from CRM Bridge to the channel “{channel.name}”. "
            "Real alerts name what broke and link to its page.",
        )
    except ChannelError as error:
        note_channel(channel, error=str(error))
        raise
    note_channel(channel)
