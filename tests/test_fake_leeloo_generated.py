"""The fake Leeloo's generated people: the same people and pages as seeded ones, made on the
fly (the million-person benchmark's population, ``bench/sync_million.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import requests

from integrations.fakes.core import FakeRequest
from integrations.fakes.leeloo import FakeLeeloo
from integrations.leeloo import LeelooProvider
from integrations.leeloo.wire import EVERYONE_SINCE

# Among the reference's example people (two of them last wrote in February 2024), so the
# pages interleave people held in memory with generated ones.
START = datetime(2024, 2, 1, tzinfo=UTC)
UNTIL = datetime(2031, 1, 1, tzinfo=UTC)


def list_request(limit: int, offset: int, since=EVERYONE_SINCE, until=UNTIL) -> FakeRequest:
    window = LeelooProvider.people_params(None, since, until)
    query = {key: [value] for key, value in window}
    query.update(limit=[str(limit)], offset=[str(offset)])
    return FakeRequest("GET", "/api/v2/people", query, {}, b"", None, None, "")


def listed(fake: FakeLeeloo, limit: int, offset: int, **window) -> tuple[list, dict]:
    body = fake.list_people(list_request(limit, offset, **window)).body
    return body["data"], body["meta"]


def test_generated_people_page_exactly_as_the_same_people_seeded():
    seeded, generated = FakeLeeloo(), FakeLeeloo()
    seeded.seed_people(23_000, start=START, step=timedelta(minutes=2))
    generated.generate_people(23_000, start=START, step=timedelta(minutes=2))
    assert len(generated.people) == 5  # only the examples are held
    for limit, offset in [(100, 0), (7, 9), (100, 12_950), (100, 22_950), (100, 23_000)]:
        assert listed(generated, limit, offset) == listed(seeded, limit, offset)
    window = {"since": START + timedelta(days=10), "until": START + timedelta(days=12, hours=1)}
    assert listed(generated, 2000, 0, **window) == listed(seeded, 2000, 0, **window)
    assert listed(generated, 5, 0, **window)[1]["filteredCount"] == 1471  # 10 days + 1 h, inclusive
    some = seeded._by_time[17_000][1]
    assert generated.find_person(some) == seeded.people[some]
    assert generated.find_person("5eed" + "f" * 20) is None


def test_a_change_renames_and_retags_one_person_in_every_without_moving_their_message():
    fake = FakeLeeloo()
    first, _ = fake.generate_people(1000, start=START)
    before = {p["id"]: p for p in listed(fake, 2000, 0)[0]}
    assert fake.change_generated(100) == 10  # people 100, 200 … 1000 (n counts the 5 examples)
    after = {p["id"]: p for p in listed(fake, 2000, 0)[0]}
    changed = {pid for pid in after if after[pid] != before[pid]}
    assert len(changed) == 10 and first not in changed
    for pid in changed:
        assert after[pid]["name"].endswith(" v1") and after[pid]["tags"] != before[pid]["tags"]
        assert after[pid]["lastMessageTime"] == before[pid]["lastMessageTime"]


def test_another_process_generates_and_changes_people(fakes):
    url, headers = fakes.base_url("leeloo"), {"X-Leeloo-AuthToken": FakeLeeloo.credential}
    made = requests.post(
        f"{url}/_fake/generate-people", json={"count": 1_000_000}, headers=headers, timeout=5
    ).json()["data"]
    assert (made["generated"], made["total"]) == (1_000_000, 1_000_005)
    changed = requests.post(
        f"{url}/_fake/change-people", json={"every": 100}, headers=headers, timeout=5
    ).json()["data"]
    assert changed == {"changed": 10_000}
    refused = requests.post(f"{url}/_fake/change-people", json={}, headers=headers, timeout=5)
    assert "every (a whole number" in refused.json()["message"]
