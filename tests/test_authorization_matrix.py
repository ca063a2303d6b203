"""Who may open which page and run which admin action: the authorization matrix.

Every URL pattern of the project (walked from the URL conf, through its includes) and every
admin action is tried by six roles (``ROLES``): anonymous; staff with no permissions; a viewer
(``view_*`` on every bridge model); a pusher (viewer + ``bridge.push_to_providers``); an account
manager (viewer + change on provider accounts and sync states); a superuser. Each answer's
status is checked, and every refused request (a 403, 404 or 405, or a redirect to the login
page) must leave the database exactly as it was: every row of every table but the sessions.

A URL pattern or an admin action without a row below fails the test ("new view without an
authorization rule: …"): adding a view means saying who may use it.

URL_RULES — one line per URL pattern, keyed by the pattern's name or, for an unnamed one, its
route::

    "admin:bridge_delivery_change": Rule(VIEW, post=NOBODY),

- The first value is what each role gets for a GET, in the order of ``ROLES`` (anonymous,
  staff, viewer, pusher, manager, superuser): a tuple of statuses, or one of the profiles
  (``VIEW``, ``MANAGE``, ``SUPER``, ``NOBODY``…). ``LOGIN`` is a 302 to the login page.
- ``model_pages("bridge_tag")`` gives a ModelAdmin's add, change, history and delete rows in
  one line (its arguments say who may do what); ``redirect_rules()`` gives every admin's
  unnamed "<id>/" redirect. The changelist's row is always written out.
- ``post=``: the statuses for a POST, for a page that writes. The POST carries ``data`` (no
  fields by default, so a form is refused or shows its errors; a delete page gets "post=yes"
  and really deletes); ``data`` may be a function of the fixture objects ``w``.
- ``query=`` / ``path=``: a query string, or the whole path for patterns that cannot be
  filled in by themselves (regular expressions); ``{w.name}`` is replaced from the fixture
  objects (see ``world``). ``<path:object_id>`` is the fixture object of the route's model.

ACTIONS — one line per admin action::

    Act("bridge.delivery", "retry_now", "failed_delivery", PUSHERS, did=state("pending")),

- the model whose changelist gets the POST, the action's name, the fixture object selected
  (an attribute of ``world``), the roles that may run it, and ``did(w, obj, before,
  response)``: a check that running it did what it says, for the roles that may (``before``
  is ``database_state()`` from before the POST). ``data=`` adds POST fields (an intermediate
  page's confirmation, a function of ``w`` or a dict); ``status=`` is the answer to a role
  that may run it (302 by default). ``**PAGE`` and ``**DELETE`` are the usual pairs.
- A role that may not run it is sent back to the list with "You do not have permission to …"
  and nothing changes; a role that may not open the list gets what URL_RULES says for the list
  (403 or the login page), and nothing changes either.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.auth.models import Group, Permission, User
from django.contrib.contenttypes.models import ContentType
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection, transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.urls.resolvers import RoutePattern
from django.utils import timezone

ROLES = ("anonymous", "staff", "viewer", "pusher", "manager", "superuser")
LOGIN = "login"  # a 302 to the admin's login page

# --- profiles: a status per role, in the order of ROLES ----------------------------------------
# fmt: off
STAFF    = (LOGIN, 200, 200, 200, 200, 200)  # any staff user
VIEW     = (LOGIN, 403, 200, 200, 200, 200)  # view permission on a bridge model
MANAGE   = (LOGIN, 403, 403, 403, 200, 200)  # change permission on provider accounts
SUPER    = (LOGIN, 403, 403, 403, 403, 200)  # superusers only (no role has the permission)
NOBODY   = (LOGIN, 403, 403, 403, 403, 403)  # refused to everyone: the admin forbids it
SUPER_302 = (LOGIN, 403, 403, 403, 403, 302)  # superusers only, answered with a redirect
REDIRECT = (LOGIN, 302, 302, 302, 302, 302)  # "<id>/" redirects to the change page
POST_ONLY = (LOGIN, 405, 405, 405, 405, 405)  # a GET of a page only ever posted to
# fmt: on

# Who may run an action.
VIEWERS = ("viewer", "pusher", "manager", "superuser")
PUSHERS = ("pusher", "superuser")
MANAGERS = ("manager", "superuser")
SUPERUSERS = ("superuser",)


@dataclass(frozen=True)
class Rule:
    """What each role gets from one URL pattern (see the module docstring)."""

    get: tuple
    post: tuple | None = None
    query: str = ""
    path: str = ""
    data: dict | Callable | None = None


def model_pages(model: str, view=VIEW, add=SUPER, change=SUPER, delete=SUPER, deletes=SUPER_302):
    """The rows of the pages every ModelAdmin has, for one model ("bridge_contact").

    ``view`` opens the change and history pages, ``add`` the add page (GET and POST),
    ``change`` is who may POST the change page, ``delete`` who may open the delete page and
    ``deletes`` what its "post=yes" gets. The changelist's row is written out in URL_RULES.
    """
    return {
        f"admin:{model}_add": Rule(add, post=add),
        f"admin:{model}_change": Rule(view, post=change),
        f"admin:{model}_history": Rule(view),
        f"admin:{model}_delete": Rule(delete, post=deletes, data={"post": "yes"}),
    }


def import_file(w):
    """A one-contact CSV, as the import page takes it."""
    content = b"first_name,last_name,email,phone\nAnn,Import,ann.import@example.com,+13105550188\n"
    return {
        "resource": "0",
        "format": "0",
        "import_file": SimpleUploadedFile("people.csv", content, content_type="text/csv"),
    }


def export_form(w):
    return {"resource": "0", "format": "0", "contactresource_email": "on"}


SINCE = "since=2000-01-01T00:00:00%2B00:00"

# fmt: off
URL_RULES: dict[str, Rule] = {
    # The site: the index (with the dashboard), its refresh, login and the user's own pages.
    "bridge_dashboard":                 Rule(STAFF),
    "bridge_dashboard_refresh":         Rule(STAFF),
    "admin:index":                      Rule(STAFF),
    "admin:login":                      Rule((200, 302, 302, 302, 302, 302)),
    "admin:logout":                     Rule((302, 405, 405, 405, 405, 405), post=(302, 200, 200, 200, 200, 200)),  # noqa: E501
    "admin:password_change":            Rule(STAFF, post=STAFF),
    "admin:password_change_done":       Rule(STAFF),
    "admin:autocomplete":               Rule(VIEW, query="app_label=bridge&model_name=lead&field_name=contact&term=Jane"),  # noqa: E501
    "admin:jsi18n":                     Rule(STAFF),
    "admin:view_on_site":               Rule((LOGIN, 404, 404, 404, 404, 404), path="/admin/r/{w.contact_type.pk}/{w.contact.pk}/"),  # noqa: E501
    "admin:app_list":                   Rule((LOGIN, 404, 200, 200, 200, 200), path="/admin/bridge/"),  # noqa: E501
    "admin/(?P<url>.*)$":               Rule((LOGIN, 404, 404, 404, 404, 404), path="/admin/no-such-page/"),  # noqa: E501
    "":                                 Rule((302,) * 6, path="/"),
    "favicon":                          Rule((200,) * 6, post=(405,) * 6),
    # Users and groups: superusers only.
    "admin:auth_group_changelist":      Rule(SUPER),
    **model_pages("auth_group", view=SUPER),
    "admin:auth_user_changelist":       Rule(SUPER),
    "admin:auth_user_password_change":  Rule(SUPER, post=SUPER),
    **model_pages("auth_user", view=SUPER),
    # The people and what they bought: viewable; written by superusers (no role adds them).
    "admin:bridge_contact_changelist":  Rule(VIEW),
    "admin:bridge_contact_import":      Rule(SUPER, post=SUPER, data=import_file),
    "admin:bridge_contact_process_import": Rule(POST_ONLY, post=SUPER, data={"import_file_name": "nothing.csv", "original_file_name": "x.csv", "format": "0", "resource": "0"}),  # noqa: E501
    "admin:bridge_contact_export":      Rule(VIEW, post=VIEW, data=export_form),
    **model_pages("bridge_contact", deletes=SUPER),  # its leads protect it: "cannot delete"
    "admin:bridge_lead_changelist":     Rule(VIEW),
    "admin:bridge_lead_import":         Rule(SUPER, post=SUPER, data=import_file),
    "admin:bridge_lead_process_import": Rule(POST_ONLY, post=SUPER, data={"import_file_name": "nothing.csv", "original_file_name": "x.csv", "format": "0", "resource": "0"}),  # noqa: E501
    "admin:bridge_lead_export":         Rule(VIEW, post=VIEW, data={"resource": "0", "format": "0"}),  # noqa: E501
    **model_pages("bridge_lead"),
    "admin:bridge_order_changelist":    Rule(VIEW),
    **model_pages("bridge_order"),
    "admin:bridge_tag_changelist":      Rule(VIEW),
    **model_pages("bridge_tag"),
    "admin:bridge_tunnel_changelist":   Rule(VIEW),
    **model_pages("bridge_tunnel"),
    # Intake sources: viewable; made, changed and rotated by superusers (no role has the rights).
    "admin:bridge_intakesource_changelist": Rule(VIEW),
    **model_pages("bridge_intakesource"),
    # The public intake API: no session counts; a POST without a token (or, here, as
    # multipart) is refused the same for everyone, and other methods are not allowed.
    "intake_leads":                     Rule((405,) * 6, post=(415,) * 6),
    # Provider accounts: managers change them (and their sync states); the sync pages are read.
    "admin:bridge_provideraccount_changelist": Rule(VIEW),
    **model_pages("bridge_provideraccount", change=MANAGE),
    # "Test connection" (POST only) calls the provider: here an account that does not exist,
    # so the roles that may test it get a 404 and nothing leaves the machine.
    "admin:bridge_provideraccount_test": Rule(POST_ONLY, post=(LOGIN, 403, 403, 403, 404, 404), path="/admin/bridge/provideraccount/999999/test-connection/"),  # noqa: E501
    "admin:bridge_sync_progress":       Rule(VIEW, query="accounts={w.leeloo.pk}&" + SINCE),
    "admin:bridge_sync_progress_json":  Rule(VIEW, query="accounts={w.leeloo.pk}&" + SINCE),
    # What the bridge writes itself: read-only; deliveries and batches are never deleted.
    "admin:bridge_delivery_changelist": Rule(VIEW),
    **model_pages("bridge_delivery", add=NOBODY, change=NOBODY, delete=NOBODY, deletes=NOBODY),  # noqa: E501
    "admin:bridge_pushbatch_changelist": Rule(VIEW),
    "admin:bridge_pushbatch_progress":  Rule(VIEW),
    **model_pages("bridge_pushbatch", add=NOBODY, change=NOBODY, delete=NOBODY, deletes=NOBODY),  # noqa: E501
    "admin:bridge_remotelink_changelist": Rule(VIEW),
    **model_pages("bridge_remotelink", add=NOBODY, change=NOBODY),
    "admin:bridge_syncrun_changelist":  Rule(VIEW),
    **model_pages("bridge_syncrun", add=NOBODY, change=NOBODY),
    # The audit trail: read by anyone who views the bridge; written by nobody, superusers
    # included (only the bridge's own actions add entries).
    "admin:bridge_auditentry_changelist": Rule(VIEW),
    **model_pages("bridge_auditentry", add=NOBODY, change=NOBODY, delete=NOBODY, deletes=NOBODY),  # noqa: E501
    # Routing rules: viewable; written by superusers (no role has their permissions). The test
    # page only reads. Each lead's routing record is read-only (deleted with its lead).
    "admin:bridge_routingrule_changelist": Rule(VIEW),
    **model_pages("bridge_routingrule"),
    "admin:bridge_routingrule_test":    Rule(VIEW),
    "admin:bridge_leadrouting_changelist": Rule(VIEW),
    **model_pages("bridge_leadrouting", add=NOBODY, change=NOBODY),
    # The inbox: providers post anonymously to their account's receiver (POST only; an unknown
    # account or a wrong token is a 404); events and activities are read-only in the admin.
    "bridge_webhook":                   Rule((405,) * 6, post=(404,) * 6, path="/hooks/nobody/not-the-token/"),  # noqa: E501
    "admin:bridge_inboundevent_changelist": Rule(VIEW),
    **model_pages("bridge_inboundevent", add=NOBODY, change=NOBODY),
    "admin:bridge_activity_changelist": Rule(VIEW),
    **model_pages("bridge_activity", add=NOBODY, change=NOBODY),
    # Alerts: channels are viewable and written (and tested) by superusers, who alone have
    # change on them; the test sends only on a POST. Alerts are written by the bridge only.
    "admin:bridge_alertchannel_changelist": Rule(VIEW),
    **model_pages("bridge_alertchannel"),
    "admin:bridge_alertchannel_test":   Rule(POST_ONLY, post=SUPER_302),
    "admin:bridge_alert_changelist":    Rule(VIEW),
    **model_pages("bridge_alert", add=NOBODY, change=NOBODY),
    # Leeloo's own records, mirrored by the syncs: read-only.
    "admin:bridge_leeloouser_changelist": Rule(VIEW),
    **model_pages("bridge_leeloouser", add=NOBODY, change=NOBODY),
    "admin:bridge_connection_changelist": Rule(VIEW),
    **model_pages("bridge_connection", add=NOBODY, change=NOBODY),
    "admin:bridge_channel_changelist":  Rule(VIEW),
    **model_pages("bridge_channel", add=NOBODY, change=NOBODY),
    "admin:bridge_templatecategory_changelist": Rule(VIEW),
    **model_pages("bridge_templatecategory", add=NOBODY, change=NOBODY),
    "admin:bridge_template_changelist": Rule(VIEW),
    **model_pages("bridge_template", add=NOBODY, change=NOBODY),
    "admin:bridge_tunnelstatssummary_changelist": Rule(VIEW),
    **model_pages("bridge_tunnelstatssummary", add=NOBODY, change=NOBODY),
    # django-q2: no role has its permissions; superusers only, and nobody adds tasks.
    "admin:django_q_schedule_changelist": Rule(SUPER),
    **model_pages("django_q_schedule", view=SUPER),
    "admin:django_q_success_changelist": Rule(SUPER),
    **model_pages("django_q_success", view=SUPER, add=NOBODY, change=SUPER_302),  # nothing to edit
    "admin:django_q_failure_changelist": Rule(SUPER),
    **model_pages("django_q_failure", view=SUPER, add=NOBODY, change=SUPER_302),
    "admin:django_q_ormq_changelist":   Rule(SUPER),
    **model_pages("django_q_ormq", view=SUPER, add=NOBODY),
}
# fmt: on


def redirect_rules():
    """Every ModelAdmin's unnamed "<id>/" pattern (a redirect to "<id>/change/"), by route."""
    return {
        f"admin/{model._meta.app_label}/{model._meta.model_name}/<path:object_id>/": Rule(REDIRECT)
        for model in admin.site._registry
    }


