"""Delivering one claimed delivery: skip, send, or decide what the provider's refusal means.

:func:`deliver` is the only place that turns a Delivery row into a provider call. It reads
the record's plain data and remote link (from a claim's :class:`Prefetched` when a drain sends
it), skips content already delivered, calls the provider, and hands the outcome to the
writer. A refusal's meaning for the account (401 pauses, 429 throttles) is
``bridge.accounts``'s; the delivery's (retry with backoff, or dead) is decided here. An
unexpected exception while delivering one record (a bug, not the provider's answer) becomes
that delivery's failure, its type and message recorded with secrets scrubbed, and the slot
goes on with the next delivery.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
from concurrent.futures import Future
from datetime import datetime, timedelta

from django.contrib.contenttypes.models import ContentType
from django.db.models import F, Q
from django.utils import timezone

from bridge import accounts
from bridge.conf import bridge_setting
from bridge.models import Contact, Delivery, RemoteLink
from bridge.records import load_record_data, record_data
from integrations.errors import ProviderError, TransientError
from integrations.secrets import redact_text

from .writer import OutcomeWriter, finish_now

logger = logging.getLogger("bridge.outbox")

State = Delivery.State

INTERNAL_ERROR = "internal_error"


def fingerprint(operation: str, params: dict, data: dict, field_map=None) -> str:
    """A hash of what would be sent, to skip re-sending identical content.

    The account's field mapping (``integrations.mapping.FieldMap``) is part of it when it has
    rows or pulled types: after staff change the mapping, a re-push of an unchanged record
    sends the newly mapped fields instead of being skipped.
    """
    parts = [operation, params, data]
    if field_map is not None and (field_map.rows or field_map.types):
        parts.append([[[row.source, row.target] for row in field_map.rows], field_map.types])
    canonical = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def retry_delay(attempts: int) -> float:
    """Exponential backoff with jitter: base·2^(n-1), capped, scaled by a random 0.5–1."""
    base = bridge_setting("BRIDGE_RETRY_BASE_SECONDS", 5.0)
    cap = bridge_setting("BRIDGE_RETRY_CAP_SECONDS", 900.0)
    return min(cap, base * 2 ** max(attempts - 1, 0)) * random.uniform(0.5, 1.0)


def _call_fields(client) -> dict:
    call = client.last_call
    if call is None:
        return {}
    return {
        "last_http_status": call.status,
        "request_redacted": {"method": call.method, "url": call.url, **call.request},
        "response_redacted": call.response,
    }


class Prefetched:
    """The records' plain data and remote links of a claimed batch, read in a few queries.

    ``deliver`` reads them from here instead of two or three queries per delivery, and hands
    back the links it asks the writer for, so a record pushed twice in one batch is still
    skipped the second time. Links the drain's writer has not written yet (``in_flight``, taken
    before the table is read) are waited for instead of read stale from the table.
    """

    def __init__(
        self,
        account_id: int,
        deliveries: list[Delivery],
        in_flight: dict[tuple[int, int], Future] | None = None,
    ):
        wanted: dict[int, set[int]] = {}
        for delivery in deliveries:
            wanted.setdefault(delivery.content_type_id, set()).add(delivery.object_id)
        self.data: dict[tuple[int, int], dict] = {}
        self.contact_type_id = ContentType.objects.get_for_model(Contact).pk
        self.in_flight: dict[tuple[int, int], Future] = dict(in_flight or {})
        contact_ids = set()
        for content_type_id, object_ids in wanted.items():
            model = ContentType.objects.get_for_id(content_type_id).model_class()
            if model is not None:
                for pk, data in load_record_data(model, object_ids).items():
                    self.data[(content_type_id, pk)] = data
                    if contact_id := self.contact_id(data):
                        contact_ids.add(contact_id)
        # The records' own links, and their contacts' (a lead tells Leeloo who its person is).
        wanted.setdefault(self.contact_type_id, set()).update(contact_ids)
        links = Q()
        for content_type_id, object_ids in wanted.items():
            if object_ids:
                links |= Q(content_type_id=content_type_id, object_id__in=object_ids)
        self.links: dict[tuple[int, int], RemoteLink] = {
            (link.content_type_id, link.object_id): link
            for link in (RemoteLink.objects.filter(links, account_id=account_id) if wanted else [])
        }

    def record_data(self, key: tuple[int, int]) -> dict | None:
        """The record's plain data, a copy of its own (a delivery adds to it), or None."""
        data = self.data.get(key)
        if data is None:
            return None
        copied = dict(data)
        if isinstance(copied.get("contact"), dict):
            copied["contact"] = dict(copied["contact"])
        return copied

    @staticmethod
    def contact_id(data: dict | None) -> int | None:
        """The id of the contact a lead's or order's data is about, if any."""
        contact = (data or {}).get("contact")
        return contact.get("id") if isinstance(contact, dict) else None

    def link(self, key: tuple[int, int]) -> RemoteLink | None:
        """The record's link: the one being written for it if any, else the one read."""
        future = self.in_flight.pop(key, None)
        if future is not None and (written := future.result()) is not None:
            self.links[key] = written
        return self.links.get(key)


def deliver(
    delivery: Delivery,
    client,
    prefetched: Prefetched | None = None,
    writer: OutcomeWriter | None = None,
) -> str:
    """Send one claimed delivery and record the outcome; returns the new state.

    The outcome goes through ``writer`` (a drain's: written in the background, in batches);
    without one it is written before this returns. An unexpected exception (a bug, not the
    provider's answer) becomes this delivery's failure (:func:`internal_error_fields`) and goes no
    further; only the writer's own failure is raised (the outcome stays for recovery).
    """
    writer = writer or OutcomeWriter(threaded=False)
    try:
        return _deliver(delivery, client, prefetched, writer)
    except Exception as error:
        if writer.error is not None:
            raise
        log_internal_error(delivery, error)
        fields = internal_error_fields(delivery, error, timezone.now())
        writer.finish(delivery, **fields, **_call_fields(client))
        return fields["state"]


