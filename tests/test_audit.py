"""The audit trail: every staff action, from the admin or a command, is one entry saying who,
when, what and how many — never a secret; the trail itself is read-only, filterable and
exported as CSV."""

import csv
import io
import json

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from bridge import audit
from bridge.models import (
    AuditEntry,
    Contact,
    Delivery,
    IntakeSource,
    Lead,
    ProviderAccount,
    RoutingRule,
    RuleTarget,
)

Action = AuditEntry.Action
SECRET = "sk-live-audit-secret-0123456789"


def post_action(client, model: str, action: str, ids, query: str = "", **extra):
    url = reverse(f"admin:bridge_{model}_changelist") + query
    return client.post(url, {"action": action, "_selected_action": ids, "index": "0", **extra})


def only_entry(action) -> AuditEntry:
    """The one entry of this action (and there is exactly one entry of any kind)."""
    entries = list(AuditEntry.objects.all())
    assert [entry.action for entry in entries] == [action], entries
    return entries[0]


def every_value() -> str:
    """Every column of every audit entry, as text: where a secret must never be."""
    return json.dumps(list(AuditEntry.objects.values()), default=str)


def delivery(account, lead, state):
    return Delivery.objects.create(
        account=account,
        content_type_id=lead_type().pk,
        object_id=lead.pk,
        state=state,
    )


def lead_type():
    from django.contrib.contenttypes.models import ContentType

    return ContentType.objects.get_for_model(Lead)


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.get_or_create(
        username="admin", defaults={"is_staff": True, "is_superuser": True}
    )[0]


# --- the admin's actions ----------------------------------------------------------------------


def test_a_push_from_the_admin_is_one_entry_with_its_records_and_deliveries(
    admin_client, make_lead, make_account
):
    leads = [make_lead(), make_lead()]
    leeloo = make_account("leeloo")
    response = post_action(
        admin_client,
        "lead",
        "push_any_push",
        [lead.pk for lead in leads],
        confirm="yes",
        accounts=[leeloo.pk],
    )
    assert response.status_code == 302
    entry = only_entry(Action.PUSH)
    assert entry.actor.username == "admin" and entry.actor_name == "admin"
    assert entry.via == AuditEntry.Via.ADMIN
    assert entry.count == 2 == Delivery.objects.count()
    assert entry.content_type == lead_type()
    assert sorted(entry.object_ids) == sorted(lead.pk for lead in leads)
    assert "leeloo" in entry.summary and entry.details["operation"] == "push"


def test_retry_and_cancel_record_what_they_changed(admin_client, make_lead, make_account):
    account = make_account("aello")
    lead = make_lead()
    failed = delivery(account, lead, Delivery.State.FAILED)
    pending = delivery(account, lead, Delivery.State.PENDING)
    # From a list filtered by state: once retried, the delivery no longer shows in it, and the
    # entry still names it.
    post_action(admin_client, "delivery", "retry_now", [failed.pk], "?state__exact=failed")
    entry = only_entry(Action.RETRY)
    assert (entry.count, entry.object_ids, entry.actor_name) == (1, [failed.pk], "admin")
    AuditEntry.objects.all().delete()
    post_action(admin_client, "delivery", "cancel", [pending.pk, failed.pk])
    entry = only_entry(Action.CANCEL)
    # Both were selected and both were still due (the retried one is pending again).
    assert entry.count == 2 and sorted(entry.object_ids) == sorted([pending.pk, failed.pk])
    assert entry.summary == "Cancelled 2 of 2 selected deliveries"


def test_retry_with_force_update_counts_only_the_aloware_deliveries(
    admin_client, make_lead, make_account
):
    aloware, aello = make_account("aloware"), make_account("aello")
    lead = make_lead()
    dead = delivery(aloware, lead, Delivery.State.DEAD)
    other = delivery(aello, lead, Delivery.State.DEAD)
    post_action(admin_client, "delivery", "retry_with_force_update", [dead.pk, other.pk])
    entry = only_entry(Action.RETRY)
    assert entry.count == 1 and entry.object_ids == [dead.pk]
    assert entry.details == {"force_update": True}


