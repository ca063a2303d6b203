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


def test_the_demo_routes_its_web_forms_leads_to_the_ai_caller(
    db, client, django_capture_on_commit_callbacks
):
    from bridge.demo_data import DEMO_RULE, issue_demo_intake_token
    from bridge.models import Delivery, LeadRouting, RoutingRule

    with django_capture_on_commit_callbacks(execute=True):  # the demo's own leads: no rule
        call_command("demo", "--no-serve")
        call_command("demo", "--no-serve")
    assert not Delivery.objects.exists()
    rule = RoutingRule.objects.get()
    assert rule.name == DEMO_RULE and rule.sources == "web-form"
    assert [t.account.name for t in rule.targets.all()] == ["aiployees"]
    old, token = issue_demo_intake_token(), issue_demo_intake_token()
    body = {"contact": {"firstName": "Ada", "phone": "+13105550199"}, "message": "The van"}
    headers = {"Authorization": f"Bearer {old}"}
    assert (
        client.post("/api/v1/leads", body, "application/json", headers=headers).status_code == 401
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/v1/leads", body, "application/json", headers={"Authorization": f"Bearer {token}"}
        )
    assert response.status_code == 202, response.content
    lead = Lead.objects.get(pk=response.json()["id"])
    assert lead.source == "web-form"
    assert LeadRouting.objects.get(lead=lead).rules == [DEMO_RULE]
    assert Delivery.objects.get(object_id=lead.pk).account.name == "aiployees"
