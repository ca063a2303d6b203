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

Costs (EXPLAIN on PostgreSQL, docs/benchmarks.md "The 'Sent to' column and filters"): the
column reads the page's deliveries in one query (the changelist's ``get_results``, through
``delivery_record_idx``). A filter is an ``EXISTS`` or ``NOT EXISTS`` shaped so that PostgreSQL
either probes the listed rows (common statuses: the page stops after 50) or starts from the
account's few deliveries in a state (``delivery_account_state_idx``, for "failed at"); see
``newest_pushes`` and ``newest_push_is``.
"""

from __future__ import annotations

from functools import cache

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.contenttypes.models import ContentType
from django.db.models import BigIntegerField, Exists, F, OuterRef, Q, Subquery, Value
from django.db.models.expressions import Case, When
from django.db.models.fields import CharField
from django.utils.html import format_html, format_html_join

from bridge.models import Contact, Delivery, Lead, ProviderAccount

State = Delivery.State
PUSH = "push"
IN_FLIGHT = [State.PENDING, State.SENDING, State.FAILED]
TRIED = Q(attempts__gt=0) | ~Q(error_code="") | ~Q(error_message="")

#: A delivery's place in the column, in SQL: the same conditions the filters use, most
#: pressing first (a contact shows the first of its records' states in this order).
STATUS_CONDITIONS = {
    "failing": Q(state__in=IN_FLIGHT) & TRIED,
    "dead": Q(state=State.DEAD),
    "sending": Q(state__in=IN_FLIGHT) & ~TRIED,
    "delivered": Q(state__in=[State.DELIVERED, State.SKIPPED]),
}
PRECEDENCE = [*STATUS_CONDITIONS, "none"]
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


def pushes(model, account_id: int | None = None):
    """The pushes of ``model``'s records that count: operation ``push``, not cancelled."""
    found = Delivery.objects.filter(content_type_id=content_type_id(model), operation=PUSH)
    if account_id is not None:
        found = found.filter(account_id=account_id)
    return found.exclude(state=State.CANCELLED)


def in_statuses(statuses: list[str]) -> Q:
    """Deliveries in any of these column statuses (STATUS_CONDITIONS)."""
    wanted = Q()
    for status in statuses:
        wanted |= STATUS_CONDITIONS[status]
    return wanted


def newest_pushes(model, account_id: int, statuses: list[str], rare: bool = False):
    """Pushes to the account that are their record's newest and in one of ``statuses``.

    "The newest" is correlated to the delivery, not the row. For common statuses it is
    ``NOT EXISTS (a newer push)``, which PostgreSQL may probe per listed row (a page of
    delivered leads stops after 50). For ``rare`` ones (failing, dead) it is the record's
    highest push id as a scalar subquery, run once per candidate from
    ``delivery_account_state_idx``: as ``NOT EXISTS`` PostgreSQL hashed every push of the
    account instead, a cost that grows with the table (EXPLAIN, docs/benchmarks.md).
    """
    wanted = in_statuses(statuses)
    same_record = {"object_id": OuterRef("object_id"), "account_id": OuterRef("account_id")}
    if rare:
        newest = pushes(model).filter(**same_record).order_by("-pk").values("pk")[:1]
        return pushes(model, account_id).filter(wanted, pk=Subquery(newest))
    newer = pushes(model).filter(**same_record, pk__gt=OuterRef("pk"))
    return pushes(model, account_id).filter(wanted).filter(~Exists(newer))


