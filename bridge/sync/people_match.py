"""Who a page of people may become: claims on contacts, phones and emails, and person tags.

Helpers of ``bridge.sync.people``: :class:`PageClaims` refuses a second link to one contact,
:class:`KeyOwners` keeps a phone or email with the contact that holds it, :class:`PageTags`
makes a contact's Leeloo tags follow Leeloo's.
"""

from __future__ import annotations

import functools
from collections import namedtuple

from bridge import tag_history
from bridge.db import copies
from bridge.models import Contact, Tag

from .context import Context, tag_key


class PageClaims:
    """Which contact, phone and email each person of a page has taken so far.

    A contact is one Leeloo person per account. A person matching a contact that another
    person has — linked in the database, or taken earlier in this page directly or through a
    phone or email a new contact of this page will carry — would need a second link; the
    matching rule would send them to the same contact on the next run. Such a person is
    counted as failed, with the reason, wherever the page boundaries fall.
    """

    def __init__(self, linked_to: dict[int, str]):
        self.linked_to = linked_to
        self.contacts: dict[int, str] = {}
        self.keys: dict[tuple[str, str], str] = {}

    def refusal(self, remote_id: str, contact_id: int | None, keys: list) -> str:
        """Why this person (its ``matching_keys``) cannot be linked, or ""."""
        if contact_id:
            other = self.linked_to.get(contact_id)
            if other and other != remote_id:
                return f"its contact #{contact_id} is already Leeloo person {other}"
            if contact_id in self.contacts:
                return (
                    f"it matches contact #{contact_id}, as does person {self.contacts[contact_id]}"
                )
            return ""
        for key in keys:
            if key in self.keys:
                return f"it has the {key[0]} of person {self.keys[key]} in the same page"
        return ""

    def claim(self, remote_id: str, contact_id: int | None, keys: list) -> None:
        if contact_id:
            self.contacts[contact_id] = remote_id
        for key in keys:
            self.keys.setdefault(key, remote_id)


def matching_keys(person: dict) -> list[tuple[str, str]]:
    """The person's ("phone", …) and ("email", …) keys that are not blank."""
    keys = []
    if person["phone_key"]:
        keys.append(("phone", person["phone_key"]))
    if person["email_key"]:
        keys.append(("email", person["email_key"]))
    return keys


class ContactRow(tuple):
    """A contact's compared columns read as a plain row, not a model instance.

    A batch compares hundreds of contacts with their people and changes few (a nightly
    reconcile: one in a hundred); building a model instance of every column for each was a
    fifth of a reconcile's time. Each set of columns gets a named-tuple class of its own
    (:func:`row_class`); the contacts a batch updates become instances holding these columns
    and the changes (:meth:`instance`), which is all ``bulk_update`` writes.
    """

    __slots__ = ()

    @property
    def pk(self) -> int:
        return self.id

    def instance(self, changes: dict | None = None) -> Contact:
        return Contact(**{**self._asdict(), **(changes or {})})


@functools.cache
def row_class(names: tuple[str, ...]) -> type[ContactRow]:
    """The :class:`ContactRow` class of these columns (``id`` first)."""
    return type("ContactRow", (namedtuple("Row", names), ContactRow), {"__slots__": ()})


def load_contact_rows(ids, fields: tuple[str, ...]) -> dict[int, ContactRow]:
    """Contact id -> its ``fields`` (and id) as a :class:`ContactRow`, one query."""
    if not ids:
        return {}
    names = ("id", *fields)
    make = row_class(names)._make
    rows = Contact.objects.filter(pk__any=list(ids)).values_list(*names)
    return {row[0]: make(row) for row in rows}


