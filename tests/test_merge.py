"""Merging duplicate contacts: bridge.merge (the plan and the merge) and its admin action.

Everything that pointed at a merged contact points at the survivor afterwards (leads, orders,
activities with their inbound events, Leeloo channels, remote links, deliveries, tags), the
chosen values win, and a refused merge changes nothing. The completeness test fails when a
model gains a relation to Contact that bridge.merge does not move.
"""

import pytest
from django.apps import apps
from django.contrib.admin.models import CHANGE, DELETION, LogEntry
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from bridge.merge import (
    HANDLED_GENERIC_MODELS,
    HANDLED_RELATIONS,
    MergeRefused,
    merge_contacts,
    plan_merge,
    remote_id_collisions,
)
from bridge.models import (
    Activity,
    AuditEntry,
    Channel,
    Contact,
    Delivery,
    InboundEvent,
    Lead,
    Order,
    RemoteLink,
    Tag,
)


def contact_type():
    return ContentType.objects.get_for_model(Contact)


def link(account, contact, remote_id):
    return RemoteLink.objects.create(
        account=account, content_type=contact_type(), object_id=contact.pk, remote_id=remote_id
    )


def delivery(account, contact, state=Delivery.State.DELIVERED):
    return Delivery.objects.create(
        account=account, content_type=contact_type(), object_id=contact.pk, state=state
    )


def activity(account, contact, lead=None, key="CALL:1"):
    event = InboundEvent.objects.create(
        account=account,
        event_type="CALL",
        kind="call",
        received_at=timezone.now(),
        body="{}",
        dedup_key=key,
        state=InboundEvent.State.PROCESSED,
    )
    return Activity.objects.create(
        kind="call",
        account=account,
        contact=contact,
        lead=lead,
        occurred_at=timezone.now(),
        summary="Call: 2 min",
        event=event,
    )


@pytest.fixture
def pair(make_contact, make_lead, make_account):
    """Two duplicates of one person: ``keep`` (older, the default survivor) and ``dupe``, with
    something of every kind attached to ``dupe`` and a little to ``keep``."""
    aello, leeloo = make_account("aello"), make_account("leeloo")
    vip, wholesale = Tag.objects.create(name="VIP"), Tag.objects.create(name="Wholesale")
    keep = make_contact(
        first_name="Jane", last_name="Doe", email="jane@example.com", company="", city="Lyon"
    )
    dupe = make_contact(
        first_name="Jane",
        last_name="Doe",
        email="jane.doe@work.example.com",
        company="Acme Trucks",
        city="Lyon",
        tags=[vip, wholesale],
    )
    keep.tags.add(vip)
    leads = [make_lead(contact=dupe), make_lead(contact=dupe)]
    order = Order.objects.create(contact=dupe, title="Course", price=100)
    call = activity(leeloo, dupe, lead=leads[0])
    channel = Channel.objects.create(account=leeloo, remote_id="ch-1", contact=dupe)
    kept_link = link(aello, keep, "aello-1")
    moved_link = link(leeloo, dupe, "person-1")
    sent = [delivery(leeloo, dupe), delivery(aello, dupe, Delivery.State.PENDING)]
    return locals()


def references_to(contact_pk: int) -> list[str]:
    """Every row, found by introspection, that still points at ``contact_pk``."""
    found = []
    for model in apps.get_models(include_auto_created=True):
        for f in model._meta.concrete_fields:
            if f.is_relation and f.related_model is Contact:
                if model._base_manager.filter(**{f.attname: contact_pk}).exists():
                    found.append(f"{model._meta.label}.{f.name}")
        if any(isinstance(f, GenericForeignKey) for f in model._meta.private_fields):
            rows = model._base_manager.filter(content_type=contact_type(), object_id=contact_pk)
            if rows.exists():
                found.append(model._meta.label)
    return found


# --- the merge itself ----------------------------------------------------------------------


