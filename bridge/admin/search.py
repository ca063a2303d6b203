"""Search that understands what staff type: a phone number, an email, or a name."""

from django.conf import settings

from integrations.phones import InvalidPhoneNumber, normalize_phone


def looks_like_phone(term: str) -> str:
    """The E.164 form when ``term`` reads as a phone number, else ""."""
    digits = sum(ch.isdigit() for ch in term)
    if digits < 6 or any(ch.isalpha() for ch in term):
        return ""
    try:
        return normalize_phone(term, settings.DEFAULT_PHONE_REGION)
    except InvalidPhoneNumber:
        return ""


class PersonSearchMixin:
    """Exact, indexed lookups for a phone or an email; Django's normal search otherwise.

    ``person_lookup`` is the path to the Contact from the admin's model ("" for Contact itself).
    """

    person_lookup = ""

    def get_search_results(self, request, queryset, search_term):
        term = (search_term or "").strip()
        prefix = f"{self.person_lookup}__" if self.person_lookup else ""
        phone = looks_like_phone(term)
        if phone:
            return queryset.filter(**{f"{prefix}phone": phone}), False
        if "@" in term and " " not in term:
            return queryset.filter(**{f"{prefix}email": term.lower()}), False
        return super().get_search_results(request, queryset, search_term)
