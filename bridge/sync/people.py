"""Leeloo people into Contacts: match, read cards, compare, write (a batch at a time).

A batch's handling is in three steps, :func:`prepare_people` (reads and decisions),
:func:`store_people` (the rows) and :func:`count_people` (the run's counters): the
:class:`bridge.sync.pipeline.Steps` the write pipeline runs on PostgreSQL, where batches are
written on other connections while the next is prepared. :func:`steps` is the seam: the
pipeline asks it for the steps of each run.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.utils import timezone

from bridge.db import copies, tuning
from bridge.matching import Candidate, match_contacts
from bridge.models import Channel, Contact, Lead, RemoteLink
from integrations.errors import PermanentError

from . import gone, paging
from .context import Context, tag_key
from .fields import remember_field_types
from .fingerprints import person_fingerprint, settled_people, untouched_since_pulled
from .people_match import (
    ContactRow,
    KeyOwners,
    PageClaims,
    PageTags,
    load_contact_rows,
    matching_keys,
)
from .pipeline import Steps
from .upsert import LinkRow, Links, changes, fit, unique_by_remote_id, write


def steps() -> Steps:
    """The people batch's steps, as the write pipeline runs them (the seam tests wrap)."""
    return Steps(prepare_people, store_people, count_people)


CHANNEL_KEYS = ("account_id", "connection_id", "connection_status", "from")
#: Contact fields the people list carries, and those only a person's card has.
LIST_FIELDS = ("first_name", "last_name", "email", "phone", "channels", "last_message_at")
CARD_FIELDS = ("gender", "locale", "profile_image", "subscribe_history", "custom_fields")


def pull_people(ctx: Context) -> None:
    """People whose last message falls in the run's window, into Contacts (see upsert_people).

    The account's tag list is read first (the declaration's "tags" reader, one request), so
    that a tag taken off a person at the provider is taken off the contact, while tags the
    provider does not have stay. The people come parsed with their matching keys worked out
    (``phone_key``, ``email_key``).
    """
    tags = ctx.read("tags")
    ctx.remote_tag_names = {tag_key(tag["name"]) for tag in tags}
    with tuning.tuned_session():  # the batches' reads, on this connection
        paging.read_resource(ctx, steps=steps())


def person_values(person: dict, contact: Contact | None, detailed: bool) -> dict:
    """The provider-owned Contact fields from a Leeloo person.

    A blank name, email or phone at Leeloo does not erase the local one (Leeloo not knowing is
    not Leeloo saying there is none). Custom fields merge over the local ones. The card-only
    fields are set only when the person's card was read.
    """
    values: dict = {}
    if person["first_name"] or person["last_name"]:
        values["first_name"], values["last_name"] = person["first_name"], person["last_name"]
    email, phone = person["email_key"], person["phone_key"]
    if email and "@" in email:
        values["email"] = email
    if phone:
        values["phone"] = phone
    values["channels"] = [
        {key: str(channel.get(key) or "") for key in CHANNEL_KEYS}
        for channel in person["channels"]
        if isinstance(channel, dict)
    ]
    if person.get("last_message_at") is not None:
        values["last_message_at"] = person["last_message_at"]
    if detailed:
        image = person["profile_image"]
        values.update(
            gender=person["gender"],
            locale=person["locale"],
            profile_image=image if len(image) <= 500 else "",
            subscribe_history=person["subscribe_history"],
            custom_fields={
                **(
                    contact.custom_fields
                    if contact and isinstance(contact.custom_fields, dict)
                    else {}
                ),
                **person["custom_fields"],
            },
        )
    return fit(Contact, values)


