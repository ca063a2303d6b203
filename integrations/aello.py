"""Aéllo Copilot (dealership lead inbox): ``POST /leads`` with an ``Aello-Api-Key`` header.

One operation, ``push``, sends a lead (contact + optional product + message). Aéllo answers 202
with an empty body: the lead is *accepted for processing*, not created, and no id comes back, so
the lead's own ``externalId`` is what the bridge keeps as the remote id. Re-sending the same
``externalId`` (or the same contact and product within 30 days) lands under the existing lead.

The payload is built by the small functions below, one per field of the document
(``contact_first_name``, ``contact_phone``, ``product``, …), so each rule is found by name.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

from .base import EnvVars, Provider, PushResult
from .errors import PayloadError
from .mapping import MappingSpec
from .phones import split_country_code

PRODUCT_FIELDS = ("link", "image", "title", "reference", "price")


def external_id(lead: dict, remote_id: str = "") -> str:
    """The lead's stable id in the bridge; Aéllo uses it to recognise a re-sent lead."""
    return str(lead.get("external_id") or remote_id or "")


def contact_first_name(contact: dict) -> str:
    """``contact.firstName``, which Aéllo requires even when we only know a surname or an email.

    Falls back to the last name, then to the email's local part, so a lead from "Doe" or from
    "jdoe@example.com" is still accepted; with none of them the lead cannot be sent.
    """
    for candidate in (contact.get("first_name"), contact.get("last_name")):
        if candidate and str(candidate).strip():
            return str(candidate).strip()
    email = str(contact.get("email") or "")
    if "@" in email and email.split("@", 1)[0]:
        return email.split("@", 1)[0]
    raise PayloadError(
        "Aéllo requires contact.firstName: the contact has no first name, last name or email."
    )


def contact_last_name(contact: dict) -> str:
    """``contact.lastName``; left out when it already stands in for the missing first name."""
    if not (contact.get("first_name") or "").strip():
        return ""
    return (contact.get("last_name") or "").strip()


def contact_phone(contact: dict) -> dict:
    """``phoneCountryCode`` and ``phoneNumber`` from the E.164 phone, digits only, no ``+``.

    Aéllo wants the country code and the national number apart: +352612345679 is sent as
    "352" and "612345679".
    """
    phone = (contact.get("phone") or "").strip()
    if not phone:
        return {}
    try:
        country_code, national = split_country_code(phone)
    except phonenumbers.NumberParseException:
        raise PayloadError(
            f"contact.phone '{phone}' is not an E.164 number (+ and country code)."
        ) from None
    return {"phoneCountryCode": country_code, "phoneNumber": national}


def contact(contact_record: dict) -> dict:
    """The ``contact`` object; blank optional fields are left out rather than sent empty."""
    payload = {
        "firstName": contact_first_name(contact_record),
        "lastName": contact_last_name(contact_record),
        "email": (contact_record.get("email") or "").strip(),
        **contact_phone(contact_record),
        "companyName": (contact_record.get("company") or "").strip(),
    }
    payload = {key: value for key, value in payload.items() if value}
    if not payload.get("email") and not payload.get("phoneNumber"):
        raise PayloadError(
            "Aéllo requires contact.email or contact.phoneNumber: the contact has neither an "
            "email nor a phone."
        )
    return payload


def product_price(value: Any) -> int | float | None:
    """``product.price`` as a JSON number (the bridge keeps prices as decimal strings)."""
    if value in (None, ""):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        raise PayloadError(f"product.price '{value}' is not a number.") from None
    return int(price) if price == price.to_integral_value() else float(price)


def product(product_record: dict | None) -> dict | None:
    """The ``product`` object, or None when the lead names no product at all.

    As soon as any product field is sent, Aéllo requires ``product.reference`` (400 otherwise);
    it is checked here so the lead fails before sending, with the field named.
    """
    product_record = product_record or {}
    payload = {
        "link": (product_record.get("link") or "").strip(),
        "image": (product_record.get("image") or "").strip(),
        "title": (product_record.get("title") or "").strip(),
        "reference": str(product_record.get("reference") or "").strip(),
        "price": product_price(product_record.get("price")),
    }
    payload = {key: value for key, value in payload.items() if value not in ("", None)}
    if not payload:
        return None
    if not payload.get("reference"):
        raise PayloadError(
            "Aéllo requires product.reference when any product field (link, image, title, "
            "price) is sent."
        )
    return payload


def build_lead_payload(lead: dict, remote_id: str = "") -> dict:
    """The whole ``POST /leads`` body for a lead record (see :func:`bridge.records.lead_data`)."""
    payload: dict[str, Any] = {}
    if lead_id := external_id(lead, remote_id):
        payload["externalId"] = lead_id
    payload["contact"] = contact(lead.get("contact") or {})
    if product_payload := product(lead.get("product")):
        payload["product"] = product_payload
    if message := (lead.get("message") or "").strip():
        payload["message"] = message
    return payload


class AelloProvider(Provider):
    """Pushes leads to Aéllo Copilot."""

    id = "aello"
    name = "Aéllo Copilot"
    base_urls = {
        "production": "https://api.customers.aello-copilot.com",
        "sandbox": "https://api.customers.sandbox.aello-copilot.com",
    }
    # Aéllo's lead endpoint has nothing to choose per account beyond the key and the environment.
    account_options: dict[str, str] = {}
    env = EnvVars(
        credential="AELLO_API_KEY", base_url="AELLO_BASE_URL", environment="AELLO_ENVIRONMENT"
    )
    pushes = ("lead",)
    operations = {"push": "push_lead"}
    # Aéllo needs a way to reach the person: an email or a phone.
    contact_requirements = (("email", "phone"),)
    fake = "integrations.fakes.aello.FakeAello"
    # Aéllo documents no webhook, callback or event feed: its accounts get no receiver.
    events = None
    # Every field of POST /leads is a fixed one with its own meaning: no custom field, no
    # free-form one besides the message the lead already fills.
    field_mapping = MappingSpec(
        unmappable="Aéllo's lead API takes fixed fields only (the contact, the product and "
        "the message); it has no custom field, so there is nothing to map."
    )

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        headers["Aello-Api-Key"] = self.require_credential()

    def push_lead(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Send a lead; 202 means Aéllo queued it, so the outcome is "accepted", not "created"."""
        payload = build_lead_payload(record, remote_id)
        self.request("POST", "/leads", json_body=payload)
        return PushResult(
            remote_id=payload.get("externalId", ""), created=None, status="accepted", data=None
        )
