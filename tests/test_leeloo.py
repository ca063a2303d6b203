"""Leeloo.ai: every v2 endpoint against the fake over real HTTP, the parsers, errors and upserts.

Each endpoint test asserts the exact request the fake received (method, path, query, the auth
header, JSON or form-data and its fields) and what the provider made of the answer. The parser
tests feed the reference's own example responses (its JSON typos fixed by hand: missing commas
and braces, typographic quotes, ``//`` comments and trailing commas).
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import requests

from integrations import leeloo as lee
from integrations.base import AccountConfig
from integrations.errors import (
    AuthenticationError,
    ConfigurationError,
    InvalidResponse,
    PayloadError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from integrations.fakes.leeloo import FakeLeeloo, seed_phone
from integrations.leeloo import LeelooProvider
from integrations.secrets import Secret

FELIKS = "5e1c7ce2b4066a01900cdba0"
FELIKS_CHANNEL = "5e1c7ce2b4066a01900cdba1"
MARK_SPENSER = "625946dd585052c1629f1b2b"
MARK_DOWN_CHANNEL = "617fd5cc1cc06d42c94dd9ec"
MY_TUNNEL = "595f5d522a934035decc093d"
PEOPLE_LGT = "609290d3e060416cdea6823e"
VIP_TAG = "5cf7a18586236d000b1256b2"
MANUAL_ORDER = "5b3f608db2737000133d25b6"
UTC_2030 = datetime(2030, 1, 1, tzinfo=UTC)


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def fake(fakes) -> FakeLeeloo:
    """The fake Leeloo's state, reset for each test (the ``fakes`` fixture resets it)."""
    return fakes.fakes["leeloo"]


def make_provider(fakes, credential: str, **options) -> LeelooProvider:
    """A provider for an account pointed at the fake, with this credential and options."""
    account = AccountConfig(
        name="leeloo-test",
        provider="leeloo",
        credential=Secret(credential),
        base_url=fakes.base_url("leeloo"),
        options=options,
        connect_timeout=1.0,
        read_timeout=2.0,
    )
    return LeelooProvider(account)


@pytest.fixture
def leeloo(fakes, fake) -> LeelooProvider:
    """A provider pointed at the fake, with the token it accepts and an LGT for new people."""
    return make_provider(fakes, fake.credential, leadgentool_id=PEOPLE_LGT)


def sent(fakes) -> list:
    """Every request the fake Leeloo received in this test, in order."""
    return fakes.requests_for("leeloo")


def only_request(fakes):
    """The single request of the test; fails when there were more or none."""
    requests = sent(fakes)
    assert len(requests) == 1, [(r.method, r.path) for r in requests]
    return requests[0]


def assert_request(request, fake, method, path, query=None):
    """Method, path, exact query, and the token in X-Leeloo-AuthToken."""
    assert (request.method, request.path) == (method, path)
    assert request.query == (query or {})
    assert request.header("X-Leeloo-AuthToken") == fake.credential
    assert request.header("Accept") == "application/json"


def assert_json(request, body):
    """The request carried exactly ``body`` as JSON."""
    assert request.content_type == "application/json"
    assert request.form is None
    assert request.json == body


def assert_form_data(request, fields):
    """The request carried exactly ``fields`` as multipart form-data, one value each."""
    assert request.content_type.startswith("multipart/form-data; boundary=")
    assert request.json is None
    assert request.form == {name: [value] for name, value in fields.items()}


# --- the reference's example responses, typos fixed ----------------------------------------

CATEGORIES = """{"data": {"categories": [
    {"id": "5e3bf3fdb70492000f72cd6c", "name": "Category 1"},
    {"id": "5e18a2a3ed0b7a000d6c948f", "name": "Category 2"}]}, "status": 1}"""

CHAT_MESSAGES = """{"data": [
    {"id": "5e3bf8d6c6ed91000c8534ae", "text": "Test API v.1 message template",
     "type": "YOUR_MESSAGE", "read": true, "createdAt": "2020-02-06T11:30:30.035Z",
     "updatedAt": "2020-02-06T11:30:30.035Z"},
    {"id": "5e3beba47fa862000e3b4d05", "text": "API message", "type": "YOUR_MESSAGE",
     "read": true, "createdAt": "2020-02-06T10:34:12.230Z",
     "updatedAt": "2020-02-06T10:34:12.230Z"}],
  "meta": {"limit": 3, "offset": 0, "filteredCount": 3, "totalCount": 52}, "status": 1}"""

CHANNELS = """{"data": [
    {"id": "5ef074e9e31801000d73ba11", "person_id": "5ef074e9e31801000d73ba10", "name": "TIIIIK",
     "from": "TELEGRAM", "botStatus": "BOT", "lastMessageTime": "2020-08-31T07:55:53.865Z",
     "createdAt": "2020-06-22T09:07:53.351Z", "utmMarks": {"utm_source": "test_UTM_mark"}},
    {"id": "5ea177b8ac8f55000d2c68f1", "person_id": "5ea177b8ac8f55000d2c68f0",
     "name": "Adolf Shtangencirkul", "from": "VKONTAKTE", "botStatus": "BOT",
     "lastMessageTime": "2020-08-29T08:31:51.211Z", "createdAt": "2020-04-23T11:10:48.337Z",
     "utmMarks": {}}],
  "meta": {"limit": 2, "offset": 0, "filteredCount": 2, "totalCount": 2}, "status": 1}"""

PERSON_BY_CHANNEL = """{"data": {"id": "617fd5cc1cc06d2ae24dd9eb", "name": "Mark Down",
  "tags": ["Tag 26"],
  "profileImage": "https://static.leeloo.ai/images/5e18a2a3ed0b7a000d6c9446/abd88bd0-3b0a-11ec-82ee-bb08992a1760%5B571x1100%5Djpg",
  "gender": "OTHER", "phone": "+380977451099", "email": "lapaychuk95808@gmail.com",
  "locale": "ru_RU",
  "accounts": [{"account_id": "617fd5cc1cc06d42c94dd9ec", "connection_id": "61308ac5d087cbc40f1e478d",
                "connection_status": "OK", "from": "FACEBOOK"}],
  "subscribeHistory": [{"tunnelName": "for list", "leadgentoolName": "New LGT",
    "trafficSource": "Default traffic source", "tunnelId": "617fa515557acb4a2472c560",
    "leadgentoolId": "617fa612925d13644ae58e55", "trafficSourceId": "617fa612925d1341eee58e58",
    "accountId": "617fd5cc1cc06d42c94dd9ec"}],
  "links": {"contactedUsers": [{"type": "users", "id": "60509800acc5ae000d74ce21"}],
            "orders": [{"type": "orders", "id": "618280605402c96fa86c125a"}]},
  "custom_fields": [], "created_at": "2021-11-01T11:55:56.358Z",
  "updated_at": "2024-02-02T12:07:54.882Z"}, "included": {}, "status": 1}"""  # noqa: E501

TRAFFIC_SOURCE = """{"data": {"type": "normal", "fb_adset_id": null, "name": "some ts",
  "description": "some ts description", "synchronized_with_fb": false,
  "synchronization_error": false, "disabled": false, "company_id": "5b9f63e3d244d2000e27692f",
  "leadgentool_id": "5e1f119d6c384804b31e945e", "tunnel_id": "5e1f11566c384804b31e9457",
  "created_by": "5b9f63e3d244d2000e276957", "hash": "nn7n15",
  "resubscribe_button_id": "5e32d0ed28faf61fc396f6b1", "createdAt": "2020-01-30T12:49:49.273Z",
  "updatedAt": "2020-01-30T12:49:49.273Z", "id": "5e32d0ed28faf61fc396f6b0"}, "status": 1}"""

ORDERS = """{"data": [{"id": "5e399d72a2d0e2000dd584c1", "person_id": "5df0fac42121a5000e07d80b",
  "title": "manual offer", "price": 200, "currency": "USD", "status": "RESOLVED",
  "createdAt": "2020-02-04T16:36:02.213Z", "updatedAt": "2020-02-04T16:38:58.168Z"}],
  "meta": {"limit": 1, "offset": 0, "filteredCount": 20, "totalCount": 93}, "status": 1}"""

ORDER = """{"status": 1, "data": {"id": "5e2825e081fbca000d8596e4",
  "createdAt": "2015-04-02T14:20Z", "updatedAt": "2015-04-02T14:20Z", "title": "Title11",
  "description": "Description1", "price": 100, "currency": "UAH", "status": "SUCCESS",
  "paymentMethod": "WAYFORPAY"}}"""

