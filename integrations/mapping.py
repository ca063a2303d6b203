"""Per-account field mapping: which local field fills which field at the provider.

Plain data, no Django. A provider declares what an account may map to
(:class:`MappingSpec`: a fixed list of fields, free call variables, or the custom fields its
last pull saw); the account's rows travel to it in :class:`integrations.base.AccountConfig`
as a :class:`FieldMap`, and its payload builders ask that map for a record's mapped values,
turning them into the provider's wire format themselves. A target nobody mapped keeps the
provider's default, so an account without rows sends what it always sent.

Sources are the bridge's own vocabulary (the keys of ``bridge.records``' plain records): a
contact field (``first_name``, ``email``…), a lead field (``message``, ``source``,
``product.title``…), or ``custom:<name>`` for a custom field (the lead's, else the
contact's).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .errors import ConfigurationError

CUSTOM_PREFIX = "custom:"

#: Contact fields a row may read: name -> what staff read in the menu.
CONTACT_SOURCES = {
    "first_name": "First name",
    "last_name": "Last name",
    "full_name": "Full name",
    "email": "Email",
    "phone": "Phone",
    "company": "Company",
    "address": "Address",
    "city": "City",
    "state": "State",
    "zipcode": "ZIP code",
    "country": "Country",
    "timezone": "Time zone",
    "date_of_birth": "Date of birth",
    "website": "Website",
    "lead_source": "Contact's lead source",
    "notes": "Contact's notes",
    "tags": "Tags (comma-separated)",
}
#: Lead fields a row may read (blank for a contact pushed on its own).
LEAD_SOURCES = {
    "message": "Lead message",
    "source": "Lead source",
    "status": "Lead status",
    "external_id": "Lead id sent to providers",
    "received_at": "Lead received at",
    "product": "Product (title and reference)",
    "product.reference": "Product reference",
    "product.title": "Product title",
    "product.link": "Product link",
    "product.image": "Product image",
    "product.price": "Product price",
}
SOURCES = {**CONTACT_SOURCES, **LEAD_SOURCES}

#: A call variable's name (Aiployees): what an assistant's template can refer to.
VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class MappingRow:
    """One row: the local ``source`` sent as the provider's ``target``."""

    source: str
    target: str


@dataclass(frozen=True)
class FieldMap:
    """An account's mapping as the provider receives it: the rows, and the custom fields its
    last pull saw with their types (``{"renewal": "DATE"}``; Leeloo only)."""

    rows: tuple[MappingRow, ...] = ()
    types: dict[str, str] = field(default_factory=dict)

    def values(self, record: dict) -> dict[str, Any]:
        """Each mapped target's value for ``record`` (None or "" when the source is blank:
        the mapping still replaces the default, so the provider leaves the field out)."""
        return {row.target: source_value(record, row.source) for row in self.rows}


@dataclass(frozen=True)
class Target:
    """A field of the provider a row may fill."""

    name: str
    label: str
    help: str = ""


@dataclass(frozen=True)
class MappingSpec:
    """What an account of a provider may map local fields to, declared on the provider.

    Exactly one kind: ``targets`` (a fixed list), ``variables`` (free names, checked as
    identifiers), ``pulled`` (the custom fields the account's last pull saw, with their
    types), or none of them with ``unmappable`` saying why.
    """

    targets: tuple[Target, ...] = ()
    variables: bool = False
    pulled: bool = False
    #: What is sent when nothing is mapped, in staff's words.
    defaults: str = ""
    #: Why nothing can be mapped (shown on the account page instead of the rows).
    unmappable: str = "This provider's API has no field the bridge can map local fields to."

    @property
    def mappable(self) -> bool:
        return bool(self.targets or self.variables or self.pulled)

    def target_names(self) -> tuple[str, ...]:
        return tuple(target.name for target in self.targets)


def contact_of(record: dict) -> dict:
    """The person in a record: a lead carries it under ``contact``, a contact is itself."""
    return record["contact"] if isinstance(record.get("contact"), dict) else record


def product_label(product: dict | None) -> str:
    """A lead's product as one line: "Renault Midlum (ref. 10864675)"."""
    product = product or {}
    label = str(product.get("title") or "").strip()
    if product.get("reference"):
        label = f"{label} (ref. {product['reference']})".strip()
    return label


