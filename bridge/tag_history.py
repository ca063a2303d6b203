"""Tag history: every tag added to or taken off a contact, written as ``TagChange`` rows.

Who changes a contact's tags says so:

- a sync writes a page's changes with :func:`record` in one ``bulk_create`` (its own tag rows
  are written in bulk too, below the ORM's m2m API, so no signal would see them);
- the admin's contact page compares the tags before and after its save
  (:func:`changes_between`) and records them as the staff member's;
- anything using the m2m API (``contact.tags.add``, ``tag.contacts.remove``, ``.set``,
  ``.clear``: an import, a merge, the demo) is recorded by the ``m2m_changed`` receiver
  (:func:`connect_signals`), attributed to what encloses it in :func:`attributed` — a merge,
  an import — or to "the bridge" when nothing does.
"""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.db.models.signals import m2m_changed
from django.utils import timezone

from bridge.db import copies
from bridge.models import Contact, Tag, TagChange

Source = TagChange.Source
ADDED, REMOVED = TagChange.Action.ADDED, TagChange.Action.REMOVED


@dataclass(frozen=True)
class Attribution:
    """What is changing tags right now: a source, and the staff member or account."""

    source: str = Source.OTHER
    user: object = None
    account: object = None
    muted: bool = False  # the caller records the changes itself


#: Nothing enclosing: changes are "the bridge's".
UNATTRIBUTED = Attribution()
_current: ContextVar[Attribution | None] = ContextVar("tag_history_attribution", default=None)


@contextmanager
def attributed(source: str, user=None, account=None, muted: bool = False):
    """Tag changes made through the m2m API inside are recorded as ``source``'s (or, with
    ``muted``, not at all: the caller records them)."""
    token = _current.set(Attribution(source, user, account, muted))
    try:
        yield
    finally:
        _current.reset(token)


def record(
    changes: Iterable[tuple[int, int, str]], source: str, user=None, account=None, at=None
) -> int:
    """Write (contact id, tag id, action) changes in one insert; how many.

    The tags' names are read in one query; a tag that no longer exists is left out. The rows
    are written from plain values (``bridge.db.copies``, COPY on PostgreSQL): a first pull
    records every new contact's tags, a million rows, and building a model instance of each
    was two fifths of that pull's Python time (docs/benchmarks.md).
    """
    changes = list(changes)
    if not changes:
        return 0
    names = dict(Tag.objects.filter(pk__in={t for _, t, _ in changes}).values_list("pk", "name"))
    at = at or timezone.now()
    common = {
        "source": source,
        "user_id": user.pk if user is not None and user.pk else None,
        "account_id": account.pk if account is not None else None,
        "at": at,
    }
    rows = [
        {
            "contact_id": contact_id,
            "tag_id": tag_id,
            "tag_name": names[tag_id],
            "action": action,
            **common,
        }
        for contact_id, tag_id, action in changes
        if tag_id in names
    ]
    copies.insert_copies(TagChange, rows)
    if source != Source.SYNC:
        touch_contacts({contact_id for contact_id, _, _ in changes}, at)
    return len(rows)


def touch_contacts(contact_ids: set[int], at) -> None:
    """A tag change is a change of its contact: ``updated_at`` moves, so the next people sync
    compares the contact with Leeloo again (``bridge.sync.fingerprints``) and puts back a
    Leeloo tag staff took off, as it puts back a Leeloo-owned field they edited."""
    Contact.objects.filter(pk__in=contact_ids, updated_at__lt=at).update(updated_at=at)


def changes_between(contact_id: int, before: set[int], after: set[int]) -> list:
    """The (contact id, tag id, action) changes that turn ``before`` into ``after``."""
    return [(contact_id, t, ADDED) for t in sorted(after - before)] + [
        (contact_id, t, REMOVED) for t in sorted(before - after)
    ]


def tag_ids(contact: Contact) -> set[int]:
    through = Contact.tags.through
    return set(through.objects.filter(contact_id=contact.pk).values_list("tag_id", flat=True))


# --- The m2m API, through its signal ------------------------------------------------------

_ACTIONS = {"post_add": ADDED, "post_remove": REMOVED, "pre_clear": REMOVED}


def tags_changed(sender, instance, action, reverse, pk_set, **kwargs) -> None:
    """Record what one ``add``/``remove``/``set``/``clear`` on ``Contact.tags`` did.

    ``pk_set`` holds, for ``add``, only the pairs actually inserted (Django leaves out those
    already there); for ``clear`` the rows are read before they go.
    """
    attribution = _current.get() or UNATTRIBUTED
    if action not in _ACTIONS or attribution.muted:
        return
    if action == "pre_clear":
        through = Contact.tags.through
        side = "tag_id" if reverse else "contact_id"
        other = "contact_id" if reverse else "tag_id"
        pk_set = set(through.objects.filter(**{side: instance.pk}).values_list(other, flat=True))
    if not pk_set:
        return
    pairs = [(pk, instance.pk) if reverse else (instance.pk, pk) for pk in sorted(pk_set)]
    record(
        [(contact_id, tag_id, _ACTIONS[action]) for contact_id, tag_id in pairs],
        attribution.source,
        user=attribution.user,
        account=attribution.account,
    )


def connect_signals() -> None:
    m2m_changed.connect(
        tags_changed, sender=Contact.tags.through, dispatch_uid="bridge.tag_history"
    )
