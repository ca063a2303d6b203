"""Which intake source a request comes from: its bearer token (or a form's ``token`` field).

Only a token's SHA-256 is stored. The source is looked up by the hash of the presented token,
so the database compares hashes, never the secret, and the found hash is compared again with
``hmac.compare_digest``. An unknown token and a disabled source get the same answer. Failed
attempts are counted per client address, so a caller guessing tokens is slowed to a 429.
"""

from __future__ import annotations

import hmac
import time

from django.http import HttpRequest

from bridge.conf import bridge_setting
from bridge.models import IntakeSource
from bridge.models.intake import hash_token
from bridge.public import Refusal, rate_limit

#: Longer than any token the bridge issues; a longer one is not hashed at all.
MAX_TOKEN = 200


def bearer_token(request: HttpRequest) -> str:
    """The token of an ``Authorization: Bearer <token>`` header, or ""."""
    scheme, _, token = request.META.get("HTTP_AUTHORIZATION", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def client_address(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "") or "unknown"


def authenticate(request: HttpRequest, form_token: str = "") -> tuple[IntakeSource, bool]:
    """The enabled source whose token the request carries, and whether the token came in a
    form's field; or a 401 (429 after many misses).

    A form's ``token`` field counts only for a source that allows it, and only when the
    request has no ``Authorization`` header.
    """
    token = bearer_token(request)
    from_form = not token and bool(form_token)
    source = find_source(token or form_token)
    if source is not None and (source.allow_form_token or not from_form):
        return source, from_form
    rate_limit(
        f"intake-refused:{client_address(request)}",
        bridge_setting("BRIDGE_INTAKE_REFUSED_PER_MINUTE", 30, minimum=1),
    )
    challenge = {"WWW-Authenticate": 'Bearer realm="intake"'}
    if not (token or form_token):
        raise Refusal(
            401,
            "unauthorized",
            "Send the source's token as Authorization: Bearer <token>.",
            headers=challenge,
        )
    raise Refusal(
        401,
        "unauthorized",
        "The token is not valid, or its source is disabled.",
        headers=challenge,
    )


def find_source(token: str) -> IntakeSource | None:
    """The enabled source holding ``token``, or None.

    A source found is kept in this process for :data:`SOURCE_MEMORY_SECONDS`, sparing each
    request a round trip: the write checks that the source still holds as read (enabled, same
    token, not saved since: ``bridge.db.leads``) and, when it does not, the request reads it
    again (:func:`read_again`), so a disabled source or a rotated token takes no lead from
    that moment on.
    """
    if not token or len(token) > MAX_TOKEN:
        return None
    digest = hash_token(token)
    remembered = _sources.get(digest)
    if remembered is not None and remembered[0] > time.monotonic():
        return remembered[1]
    source = IntakeSource.objects.filter(token_hash=digest).first()
    if source is None or not hmac.compare_digest(source.token_hash, digest):
        return None
    if not source.enabled:
        return None
    _remember(digest, source)
    return source


def read_again(source: IntakeSource, from_form: bool) -> IntakeSource:
    """``source`` as it is now, when its token still admits the request; else a 401."""
    _sources.pop(source.token_hash, None)
    fresh = IntakeSource.objects.filter(pk=source.pk, token_hash=source.token_hash).first()
    if fresh is None or not fresh.enabled or (from_form and not fresh.allow_form_token):
        raise Refusal(401, "unauthorized", "The token is not valid, or its source is disabled.")
    _remember(fresh.token_hash, fresh)
    return fresh


#: How long this process uses a source it has read without reading it again.
SOURCE_MEMORY_SECONDS = 10.0
#: Sources remembered by token hash: (until, source). Read-only once stored (threads share it).
_sources: dict[str, tuple[float, IntakeSource]] = {}


def forget_sources() -> None:
    """Read every source from the database again (tests; a shell after bulk changes)."""
    _sources.clear()


def _remember(digest: str, source: IntakeSource) -> None:
    if len(_sources) >= 1000:  # tokens are few; a bound keeps a flood of sources from growing it
        _sources.clear()
    _sources[digest] = (time.monotonic() + SOURCE_MEMORY_SECONDS, source)
