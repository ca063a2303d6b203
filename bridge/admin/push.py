"""The "Push to…" admin actions: an intermediate page, then one bulk enqueue and a batch page.

Everything here is built from the provider registry — which providers take which record kinds,
their operations and their options — so a new provider needs no change in this file.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.timezone import localtime
from django.utils.translation import ngettext

from bridge import audit, outbox
from bridge.models import ProviderAccount
from bridge.preview import preview_push
from bridge.push_options import missing_required, option_field, option_value
from bridge.records import KINDS
from bridge.sending_hours import describe_hours, when_due
from integrations import registry
from integrations.base import Operation

from .base import on_change_list

PUSH_PERMISSION = "bridge.push_to_providers"
#: How far ahead a push may be scheduled.
MAX_SCHEDULE = timedelta(days=90)


def providers_for(kind: str, operation: str) -> list:
    """Provider classes that can run ``operation`` on records of ``kind``."""
    found = []
    for provider in registry.providers().values():
        spec = provider.operation_specs().get(operation)
        if spec is not None and kind in spec.kinds:
            found.append(provider)
    return found


class PushForm(forms.Form):
    """Which accounts, and each provider's options for this operation."""

    accounts = forms.ModelMultipleChoiceField(
        queryset=ProviderAccount.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text="Paused accounts are listed: their deliveries wait until they are resumed.",
    )

    send_at = forms.DateTimeField(
        label="Send at",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M:%S"],
        help_text="Blank: at once. In the site's time zone. An account's sending hours apply "
        "either way: outside them its deliveries wait for its next window.",
    )

    def __init__(self, *args, kind: str, operation: str, provider_id: str | None = None, **kw):
        super().__init__(*args, **kw)
        self.kind, self.operation = kind, operation
        self.providers = [p for p in providers_for(kind, operation) if provider_id in (None, p.id)]
        accounts = ProviderAccount.objects.filter(
            enabled=True, provider__in=[p.id for p in self.providers]
        )
        self.fields["accounts"].queryset = accounts
        self._tick_the_only_active_account(accounts)
        self.specs: dict[str, Operation] = {}
        for provider in self.providers:
            spec = provider.operation_specs()[operation]
            self.specs[provider.id] = spec
            defaults = {}
            for account in accounts:
                if account.provider == provider.id:
                    defaults.update(account.options or {})
            for option in spec.options:
                self.fields[f"{provider.id}__{option.name}"] = option_field(
                    option, defaults.get(option.name)
                )

    def clean_send_at(self):
        """A moment from now (a minute's grace for the time spent on the page) to 90 days on."""
        send_at = self.cleaned_data.get("send_at")
        if send_at is None:
            return None
        now = timezone.now()
        if send_at < now - timedelta(minutes=1):
            raise forms.ValidationError("is in the past: leave it blank to send at once.")
        if send_at > now + MAX_SCHEDULE:
            raise forms.ValidationError(f"is more than {MAX_SCHEDULE.days} days away.")
        return send_at

    def hours_notes(self) -> list[tuple[str, str]]:
        """(account, its sending hours) for the accounts that have some, for the template."""
        accounts = self.fields["accounts"].queryset
        return [(a.name, describe_hours(a)) for a in accounts if a.has_hours]

    def _tick_the_only_active_account(self, accounts) -> None:
        """Pre-tick the account when exactly one listed account is active (not paused)."""
        if self.is_bound:
            return
        active = [account.pk for account in accounts if not account.paused]
        if len(active) == 1:
            self.initial["accounts"] = active

    def account_providers(self) -> dict[str, str]:
        """Account pk → provider id: the page's script shows the plan rows of ticked accounts."""
        return {str(account.pk): account.provider for account in self.fields["accounts"].queryset}

    def ticked_providers(self) -> set[str]:
        """The providers of the ticked accounts (posted, or pre-ticked on a first view)."""
        by_account = self.account_providers()
        ticked = self["accounts"].value() or []
        return {by_account[str(pk)] for pk in ticked if str(pk) in by_account}

    def clean(self):
        cleaned = super().clean()
        for account in cleaned.get("accounts") or []:
            spec = self.specs[account.provider]
            for option in spec.options:
                value = cleaned.get(f"{account.provider}__{option.name}")
                if missing_required(option, value, account.options or {}):
                    self.add_error(
                        f"{account.provider}__{option.name}",
                        f"{option.label} is required for {account.name} "
                        "(it has no default in its options).",
                    )
        return cleaned

    def params_for(self, account: ProviderAccount) -> dict:
        """The options chosen for this account's provider, blanks left to account defaults."""
        params = {}
        for option in self.specs[account.provider].options:
            value = self.cleaned_data.get(f"{account.provider}__{option.name}")
            if value in (None, ""):
                continue
            params[option.name] = option_value(option, value)
        return params

    def provider_sections(self):
        """(provider name, its bound option fields) for the template.

        Names, not classes: Django templates call callables, and a class is one.
        """
        return [
            (
                provider.name,
                [self[f"{provider.id}__{o.name}"] for o in self.specs[provider.id].options],
            )
            for provider in self.providers
        ]