def test_everything_moves_to_the_survivor_and_the_duplicate_is_deleted(pair):
    keep, dupe = pair["keep"], pair["dupe"]
    result = merge_contacts(keep, [dupe])
    assert not Contact.objects.filter(pk=dupe.pk).exists()
    assert references_to(dupe.pk) == []
    assert set(Lead.objects.filter(contact=keep)) == set(pair["leads"])
    assert Order.objects.get(pk=pair["order"].pk).contact == keep
    moved_call = Activity.objects.get(pk=pair["call"].pk)
    assert (moved_call.contact, moved_call.lead, moved_call.event) == (
        keep,
        pair["leads"][0],
        pair["call"].event,
    )
    assert Channel.objects.get(pk=pair["channel"].pk).contact == keep
    assert {t.name for t in keep.tags.all()} == {"VIP", "Wholesale"}
    assert (
        result.leads_moved,
        result.orders_moved,
        result.activities_moved,
        result.channels_moved,
        result.links_moved,
        result.deliveries_moved,
        result.tags_added,
        result.contacts_deleted,
    ) == (2, 1, 1, 1, 1, 2, 1, 1)
    assert result.as_dict()["merged_ids"] == [dupe.pk]


def test_a_merged_contacts_deliveries_and_links_now_point_to_the_survivor(pair):
    keep, dupe = pair["keep"], pair["dupe"]
    merge_contacts(keep, [dupe])
    for sent in pair["sent"]:
        sent.refresh_from_db()
        assert (sent.content_type, sent.object_id, sent.record) == (contact_type(), keep.pk, keep)
    pair["moved_link"].refresh_from_db()
    assert pair["moved_link"].record == keep
    links = RemoteLink.objects.filter(content_type=contact_type(), object_id=keep.pk)
    assert sorted(links.values_list("account__name", "remote_id")) == [
        ("aello", "aello-1"),
        ("leeloo", "person-1"),
    ]


def test_chosen_values_win_and_a_merged_contacts_keys_are_released(pair):
    keep, dupe = pair["keep"], pair["dupe"]
    dupe_phone, keep_phone = dupe.phone, keep.phone
    result = merge_contacts(keep, [dupe], {"email": dupe.pk, "phone": dupe.pk, "company": dupe.pk})
    keep.refresh_from_db()
    assert (keep.email, keep.phone, keep.company) == (
        "jane.doe@work.example.com",
        dupe_phone,
        "Acme Trucks",
    )
    assert keep.phone != keep_phone
    assert (keep.first_name, keep.city) == ("Jane", "Lyon")
    assert result.values_taken == {"email": dupe.pk, "phone": dupe.pk, "company": dupe.pk}


def test_phones_and_emails_not_chosen_are_kept_on_the_survivor(pair):
    """Nothing that reaches the person is lost: the unchosen main phone, the duplicate's other
    phones and its email end up in the survivor's other phones and notes."""
    keep, dupe = pair["keep"], pair["dupe"]
    Contact.objects.filter(pk=dupe.pk).update(
        other_phones=[{"label": "mobile", "phone_number": "+13105550199"}], notes="Call after 5"
    )
    Contact.objects.filter(pk=keep.pk).update(notes="VIP buyer")
    keep.refresh_from_db()
    dupe.refresh_from_db()
    keep_phone, dupe_phone = keep.phone, dupe.phone
    result = merge_contacts(keep, [dupe], {"phone": dupe.pk})
    keep.refresh_from_db()
    assert keep.phone == dupe_phone
    assert keep.other_phones == [
        {"label": f"from #{keep.pk}", "phone_number": keep_phone},
        {"label": f"mobile (from #{dupe.pk})", "phone_number": "+13105550199"},
    ]
    assert keep.email == "jane@example.com"
    assert keep.notes == (
        f"VIP buyer\nOther email (from merged contact #{dupe.pk}): jane.doe@work.example.com"
    )
    assert (result.phones_kept, result.emails_kept) == (2, 1)
    assert "2 phone numbers and 1 email not chosen kept" in result.summary()