PEOPLE = """{"status": 1, "data": [{"id": "5e1c7ce2b4066a01900cdba0", "name": "Feliks",
  "email": "feliks@gmail.com", "phone": "+380966565556", "tags": ["Mentor", "Professional"],
  "accounts": [{"account_id": "5e1c7ce2b4066a01900cdba1", "connection_id": "5e1c7afcb4066a01900cdb8c",
                "connection_status": "OK", "from": "TELEGRAM"}],
  "lastMessageTime": "2020-01-13T14:21:36.462Z"}],
  "meta": {"totalCount": 1, "filteredCount": 1, "limit": 20, "offset": 0}}"""  # noqa: E501

PERSON = """{"data": {"id": "625946dd585052c1629f1b2b", "name": "Mark Spenser", "tags": [],
  "profileImage": "NOT_DEFINED", "gender": "NO_DATA", "phone": "+380977451111",
  "email": "Ray37@hotmail.com", "locale": "",
  "accounts": [{"account_id": "625946dd58505225f49f1b2c", "connection_id": "5e1edc3f18fc56000c0159b3",
                "connection_status": "OK", "from": "TELEGRAM"}],
  "subscribeHistory": [{"tunnelName": "Default tunnel", "leadgentoolName": "Default leadgentool",
    "trafficSource": "Default traffic source", "tunnelId": "5e18a2a3ed0b7a000d6c9484",
    "leadgentoolId": "5e18a2a3ed0b7a000d6c9486", "trafficSourceId": "5e18a2a3ed0b7a000d6c9488",
    "accountId": "625946dd58505225f49f1b2c"}],
  "links": {"contactedUsers": [{"type": "users", "id": "60509800acc5ae000d74ce21"}],
            "orders": [{"type": "orders", "id": "65cf58ba1261175f8d40a75f"}]},
  "custom_fields": [{"type": "PHONE", "name": "phone", "value": "+48881644207"}],
  "created_at": "2022-04-15T10:20:13.546Z", "updated_at": "2024-02-16T16:16:57.065Z"},
  "included": {"users": [{"id": "60509800acc5ae000d74ce21", "name": "Max",
      "createdAt": "2021-03-16T11:35:28.644Z", "updatedAt": "2024-02-19T12:59:04.460Z"}],
    "orders": [{"id": "65cf58ba1261175f8d40a75f", "title": "for API", "price": 100,
      "currency": "USD", "status": "OPENED", "updatedAt": "2024-02-16T12:44:42.569Z"}]},
  "status": 1}"""  # noqa: E501

CREATED_PERSON = """{"data": {"id": "60a4bcd7bc45b806ac3b1a4a",
  "person_id": "60a4bcd7bc45b83b6e3b1a49", "name": "Feliks", "tags": [], "from": "MANUAL",
  "botStatus": "BOT", "connectionStatus": "OK", "gender": "NOT_DEFINED",
  "phone": "+380953066789", "email": "feliks@gmail.com", "locale": "", "subscribeHistory": [],
  "createdAt": "2021-05-19T07:23:03.546Z", "updatedAt": "2021-05-19T07:23:03.546Z"},
  "status": 1}"""

COMMENT = """{"data": {"created_by": "5b9f63e3d244d2000e276957",
  "company_id": "5b9f63e3d244d2000e27692f", "text": "some text",
  "entity_id": "5da5998fcecdb311d73d3049", "entity_type": "PERSON",
  "created_at": "2020-01-30T10:08:50.677Z", "updated_at": "2020-01-30T10:08:50.677Z",
  "id": "5e32ab3228faf61fc396f625"}, "status": 1}"""

TAGS = """{"status": 1, "data": [{"id": "595f5d522a934035decc093d", "name": "Tag #1"}]}"""

TUNNEL = """{"status": 1, "data": {"id": "595f5d522a934035decc093d", "name": "My tunnel",
  "createdAt": "2015-04-02T14:20Z", "updatedAt": "2015-04-02T14:20Z",
  "links": {"leadgentools": [{"type": "leadgentools", "id": "222f5d522a934035decc093d"}]}},
  "linked": {"leadgentools": [{"id": "222f5d522a934035decc093d", "name": "LGT1",
                               "type": "LINK"}]}}"""

STATS = """{"status": 1, "data": [{"subscribers": 10, "uniqSubscribers": 2, "orders": 4,
  "sales": 3, "uniqSales": 2, "visits": 14, "uniqVisits": 5, "shows": 5, "uniqShows": 3,
  "totalSale": 200, "totalExpenses": 100}]}"""

USERS = """{"status": 1, "data": [
  {"id": "445f5d522a934035decc093d", "name": "Igor", "createdAt": "2015-04-02T14:20Z",
   "updatedAt": "2015-04-02T14:20Z"},
  {"id": "125f5d522a934035decc093d", "name": "Alexey", "createdAt": "2015-04-02T14:20Z",
   "updatedAt": "2015-04-02T14:20Z"}],
  "meta": {"totalCount": 1, "filteredCount": 1, "limit": 20, "offset": 0}}"""

USER = """{"data": {"id": "632af797bd3cc466fe1af584", "name": "John Mack",
  "createdAt": "2022-09-21T11:37:59.353Z", "updatedAt": "2022-09-27T12:26:12.786Z"},
  "status": 1}"""

CONNECTIONS = """{"data": {"connections": [
  {"id": "65cf48536d81f496d4f9a673", "type": "telegram", "name": "Telegram bot"},
  {"id": "65b3791a9af7b6ef6f4a8afd", "type": "sendGrid", "name": "Sendgrid bot"}]},
  "status": 1}"""

TEMPLATES = """{"data": {"templates": [
  {"id": "5e42be758d4fff000cafe6ef", "message_name": "test template 2"},
  {"id": "5e42be688d4fff000cafe5cc", "message_name": "test template 1"}]}, "status": 1}"""


def example(text: str):
    """The ``data`` of a reference example."""
    return json.loads(text)["data"]


def utc(*parts) -> datetime:
    """An aware UTC datetime."""
    return datetime(*parts, tzinfo=UTC)


# --- parsers over the reference's examples -------------------------------------------------


def test_dates_in_both_of_leeloos_forms_become_aware_utc():
    assert lee.parse_datetime("2015-04-02T14:20Z") == utc(2015, 4, 2, 14, 20)
    assert lee.parse_datetime("2020-02-06T11:30:30.035Z") == utc(2020, 2, 6, 11, 30, 30, 35000)
    assert lee.parse_datetime("2020-02-06T13:30:30+02:00") == utc(2020, 2, 6, 11, 30, 30)
    assert lee.parse_datetime("2020-02-06 11:30") == utc(2020, 2, 6, 11, 30)  # no offset: UTC
    assert lee.parse_datetime("") is None
    assert lee.parse_datetime("not a date") is None


def test_parse_person_from_the_get_person_example():
    person = lee.parse_person(example(PERSON))
    assert person == {
        "remote_id": "625946dd585052c1629f1b2b",
        "name": "Mark Spenser",
        "first_name": "Mark",
        "last_name": "Spenser",
        "email": "ray37@hotmail.com",
        "phone": "+380977451111",
        "tags": [],
        "gender": "",
        "locale": "",
        "profile_image": "",
        "channels": [
            {
                "account_id": "625946dd58505225f49f1b2c",
                "connection_id": "5e1edc3f18fc56000c0159b3",
                "connection_status": "OK",
                "from": "TELEGRAM",
            }
        ],
        "subscribe_history": example(PERSON)["subscribeHistory"],
        "custom_fields": {"phone": "+48881644207"},
        # Kept for pushes (issue 18: the type was dropped on pull and guessed on push).
        "custom_field_types": {"phone": "PHONE"},
        "last_message_at": None,
        "remote_created_at": utc(2022, 4, 15, 10, 20, 13, 546000),
        "remote_updated_at": utc(2024, 2, 16, 16, 16, 57, 65000),
        "contacted_user_ids": ["60509800acc5ae000d74ce21"],
        "order_ids": ["65cf58ba1261175f8d40a75f"],
    }


def test_parse_person_keeps_a_real_profile_image_and_known_gender():
    person = lee.parse_person(example(PERSON_BY_CHANNEL))
    assert person["profile_image"].startswith("https://static.leeloo.ai/images/")
    assert (person["gender"], person["locale"], person["tags"]) == ("OTHER", "ru_RU", ["Tag 26"])
    assert person["subscribe_history"][0]["tunnelName"] == "for list"
    assert person["order_ids"] == ["618280605402c96fa86c125a"]


