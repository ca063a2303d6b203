"""The one matching rule: remote id, else phone, else email."""

from django.contrib.contenttypes.models import ContentType

from bridge.matching import Candidate, find_matching_contact, match_contacts
from bridge.models import Contact, RemoteLink


def test_matches_by_remote_id_first(make_account, make_contact):
    account = make_account("leeloo")
    linked, by_phone = make_contact(), make_contact()
    RemoteLink.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=linked.pk,
        remote_id="p-1",
    )
    found = find_matching_contact(remote_id="p-1", phone=by_phone.phone, account=account)
    assert found == linked


def test_matches_by_phone_typed_any_way_then_by_email(make_contact):
    contact = make_contact(phone="+13105550143", email="ann@example.com")
    assert find_matching_contact(phone="(310) 555-0143") == contact
    assert find_matching_contact(email="ANN@Example.com") == contact
    assert find_matching_contact(phone="+13105550199", email="nobody@example.com") is None


def test_phone_wins_over_email(make_contact):
    by_phone = make_contact(phone="+13105550143", email="a@example.com")
    make_contact(phone="+13105550144", email="b@example.com")
    assert find_matching_contact(phone="+13105550143", email="b@example.com") == by_phone


def test_bulk_matching_keeps_order_and_reports_misses(make_contact):
    a = make_contact(phone="+13105550143", email="a@example.com")
    b = make_contact(phone="+13105550144", email="b@example.com")
    result = match_contacts(
        [
            Candidate(email="b@example.com"),
            Candidate(phone="garbage"),
            Candidate(phone="3105550143"),
        ]
    )
    assert result == [b.pk, None, a.pk]


def test_a_caller_that_has_read_the_links_and_keys_gets_the_same_answer_without_queries(
    make_account, make_contact, django_assert_num_queries
):
    """The sync passes what it has already read for its page; the rule must not change."""
    account = make_account("leeloo")
    linked = make_contact(phone="+13105550140")
    by_phone = make_contact(phone="+13105550143", email="a@example.com")
    by_email = make_contact(phone="+13105550144", email="b@example.com")
    RemoteLink.objects.create(
        account=account,
        content_type=ContentType.objects.get_for_model(Contact),
        object_id=linked.pk,
        remote_id="p-1",
    )
    candidates = [
        Candidate("p-1", "+13105550143", "a@example.com"),  # the link wins over the phone
        Candidate("p-2", "+13105550143", "b@example.com"),  # the phone wins over the email
        Candidate("p-3", "", "b@example.com"),
        Candidate("p-4", "+13105550199", "nobody@example.com"),
    ]
    queried = match_contacts(candidates, account)
    known = {
        ("phone", "+13105550140"): linked.pk,
        ("phone", "+13105550143"): by_phone.pk,
        ("email", "a@example.com"): by_phone.pk,
        ("phone", "+13105550144"): by_email.pk,
        ("email", "b@example.com"): by_email.pk,
    }
    with django_assert_num_queries(0):
        given = match_contacts(candidates, account, linked={"p-1": linked.pk}, known=known)
    assert given == queried == [linked.pk, by_phone.pk, by_email.pk, None]
