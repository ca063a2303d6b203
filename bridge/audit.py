"""The audit trail's one writer: ``record`` a staff action, and ``cli_actor`` for commands.

Every staff action (a push, a retry, pausing an account, a credential set, a routing rule
changed, an import, a merge…) calls :func:`record` inside the transaction of the action, so
the entry exists exactly when the action happened::

    with transaction.atomic():
        count = outbox.retry_now(queryset)
        audit.record("retry", actor=request.user, target=queryset, count=count,
                     summary=f"Retried {count} deliveries")

A management command names its actor with :func:`cli_actor` (``--as USER``, added by
:func:`add_actor_argument`, else the OS user running it). Summaries and details are redacted
on the way in (``integrations.secrets``), but callers never pass a secret in the first place:
"credential set", not the credential.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass, field

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.core.management.base import CommandError
from django.db import models

from bridge.models import AuditEntry
from integrations.secrets import redact, redact_text

#: How many ids of the records acted on an entry keeps (the count says how many there were).
MAX_IDS = 100

Action = AuditEntry.Action
Via = AuditEntry.Via


def record(
    action: str,
    *,
    actor=None,
    via: str = Via.ADMIN,
    target=None,
    count: int | None = None,
    summary: str = "",
    details: dict | None = None,
) -> AuditEntry:
    """Write one audit entry for ``action`` (an ``AuditEntry.Action`` value, e.g. "merge").

    ``actor`` is a Django user or a name (a command's OS user); ``target`` is what was acted
    on: a model instance, a queryset, a list of instances, a model class when only the kind
    of record is known (an import), or a :func:`target_of` taken before the action changed
    the rows a filtered queryset selects. ``count`` defaults to how many records ``target`` holds.
    An unknown action or channel is a ValueError, so a typo never writes a row that no filter
    finds.
    """
    user, name = actor_of(actor, via)
    what = target_of(target)
    entry_details = dict(details or {})
    if Via(via) == Via.CLI and user is not None:
        entry_details.setdefault("os_user", os_user())
    return AuditEntry.objects.create(
        action=Action(action),
        via=Via(via),
        actor=user,
        actor_name=name[:150],
        content_type=what.content_type,
        object_ids=list(what.ids),
        object_repr=redact_text(what.shown)[:200],
        count=what.count if count is None else max(int(count), 0),
        summary=redact_text(summary)[:500],
        details=redact(entry_details),
    )


def actor_of(actor, via: str) -> tuple[object | None, str]:
    """(the Django user or None, the name recorded) for an actor given to :func:`record`."""
    if actor is None:
        return None, os_user() if Via(via) == Via.CLI else "system"
    if isinstance(actor, str):
        return None, actor
    if not getattr(actor, "is_authenticated", False):
        return None, "anonymous"
    return actor, actor.get_username()


@dataclass(frozen=True)
class Target:
    """What an action is done to, taken before the action changes it (a list filtered by
    state no longer holds the rows a retry moved on): model, the first ids, a name, how many."""

    content_type: ContentType | None = None
    ids: list = field(default_factory=list)
    shown: str = ""
    count: int = 1


def target_of(target) -> Target:
    """A :class:`Target` of a model instance, a queryset, a list of instances or a model class
    (an import: only the kind of record is known)."""
    if target is None or isinstance(target, Target):
        return target or Target()
    if isinstance(target, type) and issubclass(target, models.Model):
        return Target(ContentType.objects.get_for_model(target))
    if isinstance(target, models.QuerySet):
        ids = list(target.order_by("pk").values_list("pk", flat=True)[:MAX_IDS])
        count = len(ids) if len(ids) < MAX_IDS else target.count()
        shown = str(target.model._default_manager.get(pk=ids[0])) if count == 1 else ""
        return Target(ContentType.objects.get_for_model(target.model), ids, shown, count)
    if isinstance(target, models.Model):
        return Target(ContentType.objects.get_for_model(type(target)), [target.pk], str(target))
    instances = list(target)
    if not instances:
        return Target(count=0)
    shown = str(instances[0]) if len(instances) == 1 else ""
    ids = [instance.pk for instance in instances[:MAX_IDS]]
    return Target(ContentType.objects.get_for_model(type(instances[0])), ids, shown, len(instances))


# --- management commands -------------------------------------------------------------------


def add_actor_argument(parser) -> None:
    """Add ``--as USER`` to a command: the Django user its actions are recorded as."""
    parser.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        default=None,
        help="Record this action in the audit trail as this Django user "
        "(default: the operating-system user running the command).",
    )


def cli_actor(options: dict):
    """Who a command acts as: the active Django user ``--as`` names, else the OS user's name.

    A ``--as`` naming no user, or an inactive one, is a CommandError naming the option; call
    it before the command changes anything.
    """
    name = (options.get("as_user") or "").strip()
    if not name:
        return os_user()
    model = get_user_model()
    user = model._default_manager.filter(**{model.USERNAME_FIELD: name}).first()
    if user is None:
        raise CommandError(f"--as: there is no user named '{name}'.")
    if not user.is_active:
        raise CommandError(f"--as: the user '{name}' is not active.")
    return user


def os_user() -> str:
    """The operating-system user running this process (its uid when it has no name)."""
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return f"uid {os.getuid()}"
