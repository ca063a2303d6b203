"""Tag history (bridge/tag_history.py): every tag added to or taken off a contact is recorded
with when and by what — the m2m API, staff on the contact page, a sync (in bulk), an import,
a merge — and read back in the contact's timeline."""

import pytest
from django.urls import reverse

from bridge import sync, tag_history
from bridge.merge import merge_contacts
from bridge.models import Contact, Tag, TagChange
from bridge.timeline import contact_timeline

Source = TagChange.Source


def history(contact) -> list[tuple[str, str, str]]:
    """(tag name, action, source) of the contact's changes, oldest first."""
    changes = TagChange.objects.filter(contact=contact).order_by("at", "pk")
    return list(changes.values_list("tag_name", "action", "source"))


@pytest.fixture
def tags(db):
    return {name: Tag.objects.create(name=name) for name in ("VIP", "Wholesale", "Newsletter")}


def test_the_m2m_api_is_recorded_from_either_side(make_contact, tags):
    ann = make_contact()
    ann.tags.add(tags["VIP"], tags["Wholesale"])
    ann.tags.add(tags["VIP"])  # already there: nothing new
    ann.tags.remove(tags["Wholesale"])
    tags["Newsletter"].contacts.add(ann)  # from the tag's side
    ann.tags.set([tags["VIP"]])
    ann.tags.clear()
    assert history(ann) == [
        ("VIP", "added", "other"),
        ("Wholesale", "added", "other"),
        ("Wholesale", "removed", "other"),
        ("Newsletter", "added", "other"),
        ("Newsletter", "removed", "other"),
        ("VIP", "removed", "other"),
    ]


def test_changes_are_attributed_to_what_encloses_them(make_contact, tags, admin_user):
    ann = make_contact()
    with tag_history.attributed(Source.STAFF, user=admin_user):
        ann.tags.add(tags["VIP"])
    with tag_history.attributed(Source.MERGE, muted=True):
        ann.tags.add(tags["Wholesale"])  # muted: the caller records it itself
    change = TagChange.objects.get(contact=ann)
    assert (change.tag_name, change.source, change.user) == ("VIP", "staff", admin_user)


def test_history_keeps_the_name_of_a_tag_deleted_since(make_contact, tags):
    ann = make_contact()
    ann.tags.add(tags["VIP"])
    tags["VIP"].delete()
    assert history(ann) == [("VIP", "added", "other")]


def contact_form(response) -> dict:
    """The POST a contact's change page would send unchanged (its inlines' management forms
    and its tag rows)."""
    form = response.context["adminform"].form
    data = {name: form[name].value() or "" for name in form.fields}
    data["other_phones"], data["custom_fields"] = "[]", "{}"
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        for name in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            data[f"{formset.prefix}-{name}"] = management[name].value()
        data[f"{formset.prefix}-TOTAL_FORMS"] = str(formset.initial_form_count())
        for index, row in enumerate(formset.initial_forms):
            for name in row.fields:
                value = row[name].value()
                data[f"{formset.prefix}-{index}-{name}"] = "" if value is None else value
    return data


def test_staff_adding_and_removing_tags_on_the_contact_page_are_recorded(
    admin_client, admin_user, make_contact, tags
):
    ann = make_contact(tags=[tags["VIP"]])
    TagChange.objects.all().delete()  # as made by the fixture
    url = reverse("admin:bridge_contact_change", args=[ann.pk])
    data = contact_form(admin_client.get(url))
    prefix = "Contact_tags"
    data[f"{prefix}-0-DELETE"] = "on"  # take VIP off
    data[f"{prefix}-TOTAL_FORMS"] = "2"
    data[f"{prefix}-1-contact"], data[f"{prefix}-1-tag"] = ann.pk, tags["Wholesale"].pk
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert set(ann.tags.values_list("name", flat=True)) == {"Wholesale"}
    assert history(ann) == [("Wholesale", "added", "staff"), ("VIP", "removed", "staff")]
    assert set(TagChange.objects.values_list("user", flat=True)) == {admin_user.pk}


def test_a_merge_moves_the_history_and_records_the_tags_the_survivor_gains(make_contact, tags):
    keep, dupe = make_contact(), make_contact()
    keep.tags.add(tags["VIP"])
    dupe.tags.add(tags["VIP"], tags["Wholesale"])
    result = merge_contacts(keep, [dupe])
    assert result.tag_changes_moved == 2
    assert history(keep) == [
        ("VIP", "added", "other"),
        ("VIP", "added", "other"),  # the merged contact's, moved
        ("Wholesale", "added", "other"),
        ("Wholesale", "added", "merge"),
    ]
    assert not TagChange.objects.filter(contact_id=dupe.pk).exists()


def test_an_import_records_its_tags(admin_client, db):
    from .test_import_export import CONTACT_HEADER, confirm, csv_file, upload

    rows = [CONTACT_HEADER, ["Ann", "Lee", "ann@example.com", "(310) 555-0143", "", "", "VIP"]]
    preview = upload(admin_client, "contact", csv_file(rows))
    assert not TagChange.objects.exists()  # the preview is a dry run, rolled back
    confirm(admin_client, "contact", preview)
    ann = Contact.objects.get(email="ann@example.com")
    assert history(ann) == [("VIP", "added", "import")]


def test_the_timeline_shows_tags_added_and_removed_and_by_what(make_contact, tags, admin_user):
    ann = make_contact()
    with tag_history.attributed(Source.STAFF, user=admin_user):
        ann.tags.add(tags["VIP"])
    ann.tags.remove(tags["VIP"])
    entries = [e for e in contact_timeline(ann).entries if e.kind == "tag"]
    assert [(e.title, e.detail) for e in entries] == [
        ("Tag removed: VIP", "by the bridge"),
        ("Tag added: VIP", f"by staff ({admin_user.username})"),
    ]


# --- a sync, against the fake Leeloo -----------------------------------------------------

FELIKS = "5e1c7ce2b4066a01900cdba0"


@pytest.mark.django_db(transaction=True)
def test_a_sync_records_its_changes_in_bulk_with_its_account(fake_account, fakes):
    leeloo = fake_account("leeloo", requests_per_second=1000, concurrency=2)
    fake = fakes.fakes["leeloo"]
    assert sync.run_sync(leeloo, "people").status == "succeeded"
    feliks = Contact.objects.get(email="feliks@gmail.com")
    assert sorted(history(feliks)) == [
        ("Mentor", "added", "sync"),
        ("Professional", "added", "sync"),
    ]
    fake.people[FELIKS]["tags"] = ["Mentor", "vip"]  # Professional taken off at Leeloo
    assert sync.run_sync(leeloo, "people", full=True).status == "succeeded"
    assert sorted(history(feliks)[2:]) == [
        ("Professional", "removed", "sync"),
        ("vip", "added", "sync"),
    ]
    assert set(TagChange.objects.values_list("account", flat=True)) == {leeloo.pk}
    timeline = [e for e in contact_timeline(feliks).entries if e.kind == "tag"]
    assert timeline[0].detail == f"by a sync of {leeloo.name}"