# --- the actions --------------------------------------------------------------------------------


def state(value: str):
    """The selected delivery is now in this state."""

    def check(w, obj, before, response):
        obj.refresh_from_db()
        assert obj.state == value

    return check


def enabled(value: bool):
    def check(w, obj, before, response):
        obj.refresh_from_db()
        assert obj.enabled is value

    return check


def event_state(value: str):
    """The selected inbound event is now in this state."""

    def check(w, obj, before, response):
        obj.refresh_from_db()
        assert obj.state == value

    return check


def paused(value: bool):
    def check(w, obj, before, response):
        obj.refresh_from_db()
        assert obj.paused is value

    return check


def grew(label: str):
    """The table of ``label`` ("bridge.Delivery") has more rows than before."""

    def check(w, obj, before, response):
        assert apps.get_model(label)._base_manager.count() > len(before[label])

    return check


def untried_cancelled(w, obj, before, response):
    """The selected batch's pending delivery that no worker had tried is cancelled."""
    w.pending_delivery.refresh_from_db()
    assert w.pending_delivery.state == "cancelled"


def gone(w, obj, before, response):
    assert not type(obj)._base_manager.filter(pk=obj.pk).exists()


def kept(w, obj, before, response):
    """Not deleted: the page says why (a protected related object)."""
    assert type(obj)._base_manager.filter(pk=obj.pk).exists()
    assert response.context["protected"], response.context.get("title")