@dataclass
class PersonPlan:
    """One pulled person on its way into a Contact."""

    person: dict
    contact: ContactRow | None = None  # the matched contact's compared columns
    link: LinkRow | None = None  # its existing link to a contact
    via_lead: bool = False  # its Leeloo id is linked to a lead of the contact instead
    detailed: bool = False
    new_id: int | None = None  # the id of the contact made for it, once written

    @property
    def linked(self) -> bool:
        return self.link is not None or self.via_lead

    @property
    def pk(self) -> int | None:
        """The contact's id: the matched one's, or the new one's once written (see Links)."""
        return self.contact.pk if self.contact is not None else self.new_id


def upsert_people(ctx: Context, people: list[dict]) -> None:
    """One page of people into Contacts, in bulk: match, read cards, compare, write.

    Matching is ``bridge.matching.match_contacts`` (remote id, phone, email); a person whose id
    is linked to a lead is that lead's contact. A contact already linked to another person of
    the account, or two people of one page matching one contact, cannot be linked twice: such a
    person is counted as failed with the reason. A phone or email another contact holds is not
    copied (the unique constraints would refuse it); the local value stays. The people come
    parsed with their matching keys already worked out (the declaration's parser).

    In :func:`steps`, run in turn here (inside the page's transaction, see
    :func:`bridge.sync.paging.read_pages`); on PostgreSQL the write pipeline runs them so that
    batches are written while the next is prepared.
    """
    steps().in_turn(ctx, people)


@dataclass
class PeopleBatch:
    """A batch of people read, matched and compared: what :func:`store_people` writes.

    ``footprint`` is every remote id, phone, email and contact the batch read or will write;
    a batch prepared while another is being written is read again if the two share any.
    """

    plans: list[PersonPlan]
    links: Links
    tags: PageTags
    created: list[tuple[PersonPlan, dict]]
    updated: list[Contact]
    fields: set[str]
    unchanged: int
    failures: list[tuple[str, str]]
    footprint: frozenset
    #: Every person id the batch listed, mirrored or not (see reconcile.stamp_listed_people).
    listed: list[str] = field(default_factory=list)
    #: Remote id -> contact id of the people unchanged since their last pull (not compared).
    settled: dict[str, int] = field(default_factory=dict)


def prepare_people(ctx: Context, people: list[dict]) -> PeopleBatch:
    """Read what a batch of people needs and decide every write; writes nothing but new Tags.

    Failures (``fail``) are kept on the batch and counted when it is written, so a batch
    prepared twice (see :class:`WritePipeline`) counts them once.
    """
    failures: list[tuple[str, str]] = []

    def fail(remote_id: str, reason: str) -> None:
        failures.append((remote_id, reason))

    listed = unique_by_remote_id(ctx, people, fail)
    for person in listed:
        person["fingerprint"] = person_fingerprint(person)
    # The reads, each a statement of its own (see pull_people): a card read below is an HTTP
    # request, and a batch prepared while another is written is checked by its footprint.
    links = Links(
        ctx,
        Contact,
        [p["remote_id"] for p in listed],
        also=(Lead,),
        untouched=untouched_since_pulled(),
    )
    settled = settled_people(ctx, listed, links)
    people = [person for person in listed if person["remote_id"] not in settled]
    keys = [matching_keys(person) for person in people]
    lead_contacts = _lead_contacts(ctx, links)
    by_link = {
        link.object_id: remote_id
        for remote_id, link in links.by_remote.items()
        if remote_id not in settled
    }
    # The contacts the people are linked to first: they hold most of the page's keys, so
    # only the keys they do not hold are looked up (none in a nightly reconcile).
    fields = _compared_fields(ctx)
    contacts = load_contact_rows({*by_link, *lead_contacts.values()}, fields)
    owners = KeyOwners(people, held=contacts.values())
    matches = match_contacts(
        [Candidate(p["remote_id"], p["phone_key"], p["email_key"]) for p in people],
        ctx.account,
        linked={remote_id: link.object_id for remote_id, link in links.by_remote.items()},
        known=owners.owner,
        keyed=True,
    )
    contact_ids = {cid for cid in matches if cid} | set(lead_contacts.values())
    contacts.update(load_contact_rows(contact_ids - contacts.keys(), fields))
    # A contact reached through its own link has no other (one link per contact and
    # account): only the others' links are read.
    linked_to = {cid: by_link[cid] for cid in contact_ids if cid in by_link}
    others = contact_ids - by_link.keys()
    if others:
        linked_to.update(
            RemoteLink.objects.filter(
                account=ctx.account, content_type=links.content_type, object_id__any=others
            ).values_list("object_id", "remote_id")
        )
    tags = PageTags(ctx, people, contact_ids)
    claims = PageClaims(linked_to)
    plans = []
    for person, person_keys, contact_id in zip(people, keys, matches, strict=True):
        remote_id = person["remote_id"]
        via_lead = remote_id in lead_contacts and remote_id not in links.by_remote
        if via_lead:
            contact_id = lead_contacts[remote_id]
        reason = claims.refusal(remote_id, contact_id, person_keys)
        if reason:
            fail(remote_id, reason)
            continue
        claims.claim(remote_id, contact_id, person_keys)
        plans.append(
            PersonPlan(
                person,
                contacts.get(contact_id),
                links.by_remote.get(remote_id),
                via_lead=via_lead,
            )
        )
    _read_cards(ctx, plans, tags, fail)
    footprint = _footprint(listed, keys, links, contacts.values())
    batch = _compare_people(plans, links, tags, owners, failures, footprint)
    batch.listed = [person["remote_id"] for person in listed]
    batch.settled = settled
    batch.unchanged += len(settled)
    return batch


