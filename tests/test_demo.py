"""The demo command prepares a working admin with a login and demo data."""

from django.contrib.auth import get_user_model
from django.core.management import call_command

from bridge.models import Contact, Lead, Order, ProviderAccount, Tag, Tunnel
from integrations.registry import providers


def test_demo_prepares_data_once(db):
    call_command("demo", "--no-serve")
    call_command("demo", "--no-serve")
    user = get_user_model().objects.get(username="admin")
    assert user.is_superuser and user.check_password("admin")
    assert Contact.objects.count() == 30 and Lead.objects.count() == 30
    assert Order.objects.exists() and Tag.objects.count() == 3 and Tunnel.objects.count() == 1
    assert all(c.phone.startswith("+1310555") for c in Contact.objects.all())
    accounts = ProviderAccount.objects.order_by("name")
    with_fakes = sorted(p.id for p in providers().values() if p.fake)
    assert len(with_fakes) >= 3 and [a.name for a in accounts] == with_fakes
    assert all(a.base_url.startswith("http://127.0.0.1:8765/") and a.credential for a in accounts)
