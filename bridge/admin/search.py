"""Search that understands what staff type: a phone number, an email, or names.

Every kind is answered from an index at a million rows: a phone (normalised to E.164) and an
email are exact look-ups; anything else is split into words, and each word must be the start
of the first name, the last name or one of the admin's ``prefix_search_fields`` (a company, a
product reference) — case-insensitive prefixes, which the expression indexes of migration
0007_admin_search_indexes serve, where Django's default "contains" search reads every row.
"""

from functools import reduce
from operator import or_

from django.conf import settings
from django.db.models import Q

from integrations.phones import InvalidPhoneNumber, normalize_phone

# Past this many matching contacts, leads are filtered by a subquery instead of a list of ids.
CONTACT_IDS_INLINE = 5_000


def looks_like_phone(term: str) -> str:
    """The E.164 form when ``term`` reads as a phone number, else ""."""
    digits = sum(ch.isdigit() for ch in term)
    if digits < 6 or any(ch.isalpha() for ch in term):
        return ""
    try:
        return normalize_phone(term, settings.DEFAULT_PHONE_REGION)
    except InvalidPhoneNumber:
        return ""


def name_prefix(word: str) -> Q:
    """Contacts whose first or last name starts with ``word`` (any case)."""
    return Q(first_name__istartswith=word) | Q(last_name__istartswith=word)


class PersonSearchMixin:
    """Exact, indexed lookups for a phone or an email; indexed name prefixes otherwise.

    ``person_lookup`` is the path to the Contact from the admin's model ("" for Contact itself);
    ``prefix_search_fields`` are the model's own fields a word may also start.
    """

    person_lookup = ""
    prefix_search_fields: tuple[str, ...] = ()

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        if not term:
            return queryset, False
        phone = looks_like_phone(term)
        if phone:
            return self._by_key(queryset, "phone", phone), False
        if "@" in term and " " not in term:
            return self._by_key(queryset, "email", term.lower()), False
        for word in term.split():
            queryset = queryset.filter(self._word_matches(word))
        return queryset, False

    def _by_key(self, queryset, key: str, value: str):
        """Rows whose contact holds this phone or email, found by the key's unique index."""
        from bridge.models import Contact

        if not self.person_lookup:  # the Contact admin's own queryset, in the changelist's order
            return queryset.holding(key, [value]).order_by(*queryset.query.order_by)
        contacts = Contact.objects.holding(key, [value]).values("pk")
        return queryset.filter(**{f"{self.person_lookup}__in": contacts})

    def _word_matches(self, word: str) -> Q:
        own = [Q(**{f"{field}__istartswith": word}) for field in self.prefix_search_fields]
        if not self.person_lookup:
            return reduce(or_, [name_prefix(word), *own])
        from bridge.models import Contact

        # Contact ids first, then the leads (or orders) with those contacts: one index each,
        # where a join with an OR across both tables reads every row.
        contacts = Contact.objects.filter(name_prefix(word)).values_list("pk", flat=True)
        ids = list(contacts[: CONTACT_IDS_INLINE + 1])
        people = Q(
            **{f"{self.person_lookup}_id__in": ids if len(ids) <= CONTACT_IDS_INLINE else contacts}
        )
        return reduce(or_, [people, *own])
