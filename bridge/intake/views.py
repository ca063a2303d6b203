"""``POST /api/v1/leads``: the view, its CORS answers and its one log line per request.

The order of checks is the cheapest refusal first: method (405), content type (415), size
(413, before anything is buffered), token (401), the source's rate (429), then the body (400)
and its fields (422). An unauthenticated caller learns nothing about what its body would get.
"""

from __future__ import annotations

import logging
import time

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from bridge.conf import bridge_setting
from bridge.models import IntakeSource
from bridge.public import Refusal, rate_limit, read_body, refusal_response

from .auth import authenticate, client_address
from .parse import key_value, lead_from_form, lead_from_json, parse_form, parse_json
from .store import accept_lead

logger = logging.getLogger("bridge.intake")

JSON_TYPE = "application/json"
FORM_TYPE = "application/x-www-form-urlencoded"
ALLOWED_HEADERS = "Authorization, Content-Type, Idempotency-Key"


class HttpResponseSeeOther(HttpResponseRedirect):
    """A 303: the browser follows it with a GET, as after any form post."""

    status_code = 303


def body_limit() -> int:
    return bridge_setting("BRIDGE_INTAKE_MAX_BYTES", 64 * 1024, minimum=1024)


@csrf_exempt
def leads_view(request: HttpRequest) -> HttpResponse:
    """Take one lead; answer 202 (created), 200 (a retry), a 303 for a form, or a refusal."""
    started = time.perf_counter()
    state: dict = {"source": None}
    try:
        if request.method == "OPTIONS":
            return preflight(request)
        if request.method != "POST":
            raise Refusal(
                405, "method_not_allowed", "Use POST.", headers={"Allow": "POST, OPTIONS"}
            )
        response = take_lead(request, state)
    except Refusal as refusal:
        log_refusal(request, refusal, state["source"])
        response = refusal_response(refusal)
    else:
        log_accepted(request, response, state, started)
    if state["source"] is not None:
        allow_origin(request, response, state["source"].origins)
    return response


def take_lead(request: HttpRequest, state: dict) -> HttpResponse:
    """The checks in order, then the write; ``state`` keeps what the log line names."""
    content_type = request.META.get("CONTENT_TYPE", "").split(";")[0].strip().lower()
    if content_type not in (JSON_TYPE, FORM_TYPE):
        raise Refusal(
            415,
            "unsupported_media_type",
            f"Send {JSON_TYPE} or {FORM_TYPE}, not {content_type or 'no Content-Type'}.",
        )
    body = read_body(request, body_limit())
    form = parse_form(body) if content_type == FORM_TYPE else None
    source, from_form = authenticate(request, form_token=(form or {}).get("token", ""))
    state["source"] = source
    rate_limit(f"intake:{source.pk}", source.rate_limit_per_minute)
    data = lead_from_form(form) if form is not None else lead_from_json(parse_json(body))
    header_key = request.META.get("HTTP_IDEMPOTENCY_KEY", "")
    header_key = key_value(header_key, "Idempotency-Key") if header_key else ""
    accepted = accept_lead(source, data, header_key, from_form)
    state["accepted"] = accepted
    state["source"] = source = accepted.source  # read again when it had changed
    if data.wants_redirect and source.thank_you_url:
        return HttpResponseSeeOther(source.thank_you_url)
    answer = {
        "id": accepted.lead_id,
        "contact_id": accepted.contact_id,
        "created": accepted.created,
    }
    return JsonResponse(answer, status=202 if accepted.created else 200)


def preflight(request: HttpRequest) -> HttpResponse:
    """A browser asking whether a page may post: yes for an origin an enabled source lists.

    A preflight carries no token, so any enabled source's list counts; the POST itself is then
    answered with ``Access-Control-Allow-Origin`` only for its own source's origins.
    """
    rate_limit(
        f"intake-preflight:{client_address(request)}",
        bridge_setting("BRIDGE_INTAKE_PREFLIGHTS_PER_MINUTE", 600, minimum=1),
    )
    origin = request.META.get("HTTP_ORIGIN", "").strip().lower()
    response = HttpResponse(status=204)
    response["Vary"] = "Origin"
    if not origin:
        return response
    candidates = IntakeSource.objects.filter(enabled=True, allowed_origins__icontains=origin)
    if any(origin in source.origins for source in candidates.only("allowed_origins")):
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Allow-Methods"] = "POST, OPTIONS"
        response["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
        response["Access-Control-Max-Age"] = "600"
    return response


def allow_origin(request: HttpRequest, response: HttpResponse, origins: list[str]) -> None:
    """Let the page read the answer when its origin is one the source lists."""
    response["Vary"] = "Origin"
    origin = request.META.get("HTTP_ORIGIN", "").strip().lower()
    if origin and origin in origins:
        response["Access-Control-Allow-Origin"] = origin
        response["Access-Control-Expose-Headers"] = "Retry-After"


def log_accepted(request, response, state: dict, started: float) -> None:
    accepted = state["accepted"]
    logger.info(
        "intake %s source=%s lead=%s contact=%s created=%s ip=%s %.1f ms",
        response.status_code,
        state["source"].name,
        accepted.lead_id,
        accepted.contact_id,
        str(accepted.created).lower(),
        client_address(request),
        (time.perf_counter() - started) * 1000,
    )


def log_refusal(request, refusal: Refusal, source) -> None:
    logger.info(
        "intake refused %s %s source=%s field=%r ip=%s",
        refusal.status,
        refusal.code,
        source.name if source is not None else "-",
        refusal.field[:100],  # %r: a field name may echo a caller's key
        client_address(request),
    )