def _compared_fields(ctx: Context) -> tuple[str, ...]:
    """The contact columns a batch compares with the people (the card's too when read)."""
    return LIST_FIELDS + CARD_FIELDS if ctx.details else LIST_FIELDS


def _footprint(
    people: list[dict], keys: list[list], links: Links, contacts: Iterable[Contact]
) -> frozenset:
    """The remote ids, keys and contacts a batch touches (see :class:`PeopleBatch`)."""
    touched: set[tuple] = {("remote", person["remote_id"]) for person in people}
    for person_keys in keys:
        touched.update(person_keys)
    for contact in contacts:
        touched.add(("contact", contact.pk))
        touched.update(
            (name, key) for name in ("phone", "email") if (key := getattr(contact, name))
        )
    touched.update(("contact", link.object_id) for link in links.by_remote.values())
    return frozenset(touched)


def _compare_people(plans, links, tags, owners, failures, footprint) -> PeopleBatch:
    """Compare each plan with its contact: what to create, what to update, what is unchanged."""
    created: list[tuple[PersonPlan, dict]] = []
    updated, fields = [], set()
    unchanged = 0
    for plan in plans:
        values = person_values(plan.person, plan.contact, plan.detailed)
        owners.drop_taken(values, plan.contact)
        if plan.contact is None:
            created.append((plan, values))
        else:
            changed = changes(plan.contact, values)
            fields.update(changed)
            if changed or not plan.linked or tags.changed(plan.contact.pk, plan.person):
                updated.append(plan.contact.instance({name: values[name] for name in changed}))
            else:
                unchanged += 1
        owners.claim(values, plan.contact.pk if plan.contact else id(plan))
        if not plan.via_lead:
            person = plan.person
            links.pulled(
                person["remote_id"], plan, person.get("remote_updated_at"), person["fingerprint"]
            )
    return PeopleBatch(plans, links, tags, created, updated, fields, unchanged, failures, footprint)


