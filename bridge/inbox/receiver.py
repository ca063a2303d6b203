"""The webhook receiver: ``POST /hooks/<account>/<token>/``, one per provider account.

A request naming an account that does not exist, whose provider sends no webhooks, or with the
wrong token is answered 404 and leaves nothing but the account's refusal counter; where the
account requires it (Aloware), a missing or wrong ``Authorization`` header is a 401. Then the
account's rate limit (429), the body limit (413), and the request is stored and answered 200
at once; a body that is not JSON, or not an event's shape, is stored failed and answered 400
so the sender's developer sees it.
"""

from __future__ import annotations

import base64
import binascii
import hmac

from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from bridge.conf import bridge_setting
from bridge.models import ProviderAccount
from bridge.public import Refusal, rate_limit, read_body, refusal_response

from .store import store_event

NOT_FOUND = Refusal(404, "not_found", "There is no webhook receiver at this address.")


def same(given: str, expected: str) -> bool:
    """Whether two secrets are equal, in constant time; an empty expected secret never is."""
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


def count_refusal(account: ProviderAccount) -> None:
    """The only trace a refused request leaves: the account's counter and time. Counted up
    to BRIDGE_WEBHOOK_RATE_PER_MINUTE refusals a minute, so a flood of wrong tokens costs no
    more writes than that."""
    try:
        rate_limit(
            f"hooks:refused:{account.pk}", bridge_setting("BRIDGE_WEBHOOK_RATE_PER_MINUTE", 600)
        )
    except Refusal:
        return
    ProviderAccount.objects.filter(pk=account.pk).update(
        webhook_refused=F("webhook_refused") + 1, webhook_refused_at=timezone.now()
    )


def authorised_account(request: HttpRequest, name: str, token: str) -> ProviderAccount:
    """The account this request may post to; a Refusal (404, or 401 for the header) else."""
    account = ProviderAccount.objects.filter(name=name).first()
    if account is None or not account.receives_webhooks:
        raise NOT_FOUND
    if not same(token, account.webhook_token.reveal()):
        count_refusal(account)
        raise NOT_FOUND
    if account.webhook_auth and not header_authorised(request, account):
        count_refusal(account)
        challenge = "Basic" if account.webhook_auth == "basic" else "Bearer"
        raise Refusal(
            401,
            "unauthorized",
            f"This receiver requires {challenge} authentication.",
            field="Authorization",
            headers={"WWW-Authenticate": f'{challenge} realm="crm-bridge"'},
        )
    return account


def header_authorised(request: HttpRequest, account: ProviderAccount) -> bool:
    """Whether the Authorization header carries the account's webhook credential."""
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    secret = account.webhook_secret.reveal()
    if account.webhook_auth == "bearer":
        return scheme.lower() == "bearer" and same(value.strip(), secret)
    if scheme.lower() != "basic":
        return False
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return False
    user, _, password = decoded.partition(":")
    return same(user, account.name) & same(password, secret)


def rate_per_minute(account: ProviderAccount) -> int:
    """The account's ``webhook_rate_per_minute`` option, else BRIDGE_WEBHOOK_RATE_PER_MINUTE."""
    default = bridge_setting("BRIDGE_WEBHOOK_RATE_PER_MINUTE", 600)
    value = (account.options or {}).get("webhook_rate_per_minute", default)
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


@csrf_exempt
def receive_webhook(request: HttpRequest, account: str, token: str) -> JsonResponse:
    """Store one provider webhook request and answer at once (the view of ``hooks/``)."""
    if request.method != "POST":
        response = refusal_response(Refusal(405, "method_not_allowed", "Use POST."))
        response["Allow"] = "POST"
        return response
    try:
        target = authorised_account(request, account, token)
        rate_limit(f"hooks:{target.pk}", rate_per_minute(target))
        raw = read_body(request, bridge_setting("BRIDGE_WEBHOOK_MAX_BYTES", 1024 * 1024))
    except Refusal as refusal:
        return refusal_response(refusal)
    event, created, malformed = store_event(target, request.META, raw)
    if malformed is not None:
        return refusal_response(Refusal(400, malformed.code, str(malformed)))
    return JsonResponse({"received": True, "id": event.pk, "duplicate": not created})
