"""Merging duplicate contacts: one survivor keeps the chosen values and everything that pointed
at the others, which are then deleted — in one transaction.

``plan_merge`` says what a merge of some contacts would involve: the fields whose values differ
(what staff choose from), the fields equal everywhere, and the reasons it is refused. A merge is
refused when fewer than two contacts are given, when a contact has a delivery being sent (the
worker holds it and reads its record), and when two contacts are linked to *different* remote
ids in the same account (the survivor could keep only one, and the other remote person would be
orphaned — a provider-side merge comes first).

``merge_contacts`` does it: the chosen values written to the survivor (validated by the model's
``full_clean``; a phone or email held by a merged contact is released first, since that contact
goes away). No way of reaching the person is lost: a phone number not chosen joins the
survivor's other phones ("from #12"), and an email not chosen is written into its notes — a
salesperson who merges two records should not lose the number that answers. Then every
reference to a merged contact is moved to the survivor — leads, orders, activities (with their
inbound events), Leeloo channels, remote links and deliveries (generic: content type and
object id), tags (a union) and their tag history — and the merged contacts deleted. ``MergeResult``
counts what moved per kind and is plain data (``as_dict``), so an audit trail or a command can
record it. ``HANDLED_RELATIONS`` and ``HANDLED_GENERIC_MODELS`` name every reference this module
moves; ``tests/test_merge.py`` fails when a model gains a relation to Contact they do not name.

Nothing here knows of the admin (``bridge/admin/merge.py`` is the page).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, QuerySet

from bridge import tag_history
from bridge.models import (
    Activity,
    Channel,
    Contact,
    Delivery,
    Lead,
    Order,
    RemoteLink,
    TagChange,
)

#: More than this many contacts is not a duplicate but a selection mistake ("select all").
MAX_CONTACTS = 10

#: Every foreign key to Contact, as (model label, field name), and the m2m fields of Contact:
#: what ``merge_contacts`` moves. A relation missing here fails tests/test_merge.py.
HANDLED_RELATIONS = frozenset(
    {
        ("bridge.Lead", "contact"),
        ("bridge.Order", "contact"),
        ("bridge.Activity", "contact"),
        ("bridge.Channel", "contact"),
        ("bridge.Contact_tags", "contact"),  # Contact.tags' table: a union, see _merge_tags
        ("bridge.TagChange", "contact"),  # the tag history goes with the person
    }
)
#: The models with a generic foreign key (content type + object id) that may name a contact.
HANDLED_GENERIC_MODELS = frozenset({"bridge.RemoteLink", "bridge.Delivery"})

#: The foreign keys moved by one UPDATE each: result attribute → (model, field).
MOVED_BY_FOREIGN_KEY = {
    "leads_moved": (Lead, "contact"),
    "orders_moved": (Order, "contact"),
    "activities_moved": (Activity, "contact"),
    "channels_moved": (Channel, "contact"),
    "tag_changes_moved": (TagChange, "contact"),
}


class MergeRefused(Exception):
    """A merge that may not be done; ``reasons`` are sentences staff can act on."""

    def __init__(self, reasons: list[str]):
        super().__init__(" ".join(reasons))
        self.reasons = reasons


def merged_fields() -> list:
    """The Contact fields a merge chooses values for: every editable concrete field.

    Not the id, nor the record's own times (``created_at``, ``updated_at``: not editable),
    nor tags (a union, not a choice).
    """
    return [
        f
        for f in Contact._meta.concrete_fields
        if f.editable and not f.primary_key and not f.many_to_many
    ]


@dataclass
class DifferingField:
    """A field whose value is not the same on every contact: ``values`` is contact pk → value."""

    name: str
    label: str
    values: dict[int, object]


@dataclass
class SameField:
    """A field with one value on every contact (shown once, not offered as a choice)."""

    name: str
    label: str
    value: object


@dataclass
class MergePlan:
    """What merging ``contacts`` involves, and why it may not be done (``refusals``)."""

    contacts: list[Contact]
    differing: list[DifferingField] = field(default_factory=list)
    same: list[SameField] = field(default_factory=list)
    refusals: list[str] = field(default_factory=list)

    @property
    def allowed(self) -> bool:
        return not self.refusals


@dataclass
class MergeResult:
    """What a merge did, in plain data (ids and counts) so it can be logged or recorded."""

    survivor_id: int
    merged_ids: list[int]
    values_taken: dict[str, int] = field(default_factory=dict)
    leads_moved: int = 0
    orders_moved: int = 0
    links_moved: int = 0
    links_dropped: int = 0
    deliveries_moved: int = 0
    activities_moved: int = 0
    channels_moved: int = 0
    tag_changes_moved: int = 0
    tags_added: int = 0
    phones_kept: int = 0
    emails_kept: int = 0
    contacts_deleted: int = 0

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One sentence of counts, e.g. "3 leads, 1 order, … moved; 1 tag added; 1 contact
        deleted" (kinds with none are left out)."""
        moved = [
            plural(self.leads_moved, "lead"),
            plural(self.orders_moved, "order"),
            plural(self.links_moved, "remote link"),
            plural(self.deliveries_moved, "delivery", "deliveries"),
            plural(self.activities_moved, "activity", "activities"),
            plural(self.channels_moved, "Leeloo channel"),
        ]
        moved = [part for part in moved if part]
        parts = [f"{', '.join(moved)} moved" if moved else "nothing else to move"]
        if self.tags_added:
            parts.append(f"{plural(self.tags_added, 'tag')} added")
        kept = [plural(self.phones_kept, "phone number"), plural(self.emails_kept, "email")]
        kept = [part for part in kept if part]
        if kept:
            parts.append(f"{' and '.join(kept)} not chosen kept (other phones, notes)")
        parts.append(f"{plural(self.contacts_deleted, 'contact') or 'no contact'} deleted")
        return "; ".join(parts)


