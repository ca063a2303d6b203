"""Reading a posted lead: Aéllo's JSON shape or a plain HTML form's flat fields, into one shape.

Both readers give a :class:`LeadInput`: the contact's and the lead's model fields, and for each
model field the name the caller used (``contact.firstName`` in JSON, ``first_name`` in a form),
so a validation error names the caller's own field. Everything here is plain checking of types
and sizes; the model's own validation (``full_clean``) runs in ``bridge.intake.store``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import parse_qsl

from bridge.public import Refusal

#: Custom fields a lead may carry, and how long each key and value may be.
MAX_CUSTOM_FIELDS = 50
MAX_CUSTOM_KEY = 100
MAX_CUSTOM_VALUE = 2000
#: The longest ``externalId`` or ``Idempotency-Key`` kept.
MAX_KEY = 255
#: How many fields a form may post (a page's own fields, buttons and custom ones).
MAX_FORM_FIELDS = 200

#: JSON name -> model field, for the contact object and for the product object.
JSON_CONTACT = {
    "firstName": "first_name",
    "lastName": "last_name",
    "email": "email",
    "companyName": "company",
}
JSON_PRODUCT = {
    "reference": "product_reference",
    "title": "product_title",
    "link": "product_link",
    "image": "product_image",
    "price": "product_price",
}
#: Form field -> model field (see the README's "Lead intake" for the list a form may post).
FORM_CONTACT = {
    "first_name": "first_name",
    "last_name": "last_name",
    "email": "email",
    "company": "company",
}
FORM_LEAD = {
    "product_reference": "product_reference",
    "product_title": "product_title",
    "product_link": "product_link",
    "product_image": "product_image",
    "product_price": "product_price",
    "message": "message",
}
#: A form field named ``custom_<key>`` is the lead's custom field ``<key>``.
FORM_CUSTOM_PREFIX = "custom_"


@dataclass
class LeadInput:
    """A posted lead, checked for types and sizes, in the models' terms."""

    contact: dict = field(default_factory=dict)
    lead: dict = field(default_factory=dict)
    #: "contact.<field>" / "lead.<field>" -> the caller's name for it.
    names: dict = field(default_factory=dict)
    external_id: str = ""
    #: The form asked to be sent to the source's thank-you page.
    wants_redirect: bool = False

    def name(self, path: str) -> str:
        """The caller's name for a model field path ("contact.email" -> "contact.email")."""
        return self.names.get(path, path.split(".", 1)[-1])


# --- bodies -----------------------------------------------------------------------------------


def _no_constants(name: str):
    raise ValueError(f"{name} is not a JSON number")