def test_parse_person_from_the_people_list_example():
    person = lee.parse_person(example(PEOPLE)[0])
    assert person["remote_id"] == FELIKS
    assert (person["first_name"], person["last_name"]) == ("Feliks", "")
    assert person["tags"] == ["Mentor", "Professional"]
    assert person["last_message_at"] == utc(2020, 1, 13, 14, 21, 36, 462000)
    assert person["channels"][0]["account_id"] == FELIKS_CHANNEL


def test_the_sync_gets_a_listed_person_with_its_keys_and_without_card_only_fields():
    full = lee.parse_person(example(PEOPLE)[0])
    person = lee.parse_person_keyed(example(PEOPLE)[0], region="US")
    assert list(person) == list(lee.SYNC_PERSON_FIELDS)
    assert person["email_key"] == full["email"]
    assert "custom_fields" not in person and "order_ids" not in person  # a card brings them
    for name in set(lee.SYNC_PERSON_FIELDS) - {"email_key", "phone_key"}:
        assert person[name] == full[name], name


def test_parse_person_from_the_create_answer_takes_person_id_not_the_channel_id():
    person = lee.parse_person(example(CREATED_PERSON))
    assert person["remote_id"] == "60a4bcd7bc45b83b6e3b1a49"
    assert person["channels"] == [
        {
            "account_id": "60a4bcd7bc45b806ac3b1a4a",
            "connection_id": "",
            "connection_status": "OK",
            "from": "MANUAL",
        }
    ]
    assert person["gender"] == ""  # NOT_DEFINED
    assert person["remote_created_at"] == utc(2021, 5, 19, 7, 23, 3, 546000)


def test_parse_order_from_the_get_and_list_examples():
    order = lee.parse_order(example(ORDER))
    assert order == {
        "remote_id": "5e2825e081fbca000d8596e4",
        "person_id": "",
        "title": "Title11",
        "description": "Description1",
        "price": Decimal("100"),
        "currency": "UAH",
        "status": "SUCCESS",
        "payment_method": "WAYFORPAY",
        "remote_created_at": utc(2015, 4, 2, 14, 20),
        "remote_updated_at": utc(2015, 4, 2, 14, 20),
    }
    listed = lee.parse_order(example(ORDERS)[0])
    assert (listed["person_id"], listed["price"], listed["status"]) == (
        "5df0fac42121a5000e07d80b",
        Decimal("200"),
        "RESOLVED",
    )
    assert lee.parse_order({"price": 19.9})["price"] == Decimal("19.9")


def test_parse_tunnel_with_its_linked_leadgen_tools():
    body = json.loads(TUNNEL)
    assert lee.parse_tunnel(body["data"], body["linked"]) == {
        "remote_id": MY_TUNNEL,
        "name": "My tunnel",
        "leadgen_tools": [
            {"remote_id": "222f5d522a934035decc093d", "name": "LGT1", "type": "LINK"}
        ],
        "remote_created_at": utc(2015, 4, 2, 14, 20),
        "remote_updated_at": utc(2015, 4, 2, 14, 20),
    }
    assert lee.parse_tunnel(body["data"])["leadgen_tools"] == [
        {"remote_id": "222f5d522a934035decc093d"}
    ]


def test_parse_stats_users_tags_channels_connections_and_templates():
    assert lee.parse_stats(example(STATS)[0]) == {
        "subscribers": 10,
        "uniq_subscribers": 2,
        "orders": 4,
        "sales": 3,
        "uniq_sales": 2,
        "visits": 14,
        "uniq_visits": 5,
        "shows": 5,
        "uniq_shows": 3,
        "total_sale_usd": 200,
        "total_expenses": 100,
    }
    assert [lee.parse_user(u)["name"] for u in example(USERS)] == ["Igor", "Alexey"]
    assert lee.parse_user(example(USER)) == {
        "remote_id": "632af797bd3cc466fe1af584",
        "name": "John Mack",
        "remote_created_at": utc(2022, 9, 21, 11, 37, 59, 353000),
        "remote_updated_at": utc(2022, 9, 27, 12, 26, 12, 786000),
    }
    assert lee.parse_tag(example(TAGS)[0]) == {"remote_id": MY_TUNNEL, "name": "Tag #1"}
    channel = lee.parse_channel(example(CHANNELS)[0])
    assert channel == {
        "remote_id": "5ef074e9e31801000d73ba11",
        "person_id": "5ef074e9e31801000d73ba10",
        "name": "TIIIIK",
        "source": "TELEGRAM",
        "bot_status": "BOT",
        "last_message_at": utc(2020, 8, 31, 7, 55, 53, 865000),
        "remote_created_at": utc(2020, 6, 22, 9, 7, 53, 351000),
        "utm_marks": {"utm_source": "test_UTM_mark"},
    }
    assert lee.parse_connection(example(CONNECTIONS)["connections"][1]) == {
        "remote_id": "65b3791a9af7b6ef6f4a8afd",
        "type": "sendGrid",
        "name": "Sendgrid bot",
    }
    assert lee.parse_template_category(example(CATEGORIES)["categories"][0]) == {
        "remote_id": "5e3bf3fdb70492000f72cd6c",
        "name": "Category 1",
    }
    assert lee.parse_template(example(TEMPLATES)["templates"][1]) == {
        "remote_id": "5e42be688d4fff000cafe5cc",
        "name": "test template 1",
    }


def test_parse_messages_traffic_sources_and_comments():
    message = lee.parse_message(example(CHAT_MESSAGES)[0])
    assert (message["text"], message["type"], message["read"]) == (
        "Test API v.1 message template",
        "YOUR_MESSAGE",
        True,
    )
    assert message["remote_created_at"] == utc(2020, 2, 6, 11, 30, 30, 35000)
    source = lee.parse_traffic_source(example(TRAFFIC_SOURCE))
    assert (source["remote_id"], source["hash"], source["tunnel_id"]) == (
        "5e32d0ed28faf61fc396f6b0",
        "nn7n15",
        "5e1f11566c384804b31e9457",
    )
    comment = lee.parse_comment(example(COMMENT))
    assert comment == {
        "remote_id": "5e32ab3228faf61fc396f625",
        "text": "some text",
        "person_id": "5da5998fcecdb311d73d3049",
        "remote_created_at": utc(2020, 1, 30, 10, 8, 50, 677000),
    }


def test_custom_fields_both_ways():
    assert lee.parse_custom_fields(example(PERSON)["custom_fields"]) == {"phone": "+48881644207"}
    assert lee.build_custom_fields(
        {
            "emailcust": "customemail@gmail.com",
            "mobile": "+380669991876",
            "visits": 3,
            "since": "2024-03-22",
            "plan": "gold",
            "renewal": {"type": "date", "value": "2025-01-01"},
        }
    ) == [
        {"type": "EMAIL", "name": "emailcust", "value": "customemail@gmail.com"},
        {"type": "PHONE", "name": "mobile", "value": "+380669991876"},
        {"type": "NUMBER", "name": "visits", "value": 3},
        {"type": "DATE", "name": "since", "value": "2024-03-22"},
        {"type": "KEYWORD", "name": "plan", "value": "gold"},
        {"type": "DATE", "name": "renewal", "value": "2025-01-01"},
    ]
    with pytest.raises(PayloadError, match="renewal"):
        lee.build_custom_fields({"renewal": {"type": "COLOR", "value": "red"}})


def test_window_bounds_payment_dates_and_prices_are_formatted_in_one_way():
    moment = datetime(2020, 2, 4, 13, 46, 48, 803999, tzinfo=UTC)
    assert lee.format_window_bound(moment) == "2020-02-04T13:46:48.803Z"
    assert lee.format_window_bound(date(2015, 4, 2)) == "2015-04-02"
    assert lee.format_payment_date("2018-06-27T09:32:00+02:00") == "2018-06-27 07:32"
    assert lee.format_price("100.00") == "100"
    assert lee.format_price(Decimal("19.90")) == "19.90"
    with pytest.raises(PayloadError):
        lee.format_price("ten")


# --- every endpoint: the exact request, and what the provider made of the answer -----------


def test_list_template_categories(leeloo, fake, fakes):
    assert leeloo.list_template_categories() == [
        lee.parse_template_category(c) for c in example(CATEGORIES)["categories"]
    ]
    assert_request(only_request(fakes), fake, "GET", "/api/v2/categories/templates")