def test_pause_and_resume_from_the_admin(admin_client, make_account):
    account = make_account("aello")
    post_action(admin_client, "provideraccount", "pause_accounts", [account.pk])
    entry = only_entry(Action.PAUSE)
    assert entry.object_repr == str(account) and entry.count == 1
    AuditEntry.objects.all().delete()
    post_action(
        admin_client, "provideraccount", "resume_accounts", [account.pk], "?paused__exact=1"
    )
    entry = only_entry(Action.RESUME)
    assert entry.object_ids == [account.pk] and entry.actor_name == "admin"


def test_sync_now_records_the_runs_it_queued(admin_client, make_account):
    leeloo = make_account("leeloo")
    post_action(admin_client, "provideraccount", "sync_now", [leeloo.pk])
    entry = only_entry(Action.SYNC)
    assert entry.object_ids == [leeloo.pk]
    assert entry.count > 1 and entry.details == {"full": False}


def account_form(account, **changes) -> dict:
    form = {
        "name": account.name,
        "provider": account.provider,
        "environment": account.environment,
        "base_url": account.base_url,
        "enabled": "on",
        "new_credential": "",
        "options": json.dumps(account.options),
        "time_zone": account.time_zone,
        "concurrency": str(account.concurrency),
        "requests_per_second": str(account.requests_per_second),
        "connect_timeout": str(account.connect_timeout),
        "read_timeout": str(account.read_timeout),
        "webhook_auth": account.webhook_auth,
    }
    form.update(changes)
    return form


def save_account(client, account, **changes):
    response = client.post(
        reverse("admin:bridge_provideraccount_change", args=[account.pk]),
        account_form(account, **changes),
    )
    assert response.status_code == 302, response.content.decode()[-2000:]


def test_a_credential_typed_in_is_recorded_as_set_never_by_its_value(admin_client, make_account):
    account = make_account("aello")
    save_account(admin_client, account, new_credential=SECRET)
    entry = only_entry(Action.CREDENTIAL_SET)
    assert entry.summary == "Credential of aello replaced"
    assert SECRET not in every_value()
    assert ProviderAccount.objects.get(pk=account.pk).credential.reveal() == SECRET


def test_a_credential_removed_by_hand_is_recorded_as_cleared(admin_client, make_account):
    account = make_account("aello")
    save_account(admin_client, account, clear_credential="on")
    entry = only_entry(Action.CREDENTIAL_CLEARED)
    assert "removed by hand" in entry.summary


def test_a_new_base_url_is_recorded_with_the_credential_it_removed(admin_client, make_account):
    account = make_account("aello", credential=SECRET)
    save_account(admin_client, account, base_url="http://127.0.0.1:8765/aello")
    moved = AuditEntry.objects.get(action=Action.BASE_URL_CHANGED)
    assert moved.details == {"from": "", "to": "http://127.0.0.1:8765/aello"}
    cleared = AuditEntry.objects.get(action=Action.CREDENTIAL_CLEARED)
    assert "moved to another address" in cleared.summary
    assert AuditEntry.objects.count() == 2
    assert SECRET not in every_value()


def test_an_edit_that_touches_neither_credential_nor_address_records_nothing(
    admin_client, make_account
):
    account = make_account("aello")
    save_account(admin_client, account, concurrency="3")
    assert not AuditEntry.objects.exists()


def rule_form(account, **fields) -> dict:
    data = {
        "name": "web",
        "enabled": "on",
        "order": "10",
        "sources": "website",
        "delay_seconds": "0",
        "has_phone": "unknown",
        "has_email": "unknown",
        "targets-TOTAL_FORMS": "1",
        "targets-INITIAL_FORMS": "0",
        "targets-0-account": str(account.pk),
        "targets-0-operation": "push",
        "targets-0-options": "{}",
    }
    data.update(fields)
    return data


