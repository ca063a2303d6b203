"""Storing a webhook request before anything is done with it, and waking the workers.

The row is written first and the request answered at once; processing is a django-q2 task
queued when the row commits (``kick``), so speed does not depend on a poll. A request whose
dedup key the account already has is not stored again: the first row counts the repeat.
"""

from __future__ import annotations

import hashlib
import json

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from bridge import wakeups
from bridge.conf import bridge_setting
from bridge.models import InboundEvent, ProviderAccount
from integrations.events import EventShapeError
from integrations.secrets import SECRET_KEY_NAMES

from .process import without_nuls

State = InboundEvent.State

#: Headers never stored: credentials and cookies (and anything named like a secret).
DROPPED_HEADERS = {"authorization", "proxy-authorization", "cookie", "set-cookie"}
MAX_HEADERS, MAX_HEADER_CHARS = 50, 1000


class Malformed(Exception):
    """The body is not JSON, or not an event's shape: stored failed, answered 400."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


def stored_headers(meta: dict) -> dict[str, str]:
    """The request's headers as the provider sent them, without secrets, bounded."""
    headers = {}
    for key, value in meta.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").title()
        elif key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            name = key.replace("_", "-").title()
        else:
            continue
        if name.lower() in DROPPED_HEADERS or SECRET_KEY_NAMES.search(name):
            continue
        headers[name] = str(value)[:MAX_HEADER_CHARS].replace("\x00", "")
        if len(headers) >= MAX_HEADERS:
            break
    return headers


def decode(raw: bytes):
    """The JSON value of a body; Malformed naming the problem."""
    try:
        return json.loads(raw)
    except RecursionError:
        raise Malformed("malformed_json", "The body is JSON nested too deeply.") from None
    except (ValueError, UnicodeDecodeError) as error:
        raise Malformed("malformed_json", f"The body is not valid JSON: {error}") from None


def classify(account: ProviderAccount, raw: bytes) -> dict:
    """Type, kind, dedup key and initial state of a body (a failed state when malformed)."""
    fields = {"event_type": "", "kind": "", "dedup_key": "", "state": State.RECEIVED, "error": ""}
    try:
        event = account.provider_class.events.read(without_nuls(decode(raw)))
    except Malformed as error:
        return {**fields, "state": State.FAILED, "error": str(error), "malformed": error}
    except EventShapeError as error:
        malformed = Malformed("not_an_event", str(error))
        return {**fields, "state": State.FAILED, "error": str(error), "malformed": malformed}
    fields.update(event_type=event.type[:100], kind=event.kind, dedup_key=event.dedup_key)
    if not event.kind:
        fields["state"] = State.IGNORED
        fields["error"] = f"The bridge does not map {event.type or 'this event (no type)'!r}."
    return fields


def dedup_key(key: str, raw: bytes) -> str:
    """The provider's key, or the body's hash; hashed too when it is too long for the column."""
    if not key:
        return "body:" + hashlib.sha256(raw).hexdigest()
    if len(key) > 255:
        return "key:" + hashlib.sha256(key.encode()).hexdigest()
    return key


def store_event(account: ProviderAccount, meta: dict, raw: bytes):
    """Store one request; (event, created, Malformed or None). A repeat is counted on the row
    that has its key and not stored again."""
    now = timezone.now()
    fields = classify(account, raw)
    malformed = fields.pop("malformed", None)
    key = dedup_key(fields.pop("dedup_key"), raw)
    try:
        with transaction.atomic():
            event = InboundEvent.objects.create(
                account=account,
                received_at=now,
                headers=stored_headers(meta),
                body=raw.decode("utf-8", "replace").replace("\x00", "\ufffd"),
                dedup_key=key,
                processed_at=now if fields["state"] == State.IGNORED else None,
                **fields,
            )
    except IntegrityError:
        InboundEvent.objects.filter(account=account, dedup_key=key).update(
            repeats=F("repeats") + 1, last_received_at=now
        )
        return InboundEvent.objects.get(account=account, dedup_key=key), False, malformed
    if event.state == State.RECEIVED:
        transaction.on_commit(lambda: kick([event.pk]))
    return event, True, malformed


def kick(event_ids: list[int]) -> None:
    """Queue each event's processing task (ids only); off when BRIDGE_KICK_WORKERS is."""
    if not bridge_setting("BRIDGE_KICK_WORKERS", True):
        return
    for event_id in event_ids:  # one refused (broker away) is left to the minute sweep
        wakeups.queue_task("bridge.inbox.process_event", event_id, group="inbox", task_name=None)