def requirement_filter(provider, contact_path: str | None) -> Q | None:
    """A Q matching the records this provider can take (its contact requirements); None when
    every record goes (no requirements, or records with no contact, ``contact_path`` None)."""
    if contact_path is None:
        return None
    condition = Q()
    for group in provider.contact_requirements:
        alternatives = Q()
        for field in group:
            alternatives |= ~Q(**{f"{contact_path}{field}": ""})
        condition &= alternatives
    return condition if provider.contact_requirements else None


def describe_requirement(provider) -> str:
    groups = [" or ".join(group) for group in provider.contact_requirements]
    return "no " + " and no ".join(groups) if groups else ""


def plan(queryset, providers, contact_path: str | None) -> list[dict]:
    """For each provider: how many of the selected records go, how many are skipped and why."""
    total = queryset.count()
    rows = []
    for provider in providers:
        condition = requirement_filter(provider, contact_path)
        sendable = queryset.filter(condition).count() if condition is not None else total
        rows.append(
            {
                "provider": provider,
                "id": provider.id,
                "name": provider.name,
                "sendable": sendable,
                "skipped": total - sendable,
                "reason": describe_requirement(provider) if total - sendable else "",
            }
        )
    return rows


def push_view(modeladmin, request, queryset, operation: str, provider_id: str | None = None):
    """The intermediate page of a push action, and the enqueue once it is confirmed."""
    model = queryset.model
    kind = KINDS[model]
    contact_path = getattr(modeladmin, "contact_path", "contact__")
    previewing = request.POST.get("preview") == "yes"
    testing = request.POST.get("test") == "yes"
    data = request.POST if previewing or request.POST.get("confirm") == "yes" else None
    form = PushForm(data, kind=kind, operation=operation, provider_id=provider_id)
    previews = []
    if data is not None and form.is_valid():
        if not previewing:
            return _enqueue_and_redirect(request, queryset, form, model, contact_path, testing)
        previews = preview_rows(queryset, form, contact_path)
    operation_label = next(iter(form.specs.values())).label if form.specs else operation
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"{operation_label}: {queryset.count()} {model._meta.verbose_name_plural}",
        "opts": model._meta,
        "form": form,
        "plan": plan(queryset, form.providers, contact_path),
        "previews": previews,
        "ticked": form.ticked_providers(),
        "account_providers": form.account_providers(),
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action": request.POST.get("action", ""),
        "count": queryset.count(),
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/bridge/push_confirm.html", context)


def preview_rows(queryset, form: PushForm, contact_path: str | None) -> list[dict]:
    """For each ticked account, the request its first sendable selected record would make."""
    rows = []
    for account in form.cleaned_data["accounts"]:
        condition = requirement_filter(account.provider_class, contact_path)
        records = queryset.filter(condition) if condition is not None else queryset
        first = records.order_by("pk").first()
        if first is None:
            rows.append({"account": account.name, "refusal": "No selected record goes here."})
            continue
        preview = preview_push(account, first, form.operation, form.params_for(account))
        body = preview.body
        rows.append(
            {
                "account": account.name,
                "record": str(first),
                "method": preview.method,
                "url": preview.url,
                "body": "" if body is None else json.dumps(body, indent=2, ensure_ascii=False),
                "refusal": preview.refusal,
            }
        )
    return rows