def plural(count: int, singular: str, many: str | None = None) -> str:
    """ "3 leads", "1 order"; "" for none."""
    if not count:
        return ""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


def describe(contact: Contact) -> str:
    """A contact as a refusal names it: "Jane Doe (#12)"."""
    return f"{contact} (#{contact.pk})"


def contact_type() -> ContentType:
    return ContentType.objects.get_for_model(Contact)


# --- the plan -------------------------------------------------------------------------------


def plan_merge(contacts) -> MergePlan:
    """The differing and equal fields of ``contacts`` and the reasons a merge is refused."""
    if isinstance(contacts, QuerySet) and contacts.count() > MAX_CONTACTS:
        return MergePlan(contacts=[], refusals=[too_many(contacts.count())])
    contacts = sorted(contacts, key=lambda c: (c.created_at, c.pk))
    plan = MergePlan(contacts=contacts)
    if len(contacts) < 2:
        plan.refusals.append(f"Select two or more contacts to merge ({len(contacts)} selected).")
        return plan
    if len(contacts) > MAX_CONTACTS:
        plan.refusals.append(too_many(len(contacts)))
        return plan
    for model_field in merged_fields():
        values = {c.pk: getattr(c, model_field.attname) for c in contacts}
        label = str(model_field.verbose_name)
        first = values[contacts[0].pk]
        if all(value == first for value in values.values()):  # JSON: equal in any key order
            plan.same.append(SameField(model_field.name, label, first))
        else:
            plan.differing.append(DifferingField(model_field.name, label, values))
    ids = [c.pk for c in contacts]
    plan.refusals.extend(sending_refusals(contacts, Delivery.objects.filter(state="sending")))
    plan.refusals.extend(remote_id_collisions(contact_links(ids), {c.pk: c for c in contacts}))
    return plan


def too_many(count: int) -> str:
    return f"Merge at most {MAX_CONTACTS} contacts at a time ({count} selected)."


def sending_refusals(contacts, deliveries) -> list[str]:
    """One sentence per contact with a delivery being sent right now."""
    by_id = {c.pk: c for c in contacts}
    sending = deliveries.filter(content_type=contact_type(), object_id__in=list(by_id))
    found = defaultdict(list)
    for delivery in sending.select_related("account").order_by("id"):
        found[delivery.object_id].append(f"#{delivery.pk} to {delivery.account.name}")
    return [
        f"{describe(by_id[pk])} has a delivery being sent right now ({', '.join(rows)}); "
        "merge once it has ended."
        for pk, rows in found.items()
    ]


def contact_links(contact_ids) -> list[tuple[str, str, int]]:
    """(account name, remote id, contact id) of every remote link of these contacts."""
    return list(
        RemoteLink.objects.filter(content_type=contact_type(), object_id__in=list(contact_ids))
        .order_by("account__name", "remote_id")
        .values_list("account__name", "remote_id", "object_id")
    )