def parse_json(body: bytes) -> dict:
    """The JSON object of ``body``, or a 400 saying what is wrong with it."""
    text = decode(body)
    if not text.strip():
        raise Refusal(400, "bad_json", "The body is empty; send a JSON object.")
    try:
        data = json.loads(text, parse_constant=_no_constants)
    except RecursionError:
        raise Refusal(400, "bad_json", "The JSON is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, and numbers too long to read
        raise Refusal(400, "bad_json", f"The body is not valid JSON: {exc}.") from None
    if not isinstance(data, dict):
        raise Refusal(400, "bad_json", "The body must be a JSON object.")
    return data


def parse_form(body: bytes) -> dict[str, str]:
    """The fields of a url-encoded form (the first value of a repeated field), or a 400."""
    text = decode(body)
    try:
        pairs = parse_qsl(
            text, keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS, errors="strict"
        )
    except UnicodeDecodeError:
        raise Refusal(400, "bad_encoding", "A form field is not UTF-8 once decoded.") from None
    except ValueError:
        raise Refusal(
            400, "too_many_fields", f"The form has more than {MAX_FORM_FIELDS} fields."
        ) from None
    fields: dict[str, str] = {}
    for name, value in pairs:
        fields.setdefault(name, value)
    return fields


def decode(body: bytes) -> str:
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refusal(400, "bad_encoding", f"The body is not UTF-8 (byte {exc.start}).") from None


# --- values -----------------------------------------------------------------------------------


def text(value, name: str) -> str:
    """A string field's value, stripped; numbers are taken as their digits (phone numbers)."""
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise Refusal(422, "invalid", f"{name} must be a string.", name)
    value = str(value)
    check_storable(value, name)
    return value.strip()


def check_storable(value: str, name: str) -> None:
    """A 422 for characters no database column takes (NUL, lone surrogates)."""
    if "\x00" in value:
        raise Refusal(422, "invalid", f"{name} contains a NUL character.", name)
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Refusal(422, "invalid", f"{name} is not valid Unicode text.", name) from None


def price(value, name: str) -> str | None:
    """A price as the text the model's decimal field reads; None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise Refusal(422, "invalid", f"{name} must be a number.", name)
    return text(str(value), name)


def key_value(value, name: str) -> str:
    """An ``externalId`` or ``Idempotency-Key``: printable, at most MAX_KEY characters."""
    value = text(value, name)
    if len(value) > MAX_KEY or not value.isprintable():
        raise Refusal(
            422, "invalid", f"{name} must be printable text of at most {MAX_KEY} characters.", name
        )
    return value


def custom_fields(value, name: str) -> dict:
    """A flat object of short keys and scalar values."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise Refusal(422, "invalid", f"{name} must be an object.", name)
    if len(value) > MAX_CUSTOM_FIELDS:
        raise Refusal(422, "invalid", f"{name} has more than {MAX_CUSTOM_FIELDS} fields.", name)
    cleaned = {}
    for key, item in value.items():
        where = f"{name}.{key}"[:200]
        check_storable(key, name)
        if not key.strip() or len(key) > MAX_CUSTOM_KEY:
            raise Refusal(
                422, "invalid", f"{name}: keys are 1 to {MAX_CUSTOM_KEY} characters.", name
            )
        if item is not None and not isinstance(item, (str, int, float, bool)):
            raise Refusal(
                422, "invalid", f"{where} must be a string, number, true, false or null.", where
            )
        if isinstance(item, str):
            check_storable(item, where)
            if len(item) > MAX_CUSTOM_VALUE:
                raise Refusal(
                    422, "invalid", f"{where} is over {MAX_CUSTOM_VALUE} characters.", where
                )
        cleaned[key] = item
    return cleaned


def joined_phone(country_code: str, number: str) -> str:
    """``phoneCountryCode`` + ``phoneNumber`` as one number the model normalises."""
    if not number:
        return ""
    digits = "".join(ch for ch in country_code if ch.isdigit())
    return f"+{digits}{number}" if digits else number


def with_caller_source(data: LeadInput, caller_source: str, name: str) -> None:
    """The caller's own ``source`` label: the contact's lead source, and a custom field."""
    if not caller_source:
        return
    data.contact["lead_source"] = caller_source
    data.names["contact.lead_source"] = name
    data.lead["custom_fields"].setdefault("source", caller_source)


# --- the two shapes ---------------------------------------------------------------------------


def lead_from_json(data: dict) -> LeadInput:
    """A LeadInput from Aéllo's lead shape plus ``source`` and ``custom_fields``."""
    lead = LeadInput()
    contact = data.get("contact")
    if not isinstance(contact, dict):
        raise Refusal(
            422, "invalid", "contact must be an object with an email or a phone.", "contact"
        )
    for json_name, model_name in JSON_CONTACT.items():
        path = f"contact.{json_name}"
        lead.contact[model_name] = text(contact.get(json_name), path)
        lead.names[f"contact.{model_name}"] = path
    read_json_phone(lead, contact)
    product = data.get("product")
    if product is not None and not isinstance(product, dict):
        raise Refusal(422, "invalid", "product must be an object.", "product")
    for json_name, model_name in JSON_PRODUCT.items():
        path = f"product.{json_name}"
        value = (product or {}).get(json_name)
        lead.lead[model_name] = price(value, path) if json_name == "price" else text(value, path)
        lead.names[f"lead.{model_name}"] = path
    lead.lead["message"] = text(data.get("message"), "message")
    lead.lead["custom_fields"] = custom_fields(data.get("custom_fields"), "custom_fields")
    lead.external_id = key_value(data.get("externalId"), "externalId")
    with_caller_source(lead, text(data.get("source"), "source"), "source")
    return lead


def read_json_phone(lead: LeadInput, contact: dict) -> None:
    """``phoneCountryCode`` + ``phoneNumber`` (Aéllo's way), else a single ``phone``."""
    names = ("contact.phoneCountryCode", "contact.phoneNumber", "contact.phone")
    read_phone(lead, {name: contact.get(name.split(".")[1]) for name in names}, *names)


def read_phone(lead: LeadInput, values: dict, code_name: str, number_name: str, phone_name: str):
    """The contact's phone from a country code + number pair, else from a single phone field;
    errors and the 422's field name the field the caller sent (``values`` by those names)."""
    number = text(values.get(number_name), number_name)
    if number:
        code = text(values.get(code_name), code_name)
        lead.contact["phone"] = joined_phone(code, number)
        lead.names["contact.phone"] = number_name
    else:
        lead.contact["phone"] = text(values.get(phone_name), phone_name)
        lead.names["contact.phone"] = phone_name


def lead_from_form(fields: dict[str, str]) -> LeadInput:
    """A LeadInput from a plain HTML form's flat fields (unknown fields are ignored)."""
    lead = LeadInput()
    for form_name, model_name in FORM_CONTACT.items():
        lead.contact[model_name] = text(fields.get(form_name), form_name)
        lead.names[f"contact.{model_name}"] = form_name
    read_phone(lead, fields, "phone_country_code", "phone_number", "phone")
    for form_name, model_name in FORM_LEAD.items():
        value = fields.get(form_name)
        read = price if model_name == "product_price" else text
        lead.lead[model_name] = read(value, form_name)
        lead.names[f"lead.{model_name}"] = form_name
    custom = {
        name[len(FORM_CUSTOM_PREFIX) :]: value
        for name, value in fields.items()
        if name.startswith(FORM_CUSTOM_PREFIX)
    }
    lead.lead["custom_fields"] = custom_fields(custom, "custom_fields")
    lead.external_id = key_value(fields.get("external_id"), "external_id")
    lead.wants_redirect = fields.get("redirect", "").strip().lower() not in ("", "0", "false", "no")
    with_caller_source(lead, text(fields.get("source"), "source"), "source")
    return lead
