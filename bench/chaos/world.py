"""The soak's world: three push accounts routed by rules, Aiployees calling back, a Leeloo sync.

Set up with the commands staff use (``intake_source``, ``routes add``) on a fresh database:

- one intake source (``soak-web-form``) the load posts to;
- three accounts on the fake providers — Aiployees (campaign 1), Aloware, Aéllo — and one
  routing rule each, matched on the product reference the load gives a lead (``AIP-``,
  ``ALW-``, ``AEL-``): every lead is routed to exactly one of them;
- fake Aiployees "calls" every new lead a few seconds after it is created and posts the
  post-call webhook to the bridge's receiver (through gunicorn), retrying until acknowledged;
- a Leeloo account whose people sync runs every minute (its other resources off), on a fake
  Leeloo seeded with people.
"""

from __future__ import annotations

from io import StringIO

#: Product reference prefix → (account name, provider, push options).
TARGETS = {
    "AIP": ("soak-aiployees", "aiployees", {"campaign_id": "1"}),
    "ALW": ("soak-aloware", "aloware", {}),
    "AEL": ("soak-aello", "aello", {}),
}
SOURCE = "soak-web-form"
LEELOO = "soak-leeloo"
CREDENTIALS = {
    "aiployees": "fake-aiployees-token",
    "aloware": "fake-aloware-token",
    "aello": "fake-aello-token",
    "leeloo": "fake-leeloo-token",
}


def _call(*args: str) -> str:
    from django.core.management import call_command

    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())  # what it tells staff is not ours
    return out.getvalue()


def make_account(fakes_url: str, name: str, provider: str):
    """An account on the fake providers, with budgets that let a backlog drain after an outage."""
    from bridge.models import ProviderAccount

    account = ProviderAccount(
        provider=provider,
        name=name,
        base_url=f"{fakes_url}/{provider}",
        credential=CREDENTIALS[provider],
        connect_timeout=1.0,
        read_timeout=3.0,  # a slow-answer fault of 5 s times out: the push is retried
        concurrency=4,
        requests_per_second=50.0,
    )
    account.full_clean()
    account.save()
    return account


def set_up(fakes, web_url: str, leeloo_people: int = 500) -> str:
    """Create the world; returns the intake source's token."""
    from bridge.inbox import auth_credential, webhook_path
    from bridge.models import SyncState

    accounts = {}
    for prefix, (name, provider, _options) in TARGETS.items():
        accounts[prefix] = make_account(fakes.url, name, provider)
    token = _call("intake_source", SOURCE, "--rate-limit", "100000").strip()
    for prefix, (name, _, options) in TARGETS.items():
        extra = [arg for key, value in options.items() for arg in ("--option", f"{key}={value}")]
        _call(
            "routes",
            "add",
            f"soak-{prefix.lower()}",
            "--source",
            SOURCE,
            "--product-reference",
            f"{prefix}-",
            "--account",
            name,
            *extra,
        )
    aiployees = accounts["AIP"]
    headers = {}
    credential = auth_credential(aiployees)
    if credential.get("method") == "Bearer":
        headers["Authorization"] = f"Bearer {credential['token']}"
    fakes.control(
        "POST",
        "/webhook",
        json={
            "provider": "aiployees",
            "url": web_url + webhook_path(aiployees),
            "headers": headers,
            "delay": 2.0,
            "retries": 12,
            "retry_backoff": 1.0,
        },
    )
    leeloo = make_account(fakes.url, LEELOO, "leeloo")
    SyncState.objects.filter(account=leeloo).exclude(resource="people").update(enabled=False)
    for state in SyncState.objects.filter(account=leeloo, resource="people"):
        state.minutes = 1
        state.save()  # its signal retimes the schedule
    for state in SyncState.objects.filter(account=leeloo).exclude(resource="people"):
        state.save()  # disabled: its schedule is removed
    fakes.session.post(
        f"{fakes.url}/leeloo/_fake/seed-people",
        json={"count": leeloo_people},
        timeout=60,
        headers={"X-Leeloo-AuthToken": CREDENTIALS["leeloo"]},
    ).raise_for_status()
    return token


def fake_key(provider: str, phone: str, remote_id: str) -> str:
    """The key the fake's receipts file a pushed lead under (``FakeProvider.record_key``):
    Aéllo the lead's ``externalId`` (the delivery's remote id), the others the phone."""
    return remote_id if provider == "aello" else phone