def source_value(record: dict, source: str) -> Any:
    """The value of ``source`` in a plain record (a lead, or a contact on its own)."""
    contact = contact_of(record)
    lead = record if record is not contact else {}
    if source.startswith(CUSTOM_PREFIX):
        key = source[len(CUSTOM_PREFIX) :]
        for fields in (lead.get("custom_fields"), contact.get("custom_fields")):
            if isinstance(fields, dict) and fields.get(key) not in (None, ""):
                return fields[key]
        return None
    if source in CONTACT_SOURCES:
        return contact.get(source)
    if source == "product":
        return product_label(lead.get("product"))
    if source.startswith("product."):
        return (lead.get("product") or {}).get(source.split(".", 1)[1])
    return lead.get(source)


def as_text(value: Any) -> str:
    """A mapped value as text: lists (tags) comma-separated, nothing as ""."""
    if value is None:
        return ""
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return str(value).strip()


def source_label(source: str) -> str:
    """What staff read for a source: "Lead message", "Custom field 'budget'"."""
    if source.startswith(CUSTOM_PREFIX):
        return f"Custom field '{source[len(CUSTOM_PREFIX) :]}'"
    return SOURCES.get(source, source)


def source_problem(source: str) -> str:
    """Why ``source`` cannot be read ("" when it can)."""
    if source.startswith(CUSTOM_PREFIX):
        if not source[len(CUSTOM_PREFIX) :].strip():
            return "a custom field needs its name (e.g. custom:budget)."
        return ""
    if source in SOURCES:
        return ""
    return (
        f"'{source}' is not a local field; choose a contact or lead field, or a custom "
        "field by its name."
    )


def target_problem(provider_name: str, spec: MappingSpec, target: str, types: dict) -> str:
    """Why ``target`` is not a field this provider's accounts may map to ("" when it is).

    ``types`` is the custom fields the account's last pull saw (for a ``pulled`` spec).
    """
    if not spec.mappable:
        return spec.unmappable
    if not target:
        return "choose the field it is sent as."
    if spec.targets:
        if target in spec.target_names():
            return ""
        return (
            f"{provider_name} has no field '{target}' to map to (it takes: "
            f"{', '.join(spec.target_names())})."
        )
    if spec.variables:
        if VARIABLE_NAME.fullmatch(target):
            return ""
        return (
            f"'{target}' is not a call variable name: letters, digits and _ only, not "
            "starting with a digit, at most 64 (e.g. vehicle_model)."
        )
    if target in types:
        return ""
    seen = ", ".join(sorted(types)) if types else "none yet"
    return (
        f"{provider_name} has no custom field '{target}' in the last pull (it saw: {seen}); "
        "run Sync now (people, with details) to read its fields again."
    )


@dataclass(frozen=True)
class RowProblem:
    """A row that cannot be saved: its number (from 1), the field at fault and why."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"Row {self.row}, {self.field}: {self.message}"


def check_rows(
    provider_name: str, spec: MappingSpec, rows: list[MappingRow], types: dict | None = None
) -> list[RowProblem]:
    """Every problem of an account's rows: unknown sources, targets the provider does not
    take, a target filled twice (each row is numbered from 1, in order)."""
    problems: list[RowProblem] = []
    first_row: dict[str, int] = {}
    for number, row in enumerate(rows, start=1):
        if message := source_problem(row.source):
            problems.append(RowProblem(number, "local field", message))
        if message := target_problem(provider_name, spec, row.target, types or {}):
            problems.append(RowProblem(number, "sent as", message))
        elif row.target in first_row:
            problems.append(
                RowProblem(
                    number,
                    "sent as",
                    f"'{row.target}' is already filled by row {first_row[row.target]}; "
                    "a field takes one local field.",
                )
            )
        else:
            first_row[row.target] = number
    return problems


def checked_field_map(account: Any, provider_name: str, spec: MappingSpec) -> FieldMap:
    """``account``'s field mapping (an ``AccountConfig``), its rows checked against ``spec``.

    The admin checks rows as they are saved; a row made around it is refused here, naming
    it, rather than sent as a field the provider does not take.
    """
    field_map = account.field_map
    if not field_map.rows:
        return field_map
    problems = check_rows(provider_name, spec, list(field_map.rows), field_map.types)
    if problems:
        raise ConfigurationError(
            f"Account '{account.name}' has a field mapping row {provider_name} cannot use: "
            f"{problems[0]} Fix it on the account's page (Field mapping)."
        )
    return field_map