class KeyOwners:
    """Who holds each phone and email among a page's values, in the database and the page.

    Read before matching, which uses it too (``match_contacts(known=…)``). ``held`` are
    contacts already read: the keys they hold are theirs (the keys are unique), so only the
    page's other keys are looked up.
    """

    def __init__(self, people: list[dict], held=()):
        self.owner: dict[tuple[str, str], object] = {}
        for contact in held:
            for name in ("phone", "email"):
                if key := getattr(contact, name):
                    self.owner[(name, key)] = contact.pk
        phones = {p["phone_key"] for p in people} - {""}
        emails = {p["email_key"] for p in people} - {""}
        phones = {key for key in phones if ("phone", key) not in self.owner}
        emails = {key for key in emails if ("email", key) not in self.owner}
        if not (phones or emails):
            return
        # Two index lookups (an OR of the two lists is planned as a scan of the table).
        # Emails are stored lower-cased (Contact.save), as bridge.matching looks them up.
        for name, keys in (("phone", phones), ("email", emails)):
            if keys:
                found = Contact.objects.holding(name, keys)
                for key, pk in found.values_list(name, "pk"):
                    self.owner[(name, key)] = pk

    def drop_taken(self, values: dict, contact: Contact | None) -> None:
        """Leave out a phone or email another contact (stored or new in this page) holds."""
        mine = contact.pk if contact is not None else None
        for name in ("phone", "email"):
            if name in values:
                owner = self.owner.get((name, values[name]))
                if owner is not None and owner != mine:
                    del values[name]

    def claim(self, values: dict, owner: int) -> None:
        """``owner`` (a contact id, or a token for a contact not written yet) holds these keys."""
        for name in ("phone", "email"):
            if name in values:
                self.owner[(name, values[name])] = owner


class PageTags:
    """Person tags by name: Tag rows (missing ones created in bulk) and contacts' tag sets.

    A contact's tags follow Leeloo for Leeloo's tags — those linked to the account by the tags
    sync, those in the account's tag list and those named by this page's people. Tags that are
    only local stay.
    """

    def __init__(self, ctx: Context, people: list[dict], contact_ids: set[int]):
        self.ctx = ctx
        self.through = Contact.tags.through
        names = {tag_key(name): name.strip() for p in people for name in p["tags"]}
        names.pop("", None)
        self.ids = self._tag_ids(names)
        self.remote_ids = ctx.remote_tag_ids() | set(self.ids.values())
        self.current: dict[int, dict[int, int]] = {}  # contact id -> {tag id: through row id}
        rows = self.through.objects.filter(contact_id__any=contact_ids)
        for row_id, contact_id, tag_id in rows.values_list("pk", "contact_id", "tag_id"):
            self.current.setdefault(contact_id, {})[tag_id] = row_id

    def _tag_ids(self, names: dict[str, str]) -> dict[str, int]:
        """Folded name -> Tag id for the page's names, creating the missing tags."""
        known = self.ctx.tags()
        missing = [names[key][:100] for key in sorted(names) if key not in known]
        if missing:  # another sync may make one meanwhile (in another case): read them all again
            # In name order, as the tags sync inserts: two syncs making the same new tags wait
            # for each other in one order, never in a cycle (a deadlock fails one of them).
            Tag.objects.bulk_create([Tag(name=name) for name in missing], ignore_conflicts=True)
            self.ctx.forget_tags()
            known = self.ctx.tags()
        return {key: known[key] for key in names if key in known}

    def wanted(self, person: dict) -> set[int]:
        return {self.ids[key] for key in map(tag_key, person["tags"]) if key in self.ids}

    def changed(self, contact_id: int | None, person: dict) -> bool:
        current = set(self.current.get(contact_id, {})) & self.remote_ids
        return current != self.wanted(person)

    def save(self, contacts: list[tuple[int, dict]], created: set[int] = frozenset()) -> None:
        """Add and remove through rows for the page's contacts: an insert for the contacts
        ``created`` in this transaction (none of their rows can exist), one for the others,
        and one delete; then the changes in the contacts' tag history, in one insert."""
        add, add_new, remove, history = [], [], [], []
        for contact_id, person in contacts:
            wanted = self.wanted(person)
            current = self.current.get(contact_id, {})
            pairs = [(contact_id, tag_id) for tag_id in sorted(wanted - set(current))]
            (add_new if contact_id in created else add).extend(pairs)
            history += [(contact_id, tag_id, tag_history.ADDED) for _, tag_id in pairs]
            for tag_id, row_id in current.items():
                if tag_id in self.remote_ids and tag_id not in wanted:
                    remove.append(row_id)
                    history.append((contact_id, tag_id, tag_history.REMOVED))
        if remove:
            self.through.objects.filter(pk__any=remove).delete()
        copies.add_pairs(self.through, "contact_id", "tag_id", add_new, new=True)
        copies.add_pairs(self.through, "contact_id", "tag_id", add)
        tag_history.record(history, tag_history.Source.SYNC, account=self.ctx.account)