def test_list_templates_of_a_category(leeloo, fake, fakes):
    templates = leeloo.list_templates("5e3bf3fdb70492000f72cd6c")
    assert templates == [lee.parse_template(t) for t in example(TEMPLATES)["templates"]]
    request = only_request(fakes)
    assert_request(request, fake, "GET", "/api/v2/categories/templates/5e3bf3fdb70492000f72cd6c")


def test_send_template_sends_json_with_variables(leeloo, fake, fakes):
    assert leeloo.send_template(FELIKS_CHANNEL, "5e42be758d4fff000cafe6ef", {"key1": "v"}) == {}
    request = only_request(fakes)
    assert_request(request, fake, "POST", "/api/v2/messages/send-template")
    assert_json(
        request,
        {
            "account_id": FELIKS_CHANNEL,
            "template_id": "5e42be758d4fff000cafe6ef",
            "variables": {"key1": "v"},
        },
    )
    assert fake.messages[FELIKS_CHANNEL][0]["text"] == "test template 2 key1=v"


def test_list_chat_messages_pages_with_limit_and_offset(leeloo, fake, fakes):
    page = leeloo.list_chat_messages(FELIKS_CHANNEL, limit=2, offset=0)
    assert page.items == [lee.parse_message(m) for m in example(CHAT_MESSAGES)]
    assert page.meta == {"limit": 2, "offset": 0, "filteredCount": 3, "totalCount": 3}
    path = f"/api/v2/communication-channels/{FELIKS_CHANNEL}/chat-messages"
    assert_request(only_request(fakes), fake, "GET", path, {"limit": ["2"], "offset": ["0"]})


def test_send_message_sends_json(leeloo, fake, fakes):
    assert leeloo.send_message(FELIKS_CHANNEL, "Your car is ready") == {}
    request = only_request(fakes)
    assert_request(request, fake, "POST", "/api/v2/messages/send-message")
    assert_json(request, {"account_id": FELIKS_CHANNEL, "text": "Your car is ready"})
    assert fake.messages[FELIKS_CHANNEL][0]["text"] == "Your car is ready"
    with pytest.raises(PayloadError, match="text"):
        leeloo.send_message(FELIKS_CHANNEL, "  ")
    assert len(sent(fakes)) == 1


def test_list_channels_within_a_last_message_window(leeloo, fake, fakes):
    page = leeloo.list_channels(utc(2020, 8, 1), date(2020, 9, 1), limit=20, offset=0)
    assert page.items == [lee.parse_channel(channel) for channel in example(CHANNELS)]
    assert page.meta["filteredCount"] == 2
    assert page.meta["totalCount"] == len(fake.channels)
    assert_request(
        only_request(fakes),
        fake,
        "GET",
        "/api/v2/communication-channels",
        {
            "filter[last_message][from]": ["2020-08-01T00:00:00.000Z"],
            "filter[last_message][to]": ["2020-09-01"],
            "limit": ["20"],
            "offset": ["0"],
        },
    )


def test_list_connections(leeloo, fake, fakes):
    connections = leeloo.list_connections()
    assert connections[:2] == [lee.parse_connection(c) for c in example(CONNECTIONS)["connections"]]
    assert_request(only_request(fakes), fake, "GET", "/api/v2/connections")


def test_person_by_channel(leeloo, fake, fakes):
    person = leeloo.person_by_channel(MARK_DOWN_CHANNEL)
    reference = lee.parse_person(example(PERSON_BY_CHANNEL))
    assert person == reference
    path = f"/api/v2/communication-channels/{MARK_DOWN_CHANNEL}/person"
    assert_request(only_request(fakes), fake, "GET", path)


def test_create_traffic_source_sends_json(leeloo, fake, fakes):
    source = leeloo.create_traffic_source(
        "5e1f119d6c384804b31e945e", "some ts", "some ts description"
    )
    assert (source["name"], source["description"]) == ("some ts", "some ts description")
    assert (source["leadgentool_id"], source["tunnel_id"]) == (
        "5e1f119d6c384804b31e945e",
        "5e1f11566c384804b31e9457",
    )
    assert source["remote_id"] == fake.traffic_sources[0]["id"]
    request = only_request(fakes)
    path = "/api/v2/leadgentools/5e1f119d6c384804b31e945e/create-traffic-source"
    assert_request(request, fake, "POST", path)
    assert_json(request, {"name": "some ts", "description": "some ts description"})


ORDER_RECORD = {
    "id": 7,
    "title": "Renault Midlum",
    "description": "",
    "price": "100.00",
    "currency": "USD",
    "status": "OPENED",
    "payment_method": "",
    "offer_id": "5e3c357bf04b1f000c27b83a",
    "payment_credits_id": "5e3c3533f04b1f000c27b534",
    "manager_id": "632af797bd3cc466fe1af584",
    "transaction_date": "2020-02-04T11:46:48.803000+00:00",
    "payment_date": None,
    "user_comments": "",
    "contact": {"email": "Feliks@gmail.com", "phone": "+380966565556"},
}


def test_create_order_sends_the_documented_json(leeloo, fake, fakes):
    result = leeloo.perform("create_order", ORDER_RECORD, {"person_id": FELIKS})
    request = only_request(fakes)
    assert_request(request, fake, "POST", "/api/v2/orders")
    assert_json(
        request,
        {
            "paymentCreditsId": "5e3c3533f04b1f000c27b534",
            "email": "feliks@gmail.com",
            "phone": "+380966565556",
            "transactionDate": "2020-02-04T11:46:48.803Z",
            "offerId": "5e3c357bf04b1f000c27b83a",
            "isNotifyAccount": "false",
            "personId": FELIKS,
            "managerId": "632af797bd3cc466fe1af584",
        },
    )
    order = fake.orders[result.remote_id]
    assert (result.created, result.status) == (True, "OPENED")
    assert (order["person_id"], order["title"], order["price"]) == (FELIKS, "Ручной оффер", 100)
    assert result.data["price"] == Decimal("100")


def test_create_order_names_what_is_missing_before_sending(leeloo, fakes):
    record = {**ORDER_RECORD, "offer_id": ""}
    with pytest.raises(PayloadError, match="offerId") as caught:
        leeloo.perform("create_order", record, {})
    assert caught.value.field_errors == {"offerId": ["required"]}
    assert sent(fakes) == []


def test_list_orders_and_iterate_them(leeloo, fake, fakes):
    page = leeloo.list_orders(limit=1, offset=0)
    assert [o["remote_id"] for o in page.items] == ["65cf58ba1261175f8d40a75f"]
    assert page.meta == {"limit": 1, "offset": 0, "filteredCount": 5, "totalCount": 5}
    assert_request(
        only_request(fakes), fake, "GET", "/api/v2/orders", {"limit": ["1"], "offset": ["0"]}
    )
    orders = [order for page in leeloo.iter_orders(page_size=5) for order in page.items]
    assert {order["remote_id"] for order in orders} == set(fake.orders)
    # Five orders, pages of five: the count ends it without asking for an empty page.
    assert len(sent(fakes)) == 2


def test_get_order(leeloo, fake, fakes):
    order = leeloo.get_order("5e2825e081fbca000d8596e4")
    assert order == {**lee.parse_order(example(ORDER))}
    assert_request(only_request(fakes), fake, "GET", "/api/v2/orders/5e2825e081fbca000d8596e4")


def test_update_order_sends_form_data(leeloo, fake, fakes):
    record = {
        **ORDER_RECORD,
        "status": "RESOLVED",
        "price": "95.50",
        "currency": "rub",
        "payment_date": "2018-06-27T07:32:41+00:00",
        "user_comments": "actual date dont match",
    }
    result = leeloo.perform("update_order", record, {}, MANUAL_ORDER)
    assert (result.remote_id, result.created, result.status) == (MANUAL_ORDER, False, "RESOLVED")
    request = only_request(fakes)
    assert_request(request, fake, "POST", f"/api/v2/orders/{MANUAL_ORDER}")
    assert_form_data(
        request,
        {
            "status": "RESOLVED",
            "paymentDate": "2018-06-27 07:32",
            "currency": "RUB",
            "price": "95.50",
            "userComments": "actual date dont match",
        },
    )
    assert fake.orders[MANUAL_ORDER]["status"] == "RESOLVED"
    assert fake.orders[MANUAL_ORDER]["price"] == 95.5


