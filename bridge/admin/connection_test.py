"""The account page's "Test connection" button: one harmless call, its answer as a message.

What "harmless" means per provider is ``integrations.connection``'s business: a read-only
authenticated call where the API has one, otherwise the checks that need no call. The test
runs in the request (bounded by the account's own connect and read timeouts): staff press
the button to know now, not after a worker picks it up.
"""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse

from bridge.models import ProviderAccount
from integrations.connection import test_connection
from integrations.errors import ConfigurationError


class ConnectionTestMixin:
    """Adds ``<id>/test-connection/`` (POST, change permission) to the account admin."""

    def get_urls(self):
        view = self.admin_site.admin_view(self.test_connection_view)
        route = "<path:object_id>/test-connection/"
        return [path(route, view, name="bridge_provideraccount_test"), *super().get_urls()]

    def test_connection_view(self, request, object_id: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not self.has_change_permission(request):
            raise PermissionDenied
        account = get_object_or_404(ProviderAccount, pk=object_id if object_id.isdigit() else 0)
        if not self.has_change_permission(request, account):
            raise PermissionDenied
        self.message_user(request, *connection_message(account))
        change_page = reverse("admin:bridge_provideraccount_change", args=[account.pk])
        return HttpResponseRedirect(change_page)


def connection_message(account: ProviderAccount) -> tuple[str, int]:
    """The message (and its level) that tells staff how ``account``'s test went."""
    try:
        result = test_connection(account.client())
    except ConfigurationError as exc:  # no base URL, an unknown provider…
        return f"Connection test of {account.name}: {exc}", messages.ERROR
    if result.ok is None:
        return f"Connection test of {account.name}: {result.summary}", messages.INFO
    level = messages.SUCCESS if result.ok else messages.ERROR
    return f"Connection test of {account.name}: {result.summary}", level
