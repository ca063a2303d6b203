"""Every admin changelist, add and change page renders for a superuser."""

import pytest
from django.contrib import admin
from django.urls import reverse

from bridge.models import Delivery, SyncRun


@pytest.fixture
def populated(make_lead, make_account):
    """One of everything, so change pages have an object to show."""
    from django.contrib.contenttypes.models import ContentType
    from django_q.models import Schedule

    from bridge.models import Order, RemoteLink, Tag, Tunnel

    lead = make_lead()
    account = make_account("leeloo")
    tag = Tag.objects.create(name="VIP")
    lead.contact.tags.add(tag)
    Tunnel.objects.create(name="Spring sale", stats={"subscribers": 10})
    Order.objects.create(contact=lead.contact, title="Course", price=100)
    lead_type = ContentType.objects.get_for_model(lead)
    RemoteLink.objects.create(
        account=account, content_type=lead_type, object_id=lead.pk, remote_id="r1"
    )
    Delivery.objects.create(account=account, content_type=lead_type, object_id=lead.pk)
    SyncRun.objects.create(account=account, resource="people")
    Schedule.objects.create(func="math.floor", args="1", name="demo")


def registered_models():
    return sorted(admin.site._registry, key=lambda model: model._meta.label)


@pytest.mark.parametrize("model", registered_models(), ids=lambda m: m._meta.label)
def test_changelist_add_and_change_pages_render(admin_client, populated, model):
    opts = model._meta
    changelist = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist"))
    assert changelist.status_code == 200
    model_admin = admin.site._registry[model]
    add = admin_client.get(reverse(f"admin:{opts.app_label}_{opts.model_name}_add"))
    assert add.status_code == (200 if model_admin.has_add_permission(_request()) else 403)
    obj = model._default_manager.first()
    if obj is not None:
        change = admin_client.get(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk])
        )
        assert change.status_code == 200


def _request():
    from django.contrib.auth.models import User
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    return request


def test_admin_search_finds_contacts_by_phone_typed_any_way(admin_client, make_contact):
    contact = make_contact(phone="+13105550143", email="ann@example.com", last_name="Zed")
    make_contact()
    url = reverse("admin:bridge_contact_changelist")
    for term in ("(310) 555-0143", "ANN@example.com", "Zed"):
        response = admin_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [contact], term


def test_admin_search_finds_leads_by_their_contacts_phone_or_email(
    admin_client, make_contact, make_lead
):
    ann = make_contact(phone="+13105550143", email="ann@example.com")
    lead = make_lead(contact=ann)
    make_lead(contact=make_contact(phone="+13105550144", email="bob@example.com"))
    url = reverse("admin:bridge_lead_changelist")
    for term in ("310.555.0143", "Ann@Example.com"):
        response = admin_client.get(url, {"q": term})
        assert list(response.context["cl"].result_list) == [lead], term
    response = admin_client.get(url, {"q": "nobody@example.com"})
    assert list(response.context["cl"].result_list) == []


def test_invalid_phone_in_the_admin_form_names_the_field(admin_client, db):
    response = admin_client.post(
        reverse("admin:bridge_contact_add"),
        {
            "first_name": "Ann",
            "phone": "12",
            "other_phones": "[]",
            "custom_fields": "{}",
            "bridge_contact_tags-TOTAL_FORMS": "0",
            "bridge_contact_tags-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "phone" in errors and "not a valid phone number" in errors["phone"][0]


def test_staff_without_superuser_cannot_edit_schedules(client, django_user_model, db):
    from django.contrib.auth.models import Permission

    user = django_user_model.objects.create_user("staff", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="django_q"))
    client.force_login(user)
    assert client.get(reverse("admin:django_q_schedule_add")).status_code == 403
    assert client.get(reverse("admin:django_q_schedule_changelist")).status_code == 200
