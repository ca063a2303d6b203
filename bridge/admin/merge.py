"""The "Merge selected contacts…" admin action: an intermediate page, then the merge.

The page (``admin/bridge/merge_confirm.html``) shows the selected contacts side by side: staff
pick the survivor, and for each field whose values differ, which contact's value wins (the
survivor's is preselected); fields equal everywhere are listed once. A refused merge shows its
reasons and no button. Confirming runs ``bridge.merge.merge_contacts`` (one transaction) and
opens the survivor's page with the counts of what moved. The logic is ``bridge.merge``'s; this
module only asks and answers.
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse

from bridge import audit
from bridge.merge import (
    MergePlan,
    MergeRefused,
    attached,
    merge_contacts,
    plan_merge,
    plural,
)
from bridge.models import Contact

#: Shown for a blank value, so "nothing" can be chosen as plainly as a value.
BLANK = "—"


def display_value(contact: Contact, name: str) -> str:
    """A field's value as staff read it: a choice's label, JSON compactly, a blank as a dash."""
    value = getattr(contact, name)
    if value in ("", None, [], {}):
        return BLANK
    model_field = Contact._meta.get_field(name)
    if model_field.choices:
        return str(getattr(contact, f"get_{name}_display")())
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class MergeForm(forms.Form):
    """The survivor, and per differing field the contact whose value wins."""

    survivor = forms.TypedChoiceField(
        coerce=int,
        widget=forms.RadioSelect,
        help_text="The contact that stays; the others are deleted once everything is moved.",
    )

    def __init__(self, *args, plan: MergePlan, **kwargs):
        super().__init__(*args, **kwargs)
        self.plan = plan
        contacts = plan.contacts
        first = contacts[0].pk if contacts else None
        self.fields["survivor"].choices = [(c.pk, f"{c} (#{c.pk})") for c in contacts]
        self.fields["survivor"].initial = first
        for differing in plan.differing:
            self.fields[f"value__{differing.name}"] = forms.TypedChoiceField(
                label=differing.label,
                coerce=int,
                widget=forms.RadioSelect,
                choices=[(c.pk, display_value(c, differing.name)) for c in contacts],
                initial=first,
            )

    def value_rows(self):
        """(label, bound field) per differing field, for the table's rows."""
        return [(d.label, self[f"value__{d.name}"]) for d in self.plan.differing]

    def choices(self) -> dict[str, int]:
        return {d.name: self.cleaned_data[f"value__{d.name}"] for d in self.plan.differing}

    def add_model_errors(self, error: ValidationError) -> None:
        """The survivor's validation errors, each naming its field (on its row when it has
        one)."""
        for name, problems in error.message_dict.items():
            key = f"value__{name}"
            label = Contact._meta.get_field(name).verbose_name if name != "__all__" else ""
            for problem in problems:
                if key in self.fields:
                    self.add_error(key, problem)
                else:
                    self.add_error(
                        None, f"{str(label).capitalize()}: {problem}" if label else problem
                    )


def same_rows(plan: MergePlan) -> tuple[list[tuple[str, str]], list[str]]:
    """The fields equal on every contact: (label, value) of those with a value, and the labels
    of those blank everywhere (listed on one line, not one row each)."""
    if not plan.contacts:
        return [], []
    first = plan.contacts[0]
    shown = [(s.label, display_value(first, s.name)) for s in plan.same]
    return [row for row in shown if row[1] != BLANK], [label for label, v in shown if v == BLANK]


def merge_view(modeladmin, request, queryset):
    """The intermediate page of the merge action, and the merge once it is confirmed."""
    plan = plan_merge(queryset)
    data = request.POST if request.POST.get("confirm") == "yes" and plan.allowed else None
    form = MergeForm(data, plan=plan)
    if data is not None and form.is_valid():
        response = _merge_and_redirect(modeladmin, request, form)
        if response is not None:
            return response
        plan = form.plan
    same, blank = same_rows(plan)
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": f"Merge {len(plan.contacts) or queryset.count()} contacts",
        "opts": Contact._meta,
        "form": form,
        "plan": plan,
        "columns": _columns(plan),
        "same": same,
        "blank_everywhere": blank,
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "action": request.POST.get("action", ""),
        "media": modeladmin.media + form.media,
    }
    return TemplateResponse(request, "admin/bridge/merge_confirm.html", context)


def _columns(plan: MergePlan) -> list[dict]:
    """Per contact: the contact, its page and what it brings along."""
    if not plan.allowed:
        return []
    brings = attached(c.pk for c in plan.contacts)
    return [
        {
            "contact": c,
            "url": reverse("admin:bridge_contact_change", args=[c.pk]),
            "brings": _brings(brings[c.pk]),
            "links": brings[c.pk]["links"],
        }
        for c in plan.contacts
    ]


def _brings(found: dict) -> str:
    """ "2 leads, 1 order, 3 deliveries" — what a contact's column lists (or "nothing")."""
    parts = [
        plural(found.get("leads", 0), "lead"),
        plural(found.get("orders", 0), "order"),
        plural(found.get("deliveries", 0), "delivery", "deliveries"),
        plural(found.get("activities", 0), "activity", "activities"),
        plural(found.get("channels", 0), "Leeloo channel"),
        plural(found.get("tags", 0), "tag"),
    ]
    return ", ".join(part for part in parts if part) or "nothing"


def _merge_and_redirect(modeladmin, request, form: MergeForm):
    """Merge as chosen; the redirect to the survivor, or None when refused (the form or the
    plan then says why)."""
    by_id = {c.pk: c for c in form.plan.contacts}
    survivor = by_id[form.cleaned_data["survivor"]]
    others = [c for pk, c in by_id.items() if pk != survivor.pk]
    try:
        with transaction.atomic():
            modeladmin.log_deletions(request, others)
            result = merge_contacts(survivor, others, form.choices())
            survivor.refresh_from_db()
            merged = ", ".join(f"#{pk}" for pk in result.merged_ids)
            modeladmin.log_change(
                request, survivor, f"Merged contacts {merged} into this one: {result.summary()}."
            )
            audit.record(
                audit.Action.MERGE,
                actor=request.user,
                target=survivor,
                count=len(result.merged_ids),
                summary=f"Merged contacts {merged} into #{survivor.pk}: {result.summary()}",
                details=result.as_dict(),
            )
    except MergeRefused as refused:
        form.plan.refusals.extend(refused.reasons)
        return None
    except ValidationError as error:
        form.add_model_errors(error)
        return None
    messages.success(
        request,
        f"Merged {len(others) + 1} contacts into {survivor} (#{survivor.pk}): {result.summary()}.",
    )
    return HttpResponseRedirect(reverse("admin:bridge_contact_change", args=[survivor.pk]))


@admin.action(description="Merge selected contacts…", permissions=["merge"])
def merge_selected_contacts(modeladmin, request, queryset):
    return merge_view(modeladmin, request, queryset)


class MergeContactsMixin:
    """ContactAdmin mixin: the merge action, for staff who may both change and delete
    contacts (the survivor is changed, the others deleted)."""

    actions = [merge_selected_contacts]

    def has_merge_permission(self, request) -> bool:
        return self.has_change_permission(request) and self.has_delete_permission(request)