def newest_push_is(model, account_id: int, statuses: list[str], rare: bool = False) -> Q:
    """The rows whose record's newest push to the account is in ``statuses``; for a contact,
    its own or any of its leads'.

    A lead's is one ``EXISTS``, which PostgreSQL runs from either side. A contact's has two
    sides (its own pushes, its leads'), which PostgreSQL 15 cannot join as one (``EXISTS …
    OR EXISTS …`` and ``id IN (… UNION ALL …)`` both hash every matching delivery of the
    account). ``rare`` statuses (failing, dead) are read that way, as ``id IN (… UNION ALL
    …)``, from the account's few deliveries in that state. The common one (delivered) is one
    ``EXISTS (own UNION ALL its leads')``, which PostgreSQL does not flatten: it probes each
    listed contact through the indexes and stops when the page (or the bounded count) is
    full. It is "ever delivered" — the account has the person once any of its records was
    delivered, whatever came after — so each side is a plain index probe.
    """
    lead_pushes = newest_pushes(Lead, account_id, statuses, rare)
    lead_pushes = lead_pushes.filter(object_id=OuterRef("pk"))
    if model is Lead:
        return Q(Exists(lead_pushes))
    if not rare:
        wanted = in_statuses(statuses)
        own = pushes(Contact, account_id).filter(wanted, object_id=OuterRef("pk"))
        delivered = pushes(Lead, account_id).filter(wanted, object_id=OuterRef("pk"))
        leads = Lead.objects.filter(contact_id=OuterRef("pk")).filter(Exists(delivered))
        own, leads = own.order_by().values("object_id"), leads.order_by().values("contact_id")
        return Q(Exists(own.union(leads, all=True)))
    own = newest_pushes(Contact, account_id, statuses, rare).order_by().values("object_id")
    leads = Lead.objects.filter(Exists(lead_pushes)).order_by().values("contact_id")
    return Q(pk__in=own.union(leads, all=True))


def never_pushed(model, account_id: int) -> Q:
    """The rows none of whose records was pushed to the account (cancelled ones aside)."""
    own = ~Q(Exists(pushes(model, account_id).filter(object_id=OuterRef("pk"))))
    if model is Lead:
        return own
    pushed = pushes(Lead, account_id).filter(object_id=OuterRef("pk"))
    leads = Lead.objects.filter(contact_id=OuterRef("pk")).filter(Exists(pushed))
    return own & ~Q(Exists(leads))


def status_expression():
    """The column's status of a delivery row, as a SQL CASE over STATUS_CONDITIONS."""
    whens = [When(condition, then=Value(name)) for name, condition in STATUS_CONDITIONS.items()]
    return Case(*whens, default=Value("none"), output_field=CharField())


def page_states(model, ids: list[int]) -> dict[int, dict[int, str]]:
    """Row id -> account id -> status, for a page of rows, in one query.

    Each record's newest push decides its status; a contact takes the most pressing of its
    own and its leads' (PRECEDENCE). A contact's page is one ``UNION ALL`` of its own pushes
    and its leads', each side read through ``delivery_record_idx``.
    """
    if not ids:
        return {}
    columns = ["row_id", "account_id", "content_type_id", "object_id", "id", "status"]
    found = pushes(model).filter(object_id__in=ids).annotate(row_id=F("object_id"))
    found = found.annotate(status=status_expression()).order_by().values_list(*columns)
    if model is Contact:
        leads = Lead.objects.filter(contact_id__in=ids).order_by()
        contact_of_lead = leads.filter(pk=OuterRef("object_id")).values("contact_id")
        of_leads = pushes(Lead).filter(object_id__in=leads.values("pk"))
        of_leads = of_leads.annotate(row_id=Subquery(contact_of_lead, BigIntegerField()))
        of_leads = of_leads.annotate(status=status_expression()).order_by().values_list(*columns)
        # Ordered by nothing, said again on the union: Django 6.1 gives a combined query its
        # model's default ordering, which names no column of these rows.
        found = found.union(of_leads, all=True).order_by()
    newest: dict[tuple, tuple[int, str]] = {}  # (row, account, record) -> (id, status)
    for row_id, account_id, type_id, object_id, delivery_id, status in found:
        key = (row_id, account_id, type_id, object_id)
        if key not in newest or newest[key][0] < delivery_id:
            newest[key] = (delivery_id, status)
    states: dict[int, dict[int, str]] = {}
    for (row_id, account_id, *_), (_, status) in newest.items():
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
    #: Few rows match (failures): found from the account's deliveries in that state.
    rare = False

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
        return newest_push_is(model, account_id, self.statuses, rare=self.rare)


class DeliveredToFilter(SentToFilter):
    title = "delivered to"
    parameter_name = "delivered_to"
    statuses = ["delivered"]


class FailedAtFilter(SentToFilter):
    title = "failed at (failing or dead)"
    parameter_name = "failed_at"
    statuses = ["failing", "dead"]
    rare = True


class NotSentToFilter(SentToFilter):
    title = "not sent to"
    parameter_name = "not_sent_to"

    def condition(self, model, account_id):
        return never_pushed(model, account_id)


SENT_TO_FILTERS = [DeliveredToFilter, FailedAtFilter, NotSentToFilter]
