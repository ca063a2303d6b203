"""The soak's traffic: web-form leads posted at a steady rate to the intake API.

Each lead has a phone and an ``externalId`` of its own, and a product reference whose prefix
the routing rules send to one of the three accounts (``world.TARGETS``). A post that fails
(the web worker it reached was killed, the database was restarting) is retried with the same
``externalId``, as a form backend retries: the intake must then answer the lead it already
has, never make a second one. Every lead answered 2xx is *accepted* and recorded with the id
the API answered; the checker finds each of them in the database.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import requests

from .world import TARGETS

PREFIXES = tuple(TARGETS)


def lead_body(n: int) -> dict:
    """Lead ``n``: its own phone (valid E.164, +1 213 …), email and externalId."""
    prefix = PREFIXES[n % len(PREFIXES)]
    return {
        "contact": {
            "firstName": f"Soak{n}",
            "lastName": "Lead",
            "email": f"soak{n}@example.com",
            "phone": f"+1213{2000000 + n:07d}",
        },
        "product": {"reference": f"{prefix}-{n}", "title": "Renault Midlum 190.08"},
        "message": "Is it still available?",
        "externalId": f"soak-{n}",
    }


@dataclass
class Intake:
    """What the load did: leads accepted (key → answered lead id), refused, retried."""

    accepted: dict[str, int] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)
    retries: int = 0
    statuses: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def note(self, status: str) -> None:
        with self.lock:
            self.statuses[status] = self.statuses.get(status, 0) + 1


def post_lead(
    session: requests.Session, url: str, token: str, n: int, intake: Intake, tries: int = 6
) -> None:
    """POST lead ``n`` until a 2xx or ``tries`` failures (a second apart, then longer)."""
    body = lead_body(n)
    problem = ""
    for attempt in range(tries):
        if attempt:
            with intake.lock:
                intake.retries += 1
            time.sleep(min(1.0 * 2 ** (attempt - 1), 8.0))
        try:
            answer = session.post(
                f"{url}/api/v1/leads",
                json=body,
                timeout=15,
                headers={"Authorization": f"Bearer {token}"},
            )
        except requests.RequestException as error:
            intake.note(type(error).__name__)
            problem = type(error).__name__
            continue
        intake.note(str(answer.status_code))
        if 200 <= answer.status_code < 300:
            with intake.lock:
                intake.accepted[body["externalId"]] = answer.json()["id"]
            return
        problem = f"{answer.status_code} {answer.text[:200]}"
        if answer.status_code < 500 and answer.status_code != 429:
            break  # refused for good: retrying the same body changes nothing
    with intake.lock:
        intake.refused[body["externalId"]] = problem


def run(url: str, token: str, seconds: float, rate: float, stop: threading.Event) -> Intake:
    """Post ``rate`` leads a second for ``seconds`` (or until ``stop``); what was accepted."""
    intake = Intake()
    local = threading.local()

    def post(n: int) -> None:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        post_lead(session, url, token, n, intake)

    start = time.monotonic()
    count = int(seconds * rate)
    with ThreadPoolExecutor(max_workers=32) as pool:
        for n in range(count):
            delay = start + n / rate - time.monotonic()
            if delay > 0 and stop.wait(delay):
                break
            pool.submit(post, n)
    return intake
