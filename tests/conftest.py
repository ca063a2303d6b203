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


@pytest.fixture(scope="session")
def fake_server():
    """The local fake providers, served over real HTTP for the whole test session."""
    from integrations.fakes.core import FakeServer

    server = FakeServer(port=0).start()
    yield server
    server.stop()


@pytest.fixture
def fakes(fake_server):
    """The fake server with every fake's state, recorded requests and faults cleared."""
    fake_server.reset()
    yield fake_server
    fake_server.reset()


@pytest.fixture
def fake_account(db, fakes):
    """A ProviderAccount pointed at the fake of ``provider``, with the credential it accepts."""

    def make(provider, name=None, **fields):
        fake = fakes.fakes[provider]
        fields.setdefault("read_timeout", 2.0)
        fields.setdefault("connect_timeout", 1.0)
        account = ProviderAccount(
            provider=provider,
            name=name or provider,
            base_url=fakes.base_url(provider),
            credential=fake.credential,
            **fields,
        )
        account.full_clean()
        account.save()
        return account

    return make