def _deliver(delivery: Delivery, client, prefetched: Prefetched | None, writer) -> str:
    """:func:`deliver`'s work: skip, send, or record the provider's refusal."""
    client.last_call = None
    key = (delivery.content_type_id, delivery.object_id)
    if prefetched is None:
        record = delivery.record
        data = record_data(record) if record is not None else None
        link = RemoteLink.objects.filter(
            account_id=delivery.account_id,
            content_type_id=delivery.content_type_id,
            object_id=delivery.object_id,
        ).first()
    else:
        data, link = prefetched.record_data(key), prefetched.link(key)
    if data is None:
        writer.finish(delivery, state=State.DEAD, error_message="The record no longer exists.")
        return State.DEAD
    add_contact_remote_id(data, delivery.account_id, prefetched)
    field_map = getattr(getattr(client, "account", None), "field_map", None)
    content_hash = fingerprint(delivery.operation, delivery.params, data, field_map)
    if (
        delivery.operation == "push"
        and link is not None
        and link.pushed_hash == content_hash
        and not delivery.params.get("force")
    ):
        writer.finish(
            delivery, state=State.SKIPPED, remote_id=link.remote_id, content_hash=content_hash
        )
        return State.SKIPPED
    try:
        result = client.perform(
            delivery.operation, data, delivery.params, link.remote_id if link else ""
        )
    except ProviderError as error:
        return _record_failure(delivery, client, error)
    now = timezone.now()
    writer.finish(
        delivery,
        state=State.DELIVERED,
        remote_id=result.remote_id or "",
        content_hash=content_hash,
        delivered_at=now,
        error_code="",
        error_message="",
        next_attempt_at=None,
        **_call_fields(client),
    )
    spec = client.operation_specs().get(delivery.operation)
    if spec is not None and spec.links_record and result.remote_id:
        future = writer.link(delivery, result.remote_id, content_hash, now, first=link is None)
        if prefetched is not None:
            prefetched.in_flight[key] = future
    return State.DELIVERED


def add_contact_remote_id(
    data: dict, account_id: int, prefetched: Prefetched | None = None
) -> None:
    """Tell the provider who a lead's or order's contact is in this account, when known."""
    contact = data.get("contact")
    if not isinstance(contact, dict) or not contact.get("id"):
        return
    if prefetched is not None:
        link = prefetched.link((prefetched.contact_type_id, contact["id"]))
        contact["remote_id"] = link.remote_id if link else ""
        return
    contact["remote_id"] = (
        RemoteLink.objects.filter(
            account_id=account_id,
            content_type=ContentType.objects.get_for_model(Contact),
            object_id=contact["id"],
        )
        .values_list("remote_id", flat=True)
        .first()
        or ""
    )


def _record_failure(delivery: Delivery, client, error: ProviderError) -> str:
    """Decide what a failure means for the delivery (and, for 401 or 429, its account)."""
    now = timezone.now()
    common = {
        "error_code": error.code[:100],
        "error_message": str(error)[:2000],
        **_call_fields(client),
    }
    if error.status is not None:
        common["last_http_status"] = error.status
    reaction, until = accounts.react_to(
        delivery.account_id, error, fallback_wait=retry_delay(1), now=now
    )
    accounts.note_failure(delivery.account_id, error, delivery.pk, now)
    if reaction is accounts.Reaction.PAUSED:
        # The credential is wrong: the account is paused instead of burning every delivery.
        # This attempt does not count; the delivery waits for the account to be resumed.
        finish_now(
            delivery,
            state=State.PENDING,
            attempts=F("attempts") - 1,
            next_attempt_at=now,
            **common,
        )
        return State.PENDING
    if reaction is accounts.Reaction.THROTTLED:
        # Being told to slow down is not the delivery's failure: the attempt does not count.
        finish_now(
            delivery,
            state=State.FAILED,
            attempts=F("attempts") - 1,
            next_attempt_at=until,
            **common,
        )
        return State.FAILED
    if isinstance(error, TransientError) and delivery.attempts < delivery.max_attempts:
        next_at = now + timedelta(seconds=retry_delay(delivery.attempts))
        finish_now(delivery, state=State.FAILED, next_attempt_at=next_at, **common)
        return State.FAILED
    finish_now(delivery, state=State.DEAD, next_attempt_at=None, **common)
    return State.DEAD


# --- a bug while delivering --------------------------------------------------------------


def internal_error_fields(delivery: Delivery, error: BaseException, now: datetime) -> dict:
    """The outcome of a delivery that raised an unexpected exception.

    Failed (retried with backoff) while attempts are left, dead after; the error says it is
    the bridge's, with the exception's type and message, every known secret scrubbed.
    """
    detail = redact_text(f"{type(error).__name__}: {error}")[:1500]
    retry = delivery.attempts < delivery.max_attempts
    next_at = now + timedelta(seconds=retry_delay(delivery.attempts)) if retry else None
    return {
        "state": State.FAILED if retry else State.DEAD,
        "next_attempt_at": next_at,
        "error_code": INTERNAL_ERROR,
        "error_message": (
            "The bridge failed while sending this record (an error of its own, not the "
            f"provider's answer): {detail}"
        ),
    }


def log_internal_error(delivery: Delivery, error: BaseException) -> None:
    """Log the traceback (the logging filter scrubs secrets) for whoever fixes the bug."""
    logger.error(
        "delivery %s to account %s failed on an unexpected error",
        delivery.pk,
        delivery.account_id,
        exc_info=error,
    )
