"""Absolute links to admin pages, for messages read outside the bridge (email, chat).

They start with ``BRIDGE_PUBLIC_URL``, the address staff and providers reach the bridge at.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.urls import reverse

from bridge.conf import bridge_setting


def absolute(path: str) -> str:
    """``path`` on the bridge's public address."""
    base = bridge_setting("BRIDGE_PUBLIC_URL", "http://127.0.0.1:8000").rstrip("/")
    return f"{base}{path}"


def admin_change_url(obj) -> str:
    """The absolute URL of ``obj``'s admin page."""
    opts = obj._meta
    return absolute(reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]))


def admin_list_url(model, **filters) -> str:
    """The absolute URL of ``model``'s admin list, filtered by ``filters``."""
    opts = model._meta
    path = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
    return absolute(f"{path}?{urlencode(filters)}" if filters else path)
