"""The push page's "Preview the request": the exact write per ticked account, secrets masked,
built as the delivery would build it — reads let through, and nothing written."""

import json

import pytest
from django.urls import reverse

from bridge.models import Delivery, PushBatch
from bridge.preview import preview_push
from integrations.aello import AelloProvider
from integrations.base import AccountConfig
from integrations.preview import preview_operation
from integrations.secrets import Secret


def ask_preview(admin_client, leads, accounts, **fields):
    return admin_client.post(
        reverse("admin:bridge_lead_changelist"),
        {
            "action": "push_any_push",
            "_selected_action": [lead.pk for lead in leads],
            "confirm": "yes",  # the page always carries it; "preview" wins
            "preview": "yes",
            "accounts": [account.pk for account in accounts],
            **fields,
        },
    )


def test_the_preview_shows_each_accounts_first_request_and_sends_nothing(
    admin_client, make_lead, fake_account, fakes
):
    aello = fake_account("aello", name="aello-dealer")
    aiployees = fake_account("aiployees", name="ai-caller")
    first, second = make_lead(), make_lead()
    response = ask_preview(
        admin_client, [second, first], [aello, aiployees], aiployees__campaign_id="7"
    )
    assert response.status_code == 200
    rows = {row["account"]: row for row in response.context["previews"]}
    assert rows["aello-dealer"]["method"] == "POST"
    assert rows["aello-dealer"]["url"] == fakes.base_url("aello") + "/leads"
    body = json.loads(rows["aello-dealer"]["body"])
    assert body["externalId"] == first.external_id  # the first selected record, by id
    assert body["contact"]["email"] == first.contact.email
    ai_body = json.loads(rows["ai-caller"]["body"])
    assert ai_body["campaign_id"] == 7 and ai_body["phone_number"] == first.contact.phone
    html = response.content.decode()
    assert "Preview: the write each account would get (nothing was queued or written)" in html
    assert fakes.requests == [] or all(
        r.provider not in ("aello", "aiployees") for r in fakes.requests
    )
    assert not Delivery.objects.exists() and not PushBatch.objects.exists()


def test_a_credential_in_the_body_is_masked_in_the_preview(make_lead, fake_account):
    aloware = fake_account("aloware")
    preview = preview_push(aloware, make_lead(), "push", {})
    shown = json.dumps(preview.request)
    assert preview.method == "POST" and preview.url.endswith("/api/v1/webhook/forms")
    assert aloware.credential.reveal() not in shown
    assert "api_token" in shown  # the field is there, its value masked


def test_a_record_the_provider_refuses_says_why_before_any_call():
    account = AccountConfig(name="aello", provider="aello", credential=Secret("k" * 24))
    record = {"contact": {"email": "a@example.com"}, "product": {"title": "No reference"}}
    preview = preview_operation(AelloProvider, account, "push", record, {})
    assert preview.method == "" and "requires product.reference" in preview.refusal


def test_an_option_the_provider_needs_is_asked_for_before_previewing(
    admin_client, make_lead, fake_account
):
    caller = fake_account("aiployees")  # no campaign in its options, none chosen
    response = ask_preview(admin_client, [make_lead()], [caller])
    assert response.status_code == 200
    assert response.context["previews"] == []
    assert response.context["form"].errors
    assert not Delivery.objects.exists()


@pytest.mark.parametrize("provider", ["aello", "aiployees", "aloware", "leeloo"])
def test_every_provider_previews_a_lead_push(make_lead, fake_account, provider):
    options = {
        "aiployees": {"campaign_id": 7},
        "leeloo": {"leadgentool_id": "5e18a2a3ed0b7a000d6c9486"},
    }.get(provider, {})
    account = fake_account(provider, options=options)
    preview = preview_push(account, make_lead(), "push", {})
    assert preview.refusal == "" and preview.method == "POST", preview
    assert account.credential.reveal() not in json.dumps(preview.request) + preview.url


def test_a_leeloo_push_looks_the_person_up_then_shows_the_write(make_lead, fake_account, fakes):
    account = fake_account("leeloo", options={"leadgentool_id": "5e18a2a3ed0b7a000d6c9486"})
    lead = make_lead()
    preview = preview_push(account, lead, "push", {})
    assert (preview.method, preview.url) == ("POST", fakes.base_url("leeloo") + "/api/v2/people")
    looked = fakes.requests_for("leeloo")
    assert looked and {r.method for r in looked} == {"GET"}  # the look-ups only: nothing written


# --- Send a test -------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)  # the outbox's sending threads read committed rows
def test_send_a_test_pushes_only_the_first_chosen_record_marked_as_a_test(
    admin_client, make_lead, fake_account, fakes
):
    from bridge import outbox
    from bridge.models import AuditEntry

    aello = fake_account("aello", name="aello-dealer")
    chosen, other = make_lead(), make_lead()
    response = admin_client.post(
        reverse("admin:bridge_lead_changelist"),
        {
            "action": "push_any_push",
            "_selected_action": [other.pk, chosen.pk],
            "confirm": "yes",
            "test": "yes",
            "accounts": [aello.pk],
        },
    )
    assert response.status_code == 302
    delivery = Delivery.objects.get()
    assert delivery.is_test and delivery.object_id == min(chosen.pk, other.pk)
    assert delivery.batch.description == "Test: push 1 lead to aello-dealer"
    outbox.run_until_settled([aello.pk], timeout=30)
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.DELIVERED
    assert len(fakes.requests_for("aello", "POST", "/leads")) == 1
    assert AuditEntry.objects.get().details["test"] is True
    listed = admin_client.get(reverse("admin:bridge_delivery_changelist"), {"is_test__exact": "1"})
    assert [d.pk for d in listed.context["cl"].result_list] == [delivery.pk]