def rotated(w, obj, before, response):
    """A new token hash, and the page that shows the new token once."""
    old_hash = obj.token_hash
    obj.refresh_from_db()
    assert obj.token_hash != old_hash
    assert "admin/bridge/intakesource/token_once.html" in [t.name for t in response.templates]


def merged_duplicate(w, obj, before, response):
    """The duplicate is gone into the selected contact, which took its email."""
    assert not type(obj)._base_manager.filter(pk=w.duplicate.pk).exists()
    obj.refresh_from_db()
    assert obj.email == "janet@example.com"


def merge_duplicate(w):
    """The merge page's confirmation: ``w.contact`` survives and takes the duplicate's email."""
    keep, dupe = w.contact.pk, w.duplicate.pk
    values = {"value__first_name": keep, "value__phone": keep, "value__email": dupe}
    return {"_selected_action": [keep, dupe], "confirm": "yes", "survivor": keep, **values}


def exported_csv(w, obj, before, response):
    """A CSV file of the selected entry."""
    assert response["Content-Type"] == "text/csv"
    assert obj.summary in b"".join(response.streaming_content).decode()


def shows_push_page(w, obj, before, response):
    assert "admin/bridge/push_confirm.html" in [t.name for t in response.templates]


@dataclass(frozen=True)
class Act:
    """One admin action and who may run it (see the module docstring)."""

    model: str
    name: str
    obj: str
    may: tuple
    did: Callable
    data: dict | Callable = field(default_factory=dict)
    status: int = 302

    @property
    def id(self) -> str:
        return f"{self.model}:{self.name}"


