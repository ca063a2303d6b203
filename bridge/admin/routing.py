"""Routing rules in the admin: the rules with their targets inline, in order, enabled or not;
"Test this rule against the last 50 leads"; and each lead's routing record, read-only.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import Http404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from bridge import audit
from bridge.models import Lead, LeadRouting, RoutingRule, RuleTarget
from bridge.routing import LoadedRule, facts_of, load_leads, plan_lead

from .base import BridgeModelAdmin
from .outbox import ReadOnlyAdmin, pretty_json

#: How many of the newest leads "Test this rule" tries.
TEST_LEADS = 50


class RuleTargetInline(admin.TabularInline):
    model = RuleTarget
    extra = 1
    fields = ["account", "operation", "options"]
    verbose_name = "target"
    verbose_name_plural = "targets: where a matching lead is sent"


@admin.register(RoutingRule)
class RoutingRuleAdmin(BridgeModelAdmin):
    list_display = [
        "name",
        "order",
        "enabled",
        "conditions",
        "target_list",
        "timing",
        "stop_after_match",
    ]
    list_display_links = ["name"]
    list_editable = ["order"]
    list_filter = ["enabled"]
    search_fields = ["name"]
    ordering = ["order", "id"]
    inlines = [RuleTargetInline]
    filter_horizontal = ["tags"]
    actions = ["enable_rules", "disable_rules"]
    change_form_template = "admin/bridge/routingrule/change_form.html"
    fieldsets = [
        (None, {"fields": ["name", "enabled", "order", "stop_after_match"]}),
        (
            "Conditions (all optional; the given ones must all hold)",
            {
                "fields": [
                    "sources",
                    "product_reference_contains",
                    "product_title_contains",
                    "tags",
                    "countries",
                    "has_phone",
                    "has_email",
                ]
            },
        ),
        (
            "When",
            {"fields": ["delay_seconds", "business_days", "business_start", "business_end"]},
        ),
    ]

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("targets__account", "tags")

    @admin.display(description="Conditions")
    def conditions(self, rule):
        return rule.describe_conditions()

    @admin.display(description="Targets")
    def target_list(self, rule):
        targets = rule.targets.all()
        if not targets:
            return "–"
        return format_html_join(
            ", ", "{} {}", ((target.account.name, target.operation) for target in targets)
        )

    @admin.display(description="When")
    def timing(self, rule):
        return rule.describe_timing()

    @admin.action(description="Enable the selected rules", permissions=["change"])
    def enable_rules(self, request, queryset):
        selected = audit.target_of(queryset)
        with transaction.atomic():
            count = queryset.update(enabled=True, updated_at=timezone.now())
            audit.record(
                audit.Action.RULE_ENABLED,
                actor=request.user,
                target=selected,
                count=count,
                summary=f"Enabled {count} rule(s)",
            )
        self.message_user(request, f"Enabled {count} rule(s).", messages.SUCCESS)

    @admin.action(description="Disable the selected rules", permissions=["change"])
    def disable_rules(self, request, queryset):
        selected = audit.target_of(queryset)
        with transaction.atomic():
            count = queryset.update(enabled=False, updated_at=timezone.now())
            audit.record(
                audit.Action.RULE_DISABLED,
                actor=request.user,
                target=selected,
                count=count,
                summary=f"Disabled {count} rule(s)",
            )
        self.message_user(request, f"Disabled {count} rule(s).", messages.SUCCESS)

    def save_related(self, request, form, formsets, change):
        """After the rule and its targets are saved (its page, or the list's order column):
        one audit entry naming what changed."""
        super().save_related(request, form, formsets, change)
        changed = list(form.changed_data)
        if any(formset.has_changed() for formset in formsets):
            changed.append("targets")
        if change and not changed:
            return
        rule = form.instance
        audit.record(
            audit.Action.RULE_CHANGED if change else audit.Action.RULE_ADDED,
            actor=request.user,
            target=rule,
            summary=f"{'Changed' if change else 'Added'} rule “{rule.name}”"
            + (f": {', '.join(changed)}" if change else ""),
            details={"fields": changed},
        )

    def delete_model(self, request, obj):
        audit.record(
            audit.Action.RULE_DELETED,
            actor=request.user,
            target=obj,
            summary=f"Deleted rule “{obj.name}”",
        )
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        selected = audit.target_of(queryset)
        with transaction.atomic():
            super().delete_queryset(request, queryset)
            audit.record(
                audit.Action.RULE_DELETED,
                actor=request.user,
                target=selected,
                summary=f"Deleted {selected.count} rule(s)",
            )

    def get_urls(self):
        views = [
            path(
                "<path:object_id>/test/",
                self.admin_site.admin_view(self.test_view),
                name="bridge_routingrule_test",
            ),
        ]
        return views + super().get_urls()

    def test_view(self, request, object_id):
        """Which of the last 50 leads this rule matches, and what each would be sent — nothing
        is sent or recorded. Other rules (their order, stop after match) are not considered."""
        rule = self.get_object(request, unquote(object_id))
        if rule is None:
            raise Http404(f"No routing rule with id {object_id!r}.")
        if not self.has_view_permission(request, rule):
            raise PermissionDenied
        loaded = LoadedRule.of(rule)
        now = timezone.now()
        leads = load_leads(Lead.objects.order_by("-received_at", "-id")[:TEST_LEADS])
        rows = []
        for lead in leads:
            plan = plan_lead(lead, [loaded], now, use_fallback=False)
            rows.append(
                {
                    "lead": lead,
                    "url": reverse("admin:bridge_lead_change", args=[lead.pk]),
                    "matched": bool(plan.rules),
                    "failed": loaded.failed_conditions(facts_of(lead)),
                    "targets": [target.as_record() for target in plan.targets],
                    "skipped": plan.skipped,
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": f"Test of “{rule.name}” against the last {TEST_LEADS} leads",
            "opts": self.opts,
            "original": rule,
            "rule": rule,
            "rows": rows,
            "matched": sum(row["matched"] for row in rows),
        }
        return TemplateResponse(request, "admin/bridge/routingrule/test.html", context)


@admin.register(LeadRouting)
class LeadRoutingAdmin(ReadOnlyAdmin):
    """What routing decided for each new lead (written once, by the bridge).

    Deleting one (a superuser's, or with its lead) lets ``routes pending`` route it again.
    """

    list_display = ["lead", "routed_at", "summary", "skipped_count"]
    list_filter = ["fallback", "routed_at"]
    search_fields = ["=lead__id", "=lead__external_id"]
    list_select_related = ["lead__contact"]
    date_hierarchy = "routed_at"
    readonly_fields = ["lead_link", "routed_at", "rules", "fallback", "queued", "not_queued"]
    exclude = ["lead", "targets", "skipped"]

    @admin.display(description="Lead")
    def lead_link(self, obj):
        url = reverse("admin:bridge_lead_change", args=[obj.lead_id])
        return format_html('<a href="{}">{}</a>', url, obj.lead)

    @admin.display(description="Skipped")
    def skipped_count(self, obj):
        return len(obj.skipped or [])

    @admin.display(description="Queued")
    def queued(self, obj):
        return pretty_json(obj.targets)

    @admin.display(description="Not queued, and why")
    def not_queued(self, obj):
        return pretty_json(obj.skipped)
