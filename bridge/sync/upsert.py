"""Generic upserts: compare plain records with stored rows and write the difference in bulk.

A resource module turns a page of parsed records into field values; these functions find the
stored rows (by the account's remote id, or by the ``RemoteLink`` of a local model), count what
is unchanged, and write the rest with one insert and one update per model.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from functools import cache

from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction
from django.db.models import BooleanField, Case, Q, Value, When
from django.utils import timezone

from bridge.db import copies
from bridge.models import Contact, Lead, ProviderAccount, RemoteLink

from .context import Context


def unique_by_remote_id(ctx: Context, items: list[dict], fail=None) -> list[dict]:
    """The page's items once each (the last copy wins); items without an id are failures
    (``fail(remote_id, reason)``, by default ``ctx.fail``)."""
    fail = fail or ctx.fail
    unique: dict[str, dict] = {}
    for item in items:
        if not item.get("remote_id"):
            fail("", f"{ctx.client.name} sent a record without an id")
            continue
        unique[item["remote_id"]] = item
    return list(unique.values())


@cache
def _max_lengths(model) -> dict[str, int]:
    """Field name (and attname) -> max_length, for the fields that have one."""
    limits = {}
    for column in model._meta.concrete_fields:
        if getattr(column, "max_length", None):
            limits[column.name] = limits[column.attname] = column.max_length
    return limits


def fit(model, values: dict) -> dict:
    """Values cut to their columns' lengths, so one long name never fails a page."""
    limits = _max_lengths(model)
    fitted = {}
    for name, value in values.items():
        limit = limits.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            value = value[:limit]
        fitted[name] = value
    return fitted


def changes(obj, values: dict) -> list[str]:
    """The names of the fields whose stored value differs from ``values``."""
    return [name for name, value in values.items() if getattr(obj, name) != value]


def write(model, created: list, updated: list, fields: set[str]) -> None:
    """One bulk insert and one update statement (an update statement does not apply
    ``auto_now``: ``updated_at`` is set here)."""
    if created:
        model.objects.bulk_create(created, batch_size=500)
    if updated:
        now = timezone.now()
        for obj in updated:
            obj.updated_at = now
        copies.update_objects(model, updated, sorted(fields | {"updated_at"}))


def upsert_owned(ctx: Context, model, rows: list[dict]) -> dict[str, models.Model]:
    """Create or update rows of a Leeloo-only model keyed by (account, remote_id), in bulk.

    ``rows`` are dicts of field values with a ``remote_id``; returns every row's object by id.
    """
    rows = unique_by_remote_id(ctx, rows)
    existing = {
        obj.remote_id: obj
        for obj in model.objects.filter(
            account=ctx.account, remote_id__any=[r["remote_id"] for r in rows]
        )
    }
    created, updated, fields = [], [], set()
    for row in rows:
        values = fit(model, {k: v for k, v in row.items() if k != "remote_id"})
        obj = existing.get(row["remote_id"])
        if obj is None:
            obj = model(account=ctx.account, remote_id=row["remote_id"], **values)
            created.append(obj)
            existing[row["remote_id"]] = obj
            continue
        changed = changes(obj, values)
        if changed:
            for name in changed:
                setattr(obj, name, values[name])
            fields.update(changed)
            updated.append(obj)
        else:
            ctx.count(unchanged=1)
    with transaction.atomic(savepoint=False):  # inside the page's (see paging.read_pages)
        write(model, created, updated, fields)
    ctx.count(created=len(created), updated=len(updated))
    return existing


class LinkRow:
    """A stored RemoteLink as the sync reads it: the columns it compares, as a plain row.

    A page's hundreds of links are read as rows, not model instances (a tenth of a reconcile's
    time went to building instances and their unread timestamps); the few a page changes
    become instances to be saved (:meth:`instance`).
    """

    __slots__ = (
        "pk",
        "remote_id",
        "content_type_id",
        "object_id",
        "remote_updated_at",
        "pulled_hash",
        "untouched",
    )

    def __init__(self, *columns):
        (
            self.pk,
            self.remote_id,
            self.content_type_id,
            self.object_id,
            self.remote_updated_at,
            self.pulled_hash,
            self.untouched,
        ) = columns

    def instance(self) -> RemoteLink:
        """The link as a model instance holding these columns (for ``bulk_update``)."""
        return RemoteLink(
            pk=self.pk,
            remote_id=self.remote_id,
            content_type_id=self.content_type_id,
            object_id=self.object_id,
            remote_updated_at=self.remote_updated_at,
            pulled_hash=self.pulled_hash,
        )