def push_to_leeloo(w):
    return {"confirm": "yes", "accounts": [w.leeloo.pk]}


PUSH_OPERATIONS = [
    "push_leeloo_add_tag",
    "push_leeloo_remove_tag",
    "push_leeloo_add_comment",
    "push_leeloo_send_message",
    "push_leeloo_send_template",
    "push_leeloo_log_call",
    "push_leeloo_subscribe_tunnel",
    "push_leeloo_add_sms_connection",
]
PAGE = {"status": 200, "did": shows_push_page}  # an operation's page, shown before a confirm
DELETE = {"data": {"post": "yes"}, "did": gone}

# fmt: off
ACTIONS = [
    Act("bridge.contact", "push_any_push", "contact", PUSHERS, did=grew("bridge.Delivery"), data=push_to_leeloo),  # noqa: E501
    *(Act("bridge.contact", name, "contact", PUSHERS, **PAGE) for name in PUSH_OPERATIONS),
    Act("bridge.lead", "push_any_push", "lead", PUSHERS, did=grew("bridge.Delivery"), data=push_to_leeloo),  # noqa: E501
    *(Act("bridge.lead", name, "lead", PUSHERS, **PAGE) for name in PUSH_OPERATIONS),
    Act("bridge.order", "push_any_push", "order", PUSHERS, did=grew("bridge.Delivery"), data=push_to_leeloo),  # noqa: E501
    Act("bridge.order", "push_leeloo_create_order", "order", PUSHERS, **PAGE),
    Act("bridge.order", "push_leeloo_update_order", "order", PUSHERS, **PAGE),
    Act("bridge.tunnel", "push_leeloo_create_traffic_source", "tunnel", PUSHERS, **PAGE),
    Act("bridge.delivery", "retry_now", "failed_delivery", PUSHERS, did=state("pending")),
    Act("bridge.delivery", "cancel", "pending_delivery", PUSHERS, did=state("cancelled")),
    Act("bridge.pushbatch", "cancel_scheduled", "batch", PUSHERS, did=untried_cancelled),
    Act(
        "bridge.delivery",
        "retry_with_force_update",
        "aloware_exists_delivery",
        PUSHERS,
        did=state("pending"),
    ),
    Act("bridge.intakesource", "rotate_tokens", "intake_source", SUPERUSERS, status=200, did=rotated),  # noqa: E501
    Act("bridge.provideraccount", "pause_accounts", "aello", MANAGERS, did=paused(True)),
    Act("bridge.provideraccount", "resume_accounts", "paused", MANAGERS, did=paused(False)),
    Act("bridge.provideraccount", "sync_now", "leeloo", MANAGERS, did=grew("django_q.OrmQ")),
    Act("bridge.provideraccount", "full_sync_now", "leeloo", MANAGERS, did=grew("django_q.OrmQ")),  # noqa: E501
    Act("bridge.routingrule", "enable_rules", "disabled_rule", SUPERUSERS, did=enabled(True)),
    Act("bridge.routingrule", "disable_rules", "routing_rule", SUPERUSERS, did=enabled(False)),
    Act("bridge.routingrule", "delete_selected", "routing_rule", SUPERUSERS, **DELETE),
    Act("bridge.leadrouting", "delete_selected", "lead_routing", SUPERUSERS, **DELETE),
    Act("bridge.inboundevent", "process_again", "inbound_event", MANAGERS, did=event_state("received")),  # noqa: E501
    Act("bridge.auditentry", "export_csv", "audit_entry", VIEWERS, status=200, did=exported_csv),
    Act("django_q.success", "resubmit_task", "success", SUPERUSERS, did=grew("django_q.OrmQ")),
    Act("django_q.failure", "resubmit_task", "failure", SUPERUSERS, did=gone),
    # Deleting: superusers (no other role has a delete permission).
    Act("bridge.provideraccount", "delete_selected", "paused", SUPERUSERS, **DELETE),
    Act("bridge.contact", "delete_selected", "contact", SUPERUSERS, status=200, did=kept, data={"post": "yes"}),  # its leads protect it  # noqa: E501
    # Merging changes one contact and deletes the others: change and delete permission.
    Act("bridge.contact", "merge_selected_contacts", "contact", SUPERUSERS, did=merged_duplicate, data=merge_duplicate),  # noqa: E501
    Act("bridge.lead", "delete_selected", "lead", SUPERUSERS, **DELETE),
    Act("bridge.order", "delete_selected", "order", SUPERUSERS, **DELETE),
    Act("bridge.tag", "delete_selected", "tag", SUPERUSERS, **DELETE),
    Act("bridge.tunnel", "delete_selected", "tunnel", SUPERUSERS, **DELETE),
    Act("bridge.intakesource", "delete_selected", "intake_source", SUPERUSERS, **DELETE),
    Act("bridge.remotelink", "delete_selected", "remote_link", SUPERUSERS, **DELETE),
    Act("bridge.syncrun", "delete_selected", "sync_run", SUPERUSERS, **DELETE),
    Act("bridge.inboundevent", "delete_selected", "inbound_event", SUPERUSERS, **DELETE),
    Act("bridge.activity", "delete_selected", "activity", SUPERUSERS, **DELETE),
    Act("bridge.alertchannel", "delete_selected", "alert_channel", SUPERUSERS, **DELETE),
    Act("bridge.alert", "delete_selected", "alert", SUPERUSERS, **DELETE),
    Act("bridge.leeloouser", "delete_selected", "leeloo_user", SUPERUSERS, **DELETE),
    Act("bridge.connection", "delete_selected", "connection", SUPERUSERS, **DELETE),
    Act("bridge.channel", "delete_selected", "channel", SUPERUSERS, **DELETE),
    Act("bridge.templatecategory", "delete_selected", "template_category", SUPERUSERS, **DELETE),
    Act("bridge.template", "delete_selected", "template", SUPERUSERS, **DELETE),
    Act("bridge.tunnelstatssummary", "delete_selected", "tunnel_stats", SUPERUSERS, **DELETE),
    Act("django_q.schedule", "delete_selected", "schedule", SUPERUSERS, **DELETE),
    Act("django_q.success", "delete_selected", "success", SUPERUSERS, **DELETE),
    Act("django_q.failure", "delete_selected", "failure", SUPERUSERS, **DELETE),
    Act("django_q.ormq", "delete_selected", "queued_task", SUPERUSERS, **DELETE),
    Act("auth.user", "delete_selected", "staff", SUPERUSERS, **DELETE),
    Act("auth.group", "delete_selected", "group", SUPERUSERS, **DELETE),
]
# fmt: on