def test_routing_rules_added_changed_and_deleted_in_the_admin(admin_client, make_account):
    account = make_account("aello")
    admin_client.post(reverse("admin:bridge_routingrule_add"), rule_form(account))
    rule = RoutingRule.objects.get()
    entry = only_entry(Action.RULE_ADDED)
    assert entry.object_ids == [rule.pk] and entry.summary == "Added rule “web”"
    AuditEntry.objects.all().delete()
    target = RuleTarget.objects.get()
    changed = rule_form(account, sources="website, partner")
    changed.update(
        {
            "targets-INITIAL_FORMS": "1",
            "targets-0-id": str(target.pk),
            "targets-0-rule": rule.pk,
            # Django posts a callable default's initial value beside the field.
            "initial-targets-0-options": json.dumps(target.options),
        }
    )
    response = admin_client.post(
        reverse("admin:bridge_routingrule_change", args=[rule.pk]), changed
    )
    assert response.status_code == 302, response.content.decode()[-2000:]
    entry = only_entry(Action.RULE_CHANGED)
    assert entry.details == {"fields": ["sources"]}
    AuditEntry.objects.all().delete()
    admin_client.post(reverse("admin:bridge_routingrule_delete", args=[rule.pk]), {"post": "yes"})
    entry = only_entry(Action.RULE_DELETED)
    assert entry.object_ids == [rule.pk] and "web" in entry.summary


def test_rule_actions_and_the_order_column_each_record_one_entry(admin_client):
    first = RoutingRule.objects.create(name="first", order=10)
    second = RoutingRule.objects.create(name="second", order=20, enabled=False)
    post_action(admin_client, "routingrule", "disable_rules", [first.pk])
    assert only_entry(Action.RULE_DISABLED).object_ids == [first.pk]
    AuditEntry.objects.all().delete()
    post_action(admin_client, "routingrule", "enable_rules", [first.pk, second.pk])
    assert only_entry(Action.RULE_ENABLED).count == 2
    AuditEntry.objects.all().delete()
    response = admin_client.post(
        reverse("admin:bridge_routingrule_changelist"),
        {
            "form-TOTAL_FORMS": "2",
            "form-INITIAL_FORMS": "2",
            "form-0-id": str(first.pk),
            "form-0-order": "30",
            "form-1-id": str(second.pk),
            "form-1-order": "20",
            "_save": "Save",
        },
    )
    assert response.status_code == 302
    entry = only_entry(Action.RULE_CHANGED)
    assert entry.object_ids == [first.pk] and entry.details == {"fields": ["order"]}
    AuditEntry.objects.all().delete()
    post_action(admin_client, "routingrule", "delete_selected", [first.pk, second.pk], post="yes")
    entry = only_entry(Action.RULE_DELETED)
    assert entry.count == 2 and not RoutingRule.objects.exists()


def test_rotating_intake_tokens_records_the_sources_never_the_tokens(admin_client):
    sources = []
    for name in ("website", "partner"):
        source = IntakeSource(name=name)
        source.issue_token()
        source.save()
        sources.append(source)
    response = post_action(admin_client, "intakesource", "rotate_tokens", [s.pk for s in sources])
    entry = only_entry(Action.TOKEN_ROTATED)
    assert entry.count == 2 and sorted(entry.object_ids) == sorted(s.pk for s in sources)
    for token in response.context["issued"]:
        assert token["token"] not in every_value()


def test_a_confirmed_import_is_one_entry_and_a_refused_one_none(admin_client, db):
    def import_rows(rows):
        text = io.StringIO()
        csv.writer(text).writerows([["first_name", "last_name", "email", "phone"], *rows])
        upload = SimpleUploadedFile("people.csv", text.getvalue().encode(), "text/csv")
        preview = admin_client.post(
            reverse("admin:bridge_contact_import"),
            {"resource": "0", "format": "0", "import_file": upload},
        )
        form = preview.context.get("confirm_form")
        if form is None:
            return preview
        fields = ("import_file_name", "original_file_name", "format", "resource")
        return admin_client.post(
            reverse("admin:bridge_contact_process_import"),
            {name: form.initial[name] for name in fields},
        )

    import_rows([["Ann", "Lee", "ann@example.com", "+13105550101"]])
    import_rows([["Bob", "Ray", "bob@example.com", "+13105550102"]])
    Contact.objects.filter(email="bob@example.com").update(last_name="Old")
    import_rows(
        [
            ["Bob", "Ray", "bob@example.com", "+13105550102"],
            ["Cy", "Dee", "cy@example.com", "+13105550103"],
        ]
    )
    entries = list(AuditEntry.objects.order_by("id"))
    assert [e.action for e in entries] == [Action.IMPORT] * 3
    last = entries[-1]
    assert last.count == 2 and last.details["new"] == 1 and last.details["update"] == 1
    assert last.summary.startswith("Imported contacts from people.csv")
    assert last.content_type.model_class() is Contact
    import_rows([["Dee", "Bad", "dee@example.com", "12"]])  # an invalid phone: refused whole
    assert AuditEntry.objects.count() == 3


