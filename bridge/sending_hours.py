"""When a push from the push page goes out to an account: "send at", then its sending hours.

Staff may schedule a push ("send at", a moment in the site's time zone) and an account may
have sending hours (days, a start and an end in the account's time zone): an AI caller that
phones a lead the moment it arrives should not get one at midnight. A push goes at the later
of now and "send at", moved to the account's next window when that falls outside its hours.
"""

from __future__ import annotations

from datetime import datetime

from bridge.models import ProviderAccount
from bridge.models.hours import DAYS
from bridge.routing.hours import next_window_start


def when_due(account: ProviderAccount, send_at: datetime | None, now: datetime):
    """The moment ``account``'s deliveries of this push are due; None for "at once"."""
    moment = max(send_at or now, now)
    if account.has_hours:
        moment = next_window_start(
            moment,
            account.day_numbers,
            account.business_start,
            account.business_end,
            account.zone,
        )
    return None if moment <= now else moment


def describe_hours(account: ProviderAccount) -> str:
    """``account``'s sending hours in words ("mon,tue 09:00–18:00 Europe/Paris"), or ""."""
    if not account.has_hours:
        return ""
    days = ",".join(DAYS[n] for n in account.day_numbers)
    start, end = account.business_start.strftime("%H:%M"), account.business_end.strftime("%H:%M")
    return f"{days} {start}–{end} {account.zone.key}"