def test_a_phone_the_survivor_already_holds_is_not_added_twice(make_contact):
    keep = make_contact(phone="+13105550101", email="a@example.com")
    dupe = make_contact(
        phone="+13105550102",
        email="a2@example.com",
        other_phones=[{"label": "work", "phone_number": "+13105550101"}],
    )
    Contact.objects.filter(pk=keep.pk).update(
        other_phones=[{"label": "home", "phone_number": "+13105550102"}]
    )
    keep.refresh_from_db()
    result = merge_contacts(keep, [dupe], {"email": dupe.pk})
    keep.refresh_from_db()
    assert keep.other_phones == [{"label": "home", "phone_number": "+13105550102"}]
    assert keep.email == "a2@example.com"
    assert keep.notes.endswith(f"Other email (from merged contact #{keep.pk}): a@example.com")
    assert (result.phones_kept, result.emails_kept) == (0, 1)


def test_the_newer_contact_may_survive(pair):
    keep, dupe = pair["keep"], pair["dupe"]
    result = merge_contacts(dupe, [keep], {"email": keep.pk})
    dupe.refresh_from_db()
    assert dupe.email == "jane@example.com"
    assert not Contact.objects.filter(pk=keep.pk).exists()
    assert references_to(keep.pk) == []
    assert RemoteLink.objects.get(pk=pair["kept_link"].pk).object_id == dupe.pk
    assert result.links_moved == 1 and result.tags_added == 0


def test_the_plan_lists_differing_fields_once_each_and_equal_ones_apart(pair):
    keep, dupe = pair["keep"], pair["dupe"]
    Contact.objects.filter(pk=keep.pk).update(custom_fields={"csf1": "a", "csf2": "b"})
    Contact.objects.filter(pk=dupe.pk).update(custom_fields={"csf2": "b", "csf1": "a"})
    plan = plan_merge(Contact.objects.filter(pk__in=[dupe.pk, keep.pk]))
    assert plan.allowed
    assert [c.pk for c in plan.contacts] == [keep.pk, dupe.pk]  # oldest first: the default
    differing = {d.name: d.values for d in plan.differing}
    assert set(differing) == {"email", "phone", "company"}
    assert differing["company"] == {keep.pk: "", dupe.pk: "Acme Trucks"}
    same = {s.name: s.value for s in plan.same}
    assert same["first_name"] == "Jane" and same["city"] == "Lyon"
    assert same["custom_fields"] == {"csf1": "a", "csf2": "b"}  # the same in another order
    assert "created_at" not in same and "tags" not in same


# --- refusals: nothing changes --------------------------------------------------------------


def snapshot(*models):
    return {m._meta.label: sorted(m._base_manager.values_list()) for m in models}


WATCHED = (Contact, Contact.tags.through, Lead, Order, Activity, Channel, RemoteLink, Delivery)


def test_colliding_remote_ids_in_one_account_are_refused_and_nothing_changes(pair):
    keep, dupe, leeloo = pair["keep"], pair["dupe"], pair["leeloo"]
    link(leeloo, keep, "person-2")
    plan = plan_merge([keep, dupe])
    assert plan.refusals == [
        f"Account “leeloo” links these contacts to different remote ids: person-1 ({dupe} "
        f"(#{dupe.pk})) and person-2 ({keep} (#{keep.pk})). Merge them at the provider "
        "first, or unlink one."
    ]
    before = snapshot(*WATCHED)
    with pytest.raises(MergeRefused) as refused:
        merge_contacts(keep, [dupe], {"email": dupe.pk})
    assert "person-1" in str(refused.value) and "person-2" in str(refused.value)
    assert snapshot(*WATCHED) == before