def test_a_refused_action_records_nothing(client, django_user_model, make_account):
    viewer = django_user_model.objects.create_user("viewer", is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(content_type__app_label="bridge", codename__startswith="view_")
    )
    client.force_login(viewer)
    account = make_account("aello")
    post_action(client, "provideraccount", "pause_accounts", [account.pk])
    assert not AuditEntry.objects.exists()


# --- the command line ---------------------------------------------------------------------------


def test_a_cli_push_is_recorded_as_the_os_user(make_lead, make_account):
    lead = make_lead()
    make_account("leeloo")
    call_command("push", "--account", "leeloo", "--lead", str(lead.pk), stdout=io.StringIO())
    entry = only_entry(Action.PUSH)
    assert entry.via == AuditEntry.Via.CLI and entry.actor is None
    assert entry.actor_name == audit.os_user()
    assert entry.object_ids == [lead.pk] and entry.count == 1


def test_a_cli_push_as_a_user_names_that_user_and_the_os_user(make_lead, make_account, superuser):
    lead = make_lead()
    make_account("leeloo")
    call_command(
        "push", "--account", "leeloo", "--lead", str(lead.pk), "--as", "admin", stdout=io.StringIO()
    )
    entry = only_entry(Action.PUSH)
    assert entry.actor == superuser and entry.actor_name == "admin"
    assert entry.details["os_user"] == audit.os_user()


@pytest.mark.parametrize("name", ["nobody", "retired"])
def test_a_bad_as_is_an_error_naming_the_option_and_nothing_is_done(
    name, make_lead, make_account, django_user_model
):
    django_user_model.objects.create_user("retired", is_active=False)
    lead = make_lead()
    make_account("leeloo")
    with pytest.raises(CommandError, match=f"^--as: .*'{name}'"):
        call_command("push", "--account", "leeloo", "--lead", str(lead.pk), "--as", name)
    assert not Delivery.objects.exists() and not AuditEntry.objects.exists()


def test_cli_rotations_and_rules_are_recorded(make_account, superuser):
    account = make_account("aello")
    out = io.StringIO()
    call_command("intake_source", "website", stdout=out, stderr=io.StringIO())
    assert not AuditEntry.objects.exists()  # a new source is not a rotation
    call_command("intake_source", "website", "--rotate", stdout=out, stderr=io.StringIO())
    rotated = only_entry(Action.TOKEN_ROTATED)
    assert rotated.via == AuditEntry.Via.CLI
    for token in out.getvalue().split():
        assert token not in every_value()
    AuditEntry.objects.all().delete()
    call_command("routes", "add", "web", "--account", "aello", "--as", "admin", stdout=out)
    added = only_entry(Action.RULE_ADDED)
    assert added.actor == superuser and added.object_ids == [RoutingRule.objects.get().pk]
    AuditEntry.objects.all().delete()
    calls = make_account("aloware")
    call_command("webhook_url", "--account", "aloware", "--rotate", stdout=out)
    webhook = only_entry(Action.WEBHOOK_ROTATED)
    assert webhook.object_ids == [calls.pk] and account.pk not in webhook.object_ids
    calls.refresh_from_db()
    assert calls.webhook_token.reveal() not in every_value()


def test_a_cli_sync_is_recorded_with_its_resources(fake_account):
    fake_account("leeloo")
    call_command("sync", "--account", "leeloo", "--resource", "tags", stdout=io.StringIO())
    entry = only_entry(Action.SYNC)
    assert entry.details == {"full": False, "resources": ["tags"]} and entry.count == 1


# --- record() itself ------------------------------------------------------------------------------


