"""Admin permissions, one hole each: who may pause accounts, django-q2's queue, refused actions
said out loud, and the holes the authorization matrix (test_authorization_matrix.py) found."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.urls import reverse
from django_q.models import OrmQ
from django_q.tasks import async_task

from bridge.models import Delivery, Tunnel


@pytest.fixture
def staff(client, django_user_model):
    """Log a staff user in with these permissions ("app.codename" or a Permission queryset)."""

    def make(*codenames, extra=()):
        user = django_user_model.objects.create_user("staff", is_staff=True)
        perms = list(extra)
        for name in codenames:
            app_label, codename = name.split(".")
            perms.append(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )
        user.user_permissions.set(perms)
        client.force_login(user)
        return client

    return make


def bridge_views():
    return Permission.objects.filter(content_type__app_label="bridge", codename__startswith="view_")


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def post_action(client, model: str, action: str, *ids, **extra):
    return client.post(
        reverse(f"admin:bridge_{model}_changelist"),
        {"action": action, "_selected_action": list(ids), "index": "0", **extra},
    )


# --- 8. pausing and resuming accounts needs the change permission ----------------------------


def test_view_only_staff_cannot_pause_or_resume_accounts(staff, make_account):
    active = make_account("aello", name="active")
    paused = make_account("aello", name="paused", paused=True)
    client = staff(extra=bridge_views())
    post_action(client, "provideraccount", "pause_accounts", active.pk)
    post_action(client, "provideraccount", "resume_accounts", paused.pk)
    active.refresh_from_db()
    paused.refresh_from_db()
    assert not active.paused and paused.paused


def test_account_managers_pause_and_resume(staff, make_account):
    active = make_account("aello", name="active")
    client = staff("bridge.change_provideraccount", extra=bridge_views())
    post_action(client, "provideraccount", "pause_accounts", active.pk)
    active.refresh_from_db()
    assert active.paused
    post_action(client, "provideraccount", "resume_accounts", active.pk)
    active.refresh_from_db()
    assert not active.paused


# --- 9. django-q2's queued tasks: superusers only write ---------------------------------------


@pytest.fixture
def queued_task(db):
    async_task("math.floor", 1.5)
    return OrmQ.objects.get()


def every_django_q_permission():
    return Permission.objects.filter(content_type__app_label="django_q")


def test_staff_with_every_django_q_permission_cannot_change_or_delete_queued_tasks(
    staff, queued_task
):
    client = staff(extra=every_django_q_permission())
    change = reverse("admin:django_q_ormq_change", args=[queued_task.pk])
    assert client.get(change).status_code == 200  # they may look
    assert client.post(change, {"key": "other", "lock": ""}).status_code == 403
    delete = reverse("admin:django_q_ormq_delete", args=[queued_task.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    response = client.post(
        reverse("admin:django_q_ormq_changelist"),
        {"action": "delete_selected", "_selected_action": [queued_task.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert OrmQ.objects.filter(pk=queued_task.pk, key=queued_task.key).exists()


def django_q_object(model: str):
    from django.utils import timezone
    from django_q.models import Failure, Schedule, Success, Task

    now = timezone.now()
    task = {"func": "math.floor", "args": (1,), "kwargs": {}, "started": now, "stopped": now}
    if model == "schedule":
        return Schedule.objects.create(func="math.floor", args="1", name="demo")
    if model == "ormq":
        async_task("math.floor", 1.5)
        return OrmQ.objects.get()
    made = Task.objects.create(id="c" * 32, name="t", success=model == "success", **task)
    return (Success if model == "success" else Failure).objects.get(pk=made.pk)


@pytest.mark.parametrize("model", ["schedule", "success", "failure", "ormq"])
def test_staff_with_every_django_q_permission_may_only_look(staff, model):
    obj = django_q_object(model)
    client = staff(extra=every_django_q_permission())
    assert client.get(reverse(f"admin:django_q_{model}_change", args=[obj.pk])).status_code == 200
    delete = reverse(f"admin:django_q_{model}_delete", args=[obj.pk])
    assert client.post(delete, {"post": "yes"}).status_code == 403
    assert type(obj)._base_manager.filter(pk=obj.pk).exists()


# --- 10. a refused action says so ------------------------------------------------------------


def test_a_refused_action_says_why_when_the_user_has_no_action_at_all(
    staff, make_lead, make_account
):
    account = make_account("aello")
    lead = make_lead()
    delivery = Delivery.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(lead),
        object_id=lead.pk,
        state=Delivery.State.FAILED,
    )
    client = staff(extra=bridge_views())  # may view deliveries, no action left to run
    response = post_action(client, "delivery", "retry_now", delivery.pk)
    assert response.status_code == 302
    assert messages_of(response) == ["You do not have permission to retry now."]
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.FAILED


def test_a_refused_action_says_what_it_would_have_done(staff, make_account, make_contact):
    account = make_account("aello")
    client = staff(extra=bridge_views())
    response = post_action(client, "provideraccount", "pause_accounts", account.pk)
    assert messages_of(response)[-1] == (
        "You do not have permission to pause selected accounts (deliveries wait)."
    )
    contact = make_contact()
    response = post_action(client, "contact", "push_leeloo_add_tag", contact.pk)
    assert messages_of(response)[-1] == "You do not have permission to Leeloo.ai: Add tag."
    response = post_action(client, "contact", "push_any_push", contact.pk)
    assert messages_of(response)[-1] == "You do not have permission to push to providers."
    response = post_action(client, "contact", "no_such_action", contact.pk)
    assert messages_of(response)[-1] == "There is no action “no_such_action” here."


def test_every_admin_of_the_bridge_and_django_q_refuses_out_loud():
    from bridge.admin.base import RefusedActionsMixin

    quiet = [
        model._meta.label
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in ("bridge", "django_q")
        and not isinstance(model_admin, RefusedActionsMixin)
    ]
    assert quiet == []


# --- holes the authorization matrix found ------------------------------------------------------


def test_sync_progress_needs_the_view_permission(staff, make_account):
    account = make_account("leeloo")
    client = staff()
    query = {"accounts": account.pk, "since": "2000-01-01T00:00:00+00:00"}
    for name in ("admin:bridge_sync_progress", "admin:bridge_sync_progress_json"):
        assert client.get(reverse(name), query).status_code == 403


def test_push_batch_progress_refuses_before_saying_whether_a_batch_exists(staff):
    client = staff()
    url = reverse("admin:bridge_pushbatch_progress", args=[987654])
    assert client.get(url).status_code == 403


def test_a_tunnel_operation_page_opens(admin_client, db):
    tunnel = Tunnel.objects.create(name="Spring sale")
    response = admin_client.post(
        reverse("admin:bridge_tunnel_changelist"),
        {"action": "push_leeloo_create_traffic_source", "_selected_action": [tunnel.pk]},
    )
    assert response.status_code == 200
    assert "admin/bridge/push_confirm.html" in [t.name for t in response.templates]
