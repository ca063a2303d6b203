"""Shared fixtures: accounts, contacts and leads built the way staff would make them."""

import pytest

from bridge.models import Contact, Lead, ProviderAccount


@pytest.fixture
def make_contact(db):
    """Create a valid Contact through full_clean, as the admin would."""
    counter = iter(range(1, 1_000_000))

    def make(**fields):
        n = next(counter)
        values = {
            "first_name": "Jane",
            "last_name": f"Doe{n}",
            "email": f"jane{n}@example.com",
            "phone": f"+1310555{n:04d}",
        }
        values.update(fields)
        tags = values.pop("tags", [])
        contact = Contact(**values)
        contact.full_clean()
        contact.save()
        if tags:
            contact.tags.set(tags)
        return contact

    return make


@pytest.fixture
def make_lead(db, make_contact):
    def make(contact=None, **fields):
        values = {
            "product_reference": "10864675",
            "product_title": "Renault Midlum 190.08",
            "product_price": "45000",
            "message": "Is it still available?",
            "source": "website",
        }
        values.update(fields)
        lead = Lead(contact=contact or make_contact(), **values)
        lead.full_clean()
        lead.save()
        return lead

    return make


@pytest.fixture
def make_account(db):
    def make(provider="aello", name=None, credential="test-credential-123456", **fields):
        account = ProviderAccount(
            provider=provider, name=name or provider, credential=credential, **fields
        )
        account.full_clean()
        account.save()
        return account

    return make