def test_the_same_remote_id_in_one_account_is_no_collision():
    """The table allows one contact per remote id and account, so two links to one remote id
    are checked on the rule itself: the survivor would keep one link, nothing to refuse."""
    contacts = {1: Contact(pk=1, first_name="A"), 2: Contact(pk=2, first_name="B")}
    same = [("leeloo", "person-1", 1), ("leeloo", "person-1", 2), ("aello", "x", 2)]
    assert remote_id_collisions(same, contacts) == []
    different = [("leeloo", "person-1", 1), ("leeloo", "person-9", 2)]
    assert len(remote_id_collisions(different, contacts)) == 1


def test_links_in_different_accounts_are_all_kept(pair):
    keep, dupe = pair["keep"], pair["dupe"]
    result = merge_contacts(keep, [dupe])
    assert result.links_moved == 1 and result.links_dropped == 0
    assert RemoteLink.objects.filter(content_type=contact_type(), object_id=keep.pk).count() == 2


def test_a_delivery_being_sent_refuses_the_merge(pair):
    keep, dupe, aello = pair["keep"], pair["dupe"], pair["aello"]
    sending = delivery(aello, dupe, Delivery.State.SENDING)
    plan = plan_merge([keep, dupe])
    assert plan.refusals == [
        f"{dupe} (#{dupe.pk}) has a delivery being sent right now (#{sending.pk} to aello); "
        "merge once it has ended."
    ]
    before = snapshot(*WATCHED)
    with pytest.raises(MergeRefused):
        merge_contacts(keep, [dupe])
    assert snapshot(*WATCHED) == before


def test_fewer_than_two_contacts_are_refused(make_contact):
    only = make_contact()
    assert plan_merge([only]).refusals == ["Select two or more contacts to merge (1 selected)."]
    with pytest.raises(MergeRefused):
        merge_contacts(only, [])
    assert Contact.objects.filter(pk=only.pk).exists()


def test_values_that_do_not_validate_are_refused_naming_the_field(pair):
    keep, dupe = pair["keep"], pair["dupe"]
    Contact.objects.filter(pk=dupe.pk).update(website="not a url")  # a write that skipped checks
    dupe.refresh_from_db()
    before = snapshot(*WATCHED)
    with pytest.raises(ValidationError) as invalid:
        merge_contacts(keep, [dupe], {"website": dupe.pk, "email": dupe.pk})
    assert "website" in invalid.value.message_dict
    assert snapshot(*WATCHED) == before


# --- every relation to Contact is known -----------------------------------------------------


def test_every_relation_to_contact_is_one_the_merge_moves():
    """A new foreign key, m2m or generic relation to Contact fails here until bridge.merge
    moves it (and names it in HANDLED_RELATIONS / HANDLED_GENERIC_MODELS)."""
    foreign_keys = {
        (model._meta.label, f.name)
        for model in apps.get_models(include_auto_created=True)
        for f in model._meta.concrete_fields
        if f.is_relation and f.related_model is Contact
    }
    assert foreign_keys == HANDLED_RELATIONS
    reverse_relations = {
        (r.related_model._meta.label, r.field.name) for r in Contact._meta.related_objects
    }
    assert reverse_relations <= HANDLED_RELATIONS
    assert [f.name for f in Contact._meta.many_to_many] == ["tags"]
    assert not Contact._meta.private_fields  # no GenericRelation on Contact itself
    generic = {
        model._meta.label
        for model in apps.get_models(include_auto_created=True)
        if any(isinstance(f, GenericForeignKey) for f in model._meta.private_fields)
    }
    assert generic == HANDLED_GENERIC_MODELS


# --- the admin action ------------------------------------------------------------------------


def post_merge(client, *ids, **extra):
    return client.post(
        reverse("admin:bridge_contact_changelist"),
        {
            "action": "merge_selected_contacts",
            "_selected_action": [str(pk) for pk in ids],
            "index": "0",
            **extra,
        },
    )