# --- the URL conf ---------------------------------------------------------------------------------


def url_patterns(patterns=None, prefix="", namespace=""):
    """Every URL pattern of the project: (key, route, pattern), through every include.

    The key is the pattern's name with its namespaces ("admin:index"), or its route when it has
    no name.
    """
    if patterns is None:
        patterns = get_resolver().url_patterns
    for pattern in patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = f"{namespace}{pattern.namespace}:" if pattern.namespace else namespace
            yield from url_patterns(pattern.url_patterns, route, inner)
        elif isinstance(pattern, URLPattern):
            key = f"{namespace}{pattern.name}" if pattern.name else route
            yield key, route, pattern


def all_rules() -> dict[str, Rule]:
    return {**redirect_rules(), **URL_RULES}


def url_cases():
    """(key, route, method, role) for every URL pattern, and the POSTs of those that write."""
    rules = all_rules()
    cases = []
    for key, route, pattern in url_patterns():
        rule = rules.get(key)
        methods = ["GET", "POST"] if rule is not None and rule.post is not None else ["GET"]
        is_route = isinstance(pattern.pattern, RoutePattern)
        for method in methods:
            for role in ROLES:
                case = (key, route if is_route else "", method, role)
                cases.append(pytest.param(*case, id=f"{key or '/'}-{method}-{role}"))
    return cases


