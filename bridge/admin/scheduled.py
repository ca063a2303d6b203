"""Scheduled push batches in the admin: which are waiting, and cancelling them before they start.

A batch pushed with "send at" (or to an account outside its sending hours) keeps its
deliveries pending until they are due. Until a worker has tried one, staff may cancel them:
the batch's untried deliveries become "cancelled" (a delivery already tried, or being sent,
is left alone and the message says how many).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db import transaction
from django.utils import timezone
from django.utils.timezone import localtime
from django.utils.translation import ngettext

from bridge import audit, outbox
from bridge.models import Delivery

from .push import PUSH_PERMISSION


class ScheduledFilter(admin.SimpleListFilter):
    title = "schedule"
    parameter_name = "scheduled"

    def lookups(self, request, model_admin):
        return [("waiting", "Scheduled, not started"), ("any", "Scheduled (any)")]

    def queryset(self, request, queryset):
        if self.value() == "any":
            return queryset.filter(send_at__isnull=False)
        if self.value() == "waiting":
            untried = Delivery.objects.filter(state=Delivery.State.PENDING, attempts=0)
            waiting = untried.filter(next_attempt_at__gt=timezone.now()).values("batch_id")
            return queryset.filter(pk__in=waiting)
        return queryset


class ScheduledBatchesMixin:
    """The batch list's "Scheduled for" column and its "Cancel scheduled" action."""

    actions = ["cancel_scheduled"]

    @admin.display(description="Scheduled for", ordering="send_at")
    def scheduled(self, obj):
        return f"{localtime(obj.send_at):%Y-%m-%d %H:%M}" if obj.send_at else "–"

    def has_push_permission(self, request):
        return request.user.has_perm(PUSH_PERMISSION)

    @admin.action(
        description="Cancel the deliveries not started yet (scheduled batches)",
        permissions=["push"],
    )
    def cancel_scheduled(self, request, queryset):
        untried = outbox.not_started(queryset)
        selected = audit.target_of(queryset)
        with transaction.atomic():
            cancelled = outbox.cancel(untried)
            if cancelled:
                audit.record(
                    audit.Action.CANCEL,
                    actor=request.user,
                    target=selected,
                    count=cancelled,
                    summary=f"Cancelled {cancelled} scheduled deliveries not started yet "
                    f"({selected.count} batches selected)",
                )
        if not cancelled:
            self.message_user(
                request,
                "Nothing to cancel: every delivery of the selected batches has been tried "
                "already (or was cancelled).",
                messages.WARNING,
            )
            return
        noun = ngettext("delivery", "deliveries", cancelled)
        self.message_user(
            request,
            f"Cancelled {cancelled} {noun} not started yet; any already tried were left as "
            "they were.",
            messages.SUCCESS,
        )
