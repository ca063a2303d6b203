"""``/favicon.ico``: the bridge's icon for browsers that ask for it by that name.

Admin pages name the icon with ``<link rel="icon">`` (``templates/admin/base_site.html``, the
static file ``bridge/favicon.svg``); browsers still ask for ``/favicon.ico`` on other pages (the
API's JSON, a raw file) and on their own, and each ask was a 404 in the log. This view answers
with the same SVG, from the app's static folder, whether or not static files are served by
Django.
"""

from functools import cache
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_safe

ICON = Path(__file__).resolve().parent / "static" / "bridge" / "favicon.svg"


@cache
def _icon() -> bytes:
    return ICON.read_bytes()


@require_safe
@cache_control(public=True, max_age=24 * 3600)
def favicon(request: HttpRequest) -> HttpResponse:
    """The icon (SVG; browsers go by its content type, not the ``.ico`` in the name)."""
    return HttpResponse(_icon(), content_type="image/svg+xml")