def remote_id_collisions(links, contacts: dict[int, Contact]) -> list[str]:
    """One sentence per account in which the contacts are linked to different remote ids.

    The same remote id twice is no collision: the survivor keeps one link to it.
    """
    by_account = defaultdict(dict)
    for account, remote_id, contact_id in links:
        by_account[account].setdefault(remote_id, contact_id)
    refusals = []
    for account, holders in by_account.items():
        if len(holders) < 2:
            continue
        named = [f"{rid} ({describe(contacts[pk])})" for rid, pk in holders.items()]
        refusals.append(
            f"Account “{account}” links these contacts to different remote ids: "
            f"{' and '.join(named)}. Merge them at the provider first, or unlink one."
        )
    return refusals


# --- the merge ------------------------------------------------------------------------------


def merge_contacts(survivor: Contact, others, choices: dict[str, int] | None = None):
    """Merge ``others`` into ``survivor`` in one transaction and return a ``MergeResult``.

    ``choices`` maps a field name to the pk of the contact whose value wins; fields not named
    keep the survivor's. Raises ``MergeRefused`` (nothing changed) when the plan refuses, and
    ``ValidationError`` (nothing changed) when the chosen values do not make a valid contact.
    """
    choices = dict(choices or {})
    other_ids = sorted({c.pk for c in others} - {survivor.pk})
    ids = [survivor.pk, *other_ids]
    with transaction.atomic():
        # Lock the contacts, then their deliveries: a worker's claim (FOR UPDATE SKIP LOCKED)
        # passes over a locked delivery, so none starts sending while it is moved.
        locked = {c.pk: c for c in Contact.objects.select_for_update().filter(pk__in=ids)}
        deliveries = Delivery.objects.select_for_update().filter(
            content_type=contact_type(), object_id__in=ids
        )
        list(deliveries.values_list("pk", flat=True))
        missing = [pk for pk in ids if pk not in locked]
        if missing:
            raise MergeRefused([f"Contact #{pk} no longer exists." for pk in missing])
        plan = plan_merge(locked.values())
        if plan.refusals:
            raise MergeRefused(plan.refusals)
        survivor = locked[survivor.pk]
        others = [locked[pk] for pk in other_ids]
        result = MergeResult(survivor_id=survivor.pk, merged_ids=other_ids)
        result.values_taken = apply_choices(survivor, others, plan, choices, result)
        move_relations(survivor, other_ids, result)
        _, deleted = Contact.objects.filter(pk__in=other_ids).delete()
        result.contacts_deleted = deleted.get(Contact._meta.label, 0)
    return result


def apply_choices(
    survivor: Contact, others, plan: MergePlan, choices, result: MergeResult
) -> dict[str, int]:
    """Write the chosen values on the survivor, validated; field → pk of the contact it came
    from, for the values not already the survivor's. The phones and emails not chosen are kept
    (``keep_unchosen_keys``), counted on ``result``."""
    by_id = {c.pk: c for c in [survivor, *others]}
    unknown = sorted(set(choices) - {d.name for d in plan.differing} - {s.name for s in plan.same})
    if unknown:
        raise ValidationError({name: "Not a field a merge chooses." for name in unknown})
    before = {pk: reachable_at(contact) for pk, contact in by_id.items()}
    taken = {}
    for differing in plan.differing:
        source = choices.get(differing.name, survivor.pk)
        if source not in by_id:
            raise ValidationError(
                {differing.name: f"Contact #{source} is not one of the contacts merged."}
            )
        if source != survivor.pk:
            setattr(survivor, differing.name, getattr(by_id[source], differing.name))
            taken[differing.name] = source
    result.phones_kept, result.emails_kept = keep_unchosen_keys(survivor, before)
    release_keys(others)
    try:
        survivor.full_clean()
    except ValidationError as exc:
        raise ValidationError(exc.message_dict) from None
    survivor.save()
    return taken


def reachable_at(contact: Contact) -> tuple[list[tuple[str, str]], str]:
    """A contact's ways of being reached: ([(label, phone)…] main phone first, email)."""
    phones = [("", contact.phone)]
    for entry in contact.other_phones or []:
        if isinstance(entry, str):
            entry = {"phone_number": entry}
        phones.append((str(entry.get("label") or ""), entry.get("phone_number") or ""))
    return [(label, number) for label, number in phones if number], (contact.email or "").lower()


