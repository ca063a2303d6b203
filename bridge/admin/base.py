"""The base every bridge ModelAdmin is built on: an action the user may not run is refused
out loud.

Django drops the actions a user lacks the permissions for from the list, but a request that
posts one anyway (an old page, a second tab, a crafted form) was answered with the list again
and no word — or, when the user had no action left at all, not even a redirect. Here it is
answered with "You do not have permission to <what the action does>." and nothing is run.
"""

import re

from django.contrib import admin, messages
from django.contrib.admin.utils import model_format_dict
from django.http import HttpResponseRedirect

try:  # Django 6 offers actions on the change form too, and asks for them by location
    from django.contrib.admin.options import ActionLocation
except ImportError:  # Django 5.2: every action is a change-list action
    ActionLocation = None

#: A description that starts with a provider's name ("Leeloo.ai: Add tag…") keeps its capital.
NAMED_FIRST = re.compile(r"^[^\s:]+(?:\s[^\s:]+)?:\s")
#: Django 6's location of the change list's actions (None before Django 6, which has no other).
CHANGE_LIST = getattr(ActionLocation, "CHANGE_LIST", None)


def on_change_list(action_location) -> bool:
    """Whether Django asks for the change list's actions (it always does before Django 6)."""
    return action_location is None or action_location == CHANGE_LIST


def name_and_description(action) -> tuple[str, str]:
    """An action's name and description, as ``get_action`` returns it: a (function, name,
    description) tuple up to Django 5.2 (and for the push operations), an ``Action`` with
    those attributes from Django 6, which deprecates unpacking it."""
    if isinstance(action, tuple):
        return action[1], action[2]
    return action.name, action.description


def posted_action(request) -> str:
    """The name of the action a changelist POST asks for ("" when it asks for none).

    The list has an action menu above and below it; ``index`` says whose button was pressed,
    as in Django's ``ModelAdmin.response_action``.
    """
    if request.method != "POST" or "_save" in request.POST:
        return ""
    names = request.POST.getlist("action")
    try:
        index = int(request.POST.get("index", 0))
    except ValueError:
        index = 0
    return names[index] if 0 <= index < len(names) else ""


def as_clause(description: str) -> str:
    """An action's description as the end of a sentence: "Retry now" → "retry now", "Push to
    providers…" → "push to providers"; "Leeloo.ai: Add tag…" keeps the provider's capital."""
    description = description.rstrip("…")
    if not description or NAMED_FIRST.match(description):
        return description
    return description[0].lower() + description[1:]


class RefusedActionsMixin:
    """ModelAdmin mixin: a posted action the user may not run gets a message, and runs not.

    Which actions a user may run is Django's own answer (``get_actions``: each action's
    ``permissions=[…]``); this only makes the refusal visible.
    """

    def every_action(self) -> dict[str, str]:
        """Every action this admin has, whoever asks: name → description.

        Admins that build actions at run time (the push operations) add theirs here.
        """
        candidates = [*(self.actions or ()), *(name for name, _ in self.admin_site.actions)]
        found = filter(None, (self.get_action(action) for action in candidates))
        return dict(name_and_description(action) for action in found)

    def refused_action(self, request) -> str | None:
        """The sentence refusing the posted action, or None when it may run (or none is asked)."""
        name = posted_action(request)
        if not name or name in self.get_actions(request):
            return None
        description = self.every_action().get(name)
        if description is None:
            return f"There is no action “{name}” here."
        description = str(description) % model_format_dict(self.opts)
        return f"You do not have permission to {as_clause(description)}."

    def changelist_view(self, request, extra_context=None):
        refusal = self.refused_action(request)
        if refusal is not None and self.has_view_or_change_permission(request):
            self.message_user(request, refusal, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())
        return super().changelist_view(request, extra_context)


class BridgeModelAdmin(RefusedActionsMixin, admin.ModelAdmin):
    """The ModelAdmin every bridge admin derives from."""
