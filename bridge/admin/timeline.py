"""The "Timeline" section of the contact and lead pages (``bridge.timeline`` reads it).

The page number travels as ``?timeline=N`` on the change page itself, so the section pages
without a view of its own (and so without a URL of its own to authorise): whoever may see the
contact or lead sees its timeline.
"""

from __future__ import annotations

from bridge.timeline import Entry, contact_timeline, lead_timeline

from .outbox import state_badge

#: The query parameter holding the timeline's page number.
PAGE_PARAMETER = "timeline"


def requested_page(request) -> int:
    """The timeline page the request asks for; 1 for anything that is not a positive number."""
    raw = request.GET.get(PAGE_PARAMETER, "1")
    return int(raw) if raw.isdigit() and 0 < int(raw) < 10_000 else 1


class TimelineMixin:
    """Adds ``timeline`` (a ``TimelinePage``) to an existing contact's or lead's change page."""

    #: ``contact_timeline`` or ``lead_timeline``.
    timeline_of = None

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk and not add:
            timeline = type(self).timeline_of(obj, requested_page(request))
            context["timeline"] = timeline
            context["timeline_rows"] = [_row(entry) for entry in timeline.entries]
            context["timeline_parameter"] = PAGE_PARAMETER
        return super().render_change_form(request, context, add, change, form_url, obj)


#: How each kind of entry is named in the "What" column.
KIND_LABELS = {
    "lead": "Lead",
    "push": "Push",
    "link": "Link",
    "sync": "Sync",
    "order": "Order",
    "tag": "Tag",
    "call": "Call",
    "message": "Message",
    "subscription": "Subscription",
}


def _row(entry: Entry) -> dict:
    badge = state_badge(entry.state, entry.state.replace("_", " ")) if entry.state else ""
    return {"entry": entry, "kind_label": KIND_LABELS.get(entry.kind, entry.kind), "badge": badge}


class ContactTimelineMixin(TimelineMixin):
    timeline_of = staticmethod(contact_timeline)


class LeadTimelineMixin(TimelineMixin):
    timeline_of = staticmethod(lead_timeline)
