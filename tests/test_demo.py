"""The demo command prepares a working admin with a login and demo data."""

import os
import socket

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError

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


def test_a_demo_rerun_on_another_fakes_port_repoints_the_demo_accounts(db):
    call_command("demo", "--no-serve")
    real = ProviderAccount.objects.get(name="aello")
    real.base_url = "https://api.aello.example.com/aello"
    real.save()
    call_command("demo", "--no-serve", "--fakes-port", "8865")
    accounts = {a.name: a.base_url for a in ProviderAccount.objects.all()}
    assert accounts.pop("aello") == "https://api.aello.example.com/aello"  # not on the fakes
    assert accounts and all(
        url == f"http://127.0.0.1:8865/{name}" for name, url in accounts.items()
    ), accounts


def test_make_demo_passes_its_ports_to_the_command():
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "FAKES_PORT")}

    def dry_run(*variables):  # -n: print the recipe, run nothing
        return subprocess.run(
            ["make", "-n", "demo", *variables],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        ).stdout

    assert "manage.py demo --port 8100 --fakes-port 8865" in dry_run("PORT=8100", "FAKES_PORT=8865")
    assert "manage.py demo --port 8000 --fakes-port 8765" in dry_run()


@pytest.mark.parametrize("which", ["--port", "--fakes-port"])
def test_the_demo_refuses_a_busy_port_before_starting_anything(db, which):
    from io import StringIO

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        out = StringIO()
        with pytest.raises(CommandError, match=f"Port {busy} .* not free") as refused:
            call_command("demo", which, str(busy), stdout=out)
    names = {"--port": "web server", "--fakes-port": "fake providers"}
    assert names[which] in str(refused.value) and which in str(refused.value)
    assert out.getvalue() == ""  # no "running at … log in as" before the failure
    assert not get_user_model().objects.filter(username="admin").exists()


def test_the_demo_refuses_one_port_for_both_servers_and_a_non_port(db):
    with pytest.raises(CommandError, match="both 8100"):
        call_command("demo", "--port", "8100", "--fakes-port", "8100")
    with pytest.raises(CommandError, match="not a port number"):
        call_command("demo", "--port", "99999")