def keep_unchosen_keys(survivor: Contact, before: dict[int, tuple]) -> tuple[int, int]:
    """Add to ``survivor`` (not saved) every phone and email it would lose by the merge.

    ``before`` is each contact's ``reachable_at`` read before the chosen values were written.
    A phone — main or other — that the survivor now holds nowhere joins its other phones,
    labelled with where it came from; an email it does not hold is added to its notes, one line
    each (a contact has one email field). Returns (phones added, emails added).
    """
    now_phones, now_email = reachable_at(survivor)
    held_phones = {number for _, number in now_phones}
    held_emails = {now_email}
    phones, emails = [], []
    for pk, (entries, email) in before.items():
        for label, number in entries:
            if number not in held_phones:
                held_phones.add(number)
                origin = f"from #{pk}"
                phones.append(
                    {"label": f"{label} ({origin})" if label else origin, "phone_number": number}
                )
        if email and email not in held_emails:
            held_emails.add(email)
            emails.append(f"Other email (from merged contact #{pk}): {email}")
    if phones:
        survivor.other_phones = [*(survivor.other_phones or []), *phones]
    if emails:
        survivor.notes = "\n".join(part for part in [survivor.notes or "", *emails] if part)
    return len(phones), len(emails)


def release_keys(others) -> None:
    """Blank the merged contacts' phone and email, so the survivor may take them (the unique
    constraints would otherwise refuse a key a contact about to be deleted still holds)."""
    Contact.objects.filter(pk__in=[c.pk for c in others]).update(phone="", email="")


def move_relations(survivor: Contact, other_ids: list[int], result: MergeResult) -> None:
    """Point every reference to the merged contacts at the survivor, counting per kind."""
    for attribute, (model, name) in MOVED_BY_FOREIGN_KEY.items():
        moved = model.objects.filter(**{f"{name}__in": other_ids}).update(**{name: survivor})
        setattr(result, attribute, moved)
    result.links_moved, result.links_dropped = move_links(survivor, other_ids)
    result.deliveries_moved = Delivery.objects.filter(
        content_type=contact_type(), object_id__in=other_ids
    ).update(object_id=survivor.pk)
    result.tags_added = merge_tags(survivor, other_ids)


def move_links(survivor: Contact, other_ids: list[int]) -> tuple[int, int]:
    """Move the merged contacts' remote links to the survivor: (moved, dropped).

    One link per account and record is all the table allows; the plan refused different remote
    ids in one account, so a link in an account the survivor already has one in is the same
    remote id, and is dropped rather than moved.
    """
    links = RemoteLink.objects.filter(content_type=contact_type())
    held = set(links.filter(object_id=survivor.pk).values_list("account_id", flat=True))
    moved = dropped = 0
    for link in links.filter(object_id__in=other_ids).order_by("pk"):
        if link.account_id in held:
            link.delete()
            dropped += 1
            continue
        held.add(link.account_id)
        # Its fingerprint was of what the merged contact held: the next pull compares again.
        RemoteLink.objects.filter(pk=link.pk).update(object_id=survivor.pk, pulled_hash="")
        moved += 1
    return moved, dropped


def merge_tags(survivor: Contact, other_ids: list[int]) -> int:
    """Give the survivor every tag of the merged contacts; the number it did not have.

    Each one it gains is in its tag history as added by a merge (its old history, and the
    merged contacts', moved to it with ``MOVED_BY_FOREIGN_KEY``).
    """
    through = Contact.tags.through
    has = set(through.objects.filter(contact=survivor).values_list("tag_id", flat=True))
    theirs = set(through.objects.filter(contact_id__in=other_ids).values_list("tag_id", flat=True))
    new = sorted(theirs - has)
    with tag_history.attributed(TagChange.Source.MERGE):
        survivor.tags.add(*new)
    return len(new)


def attached(contact_ids) -> dict[int, dict[str, object]]:
    """What each contact brings along, for the page that asks: counts per kind (one grouped
    query each) and its remote links as "account: remote id"."""
    ids = list(contact_ids)
    found = {pk: {"links": []} for pk in ids}
    grouped = {
        "leads": (Lead.objects.filter(contact_id__in=ids), "contact_id"),
        "orders": (Order.objects.filter(contact_id__in=ids), "contact_id"),
        "activities": (Activity.objects.filter(contact_id__in=ids), "contact_id"),
        "channels": (Channel.objects.filter(contact_id__in=ids), "contact_id"),
        "deliveries": (
            Delivery.objects.filter(content_type=contact_type(), object_id__in=ids),
            "object_id",
        ),
        "tags": (Contact.tags.through.objects.filter(contact_id__in=ids), "contact_id"),
    }
    for kind, (rows, key) in grouped.items():
        for pk, count in rows.order_by().values(key).annotate(n=Count("pk")).values_list(key, "n"):
            found[pk][kind] = count
    for account, remote_id, pk in contact_links(ids):
        found[pk]["links"].append(f"{account}: {remote_id}")
    return found