CONVERTER = re.compile(r"<(?:[^>:]+:)?(\w+)>")
MODEL_ROUTE = re.compile(r"^admin/(\w+)/(\w+)/")


def concrete_path(w, key: str, route: str, rule: Rule) -> str:
    """The path to request for a pattern: the rule's own, or the route with its parts filled."""
    if rule.path:
        path = rule.path.format(w=w)
    else:
        assert route, f"{key}: a regular-expression pattern needs path= in its rule"
        path = "/" + CONVERTER.sub(lambda match: str(route_value(w, route, match[1])), route)
    return f"{path}?{rule.query.format(w=w)}" if rule.query else path


def route_value(w, route: str, name: str):
    """A value for one ``<…>`` of a route: the fixture object of the route's model."""
    found = MODEL_ROUTE.match(route)
    assert found, f"{route}: no model to take <{name}> from; give the rule a path="
    obj = w.by_model[f"{found[1]}.{found[2]}"]
    return obj.pk


# --- the fixture objects, made once for the module ------------------------------------------------


def make_users(w):
    bridge_views = Permission.objects.filter(
        content_type__app_label="bridge", codename__startswith="view_"
    )
    w.staff = User.objects.create_user("staff", is_staff=True)
    w.viewer = User.objects.create_user("viewer", is_staff=True)
    w.viewer.user_permissions.set(bridge_views)
    w.pusher = User.objects.create_user("pusher", is_staff=True)
    w.pusher.user_permissions.set(
        [*bridge_views, Permission.objects.get(codename="push_to_providers")]
    )
    w.manager = User.objects.create_user("manager", is_staff=True)
    w.manager.user_permissions.set(
        [
            *bridge_views,
            Permission.objects.get(codename="change_provideraccount"),
            Permission.objects.get(codename="change_syncstate"),
        ]
    )
    w.superuser = User.objects.create_superuser("superuser", "root@example.com", "pw")
    w.group = Group.objects.create(name="Sales")
    w.sessions = {}
    for role in ROLES[1:]:
        client = Client()
        client.force_login(getattr(w, role))
        w.sessions[role] = client.cookies[settings.SESSION_COOKIE_NAME].value


def make_accounts(w):
    from bridge.models import ProviderAccount

    def account(name, provider, **fields):
        made = ProviderAccount(name=name, provider=provider, credential="k" * 24, **fields)
        made.full_clean()
        made.save()
        return made

    w.aello = account("aello", "aello")
    w.paused = account("paused", "aello", paused=True, paused_reason="by hand")
    w.leeloo = account("leeloo", "leeloo")
    w.aloware = account("aloware", "aloware")


def make_records(w):
    from bridge.models import Contact, Lead, Order, Tag, Tunnel

    w.contact = Contact(first_name="Jane", last_name="Doe", email="jane@example.com")
    w.contact.phone = "+13105550143"
    w.contact.full_clean()
    w.contact.save()
    w.contact_type = ContentType.objects.get_for_model(Contact)
    w.duplicate = Contact(first_name="Janet", last_name="Doe", email="janet@example.com")
    w.duplicate.full_clean()
    w.duplicate.save()
    w.lead = Lead(contact=w.contact, product_reference="10864675", product_title="Truck")
    w.lead.full_clean()
    w.lead.save()
    w.order = Order.objects.create(contact=w.contact, title="Course", price=100)
    w.tag = Tag.objects.create(name="VIP")
    w.contact.tags.add(w.tag)
    w.tunnel = Tunnel.objects.create(name="Spring sale", stats={"subscribers": 10})


def make_intake(w):
    from bridge.models import IntakeSource

    w.intake_source = IntakeSource(name="website", allowed_origins="https://www.example.com")
    w.intake_source.issue_token()
    w.intake_source.full_clean()
    w.intake_source.save()
    w.intake_source.default_accounts.add(w.aello)


def make_bookkeeping(w):
    from bridge import audit
    from bridge.models import Delivery, PushBatch, RemoteLink, SyncRun

    lead_type = ContentType.objects.get_for_model(w.lead)
    w.remote_link = RemoteLink.objects.create(
        account=w.leeloo, content_type=lead_type, object_id=w.lead.pk, remote_id="r1"
    )
    w.batch = PushBatch.objects.create(description="push 1 lead", total=2)
    common = {"content_type": lead_type, "object_id": w.lead.pk, "batch": w.batch}
    w.failed_delivery = Delivery.objects.create(
        account=w.aello, state=Delivery.State.FAILED, **common
    )
    w.pending_delivery = Delivery.objects.create(
        account=w.aello, state=Delivery.State.PENDING, **common
    )
    w.aloware_exists_delivery = Delivery.objects.create(
        account=w.aloware, state=Delivery.State.DEAD, error_code="contact_exists", **common
    )
    w.sync_run = SyncRun.objects.create(account=w.leeloo, resource="people")
    w.audit_entry = audit.record("pause", actor=w.manager, target=w.paused, summary="Paused 1")


