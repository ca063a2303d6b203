"""Phone numbers: one normalisation to E.164, and the splits providers ask for.

The bridge stores every number as E.164 (``+13105550143``) so that matching by phone works
whatever way staff or a provider typed it. Numbers typed without a country code are read in
the default region (``DEFAULT_PHONE_REGION``).
"""

from __future__ import annotations

import re
from functools import cache, lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE, PhoneMetadata, PhoneNumber


class InvalidPhoneNumber(ValueError):
    """The text is not a valid phone number; the message says why, in words staff understand."""


@lru_cache(maxsize=8192)
def normalize_phone(raw: str, region: str = "US") -> str:
    """Return ``raw`` as E.164, or "" for blank input; raise InvalidPhoneNumber otherwise.

    Cached: parsing is the costly part of reading a number, and a sync page reads each number
    more than once (matching, then the values written). Errors are not cached; a bad number
    costs its parse each time.
    """
    text = (raw or "").strip()
    if not text:
        return ""
    if text.startswith("00"):
        text = "+" + text[2:]
    if valid_e164(text):
        return text
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


#: "+", a country code and a national number: the form providers and this bridge store.
_E164 = re.compile(r"\+[1-9][0-9]{6,15}")


def valid_e164(text: str) -> bool:
    """True when ``text`` is a valid number already written in E.164 ("+13105550143").

    Half of a number's cost in ``phonenumbers.parse`` is looking for what such text cannot hold
    (extensions, IDD prefixes, punctuation, letters). Here the country code is read as parse
    reads it, and the number is checked as ``is_valid_number`` checks it. False means "not
    vouched for", not "invalid": the full parse decides those, which covers every national
    number that starts with 0 or with the country's national prefix (which parse may strip).
    """
    read = _read_e164(text)
    if read is None:
        return False
    code, national = read
    return _is_valid(PhoneNumber(country_code=code, national_number=int(national)))


def _read_e164(text: str) -> tuple[int, str] | None:
    """(country code, national number) of plain E.164 text that parse would take unchanged.

    None when parse might read it otherwise: not "+" and digits, no known country code, or a
    national number starting with 0 or with the country's national prefix.
    """
    if not _E164.fullmatch(text):
        return None
    digits = text[1:]
    for size in (1, 2, 3):  # country codes are prefix-free, as parse reads them
        code = int(digits[:size])
        if code in COUNTRY_CODE_TO_REGION_CODE:
            break
    else:
        return None
    national = digits[size:]
    if national.startswith("0") or _starts_with_national_prefix(code, national):
        return None
    return code, national


def _is_valid(number: PhoneNumber) -> bool:
    """``phonenumbers.is_valid_number``, with two shortcuts that only ever answer True.

    A number is valid when it has a type in its region: the library tries the rarer types
    (premium rate, toll free, voicemail…) before the fixed-line and mobile ones nearly every
    number has, so those two are tried first here. And for a code shared by several regions
    (+1: the US, Canada and 23 more) the library first finds the number's region by trying
    each region's number types, then checks the number again in that region; when the main
    region needs no leading digits it is the first one tried, so a number valid there is
    valid, full stop. Any other answer is left to ``is_valid_number``.
    """
    region = _first_region(number.country_code)
    if region is not None and _has_a_common_type(number, region):
        return True
    main = _main_region(number.country_code)
    if main is not None and phonenumbers.is_valid_number_for_region(number, main):
        return True
    return phonenumbers.is_valid_number(number)


@cache
def _main_region(code: int) -> str | None:
    """The main region of a code several regions share, when it is tried first unconditionally."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    if len(regions) < 2:
        return None  # one region: is_valid_number checks it once already
    metadata = PhoneMetadata.metadata_for_region(regions[0])
    return regions[0] if metadata is not None and metadata.leading_digits is None else None


@cache
def _first_region(code: int) -> str | None:
    """The region whose types settle a number of this code: its only one, or its main one."""
    regions = COUNTRY_CODE_TO_REGION_CODE.get(code, ())
    return regions[0] if len(regions) == 1 else _main_region(code)


#: A number description as the library matches it: possible lengths (empty: any) and pattern.
_Desc = tuple[frozenset[int], re.Pattern]


@cache
def _common_types(region: str) -> tuple[_Desc, tuple[_Desc, ...]] | None:
    """The region's general description, and its fixed-line and mobile ones."""
    metadata = PhoneMetadata.metadata_for_region(region)
    if metadata is None:
        return None

    def desc(number_desc) -> _Desc | None:
        if number_desc is None or not number_desc.national_number_pattern:
            return None
        pattern = re.compile(number_desc.national_number_pattern)
        return frozenset(number_desc.possible_length or ()), pattern

    general = desc(metadata.general_desc)
    kinds = tuple(d for d in (desc(metadata.fixed_line), desc(metadata.mobile)) if d)
    return (general, kinds) if general is not None else None


def _has_a_common_type(number: PhoneNumber, region: str) -> bool:
    """True when the number fits the region's general and fixed-line or mobile descriptions,
    matched as the library matches them (a possible length, then the whole pattern)."""
    types = _common_types(region)
    if types is None:
        return False
    general, kinds = types
    national = phonenumbers.national_significant_number(number)
    return _fits(national, general) and any(_fits(national, kind) for kind in kinds)


def _fits(national: str, desc: _Desc) -> bool:
    lengths, pattern = desc
    return (not lengths or len(national) in lengths) and pattern.fullmatch(national) is not None


def _starts_with_national_prefix(code: int, national: str) -> bool:
    prefix = _national_prefix(code)
    return prefix is not None and prefix.match(national) is not None


@cache
def _national_prefix(code: int) -> re.Pattern | None:
    """The pattern parse strips from a national number of this country code, if any."""
    region = phonenumbers.region_code_for_country_code(code)
    metadata = PhoneMetadata.metadata_for_region_or_calling_code(code, region)
    pattern = metadata.national_prefix_for_parsing if metadata is not None else None
    return re.compile(pattern) if pattern else None


def phone_key(raw: str, region: str = "US") -> str:
    """The number as the bridge matches and stores it (E.164), or "" when blank or invalid."""
    try:
        return normalize_phone(raw or "", region)
    except InvalidPhoneNumber:
        return ""


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
    Plain E.164 text is split as parse would split it, without parsing it (a push spent a
    measurable share of its CPU parsing numbers the bridge had stored in this form itself;
    docs/benchmarks.md, "Push throughput").
    """
    read = _read_e164(e164)
    if read is not None:
        return str(read[0]), read[1]
    parsed = phonenumbers.parse(e164, None)
    return str(parsed.country_code), phonenumbers.national_significant_number(parsed)