class Links:
    """The RemoteLinks of one model in one account, for a page's remote ids (one query).

    A remote id is unique per kind of record (``RemoteLink``), so only this model's links
    decide, whatever other kinds hold the same id (Leeloo gives a tag and a tunnel one id).
    ``also`` names other models whose links point at the same remote records (a lead pushed to
    Leeloo is a person, as a contact is): their links are read into ``elsewhere``.

    A page's new links are inserted, and its existing ones stamped (and re-pointed when their
    record was deleted locally and made again), together in :meth:`save`.
    """

    def __init__(
        self,
        ctx: Context,
        model,
        remote_ids: Iterable[str],
        also: tuple = (),
        untouched: Q | None = None,
    ):
        """``untouched``, a condition over a link, is read with each link of ``model``
        (``LinkRow.untouched``; None when not asked)."""
        self.ctx = ctx
        self.content_type = ContentType.objects.get_for_model(model)
        types = [self.content_type.pk, *(ContentType.objects.get_for_model(m).pk for m in also)]
        if untouched is None:
            untouched = Value(None, BooleanField())
        else:
            mine = Q(content_type_id=self.content_type.pk) & untouched
            untouched = Case(When(mine, then=Value(True)), default=Value(False))
        rows = (
            RemoteLink.objects.filter(
                account=ctx.account, remote_id__any=list(remote_ids), content_type_id__any=types
            )
            .annotate(untouched=untouched)
            .values_list(*LinkRow.__slots__)
        )
        self.by_remote: dict[str, LinkRow] = {}
        #: remote id -> (content type id, object id) of the ``also`` models' links
        self.elsewhere: dict[str, tuple[int, int]] = {}
        for row in rows:
            link = LinkRow(*row)
            if link.content_type_id == self.content_type.pk:
                self.by_remote[link.remote_id] = link
            else:
                self.elsewhere[link.remote_id] = (link.content_type_id, link.object_id)
        #: (remote id, record, remote updated at, fingerprint) of links to create; the record
        #: has its pk by save
        self.new: list[tuple[str, object, datetime | None, str]] = []
        self.seen_links: list[tuple[LinkRow, models.Model, datetime | None, str | None]] = []

    def pulled(self, remote_id: str, obj, remote_updated_at=None, fingerprint=None) -> None:
        """``obj`` is ``remote_id``: link it, or stamp its existing link. ``fingerprint`` is
        what was applied (``bridge.sync.fingerprints``), kept on the link."""
        link = self.by_remote.get(remote_id)
        if link is not None:
            self.seen_links.append((link, obj, remote_updated_at, fingerprint))
            return
        self.new.append((remote_id, obj, remote_updated_at, fingerprint or ""))

    def save(self, stamp: bool = True, pulled_at: datetime | None = None) -> None:
        """Insert the new links (their objects have ids by now) and stamp the pulled ones
        (unless ``stamp`` is off: the people sync stamps the ids it compared itself).

        ``pulled_at`` (default: the run's time) is the new links' stamp: the people sync
        gives the time after it wrote the batch's contacts (``bridge.sync.fingerprints``).
        """
        pulled_at = pulled_at or self.ctx.now
        copies.insert_copies(
            RemoteLink,
            [
                {
                    "account_id": self.ctx.account.pk,
                    "content_type_id": self.content_type.pk,
                    "object_id": obj.pk,
                    "remote_id": remote_id,
                    "last_pulled_at": pulled_at,
                    "remote_updated_at": remote_updated_at,
                    "pulled_hash": fingerprint,
                }
                for remote_id, obj, remote_updated_at, fingerprint in self.new
            ],
        )
        changed = []
        for link, obj, remote_updated_at, fingerprint in self.seen_links:
            moved = link.object_id != obj.pk
            retimed = remote_updated_at is not None and link.remote_updated_at != remote_updated_at
            rehashed = fingerprint is not None and link.pulled_hash != fingerprint
            if moved or retimed or rehashed:
                link.object_id = obj.pk
                link.remote_updated_at = remote_updated_at or link.remote_updated_at
                link.pulled_hash = link.pulled_hash if fingerprint is None else fingerprint
                changed.append(link)
        if changed:
            copies.update_objects(
                RemoteLink,
                [link.instance() for link in changed],
                ["object_id", "remote_updated_at", "pulled_hash"],
            )
        pulled = [link.pk for link, _, _, _ in self.seen_links]
        if pulled and stamp:
            RemoteLink.objects.filter(pk__any=pulled).update(last_pulled_at=pulled_at)


def person_contacts(account: ProviderAccount, person_ids: Iterable[str]) -> dict[str, int]:
    """Leeloo person id -> Contact id, through the person's link to a contact or to a lead.

    A lead pushed to Leeloo is linked to its person; that person's Contact is the lead's,
    unless a contact of its own is linked to the person too (that one is).
    """
    person_ids = [pid for pid in set(person_ids) if pid]
    if not person_ids:
        return {}
    types = ContentType.objects.get_for_models(Contact, Lead)
    links = RemoteLink.objects.filter(
        account=account, remote_id__any=person_ids, content_type__in=types.values()
    ).values_list("remote_id", "content_type_id", "object_id")
    direct, lead_ids = {}, {}
    for remote_id, type_id, object_id in links:
        if type_id == types[Contact].pk:
            direct[remote_id] = object_id
        else:
            lead_ids[object_id] = remote_id
    found = {}
    for lead_id, contact_id in Lead.objects.filter(pk__in=lead_ids).values_list("pk", "contact_id"):
        found[lead_ids[lead_id]] = contact_id
    return {**found, **direct}