def make_routing(w):
    from bridge.models import LeadRouting, RoutingRule, RuleTarget

    w.routing_rule = RoutingRule.objects.create(name="Web leads", sources="website")
    RuleTarget.objects.create(rule=w.routing_rule, account=w.aello)
    w.disabled_rule = RoutingRule.objects.create(name="Off", enabled=False, order=20)
    w.lead_routing = LeadRouting.objects.create(lead=w.lead, rules=["Web leads"])


def make_inbox(w):
    from bridge.models import Activity, InboundEvent

    w.inbound_event = InboundEvent.objects.create(
        account=w.leeloo,
        event_type="ORDER",
        kind="order",
        received_at=timezone.now(),
        body='{"type": "ORDER", "data": {}}',
        dedup_key="ORDER:1",
        state=InboundEvent.State.FAILED,
        error="data.order_id is missing",
    )
    w.activity = Activity.objects.create(
        kind="order",
        account=w.leeloo,
        contact=w.contact,
        occurred_at=timezone.now(),
        summary="Order: Course",
        event=w.inbound_event,
    )


def make_alerts(w):
    from bridge.models import Alert, AlertChannel

    w.alert_channel = AlertChannel(name="ops", kind="email", addresses="ops@example.com")
    w.alert_channel.full_clean()
    w.alert_channel.save()
    w.alert = Alert.objects.create(
        key=f"account {w.paused.pk} paused",
        kind=Alert.Kind.ACCOUNT_PAUSED,
        severity=Alert.Severity.CRITICAL,
        subject="Account paused is paused",
        message="paused by hand",
    )


def make_leeloo_mirrors(w):
    from bridge.models import (
        Channel,
        Connection,
        LeelooUser,
        Template,
        TemplateCategory,
        TunnelStatsSummary,
    )

    mine = {"account": w.leeloo}
    w.leeloo_user = LeelooUser.objects.create(remote_id="u1", name="Manager", **mine)
    w.connection = Connection.objects.create(remote_id="c1", name="SMS", **mine)
    w.channel = Channel.objects.create(remote_id="ch1", contact=w.contact, **mine)
    w.template_category = TemplateCategory.objects.create(remote_id="tc1", name="Sales", **mine)
    w.template = Template.objects.create(remote_id="t1", category=w.template_category, **mine)
    w.tunnel_stats = TunnelStatsSummary.objects.create(stats=[], **mine)


def make_tasks(w):
    from django_q.models import OrmQ, Schedule, Task
    from django_q.tasks import async_task

    w.schedule = Schedule.objects.create(func="math.floor", args="1", name="demo")
    now = timezone.now()
    task = {"func": "math.floor", "args": (1,), "kwargs": {}, "started": now, "stopped": now}
    w.success = Task.objects.create(id="a" * 32, name="done-task", success=True, **task)
    w.failure = Task.objects.create(id="b" * 32, name="failed-task", success=False, **task)
    async_task("math.floor", 1.5, task_name="queued-task")
    w.queued_task = OrmQ.objects.get()


def index_by_model(w):
    """The object whose pages each ModelAdmin's ``<path:object_id>`` routes open."""
    from django_q.models import Failure, OrmQ, Schedule, Success

    w.by_model = {}
    for value in vars(w).copy().values():
        if hasattr(value, "_meta"):
            w.by_model.setdefault(value._meta.label_lower, value)
    w.by_model["auth.user"] = w.staff
    w.by_model["bridge.provideraccount"] = w.leeloo
    w.by_model["bridge.delivery"] = w.failed_delivery
    w.by_model["bridge.pushbatch"] = w.batch
    w.by_model["django_q.schedule"] = Schedule.objects.get(pk=w.schedule.pk)
    w.by_model["django_q.success"] = Success.objects.get(pk=w.success.pk)
    w.by_model["django_q.failure"] = Failure.objects.get(pk=w.failure.pk)
    w.by_model["django_q.ormq"] = OrmQ.objects.get(pk=w.queued_task.pk)


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker):
    """One of everything, made once and rolled back after the module; each test runs in its
    own savepoint inside (pytest-django's ``db``), so what one test writes the next never sees.
    """
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            w = SimpleNamespace()
            for make in (
                make_users,
                make_accounts,
                make_records,
                make_intake,
                make_bookkeeping,
                make_routing,
                make_inbox,
                make_alerts,
                make_leeloo_mirrors,
                make_tasks,
                index_by_model,
            ):
                make(w)
            yield w
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture(scope="module", autouse=True)
def quiet_refusals():
    """Django logs each 403 and 404 as a warning with its traceback; here they are the point."""
    logger = logging.getLogger("django.request")
    level = logger.level
    logger.setLevel(logging.ERROR)
    yield
    logger.setLevel(level)


