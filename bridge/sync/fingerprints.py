"""People a run need not compare again: unchanged at Leeloo and locally since their last pull.

A nightly reconcile lists every person again so that an edit made at Leeloo without a new
message is not missed; on a large account one person in a hundred has changed. Each person
link keeps the fingerprint of the list fields last applied to its contact
(``RemoteLink.pulled_hash``, :func:`person_fingerprint`) and is stamped when they are
applied, after the contact is written (``last_pulled_at``). A listed
person is *settled* — counted unchanged, nothing read, compared or written — when:

- its fingerprint equals its link's: Leeloo sends what was applied last time;
- its contact has not been saved since that stamp (``Contact.updated_at``): a local edit of a
  field Leeloo owns is still put back, as before (a tag changed by staff touches the contact,
  ``bridge.tag_history``);
- its link is not marked gone (a person back at Leeloo is compared, stamped and unmarked);
- the run does not read every card (a full run with card details compares each card).

Settled people keep their stamp (when their data was last applied); a full run knows them as
listed all the same (``bridge.sync.gone``). The link's side is read with the links, in one
query (:func:`untouched_since_pulled`). Anyone else takes the full path
(``bridge.sync.people``), which records the new fingerprint. A contact edited while a run
compares it may keep its edit until the person next changes at Leeloo: the race settles on
the staff member's side.
"""

from __future__ import annotations

import hashlib

from django.db.models import Exists, OuterRef, Q

from bridge.models import Contact

from .context import Context
from .upsert import Links

#: Raised whenever what the fingerprint covers, or how it is applied, changes: every link
#: then differs once and its person is compared in full.
VERSION = "1"
#: The list fields of a person the comparison reads (``people.person_values``), and the tags
#: (a set: their order is not a change).
FIELDS = ("first_name", "last_name", "email_key", "phone_key", "channels", "last_message_at")
AS_SETS = ("tags",)


def person_fingerprint(person: dict) -> str:
    """24 hex digits of what the people list says of a person, with :data:`VERSION`."""
    listed = [VERSION, *(person.get(name) for name in FIELDS)]
    listed += [sorted(person.get(name) or ()) for name in AS_SETS]
    return hashlib.blake2b(repr(listed).encode(), digest_size=12).hexdigest()


def untouched_since_pulled() -> Q:
    """Over a person link: not marked gone, and its contact exists and was not saved since the
    link's last stamp (read with the links, ``Links(untouched=…)``, in the same query)."""
    contact = Contact.objects.filter(
        pk=OuterRef("object_id"), updated_at__lte=OuterRef("last_pulled_at")
    )
    return Q(remote_gone_at__isnull=True) & Exists(contact)


def settled_people(ctx: Context, people: list[dict], links: Links) -> dict[str, int]:
    """Remote id -> contact id of the people to count unchanged without comparing them.

    The people carry their ``fingerprint``; the links were read with
    :func:`untouched_since_pulled`. A contact deleted since (its links go with it) or saved
    after its link's last stamp is compared in full.
    """
    if ctx.details and ctx.run.full:
        return {}
    settled = {}
    for person in people:
        link = links.by_remote.get(person["remote_id"])
        if link is not None and link.untouched and link.pulled_hash == person["fingerprint"]:
            settled[link.remote_id] = link.object_id
    return settled
