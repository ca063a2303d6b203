"""The account page's "Field mapping": what each provider offers, the errors a bad row gets
(naming the row and the field, nothing saved), who may edit the rows, and the audit entry."""

import pytest
from django import forms
from django.contrib.auth.models import Permission
from django.urls import reverse

from bridge.models import AuditEntry, FieldMapping, ProviderAccount, RemoteField

PREFIX = "field_mappings"


def change_url(account):
    return reverse("admin:bridge_provideraccount_change", args=[account.pk])


def page_data(response) -> dict:
    """What the account page would post unchanged: its form, every inline and their
    management forms, as the browser sends them."""
    data = {}
    shown = [response.context["adminform"].form]
    for inline in response.context["inline_admin_formsets"]:
        shown += [inline.formset.management_form, *inline.formset.forms]
    for form in shown:
        for field in form:
            value = field.field.prepare_value(field.value())
            if isinstance(field.field, forms.BooleanField):
                if value:
                    data[field.html_name] = "on"
                continue
            data[field.html_name] = "" if value is None else value
    return data


def save_rows(client, account, rows, **changes):
    """Post the account page with ``rows`` (local field, custom name, sent as) as new rows."""
    data = page_data(client.get(change_url(account)))
    first = int(data[f"{PREFIX}-INITIAL_FORMS"])
    data[f"{PREFIX}-TOTAL_FORMS"] = str(first + len(rows))
    for number, (local, custom, target) in enumerate(rows, start=first):
        data[f"{PREFIX}-{number}-local_field"] = local
        data[f"{PREFIX}-{number}-custom_name"] = custom
        data[f"{PREFIX}-{number}-target"] = target
    data.update(changes)
    return client.post(change_url(account), data)


def row_errors(response) -> list[str]:
    (formset,) = [
        inline.formset
        for inline in response.context["inline_admin_formsets"]
        if inline.formset.prefix == PREFIX
    ]
    return [
        message
        for form in formset.forms
        for messages in form.errors.values()
        for message in messages
    ]


def mapping_entries():
    return AuditEntry.objects.filter(action=AuditEntry.Action.MAPPING_CHANGED).order_by("pk")


def test_the_page_says_what_each_provider_takes(admin_client, make_account):
    aloware = admin_client.get(change_url(make_account("aloware"))).content.decode()
    assert "Field mapping" in aloware and "Mapping rows (local field → sent as)" in aloware
    assert "Custom field 1 (<code>csf1</code>)" in aloware
    assert '<option value="tag_id">Tag (tag_id)</option>' in aloware
    assert "Aloware takes one tag, by its id (tag_id)" in aloware
    assert 'name="field_mappings-0-local_field"' in aloware
    aello_page = admin_client.get(change_url(make_account("aello")))
    aello = aello_page.content.decode()
    assert "it has no custom field, so there is nothing to map" in aello
    assert "field_mappings-TOTAL_FORMS" not in aello
    leeloo = make_account("leeloo")
    assert "No custom field seen yet" in admin_client.get(change_url(leeloo)).content.decode()
    RemoteField.objects.create(account=leeloo, name="renewal", type="DATE")
    page = admin_client.get(change_url(leeloo)).content.decode()
    assert (
        "<code>renewal</code> (DATE)" in page and '<option value="renewal">renewal (DATE)' in page
    )


def test_rows_are_saved_and_the_change_is_audited(admin_client, make_account):
    account = make_account("aloware")
    response = save_rows(
        admin_client,
        account,
        [("message", "", "csf1"), ("custom", "budget", "csf2")],
    )
    assert response.status_code == 302, row_errors(response)
    assert list(account.field_mappings.values_list("source", "target")) == [
        ("message", "csf1"),
        ("custom:budget", "csf2"),
    ]
    (entry,) = mapping_entries()
    assert entry.summary == (
        "Field mapping of aloware: + Lead message → csf1; + Custom field 'budget' → csf2"
    )
    assert entry.object_ids == [account.pk] and entry.actor_name == "admin"
    assert entry.details["after"][1] == {"source": "custom:budget", "target": "csf2"}

    # Saved again unchanged: nothing more in the trail.
    assert save_rows(admin_client, account, []).status_code == 302
    assert mapping_entries().count() == 1

    # The page shows the stored rows as they were chosen, and deleting one is recorded.
    data = page_data(admin_client.get(change_url(account)))
    assert (data[f"{PREFIX}-1-local_field"], data[f"{PREFIX}-1-custom_name"]) == (
        "custom",
        "budget",
    )
    data[f"{PREFIX}-0-DELETE"] = "on"
    assert admin_client.post(change_url(account), data).status_code == 302
    assert mapping_entries().last().summary == "Field mapping of aloware: − Lead message → csf1"


