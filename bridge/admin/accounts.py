"""Admin for provider accounts; the credential is write-only.

A syncing (Leeloo) account's page also lists its sync states: each resource's interval,
look-back, reconcile schedule (a full run every so many hours, at an hour of the day) and cursor
(which staff may move back), its last run and how stale it is. "Sync now" queues a run of every
resource and shows the runs; "Full sync / reconcile now" queues the reconcile's full runs.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db import transaction
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from bridge import audit, outbox, provider_hosts, sync
from bridge.models import Delivery, ProviderAccount, RemoteLink, SyncRun, SyncState
from integrations import registry

from .audit import record_account_changes
from .base import BridgeModelAdmin
from .connection_test import ConnectionTestMixin
from .inbox import inbound_links, webhook_receiver
from .mapping import (
    FieldMappingInline,
    mappable,
    mapping_help,
    record_mapping_changes,
    stored_rows,
)
from .outbox import badge, changelist_link

HEALTH_COLOURS = {"active": "#15803d", "paused": "#b45309", "disabled": "#4b5563"}


def account_status(account: ProviderAccount) -> tuple[str, str]:
    """The account's status as a key and the words staff read: "Active", "Paused — reason",
    "Disabled"."""
    if not account.enabled:
        return "disabled", "Disabled"
    if account.paused:
        reason = account.paused_reason.strip()
        return "paused", f"Paused — {reason}" if reason else "Paused"
    return "active", "Active"


def health_badge(account: ProviderAccount):
    """The account's status in words on its colour."""
    status, label = account_status(account)
    return badge(f"account-health health-{status}", HEALTH_COLOURS[status], label)


def account_links(account: ProviderAccount, *, deliveries_only: bool = False):
    """Links to the account's deliveries (all, failed, dead, pending), remote links and syncs."""
    links = [
        changelist_link(Delivery, "Deliveries", account__id__exact=account.pk),
        *(
            changelist_link(Delivery, label, account__id__exact=account.pk, state__exact=state)
            for state, label in (
                (Delivery.State.FAILED, "Failed"),
                (Delivery.State.DEAD, "Dead"),
                (Delivery.State.PENDING, "Pending"),
            )
        ),
    ]
    if not deliveries_only:
        links += [
            changelist_link(RemoteLink, "Remote links", account__id__exact=account.pk),
            changelist_link(SyncRun, "Sync runs", account__id__exact=account.pk),
        ]
    return format_html_join(" · ", "{}", ((link,) for link in links))


