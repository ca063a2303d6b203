"""The "Sent to" column and filters of the Leads and Contacts lists: where each row's record
stands with every active account, read for the whole page in one query.

A record's state at an account is that of its **newest push** there (operation ``push``,
cancelled ones aside): delivered (also "skipped, unchanged": the provider already has that
content), failing (queued or retrying after an attempt or an error), sending (queued or in
flight, not tried yet), dead, or not sent (no push at all). So a push that died and a newer one
delivered is "delivered"; a re-push retrying after a delivered one is "failing".

A contact counts its own pushes *and its leads'*: Aiployees, Aloware and Leeloo are sent the
person when a lead is pushed (Aéllo only takes leads), so staff asking "is this person at
Aloware?" get yes for a contact whose lead went there. Its badge is the most pressing of its
records' states (failing, dead, sending, delivered, in that order); "delivered to X" lists a
contact any of whose records was ever delivered there, "failed at X" one any of whose records
is failing or dead there, "not sent to X" one none of whose records was pushed there.

Both read ``SentState`` (``bridge/models/sent_state.py``): one row per record and account,
kept by database triggers from the deliveries, holding the newest push's status, the last
delivery and the person. The column reads a page's rows in one query (its primary key for
leads, ``sentstate_contact_idx`` for contacts). "failed at X" starts from the account's few
failing or dead rows (``sentstate_failing_idx``); "delivered to" and "not sent to" probe each
listed row's key (docs/benchmarks.md, "The 'Sent to' column and filters"). Reading deliveries
instead cost "failed at" ~1 s at a million leads: a record's newest push had to be found among
all of the account's.
"""

from __future__ import annotations

from functools import cache

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.db.models import Exists, OuterRef, Q
from django.utils.html import format_html, format_html_join

from bridge.models import Contact, Lead, ProviderAccount, SentState

#: The column's statuses, most pressing first (a contact shows the first of its records').
PRECEDENCE = ["failing", "dead", "sending", "delivered", "none"]
#: Few records are in these: their filter starts from the account's rows in them.
RARE = {"failing", "dead"}
#: Each status's words, glyph and colour: the glyph and the title carry the meaning, the
#: colour only repeats it.
STATUS_LOOK = {
    "delivered": ("delivered", "✓", "#15803d"),
    "failing": ("failing, will retry", "!", "#b45309"),
    "sending": ("sending", "…", "#2563eb"),
    "dead": ("dead", "✗", "#b91c1c"),
    "none": ("not sent", "–", ""),
}
COLUMN_HELP = (
    "Where the newest push of this lead to each active account stands: ✓ delivered, "
    "! failing (retrying after an error), … sending, ✗ dead, – not sent. Hover a badge for "
    "its account and state."
)
CONTACT_COLUMN_HELP = (
    "Where this contact and its leads stand with each active account (a lead's push sends "
    "the person too), the most pressing first: ! failing, ✗ dead, … sending, ✓ delivered, "
    "– not sent. Hover a badge for its account and state."
)


def active_accounts(request) -> list[ProviderAccount]:
    """The enabled accounts, read once per request (the column and the three filters)."""
    cached = getattr(request, "_sent_to_accounts", None)
    if cached is None:
        cached = list(ProviderAccount.objects.filter(enabled=True).order_by("name"))
        request._sent_to_accounts = cached
    return cached


# --- SQL: one page's states, and the filters' conditions --------------------------------


def content_type_id(model) -> int:
    return ContentType.objects.get_for_model(model).pk


def states_at(model, account_id: int):
    """SentState rows of ``model``'s records at the account (a contact: its own and its
    leads', by the person), correlated to the listed row."""
    rows = SentState.objects.filter(account_id=account_id)
    if model is Lead:
        return rows.filter(content_type_id=content_type_id(Lead), object_id=OuterRef("pk"))
    return rows.filter(contact_id=OuterRef("pk"))


def newest_push_is(model, account_id: int, statuses: list[str]) -> Q:
    """The rows whose record's newest push to the account is in ``statuses``; for a contact,
    its own or any of its leads'.

    Failing and dead are few: the rows are found from the account's (``id IN``, through
    ``sentstate_failing_idx``). Delivered is most: each listed row is probed (``EXISTS``
    through the key), and the page stops after 50. For a contact "delivered" is "ever
    delivered" — the account has the person once any of its records was delivered there.
    """
    if set(statuses) <= RARE:
        rows = SentState.objects.filter(account_id=account_id, status__in=statuses)
        if model is Lead:
            rows = rows.filter(content_type_id=content_type_id(Lead))
            return Q(pk__in=rows.order_by().values("object_id"))
        return Q(pk__in=rows.order_by().values("contact_id"))
    if model is Contact and statuses == ["delivered"]:
        return Q(Exists(states_at(model, account_id).filter(delivered_at__isnull=False)))
    return Q(Exists(states_at(model, account_id).filter(status__in=statuses)))


def never_pushed(model, account_id: int) -> Q:
    """The rows none of whose records was pushed to the account (cancelled ones aside)."""
    return ~Q(Exists(states_at(model, account_id)))


