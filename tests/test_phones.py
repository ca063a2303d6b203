"""integrations.phones: one normalisation to E.164, and its fast path for E.164 text."""

import random

import phonenumbers
import pytest

from integrations.phones import (
    InvalidPhoneNumber,
    _read_e164,
    normalize_phone,
    split_country_code,
    valid_e164,
)


def parsed_the_long_way(text: str) -> str:
    """What phonenumbers' full parse makes of ``text`` (E.164, or "" when not valid)."""
    try:
        number = phonenumbers.parse(text, None)
    except phonenumbers.NumberParseException:
        return ""
    if not phonenumbers.is_valid_number(number):
        return ""
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def e164_samples() -> list[str]:
    """Every region's example numbers of every type, random digits after every country code,
    and near misses (a digit short, a digit long)."""
    rng = random.Random(7)
    samples = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in range(12):
            example = phonenumbers.example_number_for_type(region, kind)
            if example:
                samples.append(
                    phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
                )
    for code in sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE):
        samples += [f"+{code}{rng.randrange(10 ** rng.randint(5, 13))}" for _ in range(40)]
    samples += [s[:-1] for s in samples[:2000]] + [s + "5" for s in samples[:2000]]
    return samples


def test_the_fast_path_vouches_only_for_what_the_full_parse_accepts_unchanged():
    samples = e164_samples()
    vouched = [text for text in samples if valid_e164(text)]
    assert len(vouched) > len(samples) // 20  # it does take the common case
    assert [t for t in vouched if parsed_the_long_way(t) != t] == []


def test_the_fast_path_refuses_nothing_the_full_parse_accepts_unchanged():
    """Where the text is read without parsing, its answer is exactly the full parse's (those
    it does not read, such as national numbers kept with a leading 0, go the long way): the
    main region's shortcut for shared country codes (+1, +7, +44…) must not drop a number
    valid in another region of the code."""
    samples = e164_samples()
    accepted = {text for text in samples if parsed_the_long_way(text) == text}
    assert any(text.startswith("+1") and not text.startswith("+1310") for text in accepted)
    read_fast = {text for text in accepted if _read_e164(text) is not None}
    assert len(read_fast) > len(accepted) // 2
    assert [text for text in read_fast if not valid_e164(text)] == []


def test_split_country_code_splits_as_the_full_parse_does():
    samples = e164_samples() + ["+440201234567", "+390612345678", "+113105550143"]
    checked = 0
    for text in samples:
        try:
            number = phonenumbers.parse(text, None)
        except phonenumbers.NumberParseException:
            continue
        expected = (str(number.country_code), phonenumbers.national_significant_number(number))
        assert split_country_code(text) == expected, text
        checked += 1
    assert checked > len(samples) // 2


@pytest.mark.parametrize(
    "text",
    [
        "+13105550143",  # vouched for
        "+440201234567",  # UK with its national 0: parse strips it
        "+390612345678",  # Italy keeps a leading zero
        "+113105550143",  # NANPA's national prefix 1
        "+7 912 345-67-89",  # punctuation
        "0044 20 7946 0958",  # IDD 00
    ],
)
def test_normalize_phone_answers_as_the_full_parse_does(text):
    expected = parsed_the_long_way("+" + text[2:] if text.startswith("00") else text)
    if expected:
        assert normalize_phone(text) == expected
    else:
        with pytest.raises(InvalidPhoneNumber):
            normalize_phone(text)


def test_blank_and_national_numbers():
    assert normalize_phone("  ") == ""
    assert normalize_phone("(310) 555-0143") == "+13105550143"
    with pytest.raises(InvalidPhoneNumber, match="in region US"):
        normalize_phone("555-0143")
