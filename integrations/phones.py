"""Phone numbers: one normalisation to E.164, and the splits providers ask for.

The bridge stores every number as E.164 (``+13105550143``) so that matching by phone works
whatever way staff or a provider typed it. Numbers typed without a country code are read in
the default region (``DEFAULT_PHONE_REGION``).
"""

from __future__ import annotations

from functools import lru_cache

import phonenumbers


class InvalidPhoneNumber(ValueError):
    """The text is not a valid phone number; the message says why, in words staff understand."""


@lru_cache(maxsize=8192)
def normalize_phone(raw: str, region: str = "US") -> str:
    """Return ``raw`` as E.164, or "" for blank input; raise InvalidPhoneNumber otherwise.

    Cached: parsing costs ~50 µs, and a sync page reads each number more than once (matching,
    then the values written). Errors are not cached; a bad number costs its parse each time.
    """
    text = (raw or "").strip()
    if not text:
        return ""
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber(f"'{raw}' is not a phone number ({_parse_reason(exc)}).") from None
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(
            f"'{raw}' is not a valid phone number"
            + ("" if text.startswith("+") else f" in region {region}")
            + "; include the country code, e.g. +13105550143."
        )
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _parse_reason(exc: phonenumbers.NumberParseException) -> str:
    reasons = {
        phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: "unknown country code",
        phonenumbers.NumberParseException.NOT_A_NUMBER: "it does not look like a number",
        phonenumbers.NumberParseException.TOO_SHORT_NSN: "too short",
        phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "too short",
        phonenumbers.NumberParseException.TOO_LONG: "too long",
    }
    return reasons.get(exc.error_type, "unreadable")


def split_country_code(e164: str) -> tuple[str, str]:
    """Split an E.164 number into (country calling code digits, national number digits).

    Aéllo wants ``phoneCountryCode`` "352" and ``phoneNumber`` "612345679" for +352612345679.
    """
    parsed = phonenumbers.parse(e164, None)
    return str(parsed.country_code), phonenumbers.national_significant_number(parsed)


def national_digits(e164: str) -> str:
    """The national number alone (Aloware's examples send US numbers as 10 digits)."""
    return split_country_code(e164)[1]