def client_for(w, role: str) -> Client:
    client = Client()
    if role != "anonymous":
        client.cookies[settings.SESSION_COOKIE_NAME] = w.sessions[role]
    return client


SKIPPED_TABLES = {"sessions.session", "auth.permission", "contenttypes.contenttype"}


def database_state() -> dict[str, list]:
    """Every row of every table (but sessions and the static ones), to compare before/after.

    Plain SQL, one query a table: the ORM's cost per query made this most of the module's time.
    """
    found = {}
    with connection.cursor() as cursor:
        for label, table, pk in watched_tables():
            cursor.execute(f"SELECT * FROM {table} ORDER BY {pk}")
            found[label] = cursor.fetchall()
    return found


@functools.cache
def watched_tables() -> list[tuple[str, str, str]]:
    """(label, table, the primary key's columns to order by) of every table: a composite key
    (SentState's) has several columns and no ``pk.column``."""
    quote = connection.ops.quote_name
    return [
        (
            model._meta.label,
            quote(model._meta.db_table),
            ", ".join(quote(field.column) for field in model._meta.pk_fields),
        )
        for model in apps.get_models(include_auto_created=True)
        if not model._meta.proxy and model._meta.label_lower not in SKIPPED_TABLES
    ]


def assert_nothing_changed(before: dict, what: str):
    after = database_state()
    changed = [label for label in before if before[label] != after[label]]
    assert not changed, f"{what} was refused but changed {', '.join(changed)}"


def assert_status(response, expected, what: str):
    if expected == LOGIN:
        assert response.status_code == 302, f"{what}: {response.status_code}, not to login"
        assert response["Location"].startswith(reverse("admin:login")), (
            f"{what}: sent to {response['Location']}, not to the login page"
        )
    else:
        assert response.status_code == expected, (
            f"{what}: {response.status_code}, expected {expected}"
        )


REFUSALS = {LOGIN, 401, 403, 404, 405, 415}


# --- the tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("key", "route", "method", "role"), url_cases())
def test_url(world, db, key, route, method, role):
    rule = all_rules().get(key)
    if rule is None:
        pytest.fail(
            f"new view without an authorization rule: {key} ({route or 'a regular expression'})"
            " — add its row to URL_RULES in tests/test_authorization_matrix.py"
        )
    path = concrete_path(world, key, route, rule)
    expected = (rule.post if method == "POST" else rule.get)[ROLES.index(role)]
    client = client_for(world, role)
    before = database_state() if expected in REFUSALS else None
    if method == "POST":
        data = rule.data(world) if callable(rule.data) else (rule.data or {})
        response = client.post(path, data)
    else:
        response = client.get(path)
    what = f"{role} {method} {path}"
    assert_status(response, expected, what)
    if before is not None:
        assert_nothing_changed(before, what)


def changelist(model: str) -> str:
    app_label, model_name = model.split(".")
    return reverse(f"admin:{app_label}_{model_name}_changelist")


def action_cases():
    return [pytest.param(act, role, id=f"{act.id}-{role}") for act in ACTIONS for role in ROLES]


@pytest.mark.parametrize(("act", "role"), action_cases())
def test_action(world, db, act, role):
    url = changelist(act.model)
    obj = getattr(world, act.obj)
    extra = act.data(world) if callable(act.data) else act.data
    data = {"action": act.name, "_selected_action": [obj.pk], "index": "0", **extra}
    before = database_state()
    response = client_for(world, role).post(url, data)
    what = f"{role} running {act.id}"
    at_the_door = URL_RULES[f"admin:{url_name(act.model)}_changelist"].get[ROLES.index(role)]
    if at_the_door != 200:
        assert_status(response, at_the_door, what)
        assert_nothing_changed(before, what)
    elif role in act.may:
        assert_status(response, act.status, what)
        act.did(world, obj, before, response)
    else:
        assert_status(response, 302, what)
        assert response["Location"] == url
        said = [str(message) for message in get_messages(response.wsgi_request)]
        assert any(text.startswith("You do not have permission to ") for text in said), said
        assert_nothing_changed(before, what)


def url_name(model: str) -> str:
    return model.replace(".", "_")


def test_every_rule_names_a_url_that_exists():
    """A row for a view that is gone is a mistake in the table (a typo hides a missing row)."""
    keys = {key for key, _, _ in url_patterns()}
    assert sorted(set(URL_RULES) - keys) == []


def test_every_admin_action_has_an_authorization_rule():
    """Each action a superuser is offered, on every admin, has its row in ACTIONS."""
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    covered = {act.id for act in ACTIONS}
    missing = [
        f"{model._meta.label_lower}:{name}"
        for model, model_admin in admin.site._registry.items()
        for name in model_admin.get_actions(request)
        if f"{model._meta.label_lower}:{name}" not in covered
    ]
    assert not missing, (
        f"new admin action without an authorization rule: {', '.join(sorted(missing))} — add "
        "its row to ACTIONS in tests/test_authorization_matrix.py"
    )