def page_states(model, ids: list[int]) -> dict[int, dict[int, str]]:
    """Row id -> account id -> status, for a page of rows, in one query.

    A lead's is its row's; a contact takes the most pressing of its own and its leads'
    (PRECEDENCE).
    """
    if not ids:
        return {}
    if model is Lead:
        rows = SentState.objects.filter(content_type_id=content_type_id(Lead), object_id__in=ids)
        found = rows.values_list("object_id", "account_id", "status")
    else:
        found = SentState.objects.filter(contact_id__in=ids)
        found = found.values_list("contact_id", "account_id", "status")
    states: dict[int, dict[int, str]] = {}
    for row_id, account_id, status in found.order_by():
        shown = states.setdefault(row_id, {})
        current = shown.get(account_id, "none")
        if PRECEDENCE.index(status) < PRECEDENCE.index(current):
            shown[account_id] = status
    return states


# --- The column ------------------------------------------------------------------------


def sent_to_badge(account: ProviderAccount, status: str):
    """One account's badge: a glyph and its name, the state in words in the title."""
    words, glyph, colour = STATUS_LOOK[status]
    title = f"{account.name}: {words}"
    if not colour:  # not sent: an outline, so the sent ones stand out
        style = "color:#4b5563;border:1px solid #9ca3af"
    else:
        style = f"color:#fff;background:{colour};border:1px solid {colour}"
    return format_html(
        '<span class="sent-to sent-{}" title="{}" aria-label="{}" style="{}">{} {}</span>',
        status,
        title,
        title,
        style,
        glyph,  # first: a long name is cut at its end, never the state
        account.name,
    )


def sent_to_badges(accounts, states: dict[int, str]):
    """Every active account's badge for one row."""
    return format_html_join(
        " ",
        "{}",
        ((sent_to_badge(account, states.get(account.pk, "none")),) for account in accounts),
    )


class SentToResults:
    """ChangeList mixin: after the page is read, its rows' states in one query."""

    def get_results(self, request):
        super().get_results(request)
        rows = list(self.result_list)  # evaluates (and caches) the page the template shows
        states = page_states(self.model, [row.pk for row in rows])
        accounts = active_accounts(request)
        for row in rows:
            row.sent_to_states = states.get(row.pk, {})
            row.sent_to_accounts = accounts


@cache
def with_sent_to(changelist_class):
    """``changelist_class`` with the page's delivery states read after its results."""
    return type(f"SentTo{changelist_class.__name__}", (SentToResults, changelist_class), {})


class SentToMixin:
    """ModelAdmin mixin for Leads and Contacts: the ``sent_to`` column (add it to
    ``list_display``) and the :data:`SENT_TO_FILTERS` (add them to ``list_filter``).

    Its template lays the badges out one per line (import-export's list builds on it).
    """

    change_list_template = "admin/bridge/sent_to_change_list.html"

    def get_changelist(self, request, **kwargs):
        return with_sent_to(super().get_changelist(request, **kwargs))

    @admin.display(description="Sent to")
    def sent_to(self, obj):
        accounts = getattr(obj, "sent_to_accounts", None)
        states = getattr(obj, "sent_to_states", None)
        if accounts is None or states is None:  # not read by the changelist: its own queries
            accounts = list(ProviderAccount.objects.filter(enabled=True).order_by("name"))
            states = page_states(type(obj), [obj.pk]).get(obj.pk, {})
        help_text = CONTACT_COLUMN_HELP if isinstance(obj, Contact) else COLUMN_HELP
        return format_html(
            '<span class="sent-to-badges" title="{}">{}</span>',
            help_text,
            sent_to_badges(accounts, states) if accounts else "–",
        )


# --- The filters -----------------------------------------------------------------------


class SentToFilter(admin.SimpleListFilter):
    """One state of the column, the account as the choice ("delivered to aello-main")."""

    statuses: list[str] = []

    def lookups(self, request, model_admin):
        return [(str(account.pk), account.name) for account in active_accounts(request)]

    def account_id(self) -> int | None:
        value = self.value()
        if value is None:
            return None
        if not value.isdigit() or len(value) > 18:  # a key, and one the database can hold
            raise IncorrectLookupParameters(
                f"{self.parameter_name}: “{value}” is not an account id."
            )
        return int(value)

    def queryset(self, request, queryset):
        account_id = self.account_id()
        if account_id is None:
            return queryset
        return queryset.filter(self.condition(queryset.model, account_id))

    def condition(self, model, account_id):
        return newest_push_is(model, account_id, self.statuses)


class DeliveredToFilter(SentToFilter):
    title = "delivered to"
    parameter_name = "delivered_to"
    statuses = ["delivered"]


class FailedAtFilter(SentToFilter):
    title = "failed at (failing or dead)"
    parameter_name = "failed_at"
    statuses = ["failing", "dead"]


class NotSentToFilter(SentToFilter):
    title = "not sent to"
    parameter_name = "not_sent_to"

    def condition(self, model, account_id):
        return never_pushed(model, account_id)


SENT_TO_FILTERS = [DeliveredToFilter, FailedAtFilter, NotSentToFilter]
