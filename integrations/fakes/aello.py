"""A fake Aéllo Copilot: ``POST /leads`` behind the ``Aello-Api-Key`` header.

It validates a lead as the document says (firstName required, email or phone, a product needs
its reference, email well formed) and answers 400 with an ``ERR-…`` code, 401 without the key,
422 for a key whose dealership does not exist, and 202 with an empty body otherwise. Only
``ERR-EMAIL-INVALID_OR_MALFORMED_EMAIL`` and ``ERR-CREATE_LEAD-DEALERSHIP_NOT_FOUND`` are
documented codes; the others follow their pattern. 500s come from the server's fault injection.

Leads are processed at once (the real service queues them) and kept so tests can count them:
the same ``externalId``, or the same contact and product within 30 days, becomes a new message
under the existing lead, never a second lead.
"""

from __future__ import annotations

import re
import time
from typing import Any

from .core import FakeProvider, FakeRequest, FakeResponse, route

EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
THIRTY_DAYS = 30 * 24 * 3600
UNAUTHORIZED = "Unauthorized. HTTP request does not contain API key"


def _error(status: int, message: str, code: str) -> FakeResponse:
    return FakeResponse(status, {"error": message, "code": code})


class FakeAello(FakeProvider):
    """Aéllo's lead inbox for one dealership, in memory."""

    id = "aello"
    credential = "fake-aello-token"
    #: A key that authenticates but belongs to no dealership: every lead is answered 422.
    no_dealership_credential = "fake-aello-no-dealership"

    def reset(self) -> None:
        """No leads, contacts or products yet."""
        self.leads: list[dict] = []
        self.contacts: list[dict] = []
        self.products: dict[str, dict] = {}
        # Look-ups by key, so a 10,000-lead benchmark does not scan every lead per request.
        self._by_external_id: dict[str, dict] = {}
        self._by_contact_product: dict[tuple[int, str], list[dict]] = {}
        self._contacts_by_key: dict[str, list[dict]] = {}

    def summary(self) -> dict:
        """Leads, distinct externalIds and messages: a re-sent lead is a message, not a lead."""
        external_ids = [lead["externalId"] for lead in self.leads if lead["externalId"]]
        return {
            "leads": len(self.leads),
            "contacts": len(self.contacts),
            "messages": sum(len(lead["messages"]) for lead in self.leads),
            "external_ids": external_ids,
            "distinct_external_ids": len(set(external_ids)),
        }

    def record_key(self, request: FakeRequest) -> str:
        """A pushed lead is its ``externalId`` (the bridge's own key for it)."""
        return str(request.field("externalId", "") or "") if request.path == "/leads" else ""

    def created_total(self) -> int:
        return len(self.leads)

    def check_auth(self, request: FakeRequest) -> FakeResponse | None:
        key = request.header("Aello-Api-Key")
        if key not in (self.credential, self.no_dealership_credential):
            return FakeResponse(401, {"error": UNAUTHORIZED})
        return None

    @route("POST", r"/leads")
    def create_lead(self, request: FakeRequest) -> FakeResponse:
        """Validate, then file the lead (or its message under an existing lead); 202, no body."""
        body = request.json
        if not isinstance(body, dict):
            return _error(400, "Invalid request body", "ERR-REQUEST-INVALID_BODY")
        refusal = self.validate(body)
        if refusal is not None:
            return refusal
        if request.header("Aello-Api-Key") == self.no_dealership_credential:
            return _error(422, "Dealership not found", "ERR-CREATE_LEAD-DEALERSHIP_NOT_FOUND")
        self.process(body)
        return FakeResponse(202)

    def validate(self, body: dict) -> FakeResponse | None:
        """The document's rules, in the order a reader of the 400s would expect them."""
        contact = body.get("contact")
        if not isinstance(contact, dict):
            return _error(400, "Contact is required", "ERR-CONTACT-MISSING_CONTACT")
        for name in ("firstName", "lastName", "email", "phoneCountryCode", "phoneNumber"):
            if name in contact and not isinstance(contact[name], str):
                return _error(400, f"contact.{name} must be a string", "ERR-REQUEST-INVALID_TYPE")
        if not (contact.get("firstName") or "").strip():
            return _error(400, "First name is required", "ERR-CONTACT-MISSING_FIRST_NAME")
        email = contact.get("email") or ""
        country, number = contact.get("phoneCountryCode") or "", contact.get("phoneNumber") or ""
        if not email and not number:
            return _error(400, "Email or phone is required", "ERR-CONTACT-MISSING_EMAIL_OR_PHONE")
        if email and not EMAIL.match(email):
            return _error(400, "Invalid email", "ERR-EMAIL-INVALID_OR_MALFORMED_EMAIL")
        if number and not (country.isdigit() and number.isdigit()):
            # phoneCountryCode is digits without "+", phoneNumber has no country code.
            return _error(400, "Invalid phone number", "ERR-PHONE-INVALID_PHONE_NUMBER")
        product = body.get("product")
        if product is not None:
            if not isinstance(product, dict):
                return _error(400, "Invalid product", "ERR-PRODUCT-INVALID_PRODUCT")
            if product and not str(product.get("reference") or "").strip():
                return _error(400, "Product reference is required", "ERR-PRODUCT-MISSING_REFERENCE")
            price = product.get("price")
            if isinstance(price, bool) or not isinstance(price, int | float | None):
                return _error(400, "Product price must be a number", "ERR-PRODUCT-INVALID_PRICE")
        return None

    def process(self, body: dict) -> None:
        """What Aéllo does after the 202: find or create contact, product, lead and message."""
        now = time.time()
        contact = self._contact(body["contact"])
        product = body.get("product") or {}
        reference = str(product.get("reference") or "")
        if reference:
            self.products[reference] = {**self.products.get(reference, {}), **product}
        message = {"text": body.get("message") or "", "received_at": now}
        lead = self._existing_lead(body.get("externalId"), contact["id"], reference, now)
        if lead is None:
            lead = {
                "id": len(self.leads) + 1,
                "externalId": body.get("externalId") or "",
                "contact_id": contact["id"],
                "product_reference": reference,
                "created_at": now,
                "messages": [],
                "payload": body,
            }
            self.leads.append(lead)
            if lead["externalId"]:
                self._by_external_id.setdefault(lead["externalId"], lead)
            self._by_contact_product.setdefault((contact["id"], reference), []).append(lead)
        lead["messages"].append(message)

    def _existing_lead(
        self, external_id: Any, contact_id: int, reference: str, now: float
    ) -> dict | None:
        """The first lead (in filing order) with this externalId, or this contact and product
        within 30 days."""
        found = []
        if external_id and external_id in self._by_external_id:
            found.append(self._by_external_id[external_id])
        for lead in self._by_contact_product.get((contact_id, reference), []):
            if now - lead["created_at"] <= THIRTY_DAYS:
                found.append(lead)
                break
        return min(found, key=lambda lead: lead["id"]) if found else None

    def _contact(self, given: dict) -> dict:
        email = (given.get("email") or "").lower()
        phone = (given.get("phoneCountryCode") or "") + (given.get("phoneNumber") or "")
        candidates = [
            contact
            for key, value in (("email", email), ("phone", phone))
            if value
            for contact in self._contacts_by_key.get(f"{key}:{value}", [])
            if contact[key] == value
        ]
        if candidates:
            contact = min(candidates, key=lambda contact: contact["id"])
            contact.update({k: v for k, v in given.items() if v and k != "email"})
            contact["email"] = email or contact["email"]
            contact["phone"] = phone or contact["phone"]
        else:
            contact = {**given, "id": len(self.contacts) + 1, "email": email, "phone": phone}
            self.contacts.append(contact)
        for key in ("email", "phone"):
            if contact[key]:
                entries = self._contacts_by_key.setdefault(f"{key}:{contact[key]}", [])
                if contact not in entries:
                    entries.append(contact)
        return contact
