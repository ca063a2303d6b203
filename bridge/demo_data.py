"""Demo contacts, leads, orders, tags and tunnels for the offline demo (idempotent)."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from .models import Contact, Lead, Order, ProviderAccount, Tag, Tunnel

#: Options the demo accounts need to push (the fakes accept them as they are).
DEMO_OPTIONS = {"aiployees": {"campaign_id": 1}, "leeloo": {"leadgentool_id": "demo-lgt"}}

FIRST = ["Ava", "Liam", "Mia", "Noah", "Emma", "Lucas", "Zoe", "Ethan", "Léa", "Hugo"]
LAST = ["Martin", "Dubois", "Smith", "Garcia", "Müller", "Rossi", "Novak", "Silva", "Kim", "Lee"]
PRODUCTS = [
    ("10864675", "Renault Midlum 190.08 flatbed truck", Decimal("45000")),
    ("20448812", "Iveco Daily 35S14 van", Decimal("27900")),
    ("30991021", "Mercedes Actros 1845 tractor", Decimal("89000")),
    ("41220087", "Volvo FH 500 tractor", Decimal("96500")),
]
SOURCES = ["website", "facebook", "google-ads", "walk-in", "referral"]


@transaction.atomic
def create_demo_data(contacts: int = 30, seed: int = 7) -> dict:
    """Create demo records unless they are there already; returns what exists."""
    if Contact.objects.filter(lead_source="demo-seed").exists():
        return _counts()
    rng = random.Random(seed)
    tags = [Tag.objects.get_or_create(name=name)[0] for name in ("VIP", "Fleet", "Follow-up")]
    Tunnel.objects.get_or_create(
        name="Spring truck sale",
        defaults={"stats": {"subscribers": 42, "orders": 7, "sales": 5, "totalSale": 210000}},
    )
    now = timezone.now()
    for index in range(contacts):
        first, last = FIRST[index % len(FIRST)], LAST[(index * 3) % len(LAST)]
        contact = Contact(
            first_name=first,
            last_name=last,
            email=f"{first.lower()}.{last.lower()}{index}@example.com".replace("é", "e").replace(
                "ü", "u"
            ),
            phone=f"+1310555{1000 + index:04d}",
            company=rng.choice(["", "Fleet Logistics", "Acme Haulage", "Blue Road"]),
            city=rng.choice(["Los Angeles", "Luxembourg", "Lyon"]),
            country=rng.choice(["US", "LU", "FR"]),
            lead_source="demo-seed",
        )
        contact.full_clean()
        contact.save()
        contact.tags.set(rng.sample(tags, k=rng.randint(0, 2)))
        reference, title, price = rng.choice(PRODUCTS)
        Lead.objects.create(
            contact=contact,
            product_reference=reference,
            product_title=title,
            product_price=price,
            message="Hello, is this vehicle still available?",
            source=rng.choice(SOURCES),
            received_at=now - timedelta(hours=rng.randint(0, 24 * 20)),
        )
        if index % 4 == 0:
            Order.objects.create(
                contact=contact,
                title=title,
                price=price,
                currency="USD",
                status=rng.choice([Order.Status.OPENED, Order.Status.SUCCESS]),
            )
    return _counts()


def _counts() -> dict:
    return {
        "contacts": Contact.objects.count(),
        "leads": Lead.objects.count(),
        "orders": Order.objects.count(),
        "tags": Tag.objects.count(),
        "tunnels": Tunnel.objects.count(),
    }


def create_demo_accounts(fake_url: str) -> list[str]:
    """An account per provider pointed at the local fake providers, unless one exists already
    (an existing one still on the fakes is re-pointed at ``fake_url``'s port).

    Accounts configured from the environment (real credentials) are left as they are.
    """
    from importlib import import_module

    from integrations.registry import providers

    created = []
    for provider in providers().values():
        if not provider.fake:
            continue
        existing = ProviderAccount.objects.filter(name=provider.id).first()
        if existing is not None:
            _repoint_at_fakes(existing, f"{fake_url}/{provider.id}")
            continue
        module_name, class_name = provider.fake.rsplit(".", 1)
        fake = getattr(import_module(module_name), class_name)
        account = ProviderAccount(
            provider=provider.id,
            name=provider.id,
            environment=ProviderAccount.Environment.SANDBOX
            if "sandbox" in provider.base_urls
            else ProviderAccount.Environment.PRODUCTION,
            base_url=f"{fake_url}/{provider.id}",
            credential=fake.credential,
            options=DEMO_OPTIONS.get(provider.id, {}),
        )
        account.full_clean()
        account.save()
        created.append(provider.id)
    return created


def _repoint_at_fakes(account: ProviderAccount, base_url: str) -> None:
    """Point a demo account at the fake providers' current port.

    Only an account already on the local fakes (a loopback base URL ending in its provider's
    path) moves: a re-run demo with another ``--fakes-port`` must not leave the accounts calling
    the old port, while an account configured for a real service keeps its URL.
    """
    on_fakes = _LOCAL_FAKE_URL.fullmatch(account.base_url or "")
    if account.base_url == base_url or not on_fakes or on_fakes["path"] != account.provider:
        return
    account.base_url = base_url
    account.save(update_fields=["base_url", "updated_at"])


#: A base URL on the local fake providers: loopback host, any port, the provider's path.
_LOCAL_FAKE_URL = re.compile(r"https?://(?:127\.0\.0\.1|localhost)(?::\d+)?/(?P<path>[\w-]+)/?")


#: The demo's landing-page source and the rule that sends its leads to the AI caller.
DEMO_SOURCE = "web-form"
DEMO_RULE = "Web form leads to the AI caller"


def create_demo_routing() -> bool:
    """A rule sending every lead of the demo's web form to the Aiployees account at once.

    Made once, and only when the demo's Aiployees account exists (its campaign id is the
    account's option, so the target needs none); staff may edit or disable it afterwards.
    """
    from bridge.models import RoutingRule, RuleTarget

    account = ProviderAccount.objects.filter(name="aiployees", provider="aiployees").first()
    if account is None or RoutingRule.objects.filter(name=DEMO_RULE).exists():
        return False
    rule = RoutingRule(name=DEMO_RULE, sources=DEMO_SOURCE, order=10)
    rule.full_clean()
    rule.save()
    target = RuleTarget(rule=rule, account=account)
    target.full_clean()
    target.save()
    return True


DEMO_ALERT_CHANNEL = "operations"


def create_demo_alert_channel() -> bool:
    """An email alert channel for the demo (made once): with DEBUG, Django prints its mail to
    the console of the process sending it, so alerts show where the cluster runs."""
    from bridge.models import AlertChannel

    if AlertChannel.objects.filter(name=DEMO_ALERT_CHANNEL).exists():
        return False
    channel = AlertChannel(name=DEMO_ALERT_CHANNEL, kind="email", addresses="ops@example.com")
    channel.full_clean()
    channel.save()
    return True


def issue_demo_intake_token() -> str:
    """The demo web form's intake source, with a fresh token to print (only its hash is kept,
    so each demo start shows a new one that works until the next start)."""
    from bridge.models import IntakeSource

    source = IntakeSource.objects.filter(name=DEMO_SOURCE).first() or IntakeSource(
        name=DEMO_SOURCE, allowed_origins="http://127.0.0.1:8000"
    )
    token = source.issue_token()
    source.full_clean()
    source.save()
    return token