@pytest.mark.parametrize(
    "provider, rows, errors",
    [
        (
            "aloware",
            [("favourite_colour", "", "csf1"), ("email", "", "csf3")],
            [
                "Row 1: 'favourite_colour' is not a local field; choose a contact or lead field, "
                "or a custom field by its name.",
                "Row 2: Aloware has no field 'csf3' to map to (it takes: csf1, csf2, notes, "
                "lead_source, tag_id).",
            ],
        ),
        (
            "aloware",
            [("email", "", "csf1"), ("message", "", "notes"), ("city", "", "csf1")],
            ["Row 3: 'csf1' is already filled by row 1; a field takes one local field."],
        ),
        ("aloware", [("custom", "", "csf1")], ["Row 1: name the custom field to read."]),
        ("aloware", [("", "", "csf1")], ["Row 1: choose the local field to send."]),
        (
            "aiployees",
            [("email", "", "2nd email")],
            [
                "Row 1: '2nd email' is not a call variable name: letters, digits and _ only, "
                "not starting with a digit, at most 64 (e.g. vehicle_model)."
            ],
        ),
        (
            "leeloo",
            [("email", "", "renewal")],
            [
                "Row 1: Leeloo.ai has no custom field 'renewal' in the last pull (it saw: "
                "visits); run Sync now (people, with details) to read its fields again."
            ],
        ),
    ],
)
def test_a_bad_row_is_refused_naming_the_row_and_nothing_is_saved(
    admin_client, make_account, provider, rows, errors
):
    account = make_account(provider, options={"kept": "as is"})
    RemoteField.objects.create(account=account, name="visits", type="NUMBER")
    response = save_rows(admin_client, account, rows, options='{"changed": true}')
    assert response.status_code == 200
    assert row_errors(response) == errors
    assert "Please correct the error" in response.content.decode()
    assert not FieldMapping.objects.exists() and not mapping_entries().exists()
    assert ProviderAccount.objects.get(pk=account.pk).options == {"kept": "as is"}


def test_a_leeloo_row_to_a_pulled_field_is_saved(admin_client, make_account):
    account = make_account("leeloo")
    RemoteField.objects.create(account=account, name="renewal", type="DATE")
    response = save_rows(admin_client, account, [("custom", "next_renewal", "renewal")])
    assert response.status_code == 302, row_errors(response)
    assert account.config().field_map.types == {"renewal": "DATE"}
    assert account.config().field_map.values({"custom_fields": {"next_renewal": "2026-03-01"}}) == {
        "renewal": "2026-03-01"
    }


def test_who_may_change_the_account_may_change_its_rows(client, django_user_model, make_account):
    account = make_account("aloware")
    FieldMapping.objects.create(account=account, source="custom:budget", target="csf1")
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_provideraccount"))
    client.force_login(viewer)
    page = client.get(change_url(account)).content.decode()
    assert 'name="field_mappings-0-local_field"' not in page  # read only, in words:
    assert '<td class="field-local_field_shown"><p>Custom field &#x27;budget&#x27;</p></td>' in (
        " ".join(page.split()).replace("> <", "><")
    )
    manager = django_user_model.objects.create_user("manager", password="pw", is_staff=True)
    manager.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_provideraccount", "change_provideraccount"])
    )
    client.force_login(manager)
    response = save_rows(client, account, [("message", "", "notes")])
    assert response.status_code == 302, row_errors(response)
    assert account.field_mappings.count() == 2
    assert mapping_entries().get().actor_name == "manager"
