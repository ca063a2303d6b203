"""The one rule that says whether an incoming person is a Contact the bridge already has.

In order: a remote id already linked in that account; else the normalised (E.164) phone; else
the lower-cased email. Every path that brings people in (admin forms, imports, pulls, the
intake API) asks here, so none of them creates a duplicate the others would not.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.contenttypes.models import ContentType

from integrations import phones

from .models import Contact, ProviderAccount, RemoteLink


@dataclass(frozen=True)
class Candidate:
    """What an incoming person offers to match on."""

    remote_id: str = ""
    phone: str = ""
    email: str = ""


def phone_key(raw: str) -> str:
    """The phone as stored for matching, or "" when it is blank or not a number."""
    return phones.phone_key(raw, settings.DEFAULT_PHONE_REGION)


def email_key(raw: str) -> str:
    """The email as stored for matching."""
    return (raw or "").strip().lower()


def match_contacts(
    candidates: list[Candidate],
    account: ProviderAccount | None = None,
    *,
    linked: dict[str, int] | None = None,
    known: dict[tuple[str, str], int] | None = None,
    keyed: bool = False,
) -> list[int | None]:
    """Contact ids (or None) for each candidate, in order, in at most three queries.

    A caller that has already read them passes ``linked`` (the account's remote id -> contact
    id, for these candidates) and ``known`` (("phone" or "email", key) -> contact id, for every
    contact holding one of the candidates' keys): the rule is the same, the queries are spared.
    ``keyed`` says the candidates' phones and emails are keys already (``phone_key``,
    ``email_key``), so they are not normalised again.
    """
    result: list[int | None] = [None] * len(candidates)
    remote_ids = {c.remote_id for c in candidates if c.remote_id}
    if account is not None and remote_ids:
        if linked is None:
            linked = dict(
                RemoteLink.objects.filter(
                    account=account,
                    content_type=ContentType.objects.get_for_model(Contact),
                    remote_id__in=remote_ids,
                ).values_list("remote_id", "object_id")
            )
        for index, candidate in enumerate(candidates):
            result[index] = linked.get(candidate.remote_id)
    _fill_by(result, candidates, "phone", str if keyed else phone_key, known)
    _fill_by(result, candidates, "email", str if keyed else email_key, known)
    return result


def _fill_by(result, candidates, field: str, key, known) -> None:
    wanted = {
        index: key(getattr(candidate, field))
        for index, candidate in enumerate(candidates)
        if result[index] is None
    }
    values = {value for value in wanted.values() if value}
    if not values:
        return
    if known is not None:
        found = {value: known[(field, value)] for value in values if (field, value) in known}
    else:
        found = dict(Contact.objects.holding(field, values).values_list(field, "id"))
    for index, value in wanted.items():
        if value and value in found:
            result[index] = found[value]


def find_matching_contact(
    *, remote_id: str = "", phone: str = "", email: str = "", account=None
) -> Contact | None:
    """The existing Contact this person is, or None when the bridge does not know them."""
    (contact_id,) = match_contacts([Candidate(remote_id, phone, email)], account)
    return Contact.objects.filter(pk=contact_id).first() if contact_id else None