def test_update_order_refuses_other_statuses_before_sending(leeloo, fakes):
    with pytest.raises(PayloadError, match="RESOLVED or REJECTED"):
        leeloo.perform("update_order", ORDER_RECORD, {}, MANUAL_ORDER)
    assert sent(fakes) == []


def test_list_people_sends_every_filter(leeloo, fake, fakes):
    page = leeloo.list_people(
        date(2015, 4, 2),
        utc(2020, 1, 14),
        tags=["Mentor", "tag2"],
        phone="+380966565556",
        email="feliks@gmail.com",
        limit=20,
        offset=0,
    )
    assert page.items == [lee.parse_person(example(PEOPLE)[0])]
    assert page.meta == {
        "limit": 20,
        "offset": 0,
        "filteredCount": 1,
        "totalCount": len(fake.people),
    }
    assert_request(
        only_request(fakes),
        fake,
        "GET",
        "/api/v2/people",
        {
            "filter[tags]": ["Mentor", "tag2"],
            "filter[last_message][from]": ["2015-04-02"],
            "filter[last_message][to]": ["2020-01-14T00:00:00.000Z"],
            "filter[phone]": ["+380966565556"],
            "filter[email]": ["feliks@gmail.com"],
            "limit": ["20"],
            "offset": ["0"],
        },
    )


def test_get_person_includes_contacted_users_and_orders(leeloo, fake, fakes):
    person = leeloo.get_person(MARK_SPENSER)
    body = json.loads(PERSON)
    expected = lee.parse_person(body["data"])
    assert {k: v for k, v in person.items() if k in expected} == expected
    assert person["contacted_users"] == [lee.parse_user(u) for u in body["included"]["users"]]
    assert person["orders"] == [lee.parse_order(o) for o in body["included"]["orders"]]
    assert_request(
        only_request(fakes),
        fake,
        "GET",
        f"/api/v2/people/{MARK_SPENSER}",
        {"include": ["contactedUsers,orders"]},
    )


def test_update_person_sends_json_with_typed_custom_fields(leeloo, fake, fakes):
    leeloo.update_person(
        MARK_SPENSER,
        phone="+380669991876",
        email="newmail@gmail.com",
        custom_fields={"emailcust": "customemail@gmail.com"},
    )
    request = only_request(fakes)
    assert_request(request, fake, "PUT", f"/api/v2/people/{MARK_SPENSER}")
    assert_json(
        request,
        {
            "phone": "+380669991876",
            "email": "newmail@gmail.com",
            "custom_fields": [
                {"type": "EMAIL", "name": "emailcust", "value": "customemail@gmail.com"}
            ],
        },
    )
    stored = fake.people[MARK_SPENSER]
    assert (stored["phone"], stored["email"]) == ("+380669991876", "newmail@gmail.com")
    assert {f["name"] for f in stored["custom_fields"]} == {"phone", "emailcust"}


def test_create_person_sends_json_and_the_new_person_is_listed_later(leeloo, fake, fakes):
    person = leeloo.create_person(
        name="Feliks",
        email="feliks2@gmail.com",
        phone="+380953066789",
        leadgentool_id=PEOPLE_LGT,
        connected_users_ids=["60509800acc5ae000d74ce21"],
    )
    request = only_request(fakes)
    assert_request(request, fake, "POST", "/api/v2/people")
    assert_json(
        request,
        {
            "name": "Feliks",
            "email": "feliks2@gmail.com",
            "phone": "+380953066789",
            "leadgentool_id": PEOPLE_LGT,
            "connected_users_ids": ["60509800acc5ae000d74ce21"],
        },
    )
    assert person["remote_id"] in fake.people
    assert person["channels"][0]["account_id"] in fake.channels
    listed = leeloo.list_people(lee.EVERYONE_SINCE, datetime.now(UTC), phone="+380953066789")
    assert [p["remote_id"] for p in listed.items] == [person["remote_id"]]


def test_add_sms_connection_sends_json(leeloo, fake, fakes):
    contact = {"full_name": "test123", "email": "test123@example.com", "phone": "+380667772233"}
    params = {"connection_id": "5dbfe6c5fb73e101720b3dc7", "tag_ids": [VIP_TAG]}
    result = leeloo.perform("add_sms_connection", contact, params)
    assert (result.status, result.data) == ("accepted", {"count_to_process": 1})
    request = only_request(fakes)
    assert_request(request, fake, "POST", "/api/v2/people/sms")
    assert_json(
        request,
        {
            "data": [{"name": "test123", "email": "test123@example.com", "phone": "+380667772233"}],
            "connection_id": "5dbfe6c5fb73e101720b3dc7",
            "leadgentool_id": PEOPLE_LGT,
            "tags": [VIP_TAG],
        },
    )


def test_add_comment_sends_json(leeloo, fake, fakes):
    result = leeloo.perform("add_comment", {}, {"comment": "some text"}, MARK_SPENSER)
    assert result.remote_id == fake.comments[0]["id"]
    assert result.data["text"] == "some text"
    assert result.data["person_id"] == MARK_SPENSER
    request = only_request(fakes)
    assert_request(request, fake, "PUT", f"/api/v2/people/{MARK_SPENSER}/add-comment")
    assert_json(request, {"comment": "some text"})


CALL = {
    "user_id": "5b0d313b307879002915b3cc",
    "from": "606",
    "to": "607",
    "date": "2024-03-22T15:30:17.339Z",
    "account_id": FELIKS_CHANNEL,
    "record_link": "https://file-examples.com/storage/2017/11/file_example_MP3_5MG.mp3",
    "status": "success",
    "duration": 100,
    "type": "INBOUND",
}


def test_log_call_sends_every_field_as_form_data(leeloo, fake, fakes):
    leeloo.perform("log_call", {}, CALL)
    request = only_request(fakes)
    assert_request(request, fake, "POST", "/api/v2/calls")
    assert_form_data(request, {**CALL, "status": "SUCCESS", "duration": "100"})
    assert fake.calls[0]["from"] == "606"


def test_log_call_without_a_recording_sends_the_documents_placeholder(leeloo, fakes):
    leeloo.log_call({**CALL, "record_link": ""})
    assert only_request(fakes).form["record_link"] == ["NOT_DEFINED"]


@pytest.mark.parametrize("missing", [f for f in lee.CALL_FIELDS if f != "record_link"])
def test_log_call_names_a_missing_field_before_sending(leeloo, fakes, missing):
    with pytest.raises(PayloadError, match=f"'{missing}'") as caught:
        leeloo.log_call({**CALL, missing: ""})
    assert caught.value.field_errors == {missing: ["required"]}
    assert sent(fakes) == []


@pytest.mark.parametrize(("name", "value"), [("status", "RINGING"), ("type", "INTERNAL")])
def test_log_call_refuses_undocumented_values(leeloo, fakes, name, value):
    with pytest.raises(PayloadError, match=name):
        leeloo.log_call({**CALL, name: value})
    assert sent(fakes) == []


def test_the_fake_refuses_a_call_missing_a_field_with_status_0(leeloo):
    form = lee.build_call_form(CALL)
    del form["duration"]
    with pytest.raises(PermanentError) as caught:
        leeloo.call("POST", "/calls", form=form)
    assert caught.value.status == 200
    assert caught.value.provider_message == "duration is required"


def test_list_tags(leeloo, fake, fakes):
    tags = leeloo.list_tags()
    # The fake's "Tag #1" has the reference's id, the same as the tunnel "My tunnel".
    assert tags[0] == lee.parse_tag(example(TAGS)[0])
    assert tags[0]["remote_id"] == MY_TUNNEL
    assert {tag["name"] for tag in tags} >= {"vip", "Mentor"}
    assert_request(only_request(fakes), fake, "GET", "/api/v2/tags")


@pytest.mark.parametrize("operation", ["add_tag", "remove_tag"])
def test_add_and_remove_tag_send_form_data(leeloo, fake, fakes, operation):
    fake.people[MARK_SPENSER]["tags"] = ["vip"] if operation == "remove_tag" else []
    result = leeloo.perform(operation, {}, {"tag_id": VIP_TAG}, MARK_SPENSER)
    assert result.remote_id == MARK_SPENSER
    request = only_request(fakes)
    path = f"/api/v2/people/{MARK_SPENSER}/{operation.replace('_', '-')}"
    assert_request(request, fake, "PUT", path)
    assert_form_data(request, {"tag_id": VIP_TAG})
    assert fake.people[MARK_SPENSER]["tags"] == (["vip"] if operation == "add_tag" else [])


