"""Read what the soak left — the database and the fakes' control API — into ``Observed``."""

from __future__ import annotations

from . import world
from .checker import Delivery, Observed


def collect(fakes, intake, rss: dict[str, list[float]]) -> Observed:
    """The database rows and fake ledgers the checker needs (after the run has drained)."""
    from django.contrib.contenttypes.models import ContentType
    from django.db.models import Count

    from bridge.models import (
        Activity,
        InboundEvent,
        IntakeKey,
        Lead,
        LeadRouting,
        SyncRun,
    )
    from bridge.models import Delivery as DeliveryRow

    leads = dict(Lead.objects.filter(source=world.SOURCE).values_list("id", "contact__phone"))
    keys = dict(IntakeKey.objects.filter(source__name=world.SOURCE).values_list("key", "lead_id"))
    lead_type = ContentType.objects.get_for_model(Lead)
    deliveries = []
    for row in DeliveryRow.objects.filter(content_type=lead_type).select_related("account"):
        phone = leads.get(row.object_id, "")
        deliveries.append(
            Delivery(
                id=row.pk,
                lead_id=row.object_id,
                provider=row.account.provider,
                state=row.state,
                key=world.fake_key(row.account.provider, phone, row.remote_id),
                error=" ".join(filter(None, [row.error_code, row.error_message])),
                exhausted=row.attempts >= row.max_attempts,
            )
        )
    receipts = {
        p: fakes.control("GET", "/receipts", params={"provider": p})
        for p in ("aiployees", "aloware", "aello")
    }
    sent = fakes.control("GET", "/webhooks", params={"provider": "aiployees"})
    events = {
        key.removeprefix("call:"): state
        for key, state in InboundEvent.objects.filter(
            account__name=world.TARGETS["AIP"][0]
        ).values_list("dedup_key", "state")
    }
    activities: dict[str, int] = {}
    for remote_id in Activity.objects.filter(account__name=world.TARGETS["AIP"][0]).values_list(
        "remote_id", flat=True
    ):
        activities[str(remote_id)] = activities.get(str(remote_id), 0) + 1
    return Observed(
        accepted=dict(intake.accepted),
        leads=leads,
        keys=keys,
        routed=set(LeadRouting.objects.values_list("lead_id", flat=True)),
        deliveries=deliveries,
        receipts=receipts,
        webhooks_sent=sent,
        events=events,
        activities=activities,
        syncs_running=SyncRun.objects.filter(status="running").count(),
        syncs=dict(
            SyncRun.objects.filter(account__name=world.LEELOO)
            .values_list("status")
            .annotate(n=Count("id"))
        ),
        rss=rss,
    )


def drained() -> dict:
    """What is still in motion: leads not routed, deliveries and events not settled."""
    from bridge.models import Delivery as DeliveryRow
    from bridge.models import InboundEvent, Lead, SyncRun

    return {
        "unrouted": Lead.objects.filter(source=world.SOURCE, routing__isnull=True).count(),
        "deliveries": DeliveryRow.objects.filter(
            state__in=("pending", "failed", "sending")
        ).count(),
        "events": InboundEvent.objects.filter(state__in=("received", "failed")).count(),
        "syncs_running": SyncRun.objects.filter(status="running").count(),
    }
