"""What the Deliveries list's actions tell staff: how many, said in good English, and why
none when nothing could be done (a "Retry now" on delivered rows is not a silent "0")."""

from __future__ import annotations

from django.db.models import Count
from django.utils.text import get_text_list
from django.utils.translation import ngettext

from bridge.models import Delivery

State = Delivery.State

#: States "Retry now" can send again (``bridge.outbox.retry_now``).
RETRIABLE = (State.FAILED, State.DEAD, State.CANCELLED)

#: Why a delivery in this state is not sent again.
WHY_NOT_RETRIED = {
    State.DELIVERED: "already delivered",
    State.PENDING: "already waiting to be sent",
    State.SENDING: "being sent right now",
    State.SKIPPED: "skipped (the record had not changed since it was last sent)",
}


def not_retriable(deliveries) -> dict[str, int]:
    """Among ``deliveries``, how many per state "Retry now" leaves alone (read before it runs:
    the ones it retries become pending)."""
    rows = (
        deliveries.exclude(state__in=RETRIABLE)
        .order_by()
        .values("state")
        .annotate(count=Count("pk"))
    )
    order = list(WHY_NOT_RETRIED)
    return dict(sorted(((r["state"], r["count"]) for r in rows), key=lambda s: order.index(s[0])))


def reasons(left: dict[str, int]) -> str:
    """ "3 selected deliveries are already delivered and 1 is being sent right now"."""
    parts = []
    for index, (state, count) in enumerate(left.items()):
        why = WHY_NOT_RETRIED.get(state, f"in state {state}")
        if index == 0:
            parts.append(
                ngettext(
                    "%(count)d selected delivery is %(why)s",
                    "%(count)d selected deliveries are %(why)s",
                    count,
                )
                % {"count": count, "why": why}
            )
        else:
            parts.append(
                ngettext("%(count)d is %(why)s", "%(count)d are %(why)s", count)
                % {"count": count, "why": why}
            )
    return str(get_text_list(parts, "and"))


def sent_again(count: int, what: str = "", how: str = "") -> str:
    """ "1 delivery will be sent again." / "3 Aloware deliveries will be sent again with force
    update." (``what`` an adjective such as a provider's name, ``how`` a trailing phrase)."""
    noun = ngettext("delivery", "deliveries", count)
    words = " ".join(part for part in (str(count), what, noun) if part)
    return f"{words} will be sent again{f' {how}' if how else ''}."


def retry_outcome(count: int, left: dict[str, int]) -> list[tuple[str, bool]]:
    """(message, is a warning) for a retry that sent ``count`` again and left ``left``."""
    if not count:
        if not left:
            return [("No delivery selected could be sent again.", True)]
        return [(f"{reasons(left)}; nothing to send again.", True)]
    outcome = [(sent_again(count), False)]
    if left:
        outcome.append((f"{reasons(left)}: left as they were.", True))
    return outcome


def cancelled(count: int) -> str:
    """ "1 delivery cancelled." / "4 deliveries cancelled."."""
    return ngettext("%(count)d delivery cancelled.", "%(count)d deliveries cancelled.", count) % {
        "count": count
    }