def test_add_tag_by_name_looks_the_id_up(leeloo, fake, fakes):
    leeloo.perform("add_tag", {}, {"tag": "VIP"}, MARK_SPENSER)
    assert [(r.method, r.path) for r in sent(fakes)] == [
        ("GET", "/api/v2/tags"),
        ("PUT", f"/api/v2/people/{MARK_SPENSER}/add-tag"),
    ]
    assert sent(fakes)[1].form == {"tag_id": [VIP_TAG]}
    with pytest.raises(PayloadError, match="no tag named 'gold'"):
        leeloo.perform("add_tag", {}, {"tag": "gold"}, MARK_SPENSER)


def test_list_tunnels(leeloo, fake, fakes):
    page = leeloo.list_tunnels(limit=20, offset=0)
    assert page.items[0] == {
        **lee.parse_tunnel(example(TUNNEL)),
        "leadgen_tools": [],  # the list carries no links; get_tunnel has them
    }
    assert page.meta["totalCount"] == len(fake.tunnels)
    assert_request(
        only_request(fakes), fake, "GET", "/api/v2/tunnels", {"limit": ["20"], "offset": ["0"]}
    )


def test_get_tunnel_includes_its_leadgen_tools(leeloo, fake, fakes):
    body = json.loads(TUNNEL)
    assert leeloo.get_tunnel(MY_TUNNEL) == lee.parse_tunnel(body["data"], body["linked"])
    request = only_request(fakes)
    assert_request(
        request, fake, "GET", f"/api/v2/tunnels/{MY_TUNNEL}", {"include": ["leadgentools"]}
    )


def test_tunnel_stats_for_all_and_for_one(leeloo, fake, fakes):
    expected = lee.parse_stats(example(STATS)[0])
    assert leeloo.all_tunnel_stats() == [expected] * len(fake.tunnels)
    assert leeloo.tunnel_stats(MY_TUNNEL) == expected
    first, second = sent(fakes)
    assert_request(first, fake, "GET", "/api/v2/tunnels/stats")
    assert_request(second, fake, "GET", f"/api/v2/tunnels/{MY_TUNNEL}/stats")


def test_subscribe_to_a_tunnel_block_sends_form_data(leeloo, fake, fakes):
    block = fake.tunnels[MY_TUNNEL]["blocks"][0]
    params = {"account_id": FELIKS_CHANNEL, "tunnel_id": MY_TUNNEL, "tunnel_block_id": block}
    result = leeloo.perform("subscribe_tunnel", {}, params)
    assert (result.remote_id, result.status) == (FELIKS_CHANNEL, "subscribed")
    request = only_request(fakes)
    path = f"/api/v2/communication-channels/{FELIKS_CHANNEL}/manual-subscribe"
    assert_request(request, fake, "POST", path)
    assert_form_data(request, {"tunnel_id": MY_TUNNEL, "tunnel_block_id": block})
    assert fake.people[FELIKS]["subscribeHistory"][-1]["tunnelId"] == MY_TUNNEL


def test_list_and_get_users(leeloo, fake, fakes):
    page = leeloo.list_users(limit=2, offset=0)
    assert page.items == [lee.parse_user(u) for u in example(USERS)]
    assert leeloo.get_user("632af797bd3cc466fe1af584") == lee.parse_user(example(USER))
    first, second = sent(fakes)
    assert_request(first, fake, "GET", "/api/v2/users", {"limit": ["2"], "offset": ["0"]})
    assert_request(second, fake, "GET", "/api/v2/users/632af797bd3cc466fe1af584")


def test_an_account_base_url_overrides_scheme_and_host(fakes, fake):
    provider = make_provider(fakes, fake.credential)
    assert provider.base_url == fakes.base_url("leeloo")
    assert LeelooProvider.default_base_url() == "https://api.leeloo.ai"
    provider.list_tags()
    assert sent(fakes)[0].path == "/api/v2/tags"


# --- operations that find a channel themselves ---------------------------------------------


def test_send_message_to_a_person_writes_to_their_first_channel(leeloo, fake, fakes):
    result = leeloo.perform("send_message", {}, {"text": "Hi"}, FELIKS)
    assert result.remote_id == FELIKS_CHANNEL
    assert [(r.method, r.path) for r in sent(fakes)] == [
        ("GET", f"/api/v2/people/{FELIKS}"),
        ("POST", "/api/v2/messages/send-message"),
    ]
    assert sent(fakes)[1].json == {"account_id": FELIKS_CHANNEL, "text": "Hi"}


def test_send_template_operation(leeloo, fake, fakes):
    params = {
        "account_id": FELIKS_CHANNEL,
        "template_id": "5e42be688d4fff000cafe5cc",
        "variables": {"name": "Feliks"},
    }
    assert leeloo.perform("send_template", {}, params).status == "sent"
    assert only_request(fakes).json == params


def test_create_traffic_source_operation_uses_the_accounts_lgt(leeloo, fake, fakes):
    result = leeloo.perform("create_traffic_source", {}, {"name": "Spring ads"})
    assert result.created is True
    assert only_request(fakes).path == (f"/api/v2/leadgentools/{PEOPLE_LGT}/create-traffic-source")


def test_operations_are_offered_on_the_record_kinds_they_act_on():
    specs = LeelooProvider.operation_specs()
    assert specs["push"].kinds == ("contact", "lead", "order")
    people = [name for name, spec in specs.items() if spec.kinds == ("contact", "lead")]
    assert sorted(people) == [
        "add_comment",
        "add_sms_connection",
        "add_tag",
        "log_call",
        "remove_tag",
        "send_message",
        "send_template",
        "subscribe_tunnel",
    ]
    assert specs["create_order"].kinds == specs["update_order"].kinds == ("order",)
    assert specs["create_traffic_source"].kinds == ("tunnel",)
    assert all(callable(getattr(LeelooProvider, spec.method)) for spec in specs.values())
    required = {o.name for o in specs["log_call"].options if o.required}
    assert required == set(lee.CALL_FIELDS) - {"record_link", "account_id"}


def test_an_operation_on_a_record_not_yet_linked_finds_the_person_first(leeloo, fake, fakes):
    result = leeloo.perform("add_tag", contact(phone="+380966565556"), {"tag": "vip"})
    assert result.remote_id == FELIKS
    assert [(r.method, r.path) for r in sent(fakes)] == [
        ("GET", "/api/v2/people"),
        ("GET", "/api/v2/tags"),
        ("PUT", f"/api/v2/people/{FELIKS}/add-tag"),
    ]
    assert "vip" in fake.people[FELIKS]["tags"]


def test_an_operation_on_a_person_leeloo_does_not_know_asks_for_a_push(leeloo, fakes):
    with pytest.raises(PayloadError, match="push it first"):
        leeloo.perform("add_comment", contact(email="nobody@example.com"), {"comment": "Hi"})
    assert [r.method for r in sent(fakes)] == ["GET"]


def test_template_variables_typed_as_name_value_pairs(leeloo, fakes):
    params = {
        "template_id": "5e42be688d4fff000cafe5cc",
        "variables": ["name=Feliks", "car=Renault Midlum"],
        "account_id": FELIKS_CHANNEL,
    }
    leeloo.perform("send_template", {}, params)
    assert only_request(fakes).json["variables"] == {"name": "Feliks", "car": "Renault Midlum"}
    with pytest.raises(PayloadError, match="name=value"):
        leeloo.perform("send_template", {}, {**params, "variables": "name"})


def test_log_call_operation_writes_to_the_persons_first_channel(leeloo, fake, fakes):
    params = {key: value for key, value in CALL.items() if key != "account_id"}
    leeloo.perform("log_call", {}, params, FELIKS)
    get, post = sent(fakes)
    assert (get.method, get.path) == ("GET", f"/api/v2/people/{FELIKS}")
    assert post.form["account_id"] == [FELIKS_CHANNEL]
    assert fake.calls[0]["account_id"] == FELIKS_CHANNEL


# --- the person upsert ---------------------------------------------------------------------


def contact(**fields) -> dict:
    """A contact record as bridge.records.contact_data makes it (the fields push reads)."""
    return {
        "id": 1,
        "first_name": "Feliks",
        "last_name": "Novak",
        "full_name": "Feliks Novak",
        "email": "",
        "phone": "",
        "tags": [],
        "custom_fields": {},
        **fields,
    }