class ProviderAccountForm(forms.ModelForm):
    """The stored credential is never rendered; typing a new one replaces it.

    The credential belongs to where it is sent: a save that changes the account's provider or
    base URL removes the stored credential unless a new one is typed in the same save, like a
    password (switching between a provider's documented environments keeps it). Only a
    superuser may name a host that is not the provider's documented one or allowlisted
    (``bridge/provider_hosts.py``).
    """

    #: The user saving the form; ProviderAccountAdmin.get_form sets it per request.
    current_user = None

    new_credential = forms.CharField(
        label="Credential",
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="API key or token. Leave blank to keep the stored one; it is never shown.",
    )
    clear_credential = forms.BooleanField(label="Remove the stored credential", required=False)

    class Meta:
        model = ProviderAccount
        fields = [
            "name",
            "provider",
            "environment",
            "base_url",
            "enabled",
            "options",
            "time_zone",
            "business_days",
            "business_start",
            "business_end",
            "concurrency",
            "requests_per_second",
            "connect_timeout",
            "read_timeout",
            "paused",
            "webhook_auth",
        ]
        help_texts = {
            "base_url": "Leave blank for the provider's documented URL for the environment; "
            "set it to point the account at a sandbox or the local fake providers. https only, "
            "on the provider's own hosts unless a superuser sets it. Changing it removes the "
            "stored credential unless you type the credential again in the same save.",
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.credential_cleared = False
        self._destination = _destination(self.instance) if self.instance.pk else None
        if self.instance.pk and self.instance.credential:
            self.fields["new_credential"].help_text = (
                "A credential is stored (hidden). Type a new one to replace it. Changing the "
                "provider or the base URL removes it unless you type it again here."
            )

    def clean(self):
        cleaned = super().clean()
        base_url = cleaned.get("base_url")
        provider = cleaned.get("provider")
        moved = {"base_url", "provider"} & set(self.changed_data)
        if base_url and provider and moved and not self._may_name_any_host():
            provider_class = registry.get_provider_class(provider)
            for check in (provider_hosts.check_scheme, provider_hosts.check_host):
                try:
                    check(base_url, provider_class)
                except forms.ValidationError as error:
                    self.add_error(None, error)
        return cleaned

    def _may_name_any_host(self) -> bool:
        user = self.current_user
        return bool(user is not None and user.is_active and user.is_superuser)

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("clear_credential"):
            account.credential = ""
        elif self.cleaned_data.get("new_credential"):
            account.credential = self.cleaned_data["new_credential"]
        elif account.credential and self._destination not in (None, _destination(account)):
            # The stored key was given for the old address: never send it to the new one.
            account.credential = ""
            self.credential_cleared = True
        if commit:
            account.save()
            self.save_m2m()
        return account


def _destination(account: ProviderAccount) -> tuple[str, str]:
    """Where an account's calls (and so its credential) go: the provider and the URL set."""
    return str(account.provider), account.base_url.strip().rstrip("/")


class SyncStateForm(forms.ModelForm):
    """A cursor may only move back (or be cleared, to read everything again)."""

    class Meta:
        model = SyncState
        fields = [
            "enabled",
            "minutes",
            "lookback_minutes",
            "fetch_details",
            "reconcile_hours",
            "reconcile_hour",
            "cursor",
        ]

    def clean_cursor(self):
        cursor = self.cleaned_data.get("cursor")
        before = self.instance.cursor if self.instance.pk else None
        if cursor and before and cursor > before:
            raise forms.ValidationError(
                "The cursor can only move back (to re-read a period); it is now "
                f"{timezone.localtime(before):%Y-%m-%d %H:%M:%S}."
            )
        return cursor


class SyncStateInline(admin.TabularInline):
    """Each resource's schedule, cursor and last run, on the account's page."""

    model = SyncState
    form = SyncStateForm
    extra = 0
    can_delete = False
    fields = ["resource", *SyncStateForm.Meta.fields, "last_run", "freshness"]
    readonly_fields = ["resource", "last_run", "freshness"]
    verbose_name_plural = "syncs from the provider"

    def has_add_permission(self, request, obj=None):
        return False  # one row per resource, made when the account is saved

    @admin.display(description="Last run (+created ~updated =unchanged !failed)")
    def last_run(self, state):
        run = latest_run(state)
        if run is None:
            return "never"
        url = reverse("admin:bridge_syncrun_change", args=[run.pk])
        return format_html(
            '<a href="{}">#{} {}</a> {}: <span class="run-counts" title="{}">+{} ~{} ={} !{}</span>'
            "{}",
            url,
            run.pk,
            run.get_status_display().lower(),
            timezone.localtime(run.started_at).strftime("%Y-%m-%d %H:%M"),
            f"{run.created_count} created, {run.updated_count} updated, "
            f"{run.unchanged_count} unchanged, {run.failed_count} failed",
            run.created_count,
            run.updated_count,
            run.unchanged_count,
            run.failed_count,
            f" — linked {run.linked_total} of {run.remote_total}"
            if run.linked_total is not None
            else "",
        )

    @admin.display(description="Fresh as of")
    def freshness(self, state):
        done = (
            SyncRun.objects.filter(
                account_id=state.account_id, resource=state.resource, status="succeeded"
            )
            .order_by("-finished_at")
            .values_list("finished_at", flat=True)
            .first()
        )
        if done is None:
            return "never synced"
        age = timezone.now() - done
        overdue = state.enabled and age.total_seconds() > 2 * 60 * state.minutes
        label = f"{timesince(done)} ago"
        return format_html("<strong>{} (overdue)</strong>", label) if overdue else label


def latest_run(state: SyncState):
    """The most recent run of a state's account and resource, or None."""
    return (
        SyncRun.objects.filter(account_id=state.account_id, resource=state.resource)
        .order_by("-started_at")
        .first()
    )


@admin.register(ProviderAccount)
class ProviderAccountAdmin(ConnectionTestMixin, BridgeModelAdmin):
    form = ProviderAccountForm
    list_display = [
        "name",
        "provider",
        "environment",
        "health",
        "throttled",
        "has_credential",
        "effective_base_url",
        "deliveries",
    ]
    list_filter = ["provider", "environment", "enabled", "paused"]
    search_fields = ["name"]
    readonly_fields = [
        "health",
        "paused_reason",
        "paused_at",
        "throttled",
        "throttled_since",
        "created_at",
        "updated_at",
        "links",
        "webhook_receiver",
        "webhook_refused",
        "webhook_refused_at",
        "field_mapping",
    ]
    actions = ["pause_accounts", "resume_accounts", "sync_now", "full_sync_now"]
    fieldsets = [
        (None, {"fields": ["name", "provider", "environment", "base_url", "enabled"]}),
        ("Credential", {"fields": ["new_credential", "clear_credential"]}),
        (
            "Options",
            {
                "fields": [
                    "options",
                    "time_zone",
                    ("business_days", "business_start", "business_end"),
                ]
            },
        ),
        (
            "Sending budget",
            {
                "fields": ["concurrency", "requests_per_second", "connect_timeout", "read_timeout"],
            },
        ),
        (
            "State",
            {
                "fields": [
                    "health",
                    "paused",
                    "paused_reason",
                    "paused_at",
                    "throttled",
                    "throttled_since",
                    "created_at",
                    "updated_at",
                ]
            },
        ),
        (
            "Webhooks from the provider",
            {
                "fields": ["webhook_receiver", "webhook_auth"],
                "description": "The provider posts its events to this address (keep it "
                "secret: the token in it is the password). `python manage.py webhook_url "
                "--account NAME --rotate` replaces it.",
            },
        ),
        ("Activity", {"fields": ["links"]}),
    ]

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        form.current_user = request.user
        return form

    def save_model(self, request, obj, form, change):
        stored = ProviderAccount.objects.filter(pk=obj.pk).first() if change else None
        super().save_model(request, obj, form, change)
        record_account_changes(request.user, stored, obj, form)
        if getattr(form, "credential_cleared", False):
            self.message_user(
                request,
                f"The address of {obj.name} changed, so its stored credential was removed: "
                "type the credential again for the new address.",
                messages.WARNING,
            )

    def save_related(self, request, form, formsets, change):
        """Save the inlines; a change of the field mapping goes to the audit trail."""
        before = stored_rows(form.instance) if change else []
        super().save_related(request, form, formsets, change)
        record_mapping_changes(request.user, form.instance, before)

    def get_fieldsets(self, request, obj=None):
        """The fieldsets, and "Field mapping" saying why there is nothing to map (a provider
        with fields to map shows its explanation above the rows instead)."""
        fieldsets = super().get_fieldsets(request, obj)
        if mappable(obj):
            return fieldsets
        return [*fieldsets, ("Field mapping", {"fields": ["field_mapping"]})]

    def get_inlines(self, request, obj):
        inlines = [SyncStateInline] if obj is not None and sync.can_sync(obj) else []
        return inlines + ([FieldMappingInline] if mappable(obj) else [])

    @admin.display(description="What is sent")
    def field_mapping(self, obj):
        return mapping_help(obj if obj.pk else None)

    @admin.display(description="Health")
    def health(self, obj):
        if obj.pk is None:
            return "–"
        return health_badge(obj)

    @admin.display(description="Throttled until")
    def throttled(self, obj):
        if obj.throttled_until and obj.throttled_until > timezone.now():
            return obj.throttled_until
        return "–"

    @admin.display(description="Deliveries")
    def deliveries(self, obj):
        links = account_links(obj, deliveries_only=True)
        return format_html('<span style="white-space:nowrap">{}</span>', links)

    @admin.display(description="Related")
    def links(self, obj):
        if obj.pk is None:
            return "–"
        if obj.receives_webhooks:
            return format_html("{} · {}", account_links(obj), inbound_links(obj))
        return account_links(obj)

    @admin.display(description="Receiver URL")
    def webhook_receiver(self, obj):
        return webhook_receiver(obj, "")

    @admin.display(description="Credential set", boolean=True)
    def has_credential(self, obj):
        return bool(obj.credential)

    @admin.display(description="Base URL")
    def effective_base_url(self, obj):
        return obj.effective_base_url

    # Pausing and resuming change what the account does (its deliveries wait or go): the
    # account's change permission, like editing it.
    @admin.action(description="Pause selected accounts (deliveries wait)", permissions=["change"])
    def pause_accounts(self, request, queryset):
        selected = audit.target_of(queryset)
        with transaction.atomic():
            for account in queryset:
                account.pause(f"Paused by {request.user.get_username()}")
            audit.record(
                audit.Action.PAUSE,
                actor=request.user,
                target=selected,
                summary=f"Paused {selected.count} account(s)",
            )
        self.message_user(request, f"Paused {queryset.count()} account(s).", messages.SUCCESS)

    @admin.action(description="Resume selected accounts (send what waited)", permissions=["change"])
    def resume_accounts(self, request, queryset):
        selected = audit.target_of(queryset)
        with transaction.atomic():
            for account in queryset:
                account.resume()
            audit.record(
                audit.Action.RESUME,
                actor=request.user,
                target=selected,
                summary=f"Resumed {selected.count} account(s)",
            )
        account_ids = list(queryset.values_list("pk", flat=True))
        transaction.on_commit(lambda: outbox.kick_accounts(account_ids))
        self.message_user(request, f"Resumed {queryset.count()} account(s).", messages.SUCCESS)

    # A sync run only does sooner what the schedule would do, writing what the provider says,
    # never what the user types: operating the account (its change permission) is enough, and
    # no permission on contacts or leads is asked.
    @admin.action(description="Sync now (pull every resource)", permissions=["change"])
    def sync_now(self, request, queryset):
        return self._queue_syncs(request, queryset, full=False)

    @admin.action(
        description="Full sync / reconcile now (re-read everything, mark people gone)",
        permissions=["change"],
    )
    def full_sync_now(self, request, queryset):
        return self._queue_syncs(request, queryset, full=True)

    def _queue_syncs(self, request, queryset, *, full: bool):
        """Queue a run of each resource per account, then show those accounts' runs."""
        chosen, skipped = [], []
        for account in queryset:
            ok = sync.can_sync(account) and account.enabled and not account.paused
            (chosen if ok else skipped).append(account)
        if skipped:
            names = ", ".join(account.name for account in skipped)
            self.message_user(
                request,
                f"Not synced (no sync for the provider, disabled or paused): {names}.",
                messages.WARNING,
            )
        if not chosen:
            return None
        with transaction.atomic():
            queued = sum(sync.enqueue_syncs(account, full=full) for account in chosen)
            if queued:  # nothing queued (the broker away) is no action to record
                audit.record(
                    audit.Action.SYNC,
                    actor=request.user,
                    target=chosen,
                    count=queued,
                    summary=f"Queued {queued} {'full ' if full else ''}sync run(s) for "
                    + ", ".join(a.name for a in chosen),
                    details={"full": full},
                )
        if not queued:
            self.message_user(
                request,
                "No sync was queued: the job queue (the broker) is not reachable. The scheduled "
                "syncs run once it is back; try again in a minute.",
                messages.ERROR,
            )
            return None
        self.message_user(
            request,
            f"Queued {queued} sync run(s) for {', '.join(a.name for a in chosen)}; "
            "they appear below as the workers take them.",
            messages.SUCCESS,
        )
        query = {
            "accounts": ",".join(str(account.pk) for account in chosen),
            "since": timezone.now().isoformat(),
        }
        return HttpResponseRedirect(f"{reverse('admin:bridge_sync_progress')}?{urlencode(query)}")

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The account's page, with a "Sync now" button (the list's action, for this account)
        when the provider syncs and the user may run the action."""
        account = self.get_object(request, unquote(object_id))
        if account is not None and mappable(account):
            extra_context = {**(extra_context or {}), "field_mapping_help": mapping_help(account)}
        if (
            account is not None
            and sync.can_sync(account)
            and self.has_change_permission(request, account)
        ):
            extra_context = {**(extra_context or {}), "sync_now_action": "sync_now"}
        return super().change_view(request, object_id, form_url, extra_context)

    def get_urls(self):
        from django.urls import path

        views = [
            path(
                "sync-progress/",
                self.admin_site.admin_view(self.sync_progress_view),
                name="bridge_sync_progress",
            ),
            path(
                "sync-progress.json",
                self.admin_site.admin_view(self.sync_progress_json),
                name="bridge_sync_progress_json",
            ),
        ]
        return views + super().get_urls()

    def _progress_request(self, request):
        """(accounts, since) from the query string; bad values are a 400 naming them.

        Only for users who may view accounts and sync runs (a 403 otherwise).
        """
        from django.core.exceptions import BadRequest, PermissionDenied
        from django.utils.dateparse import parse_datetime

        runs_admin = self.admin_site.get_model_admin(SyncRun)
        if not (self.has_view_permission(request) and runs_admin.has_view_permission(request)):
            raise PermissionDenied

        try:
            ids = [int(pk) for pk in request.GET.get("accounts", "").split(",") if pk]
        except ValueError:
            raise BadRequest("accounts: a comma-separated list of account ids.") from None
        since = parse_datetime(request.GET.get("since", ""))
        if since is None:
            raise BadRequest("since: an ISO date and time.")
        accounts = [
            a
            for a in ProviderAccount.objects.filter(pk__in=ids)
            if self.has_view_permission(request, a)
        ]
        return accounts, since

    def sync_progress_view(self, request):
        """A live page for the runs a "Sync now" queued: a bar and counts per resource."""
        from django.template.response import TemplateResponse

        accounts, since = self._progress_request(request)
        context = {
            **self.admin_site.each_context(request),
            "title": "Sync progress",
            "opts": self.model._meta,
            "progress": sync.progress(accounts, since),
            "json_url": f"{reverse('admin:bridge_sync_progress_json')}?{request.GET.urlencode()}",
        }
        return TemplateResponse(request, "admin/bridge/sync_progress.html", context)

    def sync_progress_json(self, request):
        from django.http import JsonResponse

        accounts, since = self._progress_request(request)
        return JsonResponse(sync.progress(accounts, since))