def store_people(ctx: Context, batch: PeopleBatch) -> None:
    """Write a prepared batch's rows in one transaction; the run's counters are not touched.

    New contacts are written from plain rows (``bridge.db.copies``), not model instances: a first
    pull creates them by the hundred thousand. The links are stamped with the time after the
    contacts were written, so that a contact saved later is known to have changed since
    (``bridge.sync.fingerprints``).
    """
    plans = batch.plans
    with transaction.atomic(savepoint=False):
        new_ids = copies.insert_copies(Contact, [values for _, values in batch.created])
        for (plan, _), new_id in zip(batch.created, new_ids, strict=True):
            plan.new_id = new_id
        write(Contact, [], batch.updated, batch.fields)
        pulled_at = timezone.now()
        batch.links.save(stamp=False, pulled_at=pulled_at)
        linked_now = {remote_id for remote_id, *_ in batch.links.new}  # stamped as made
        not_stamped = linked_now | batch.settled.keys()
        stamped = [remote_id for remote_id in batch.listed if remote_id not in not_stamped]
        gone.stamp_listed_people(ctx.account, stamped, pulled_at)
        gone.record_listed(ctx.run, list(batch.settled))  # listed, and not stamped
        batch.tags.save([(plan.pk, plan.person) for plan in plans], created=set(new_ids))
        contacts = {plan.person["remote_id"]: plan.pk for plan in plans}
        _attach_channels(ctx, {**batch.settled, **contacts})
        remember_field_types(ctx, [plan.person for plan in plans if plan.detailed])


def count_people(ctx: Context, batch: PeopleBatch) -> None:
    """Add a written batch to the run's counters (and its failures to the run's problems)."""
    for remote_id, reason in batch.failures:
        ctx.fail(remote_id, reason)
    ctx.count(created=len(batch.created), updated=len(batch.updated), unchanged=batch.unchanged)


def _lead_contacts(ctx: Context, links: Links) -> dict[str, int]:
    """Remote id -> contact id for the page's people whose id is linked to a lead."""
    lead_type = ContentType.objects.get_for_model(Lead)
    lead_ids = {
        object_id: remote_id
        for remote_id, (type_id, object_id) in links.elsewhere.items()
        if type_id == lead_type.pk
    }
    if not lead_ids:
        return {}
    pairs = Lead.objects.filter(pk__in=lead_ids).values_list("pk", "contact_id")
    return {lead_ids[lead_id]: contact_id for lead_id, contact_id in pairs}


def _read_cards(ctx: Context, plans: list[PersonPlan], tags: PageTags, fail: Callable) -> None:
    """Read the card of each new or changed person (or every one, on a full run).

    The card has what the list lacks (custom fields, subscribe history, gender…). A person gone
    between the list and the card is counted as failed; any other error fails the run.
    """
    if not ctx.details:
        return
    for plan in list(plans):
        new = plan.contact is None or not plan.linked
        if not (ctx.run.full or new or _list_changed(plan, tags)):
            continue
        try:
            card = ctx.read_detail(plan.person["remote_id"])
        except PermanentError as error:
            fail(plan.person["remote_id"], f"its card could not be read: {error}")
            plans.remove(plan)
            continue
        for name in (*CARD_FIELDS, "custom_field_types"):
            plan.person[name] = card.get(name)
        plan.person["remote_updated_at"] = card["remote_updated_at"]
        plan.detailed = True


def _list_changed(plan: PersonPlan, tags: PageTags) -> bool:
    values = person_values(plan.person, plan.contact, detailed=False)
    return bool(changes(plan.contact, values)) or tags.changed(plan.contact.pk, plan.person)


def _attach_channels(ctx: Context, contact_by_person: dict[str, int]) -> None:
    """Point already mirrored channels of these people at their contacts."""
    channels = Channel.objects.filter(
        account=ctx.account, person_remote_id__any=list(contact_by_person)
    ).only("pk", "person_remote_id", "contact_id")
    moved = []
    for channel in channels:
        if channel.contact_id != contact_by_person[channel.person_remote_id]:
            channel.contact_id = contact_by_person[channel.person_remote_id]
            moved.append(channel)
    if moved:
        Channel.objects.bulk_update(moved, ["contact"], batch_size=500)