def lookups(fakes) -> list[tuple[str, str, str]]:
    """(method, path, the lookup filter) of each request, to read the upsert's steps."""
    steps = []
    for request in sent(fakes):
        lookup = [
            f"{k}={v[0]}"
            for k, v in request.query.items()
            if k in ("filter[phone]", "filter[email]")
        ]
        steps.append((request.method, request.path, ",".join(lookup)))
    return steps


def test_push_finds_the_person_by_phone_and_updates_them(leeloo, fake, fakes):
    result = leeloo.perform("push", contact(phone="+380966565556", email="new@x.com"), {})
    assert (result.remote_id, result.created, result.status) == (FELIKS, False, "updated")
    assert lookups(fakes) == [
        ("GET", "/api/v2/people", "filter[phone]=+380966565556"),
        ("PUT", f"/api/v2/people/{FELIKS}", ""),
    ]
    window = sent(fakes)[0].query
    assert window["filter[last_message][from]"] == ["2000-01-01T00:00:00.000Z"]
    assert lee.parse_datetime(window["filter[last_message][to]"][0]) > datetime.now(UTC)
    assert sent(fakes)[1].json == {"phone": "+380966565556", "email": "new@x.com"}
    assert fake.people[FELIKS]["email"] == "new@x.com"


def test_push_falls_back_to_email_when_the_phone_is_unknown(leeloo, fake, fakes):
    record = contact(phone="+380500000001", email="Feliks@Gmail.com")
    result = leeloo.perform("push", record, {})
    assert (result.remote_id, result.created) == (FELIKS, False)
    assert lookups(fakes) == [
        ("GET", "/api/v2/people", "filter[phone]=+380500000001"),
        ("GET", "/api/v2/people", "filter[email]=feliks@gmail.com"),
        ("PUT", f"/api/v2/people/{FELIKS}", ""),
    ]
    assert fake.people[FELIKS]["phone"] == "+380500000001"


def test_push_creates_an_unknown_person_through_the_accounts_lgt(leeloo, fake, fakes):
    record = contact(phone="+13105550143", email="jane@example.com", custom_fields={"plan": "gold"})
    result = leeloo.perform("push", record, {"connected_users_ids": "60509800acc5ae000d74ce21"})
    assert (result.created, result.status) == (True, "created")
    assert lookups(fakes) == [
        ("GET", "/api/v2/people", "filter[phone]=+13105550143"),
        ("GET", "/api/v2/people", "filter[email]=jane@example.com"),
        ("POST", "/api/v2/people", ""),
        ("PUT", f"/api/v2/people/{result.remote_id}", ""),
    ]
    assert sent(fakes)[2].json == {
        "name": "Feliks Novak",
        "email": "jane@example.com",
        "phone": "+13105550143",
        "leadgentool_id": PEOPLE_LGT,
        "connected_users_ids": ["60509800acc5ae000d74ce21"],
    }
    stored = fake.people[result.remote_id]
    assert stored["custom_fields"] == [{"type": "KEYWORD", "name": "plan", "value": "gold"}]
    assert stored["contactedUsers"] == ["60509800acc5ae000d74ce21"]
    # Pushed again, the same record is found, not duplicated.
    again = leeloo.perform("push", record, {})
    assert (again.remote_id, again.created) == (result.remote_id, False)


def test_push_with_a_known_remote_id_updates_without_looking_up(leeloo, fakes):
    result = leeloo.perform("push", contact(phone="+380977451111"), {}, MARK_SPENSER)
    assert (result.remote_id, result.created) == (MARK_SPENSER, False)
    assert lookups(fakes) == [("PUT", f"/api/v2/people/{MARK_SPENSER}", "")]


def test_push_of_a_lead_uses_its_contact(leeloo, fakes):
    lead = {"id": 3, "contact": contact(email="feliks@gmail.com"), "product": {}, "message": ""}
    result = leeloo.perform("push", lead, {})
    assert (result.remote_id, result.created) == (FELIKS, False)


def test_push_of_an_order_creates_then_settles_it(leeloo, fake, fakes):
    created = leeloo.perform("push", ORDER_RECORD, {})
    assert created.created is True
    assert fake.orders[created.remote_id]["person_id"] == FELIKS  # found by the contact's email
    unchanged = leeloo.perform("push", ORDER_RECORD, {}, created.remote_id)
    assert unchanged.status == "unchanged"
    settled = leeloo.perform("push", {**ORDER_RECORD, "status": "REJECTED"}, {}, created.remote_id)
    assert settled.status == "REJECTED"
    assert [(r.method, r.path) for r in sent(fakes)] == [
        ("POST", "/api/v2/orders"),
        ("POST", f"/api/v2/orders/{created.remote_id}"),
    ]
    assert fake.orders[created.remote_id]["status"] == "REJECTED"


def test_creating_a_person_without_an_lgt_is_a_configuration_error(fakes, fake):
    provider = make_provider(fakes, fake.credential)
    with pytest.raises(ConfigurationError, match="leadgentool_id"):
        provider.perform("push", contact(phone="+13105550143"), {})
    assert [r.method for r in sent(fakes)] == ["GET"]


def test_push_needs_a_phone_or_an_email(leeloo, fakes):
    with pytest.raises(PayloadError, match="phone or an email"):
        leeloo.perform("push", contact(), {})
    assert sent(fakes) == []


def test_an_unknown_operation_names_the_known_ones(leeloo):
    with pytest.raises(ConfigurationError, match="add_tag"):
        leeloo.perform("merge", {}, {})


# --- paging --------------------------------------------------------------------------------


def test_iter_people_pages_250_people_in_three_requests(leeloo, fake, fakes):
    ids = fake.seed_people(250, start=UTC_2030)
    pages = list(leeloo.iter_people(UTC_2030, utc(2030, 1, 2), page_size=100))
    assert [len(page.items) for page in pages] == [100, 100, 50]
    assert [p["remote_id"] for page in pages for p in page.items] == ids
    assert [page.meta["filteredCount"] for page in pages] == [250, 250, 250]
    requests = sent(fakes)
    assert [(r.query["limit"], r.query["offset"]) for r in requests] == [
        (["100"], ["0"]),
        (["100"], ["100"]),
        (["100"], ["200"]),
    ]
    assert all(
        r.query["filter[last_message][from]"] == ["2030-01-01T00:00:00.000Z"] for r in requests
    )


def test_iter_pages_stops_on_an_empty_first_page(leeloo, fakes):
    assert list(leeloo.iter_people(utc(1999, 1, 1), utc(1999, 2, 1))) == []
    assert len(sent(fakes)) == 1


def test_iter_pages_follows_a_server_that_serves_fewer_than_asked(leeloo, fake, monkeypatch):
    # A server capping limit at 2 but saying so in meta.limit must not end the sync early.
    fake.seed_people(5, start=UTC_2030)
    original = fake.page

    def capped(request, items, total=None, render=None):
        request.query["limit"] = ["2"]
        return original(request, items, total, render)

    monkeypatch.setattr(fake, "page", capped)
    pages = list(leeloo.iter_people(UTC_2030, utc(2030, 1, 2), page_size=100))
    assert [len(page.items) for page in pages] == [2, 2, 1]


def test_iter_pages_is_not_ended_by_a_page_sized_filtered_count(leeloo, fake, monkeypatch):
    # The chat-messages example reports filteredCount 3 for limit 3 of 52 messages: if that
    # count is the page's, trusting it alone would end a sync after the first page.
    fake.seed_people(250, start=UTC_2030)
    original = fake.page

    def page_sized_count(request, items, total=None, render=None):
        answer = original(request, items, total, render)
        answer.body["meta"]["filteredCount"] = len(answer.body["data"])
        return answer

    monkeypatch.setattr(fake, "page", page_sized_count)
    pages = list(leeloo.iter_people(UTC_2030, utc(2030, 1, 2), page_size=100))
    assert [len(page.items) for page in pages] == [100, 100, 50]


def test_iter_pages_refuses_a_server_that_ignores_offset(leeloo, fake, monkeypatch):
    fake.seed_people(10, start=UTC_2030)
    original = fake.page

    def offset_ignored(request, items, total=None, render=None):
        request.query["offset"] = ["0"]
        answer = original(request, items, total, render)
        answer.body["meta"] = {}
        return answer

    monkeypatch.setattr(fake, "page", offset_ignored)
    pages = leeloo.iter_people(UTC_2030, utc(2030, 1, 2), page_size=5)
    assert len(next(pages).items) == 5
    with pytest.raises(InvalidResponse, match="offset 5 of /people"):
        next(pages)