def _enqueue_and_redirect(request, queryset, form, model, contact_path, test: bool = False):
    """Queue the push (a test: only the first selected record each account takes)."""
    targets, params, skipped, due = {}, {}, Counter(), {}
    send_at, now = form.cleaned_data.get("send_at"), timezone.now()
    count = 1 if test else queryset.count()  # once: a select-across may be a million rows
    for account in form.cleaned_data["accounts"]:
        due[account.pk] = when_due(account, send_at, now)
        provider = account.provider_class
        condition = requirement_filter(provider, contact_path)
        ids = list(
            (queryset.filter(condition) if condition is not None else queryset).values_list(
                "pk", flat=True
            )
        )
        if test:
            ids = sorted(ids)[:1]
        if count - len(ids):
            skipped[f"{account.name}: {describe_requirement(provider)}"] += count - len(ids)
        targets[account] = ids
        params[account.pk] = form.params_for(account)
    description = (
        ("Test: " if test else "")
        + f"{form.operation} {count} "
        + f"{model._meta.verbose_name if count == 1 else model._meta.verbose_name_plural} to "
        + ", ".join(account.name for account in targets)
    )
    with transaction.atomic():
        batch = outbox.enqueue(
            model,
            targets,
            operation=form.operation,
            params=params,
            user=request.user,
            description=description,
            skipped=dict(skipped),
            due_at=due,
            send_at=send_at,
            test=test,
        )
        scheduled = f", scheduled for {send_at.isoformat()}" if send_at else ""
        audit.record(
            audit.Action.PUSH,
            actor=request.user,
            target=queryset,
            count=batch.total,
            summary=f"{description}: {batch.total} deliveries queued (batch #{batch.pk}"
            f"{scheduled})",
            details={
                "batch": batch.pk,
                "operation": form.operation,
                "skipped": dict(skipped),
                "send_at": send_at.isoformat() if send_at else None,
                "test": test,
            },
        )
    messages.success(request, queued_message(batch, targets, due))
    return HttpResponseRedirect(reverse("admin:bridge_pushbatch_change", args=[batch.pk]))


def queued_message(batch, targets, due: dict) -> str:
    """ "Queued 3 deliveries." plus, for the accounts that wait, until when (site time)."""
    noun = ngettext("delivery", "deliveries", batch.total)
    waiting = [
        f"{account.name} at {localtime(due[account.pk]):%Y-%m-%d %H:%M}"
        for account in targets
        if due.get(account.pk)
    ]
    if not waiting:
        return f"Queued {batch.total} {noun}."
    return f"Scheduled {batch.total} {noun}: {'; '.join(waiting)}."


def make_action(operation: str, label: str, provider_id: str | None = None):
    """An admin action function for one operation (optionally one provider's)."""

    def action(modeladmin, request, queryset):
        return push_view(modeladmin, request, queryset, operation, provider_id)

    action.__name__ = f"push_{provider_id or 'any'}_{operation}"
    return admin.action(description=label, permissions=["push"])(action)


class PushActionsMixin:
    """ModelAdmin mixin: "Push to…" plus each provider's other operations for this kind.

    The operations come from the provider registry when asked, so they are not in ``actions``:
    ``push_actions`` builds them, ``get_action`` finds one by name, ``get_actions`` offers them
    to users with the push permission, and ``every_action`` names them when one is refused.
    """

    contact_path = "contact__"

    def has_push_permission(self, request):
        return request.user.has_perm(PUSH_PERMISSION)

    def push_actions(self) -> dict[str, tuple]:
        """This kind's push operations as admin actions: name → (function, name, label)."""
        kind = KINDS[self.model]
        candidates = [("push", "Push to providers…", None)] if providers_for(kind, "push") else []
        for provider in registry.providers().values():
            for name, spec in provider.operation_specs().items():
                if name != "push" and kind in spec.kinds:
                    candidates.append((name, f"{provider.name}: {spec.label}…", provider.id))
        actions = {}
        for operation, label, provider_id in candidates:
            function = make_action(operation, label, provider_id)
            actions[function.__name__] = (function, function.__name__, label)
        return actions

    def get_action(self, action, action_location=None):
        """Django's lookup, then the push operations (on the change list only).

        Django 6 asks with an ``action_location``; Django 5.2 knows no such parameter, so it is
        passed on only when given.
        """
        location = () if action_location is None else (action_location,)
        found = super().get_action(action, *location)
        if found is None and isinstance(action, str) and on_change_list(action_location):
            found = self.push_actions().get(action)
        return found

    def get_actions(self, request, action_location=None):
        """Django's actions plus, for users with the push permission, the push operations.

        The push operations are change-list actions: Django 6 asks for the change form's
        actions too (``action_location``), and gets none of them there.
        """
        location = {} if action_location is None else {"action_location": action_location}
        actions = super().get_actions(request, **location)
        if self.has_push_permission(request) and on_change_list(action_location):
            actions.update(self.push_actions())
        return actions

    def every_action(self) -> dict[str, str]:
        push = {name: label for name, (_, _, label) in self.push_actions().items()}
        return {**super().every_action(), **push}
