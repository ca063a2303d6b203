"""The ``__any`` lookup answers exactly as ``__in`` does, on every database."""

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection

from bridge.models import Contact, RemoteLink, Tag


@pytest.fixture
def people(make_contact):
    return [
        make_contact(phone="+13105550140", email="a@example.com"),
        make_contact(phone="+13105550141", email="b@example.com"),
        make_contact(phone="", email="c@example.com"),
    ]


def test_any_matches_what_in_matches(people):
    phones = ["+13105550141", "+13105550140", "+19999999999", None]
    assert (
        set(Contact.objects.filter(phone__any=phones))
        == set(Contact.objects.filter(phone__in=phones))
        == set(people[:2])
    )
    ids = {people[0].pk, people[2].pk}
    assert set(Contact.objects.filter(pk__any=ids)) == {people[0], people[2]}


def test_any_of_nothing_is_nothing(people):
    assert list(Contact.objects.filter(email__any=[])) == []
    assert list(Contact.objects.filter(email__any=[None])) == []
    assert Contact.objects.filter(pk__any=[]).count() == 0


def test_any_on_foreign_keys_and_in_an_or(people, make_account):
    account = make_account("leeloo")
    contact_type = ContentType.objects.get_for_model(Contact)
    RemoteLink.objects.create(
        account=account, content_type=contact_type, object_id=people[1].pk, remote_id="p-1"
    )
    vip = Tag.objects.create(name="VIP")
    people[2].tags.add(vip)
    assert list(
        RemoteLink.objects.filter(account_id__any=[account.pk], remote_id__any=["p-1", "p-2"])
    ) == list(RemoteLink.objects.filter(account=account))
    through = Contact.tags.through.objects.filter(contact_id__any=[p.pk for p in people])
    assert list(through.values_list("tag_id", flat=True)) == [vip.pk]
    assert (
        Contact.objects.filter(pk__any=[people[0].pk])
        .order_by()
        .union(Contact.objects.filter(email__any=["c@example.com"]).order_by())
        .count()
        == 2
    )


def test_any_finds_values_with_quotes_backslashes_commas_and_braces(make_contact):
    odd = ['O"Brien', "back\\slash", "a,b", "{brace}", " spaced ", "", "Łódź ☎", "NULL"]
    made = {name: make_contact(company=name) for name in odd}
    assert {c.company for c in Contact.objects.filter(company__any=odd)} == set(odd)
    assert list(Contact.objects.filter(company__any=['O"Brien'])) == [made['O"Brien']]
    assert not Contact.objects.filter(company__any=['O\\"Brien', "a"]).exists()


def test_holding_finds_contacts_by_phone_or_email_as_in_does(people):
    phones = ["+13105550141", "+19999999999", ""]
    assert list(Contact.objects.holding("phone", phones)) == [people[1]]
    emails = ["c@example.com", "a@example.com", "nobody@example.com"]
    assert set(Contact.objects.holding("email", emails)) == {people[0], people[2]}
    assert list(Contact.objects.holding("phone", [""])) == []
    assert list(Contact.objects.holding("email", [])) == []


def test_holding_names_the_key_it_does_not_know(people):
    with pytest.raises(ValueError, match="key: 'company' is not a contact key"):
        Contact.objects.holding("company", ["Acme"])


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plans are PostgreSQL's")
@pytest.mark.parametrize(
    "key, values, index",
    [
        ("phone", ["+13105550141"], "contact_phone_unique"),
        ("phone", [f"+1310555{n:04d}" for n in range(500)], "contact_phone_unique"),
        ("email", ["b@example.com"], "contact_email_unique_ci"),
        ("email", [f"p{n}@example.com" for n in range(500)], "contact_email_unique_ci"),
    ],
)
def test_holding_is_planned_on_the_keys_unique_index(people, key, values, index):
    """The keys have no other index: a look-up must name the partial index's conditions."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan TO off")  # a 3-row table would be scanned
        plan = Contact.objects.holding(key, values).explain()
    assert index in plan, plan


def test_any_prepares_each_value_for_a_field_that_transforms_it():
    """Plain text and integer fields take a list of str or int as it is; any other field,
    such as a subclass that encrypts (the account's credential), prepares every value as
    ``__in`` does."""
    from bridge.models import ProviderAccount

    plain = Contact.objects.filter(email__any=["a@example.com"]).query.sql_with_params()[1]
    assert "a@example.com" in str(plain)
    query = ProviderAccount.objects.filter(credential__any=["plain-secret"]).query
    assert "plain-secret" not in str(query.sql_with_params()[1])


def test_any_on_an_expression_answers_as_in_does(people):
    """Built on an expression not resolved yet, the values go as they are, as ``In`` sends them."""
    from django.db.models import F
    from django.db.models.functions import Lower
    from django.db.models.lookups import In

    from bridge.lookups import AnyOf

    emails = ["b@example.com", "c@example.com", "nobody@example.com"]
    phones = ["+13105550140", "+19999999999"]
    for column, values in ((Lower("email"), emails), (F("phone"), phones)):
        expected = set(Contact.objects.filter(In(column, values)))
        assert set(Contact.objects.filter(AnyOf(column, values))) == expected
        assert expected