def test_the_fake_filters_people_by_tags_phone_email_and_window(leeloo, fake):
    fake.seed_people(40, start=UTC_2030)
    window = (UTC_2030, utc(2030, 1, 1, 0, 19))  # the first 20 seeded, inclusive
    assert leeloo.list_people(*window).meta["filteredCount"] == 20
    vip = leeloo.list_people(*window, tags=["vip"], limit=100)
    assert vip.meta["filteredCount"] == 6  # n % 4 == 0 (5) and n = 10 (n % 10 == 0)
    assert all("vip" in person["tags"] for person in vip.items)
    either = leeloo.list_people(*window, tags=["vip", "tag2"], limit=100)
    assert either.meta["filteredCount"] == 11  # any of the tags: 6 vip + 5 tag2
    phone = fake.people[fake._by_time[-1][1]]["phone"]  # seeded person 44: outside the window
    assert leeloo.list_people(*window, phone=phone).items == []
    assert len(leeloo.list_people(lee.EVERYONE_SINCE, utc(2031, 1, 1), phone=phone).items) == 1
    by_email = leeloo.list_people(*window, email="PERSON7@example.com")
    assert [p["name"] for p in by_email.items] == ["Person 7"]


def test_the_fake_seeds_people_for_another_process(leeloo, fake, fakes):
    answer = requests.post(
        fakes.base_url("leeloo") + "/_fake/seed-people",
        json={"count": 3, "start": "2030-01-01T00:00:00Z"},
        headers={"X-Leeloo-AuthToken": fake.credential},
        timeout=2,
    ).json()
    assert (answer["status"], answer["data"]["seeded"]) == (1, 3)
    assert answer["data"]["total"] == len(fake.people) == 8
    assert leeloo.list_people(UTC_2030, utc(2030, 1, 2)).meta["filteredCount"] == 3


def test_the_fake_pages_100000_people_by_slicing(leeloo, fake):
    ids = fake.seed_people(100_000, start=UTC_2030)
    page = leeloo.list_people(UTC_2030, utc(2031, 1, 1), limit=100, offset=99_950)
    assert [p["remote_id"] for p in page.items] == ids[99_950:]
    assert page.meta["filteredCount"] == 100_000
    assert page.items[-1]["last_message_at"] == UTC_2030 + timedelta(minutes=99_999)
    assert page.items[-1]["phone"] == seed_phone(len(fake.people) - 1)


# --- errors --------------------------------------------------------------------------------


def test_status_0_in_a_200_is_a_permanent_error_with_leeloos_message(leeloo):
    with pytest.raises(PermanentError) as caught:
        leeloo.call("GET", "/people", params={"limit": 20})
    error = caught.value
    assert error.status == 200
    assert error.provider_message == (
        "filter[last_message][from] and filter[last_message][to] are required"
    )
    assert "Leeloo.ai refused the request: filter[last_message]" in str(error)
    assert not error.retryable


def test_a_form_data_endpoint_refuses_json_with_status_0(leeloo):
    with pytest.raises(PermanentError, match="tag_id is required"):
        leeloo.call("PUT", f"/people/{MARK_SPENSER}/add-tag", json_body={"tag_id": VIP_TAG})


def test_an_unknown_id_is_a_permanent_error(leeloo):
    with pytest.raises(PermanentError) as caught:
        leeloo.get_person("000000000000000000000000")
    assert caught.value.status == 404
    assert caught.value.provider_message == "Person 000000000000000000000000 not found"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"status": 0, "message": "Bad phone"}, "Bad phone"),
        ({"status": "0", "error": "Bad phone"}, "Bad phone"),
        ({"status": 0, "errors": {"phone": ["is invalid"]}}, "phone: is invalid"),
        ({"status": 0, "errors": ["one", {"message": "two"}]}, "one; two"),
        ({"status": 0}, ""),
    ],
)
def test_status_0_messages_in_every_shape(leeloo, fakes, body, message):
    fakes.add_fault("leeloo", "error", status=200, body=body)
    with pytest.raises(PermanentError) as caught:
        leeloo.list_tags()
    assert caught.value.provider_message == message
    assert caught.value.status == 200


def test_a_wrong_token_is_an_authentication_error(fakes, fake):
    provider = make_provider(fakes, "wrong-leeloo-token-123")
    with pytest.raises(AuthenticationError) as caught:
        provider.list_tags()
    assert caught.value.status == 401
    assert caught.value.provider_message == "Invalid authorization token"
    assert only_request(fakes).header("X-Leeloo-AuthToken") == "wrong-leeloo-token-123"


def test_a_missing_token_is_refused_by_the_fake(fakes):
    answer = requests.get(fakes.base_url("leeloo") + "/api/v2/tags", timeout=2)
    assert answer.status_code == 401
    assert answer.json() == {"status": 0, "message": "Authorization token is required"}


def test_a_blank_credential_is_a_configuration_error_before_any_call(fakes):
    with pytest.raises(ConfigurationError, match="no credential"):
        make_provider(fakes, "").list_tags()
    assert sent(fakes) == []


def test_429_plain_text_is_rate_limited_with_retry_after(leeloo, fakes):
    fakes.add_fault("leeloo", "rate_limit", retry_after=7)
    with pytest.raises(RateLimitedError) as caught:
        leeloo.list_tags()
    assert caught.value.retry_after == 7.0
    assert caught.value.provider_message == "Too many requests, please try again later."
    assert caught.value.retryable


def test_a_5xx_html_page_is_transient_with_its_title(leeloo, fakes):
    page = (
        "<html><head><title>502 Bad Gateway</title><style>h1 {}</style></head>"
        "<body><h1>502 Bad Gateway</h1><hr>nginx</body></html>"
    )
    fakes.add_fault("leeloo", "error", status=502, body=page)
    with pytest.raises(TransientError) as caught:
        leeloo.list_tags()
    assert caught.value.provider_message == "502 Bad Gateway"
    assert str(caught.value) == "Leeloo.ai answered 502: 502 Bad Gateway"


def test_html_without_a_title_is_reduced_to_its_text(leeloo, fakes):
    fakes.add_fault("leeloo", "error", status=500, body="<p>Internal   <b>error</b></p>")
    with pytest.raises(TransientError) as caught:
        leeloo.list_tags()
    assert caught.value.provider_message == "Internal error"


def test_an_empty_5xx_body_maps_cleanly(leeloo, fakes):
    fakes.add_fault("leeloo", "error", status=503, body=b"")
    with pytest.raises(TransientError) as caught:
        leeloo.list_tags()
    assert (caught.value.status, caught.value.provider_message) == (503, "")
    assert str(caught.value) == "Leeloo.ai answered 503"


@pytest.mark.parametrize("body", [b"", "<html>maintenance</html>", [1, 2]])
def test_a_200_without_the_envelope_is_an_invalid_response(leeloo, fakes, body):
    fakes.add_fault("leeloo", "error", status=200, body=body)
    with pytest.raises(InvalidResponse):
        leeloo.list_tags()


def test_the_token_never_reaches_logs_or_errors(fakes, fake, caplog, monkeypatch):
    token = "leeloo-secret-token-5f3a9c"
    monkeypatch.setattr(fake, "credential", token)
    provider = make_provider(fakes, token, leadgentool_id=PEOPLE_LGT)
    caplog.set_level(logging.DEBUG)
    provider.list_tags()
    fakes.add_fault("leeloo", "error", status=500, body=f"<title>bad {token}</title>", times=1)
    with pytest.raises(TransientError) as echoed_in_html:
        provider.list_tags()
    fakes.add_fault("leeloo", "error", status=200, body={"status": 0, "message": token}, times=1)
    with pytest.raises(PermanentError) as echoed_in_json:
        provider.list_tags()
    monkeypatch.setattr(fake, "credential", "another-token")
    with pytest.raises(AuthenticationError) as refused:
        provider.list_tags()
    assert "provider call account=leeloo-test provider=leeloo method=GET path=/api/v2/tags" in (
        caplog.text
    )
    assert token not in caplog.text
    errors = [echoed_in_html.value, echoed_in_json.value, refused.value]
    for error in errors:
        assert token not in f"{error} {error!r} {error.body} {error.provider_message}"
    assert echoed_in_html.value.provider_message == "bad ********"
    assert echoed_in_json.value.provider_message == "********"
    assert token not in json.dumps(provider.last_call.as_dict())
    assert token not in repr(provider.last_call)  # the raw answer is kept, never shown
