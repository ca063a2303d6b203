"""The "Sent to" column and filters of the Leads and Contacts lists: where each row's record
stands with every active account, read for the whole page in one query.

What a row's state at an account is: the **newest push** (operation ``push``, cancelled ones
aside) of the row's records to that account decides it —

- a lead's records: the lead itself;
- a contact's records: the contact *and its leads*. Aiployees, Aloware and Leeloo are sent the
  person when a lead is pushed (Aéllo only takes leads), so a contact whose lead went to
  Aloware is "delivered" there, which is what staff asking "is this person at Aloware?" expect.

The newest push's state is shown as one of: delivered (also "skipped, unchanged": the provider
already has that content), failing (queued or retrying after an attempt or an error), sending
(queued or in flight, not tried yet), dead, or not sent (no push at all). An older push that
died and a newer one delivered is "delivered"; a re-push retrying after a delivered one is
"failing".

Costs at a million leads: the column reads the page's deliveries in one query (the changelist's
``get_results``, ``delivery_record_idx``); each filter is one ``EXISTS`` (newest push matches)
or ``NOT EXISTS`` (no push), whose inner "no newer push" is correlated to the delivery, so
PostgreSQL may drive it from the account's deliveries (``delivery_account_state_idx``) or
probe each row's (``delivery_record_idx``), whichever its estimates favour.
"""

from __future__ import annotations

from functools import cache

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.db.models import BigIntegerField, CharField, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.expressions import Case, When
from django.utils.html import format_html, format_html_join

from bridge.models import Contact, Delivery, Lead, ProviderAccount

State = Delivery.State
PUSH = "push"
IN_FLIGHT = [State.PENDING, State.SENDING, State.FAILED]
TRIED = Q(attempts__gt=0) | ~Q(error_code="") | ~Q(error_message="")

#: A delivery's place in the column, in SQL: the same conditions the filters use.
STATUS_CONDITIONS = {
    "delivered": Q(state__in=[State.DELIVERED, State.SKIPPED]),
    "failing": Q(state__in=IN_FLIGHT) & TRIED,
    "sending": Q(state__in=IN_FLIGHT) & ~TRIED,
    "dead": Q(state=State.DEAD),
}
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
    "The newest push of this record to each active account: ✓ delivered, ! failing (retrying "
    "after an error), … sending, ✗ dead, – not sent. Hover a badge for its account and state."
)
CONTACT_COLUMN_HELP = COLUMN_HELP.replace(
    "this record", "this contact or any of its leads (a lead's push sends the person too)"
)


def active_accounts(request) -> list[ProviderAccount]:
    """The enabled accounts, read once per request (the column and the three filters)."""
    cached = getattr(request, "_sent_to_accounts", None)
    if cached is None:
        cached = list(ProviderAccount.objects.filter(enabled=True).order_by("name"))
        request._sent_to_accounts = cached
    return cached


# --- SQL: one page's states, and the filters' conditions --------------------------------


def status_expression():
    """The column's status of a delivery row, as a SQL CASE over STATUS_CONDITIONS."""
    whens = [When(condition, then=Value(name)) for name, condition in STATUS_CONDITIONS.items()]
    return Case(*whens, default=Value("none"), output_field=CharField())


def pushes():
    """Every push that counts: operation ``push``, not cancelled."""
    return Delivery.objects.filter(operation=PUSH).exclude(state=State.CANCELLED)


def records_condition(model, row) -> Q:
    """Deliveries of the row's records (see the module's docstring); ``row`` is the row's id
    as seen from the Delivery query (an ``OuterRef``)."""
    types = ContentType.objects.get_for_models(Contact, Lead)
    if model is Lead:
        return Q(content_type=types[Lead], object_id=row)
    leads = Lead.objects.filter(contact_id=OuterRef(row)).values("pk")
    return Q(content_type=types[Contact], object_id=row) | Q(
        content_type=types[Lead], object_id__in=leads
    )


def newest_push_is(model, account_id: int, statuses: list[str]) -> Exists:
    """EXISTS: the newest push of the row's records to the account has one of ``statuses``."""
    mine = pushes().filter(records_condition(model, OuterRef("pk")), account_id=account_id)
    if model is Lead:  # correlated to the delivery alone, so it can drive the join
        newer = pushes().filter(
            content_type=OuterRef("content_type"), object_id=OuterRef("object_id")
        )
    else:
        newer = pushes().filter(records_condition(model, OuterRef(OuterRef("pk"))))
    newer = newer.filter(account_id=OuterRef("account_id"), pk__gt=OuterRef("pk"))
    wanted = Q()
    for status in statuses:
        wanted |= STATUS_CONDITIONS[status]
    return Exists(mine.filter(wanted).filter(~Exists(newer)))


def never_pushed(model, account_id: int):
    """NOT EXISTS: no push of the row's records to the account at all."""
    mine = pushes().filter(records_condition(model, OuterRef("pk")), account_id=account_id)
    return ~Exists(mine)


def page_states(model, ids: list[int]) -> dict[int, dict[int, str]]:
    """Row id -> account id -> status of the newest push, for a page of rows, in one query."""
    if not ids:
        return {}
    types = ContentType.objects.get_for_models(Contact, Lead)
    rows = pushes()
    if model is Lead:
        rows = rows.filter(content_type=types[Lead], object_id__in=ids)
        rows = rows.annotate(row_id=F("object_id"))
    else:
        leads = Lead.objects.filter(contact_id__in=ids).values("pk")
        rows = rows.filter(
            Q(content_type=types[Contact], object_id__in=ids)
            | Q(content_type=types[Lead], object_id__in=leads)
        )
        contact_of_lead = Lead.objects.filter(pk=OuterRef("object_id")).values("contact_id")
        rows = rows.annotate(
            row_id=Case(
                When(content_type=types[Contact], then=F("object_id")),
                default=Subquery(contact_of_lead),
                output_field=BigIntegerField(),
            )
        )
    rows = rows.annotate(status=status_expression()).order_by("pk")
    states: dict[int, dict[int, str]] = {}
    for row_id, account_id, status in rows.values_list("row_id", "account_id", "status"):
        states.setdefault(row_id, {})[account_id] = status  # by id: the newest one stays
    return states


# --- The column ------------------------------------------------------------------------


def sent_to_badge(account: ProviderAccount, status: str):
    """One account's badge: its name and a glyph, the state in words in the title."""
    words, glyph, colour = STATUS_LOOK[status]
    title = f"{account.name}: {words}"
    if not colour:  # not sent: an outline, so the sent ones stand out
        style = "color:#4b5563;border:1px solid #9ca3af"
    else:
        style = f"color:#fff;background:{colour};border:1px solid {colour}"
    return format_html(
        '<span class="sent-to sent-{}" title="{}" aria-label="{}" style="{};padding:0 5px;'
        'border-radius:8px;white-space:nowrap;display:inline-block;margin:1px 0">{} {}</span>',
        status,
        title,
        title,
        style,
        account.name,
        glyph,
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
    ``list_display``) and the :data:`SENT_TO_FILTERS` (add them to ``list_filter``)."""

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
        try:
            return int(value)
        except ValueError:
            raise IncorrectLookupParameters(
                f"{self.parameter_name}: “{value}” is not an account id."
            ) from None

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
