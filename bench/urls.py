"""The project's URLs plus the bare reference view the intake benchmark compares against.

Only ``bench/settings.py`` uses this module (with ``BENCH_URLS=true``): the bare view has no
authentication and must never be served by the application.
"""

import json

from django.http import HttpResponseBadRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from bridge.models import Contact, Lead
from bridge.urls import urlpatterns as bridge_urlpatterns

_contact_id: int | None = None


@csrf_exempt
def bare_lead(request):
    """Parse the JSON body and INSERT one lead row for a fixed contact: nothing else."""
    global _contact_id
    try:
        body = json.loads(request.body)
    except ValueError:
        return HttpResponseBadRequest("not JSON")
    if _contact_id is None:
        _contact_id = Contact.objects.get_or_create(
            email="bare-reference@example.com", defaults={"first_name": "Bare"}
        )[0].pk
    lead = Lead.objects.create(
        contact_id=_contact_id,
        message=str(body.get("message", ""))[:1000],
        source="bench-bare",
    )
    return JsonResponse({"id": lead.pk}, status=202)


urlpatterns = [path("bench/bare-lead", bare_lead), *bridge_urlpatterns]