def keeping(survivor):
    """The page's answer that keeps ``survivor`` and its values (the pair's differing fields)."""
    fields = ("email", "phone", "company")
    return {"survivor": survivor.pk, **{f"value__{name}": survivor.pk for name in fields}}


def test_the_page_offers_the_differing_fields_with_the_survivors_values_chosen(admin_client, pair):
    keep, dupe = pair["keep"], pair["dupe"]
    response = post_merge(admin_client, dupe.pk, keep.pk)
    assert response.status_code == 200
    assert "admin/bridge/merge_confirm.html" in [t.name for t in response.templates]
    form = response.context["form"]
    assert form["survivor"].initial == keep.pk
    assert sorted(name for name in form.fields if name.startswith("value__")) == [
        "value__company",
        "value__email",
        "value__phone",
    ]
    assert all(form[name].initial == keep.pk for name in form.fields if name != "survivor")
    html = response.content.decode()
    assert "Acme Trucks" in html and "person-1" in html and "2 leads" in html
    assert dict(response.context["same"])["city"] == "Lyon"
    assert "address" not in dict(response.context["same"])
    assert "address" in response.context["blank_everywhere"]
    assert Contact.objects.filter(pk=dupe.pk).exists()  # only asked


def test_confirming_merges_and_opens_the_survivor_with_the_counts(admin_client, pair):
    keep, dupe = pair["keep"], pair["dupe"]
    response = post_merge(
        admin_client,
        keep.pk,
        dupe.pk,
        confirm="yes",
        survivor=keep.pk,
        value__email=keep.pk,
        value__phone=keep.pk,
        value__company=dupe.pk,
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:bridge_contact_change", args=[keep.pk])
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == [
        f"Merged 2 contacts into Jane Doe (#{keep.pk}): 2 leads, 1 order, 1 remote link, "
        "2 deliveries, 1 activity, 1 Leeloo channel moved; 1 tag added; "
        "1 phone number and 1 email not chosen kept (other phones, notes); 1 contact deleted."
    ]
    keep.refresh_from_db()
    assert keep.company == "Acme Trucks" and keep.email == "jane@example.com"
    assert not Contact.objects.filter(pk=dupe.pk).exists()
    history = LogEntry.objects.filter(content_type=contact_type())
    assert history.get(object_id=str(keep.pk), action_flag=CHANGE).change_message == (
        f"Merged contacts #{dupe.pk} into this one: 2 leads, 1 order, 1 remote link, "
        "2 deliveries, 1 activity, 1 Leeloo channel moved; 1 tag added; "
        "1 phone number and 1 email not chosen kept (other phones, notes); 1 contact deleted."
    )
    assert history.filter(object_id=str(dupe.pk), action_flag=DELETION).exists()
    [entry] = AuditEntry.objects.all()
    assert (entry.action, entry.actor.username, entry.count) == ("merge", "admin", 1)
    assert entry.object_ids == [keep.pk] and entry.details["merged_ids"] == [dupe.pk]
    assert entry.summary.startswith(f"Merged contacts #{dupe.pk} into #{keep.pk}: 2 leads")


def test_a_refused_merge_shows_its_reason_and_changes_nothing(admin_client, pair):
    keep, dupe = pair["keep"], pair["dupe"]
    link(pair["leeloo"], keep, "person-2")
    before = snapshot(*WATCHED)
    response = post_merge(admin_client, keep.pk, dupe.pk, confirm="yes", survivor=keep.pk)
    assert response.status_code == 200
    html = response.content.decode()
    assert "cannot be merged" in html and "person-1" in html and "person-2" in html
    assert 'id="merge-submit"' not in html
    assert snapshot(*WATCHED) == before


def test_one_contact_selected_is_refused_on_the_page(admin_client, make_contact):
    only = make_contact()
    response = post_merge(admin_client, only.pk)
    assert response.status_code == 200
    assert "Select two or more contacts to merge (1 selected)." in response.content.decode()


def test_an_invalid_chosen_value_is_shown_on_its_row(admin_client, pair):
    keep, dupe = pair["keep"], pair["dupe"]
    Contact.objects.filter(pk=dupe.pk).update(website="not a url")
    before = snapshot(*WATCHED)
    keeps = {f"value__{name}": keep.pk for name in ("email", "phone", "company")}
    response = post_merge(
        admin_client,
        keep.pk,
        dupe.pk,
        confirm="yes",
        survivor=keep.pk,
        value__website=dupe.pk,
        **keeps,
    )
    assert response.status_code == 200
    assert response.context["form"].errors == {"value__website": ["Enter a valid URL."]}
    assert snapshot(*WATCHED) == before


@pytest.fixture
def staff_with(client, django_user_model):
    def make(*codenames):
        user = django_user_model.objects.create_user("merger", is_staff=True)
        user.user_permissions.set(
            Permission.objects.filter(content_type__app_label="bridge", codename__in=codenames)
        )
        client.force_login(user)
        return client

    return make


@pytest.mark.parametrize(
    "codenames",
    [
        ("view_contact", "change_contact"),
        ("view_contact", "delete_contact"),
        ("view_contact",),
    ],
)
def test_merging_needs_both_change_and_delete_permission(staff_with, pair, codenames):
    keep, dupe = pair["keep"], pair["dupe"]
    client = staff_with(*codenames)
    changelist = client.get(reverse("admin:bridge_contact_changelist"))
    action_form = changelist.context["action_form"]  # None: no action at all
    offered = dict(action_form.fields["action"].choices) if action_form else {}
    assert "merge_selected_contacts" not in offered
    before = snapshot(*WATCHED)
    response = post_merge(client, keep.pk, dupe.pk, confirm="yes", survivor=keep.pk)
    assert response.status_code == 302
    said = [str(m) for m in get_messages(response.wsgi_request)]
    assert said == ["You do not have permission to merge selected contacts."]
    assert snapshot(*WATCHED) == before


def test_staff_with_change_and_delete_permission_merge(staff_with, pair):
    keep, dupe = pair["keep"], pair["dupe"]
    client = staff_with("view_contact", "change_contact", "delete_contact")
    changelist = client.get(reverse("admin:bridge_contact_changelist"))
    choices = dict(changelist.context["action_form"].fields["action"].choices)
    assert choices["merge_selected_contacts"] == "Merge selected contacts…"
    response = post_merge(client, keep.pk, dupe.pk, confirm="yes", **keeping(keep))
    assert response.status_code == 302
    assert not Contact.objects.filter(pk=dupe.pk).exists()


def test_three_contacts_merge_into_one_taking_values_from_each(make_contact, make_lead):
    first = make_contact(company="First Co", city="")
    second = make_contact(company="", city="Paris")
    third = make_contact(company="Third Co", city="Nice")
    leads = [make_lead(contact=first), make_lead(contact=third)]
    result = merge_contacts(second, [first, third], {"company": third.pk, "email": first.pk})
    second.refresh_from_db()
    assert (second.company, second.city, second.email) == ("Third Co", "Paris", first.email)
    assert Contact.objects.filter(pk__in=[first.pk, third.pk]).count() == 0
    assert {lead.contact_id for lead in Lead.objects.filter(pk__in=[x.pk for x in leads])} == {
        second.pk
    }
    assert (result.leads_moved, result.contacts_deleted) == (2, 2)
    assert result.merged_ids == sorted([first.pk, third.pk])
    assert references_to(first.pk) == references_to(third.pk) == []


def test_more_than_ten_contacts_are_refused_before_they_are_read(make_contact):
    for _ in range(11):
        make_contact()
    plan = plan_merge(Contact.objects.all())
    assert plan.refusals == ["Merge at most 10 contacts at a time (11 selected)."]
    assert plan.contacts == []