def test_record_is_ready_for_a_merge_and_refuses_unknown_actions(make_contact, superuser):
    kept, merged = make_contact(), make_contact()
    entry = audit.record(
        "merge",
        actor=superuser,
        target=kept,
        count=2,
        summary=f"Merged contact #{merged.pk} into #{kept.pk}",
        details={"merged": [merged.pk], "api_key": SECRET},
    )
    assert entry.get_action_display() == "Merge" and entry.object_ids == [kept.pk]
    assert entry.details["api_key"] == "********"
    with pytest.raises(ValueError):
        audit.record("merged", actor=superuser)


# --- the trail in the admin -----------------------------------------------------------------------


@pytest.fixture
def entries(superuser, make_account):
    account = make_account("aello")
    audit.record("pause", actor=superuser, target=account, summary="Paused 1 account(s)")
    audit.record(
        "push",
        actor="ops",
        via="cli",
        target=Lead,
        count=7,
        summary="=HYPERLINK(x)",
        details={"batch": 3},
    )
    return account


def test_the_trail_is_read_only_even_for_a_superuser(admin_client, entries):
    entry = AuditEntry.objects.get(action=Action.PAUSE)
    model_admin = admin.site._registry[AuditEntry]
    assert admin_client.get(reverse("admin:bridge_auditentry_add")).status_code == 403
    change = reverse("admin:bridge_auditentry_change", args=[entry.pk])
    page = admin_client.get(change)
    assert page.status_code == 200 and b'type="submit" value="Save"' not in page.content
    assert admin_client.post(change, {"summary": "rewritten"}).status_code == 403
    delete = reverse("admin:bridge_auditentry_delete", args=[entry.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    response = post_action(admin_client, "auditentry", "delete_selected", [entry.pk], post="yes")
    assert response.status_code == 302
    assert AuditEntry.objects.get(pk=entry.pk).summary == "Paused 1 account(s)"
    request = page.wsgi_request
    assert set(model_admin.get_actions(request)) == {"export_csv"}


def test_the_trail_filters_by_action_actor_model_and_searches(admin_client, entries):
    url = reverse("admin:bridge_auditentry_changelist")

    def shown(query):
        response = admin_client.get(url + query)
        assert response.status_code == 200
        return [e.action for e in response.context["cl"].result_list]

    assert sorted(shown("")) == ["pause", "push"]
    assert shown("?action__exact=pause") == ["pause"]
    assert shown("?actor_name=ops") == ["push"]
    assert shown(f"?content_type__id__exact={lead_type().pk}") == ["push"]
    assert shown("?via__exact=cli") == ["push"]
    assert shown("?q=Paused") == ["pause"]


def test_the_trail_exports_as_csv_with_formulas_made_inert(admin_client, entries):
    response = post_action(
        admin_client, "auditentry", "export_csv", [0], select_across="1"
    )  # every entry the list shows
    assert response.status_code == 200 and response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert {row["action"] for row in rows} == {"Pause account", "Push"}
    push = next(row for row in rows if row["action"] == "Push")
    assert (push["who"], push["via"], push["how many"]) == ("ops", "Command line", "7")
    assert push["summary"] == "'=HYPERLINK(x)" and push["model"] == "lead"
    assert push["details"] == '{"batch": 3}'


def test_credentials_from_the_environment_are_recorded_as_set(settings, superuser):
    settings.PROVIDER_ENV_ACCOUNTS = {"AELLO_API_KEY": SECRET}
    call_command("env_accounts", "--as", "admin", stdout=io.StringIO())
    entry = only_entry(Action.CREDENTIAL_SET)
    assert (
        entry.actor == superuser and entry.summary == "Credential of aello set from the environment"
    )
    call_command("env_accounts", stdout=io.StringIO())  # unchanged: nothing new
    settings.PROVIDER_ENV_ACCOUNTS = {
        "AELLO_API_KEY": SECRET,
        "AELLO_BASE_URL": "http://127.0.0.1:9/a",
    }
    call_command("env_accounts", stdout=io.StringIO())
    moved = AuditEntry.objects.get(action=Action.BASE_URL_CHANGED)
    assert moved.details == {"from": "", "to": "http://127.0.0.1:9/a"}
    assert AuditEntry.objects.count() == 2 and SECRET not in every_value()
