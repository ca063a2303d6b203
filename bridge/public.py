"""What every public endpoint (the intake API, the webhook receivers) shares.

A public endpoint answers callers the bridge does not log in: web forms, lead sources and the
providers' webhooks. Each one reads its body through :func:`read_body` (a size limit checked
before anything is buffered), counts the caller through :func:`rate_limit`, and answers every
refusal as JSON ``{"error", "code", "field"}`` (:class:`Refusal`, :func:`refusal_response`),
so a caller's developer reads what was wrong and where.

Rate limits count in Django's cache: the Redis cache when ``REDIS_URL`` is set (shared by every
web process), else each process's memory (the demo and a single-process server).
"""

from __future__ import annotations

import logging
import math
import time

from django.core.cache import cache
from django.http import HttpRequest, JsonResponse

logger = logging.getLogger(__name__)


def _cache_errors() -> tuple[type[BaseException], ...]:
    """The errors of a cache that is away: the Redis client's, and the socket's own."""
    try:
        from redis.exceptions import RedisError
    except ImportError:  # pragma: no cover - redis is a dependency; kept for a trimmed install
        return (OSError,)
    return (RedisError, OSError)


#: A rate limit that cannot count lets the request through (it fails open): a Redis restart
#: must not turn away the leads and provider events it exists to protect the database for.
CACHE_AWAY = _cache_errors()
#: At most one warning a minute while the cache is away, not one per request.
_last_warning = {"at": float("-inf")}


class Refusal(Exception):
    """A request refused with ``status``; ``code`` is stable, ``error`` is for a person.

    ``field`` names the input at fault (``contact.email``), empty when the whole request is.
    """

    def __init__(
        self, status: int, code: str, error: str, field: str = "", headers: dict | None = None
    ):
        super().__init__(error)
        self.status, self.code, self.error, self.field = status, code, error, field
        self.headers: dict[str, str] = headers or {}

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.status} {self.code}: {self.error}{where}"


def refusal_response(refusal: Refusal) -> JsonResponse:
    """The JSON answer for a refusal, with its headers (``Retry-After`` on a 429)."""
    body = {"error": refusal.error, "code": refusal.code, "field": refusal.field or None}
    response = JsonResponse(body, status=refusal.status)
    for name, value in refusal.headers.items():
        response[name] = value
    return response


def read_body(request: HttpRequest, limit: int) -> bytes:
    """The request's body, refused with 413 when it is over ``limit`` bytes.

    A declared ``Content-Length`` over the limit is refused before reading (Django's WSGI
    request never reads past the declared length); the stream is read at most one byte past
    the limit. Reading the stream here, not ``request.body``, keeps Django's own upload limit
    (``DATA_UPLOAD_MAX_MEMORY_SIZE``) out of the answer.
    """
    declared = request.META.get("CONTENT_LENGTH") or "0"
    try:
        declared_length = int(declared)
    except ValueError:
        raise Refusal(400, "bad_length", f"Content-Length {declared!r} is not a number.") from None
    if declared_length > limit:
        raise _too_large(limit)
    body = request.read(limit + 1)
    if len(body) > limit:
        raise _too_large(limit)
    return body


def _too_large(limit: int) -> Refusal:
    return Refusal(413, "too_large", f"The body is over the limit of {limit // 1024} KB.")


def rate_limit(key: str, per_minute: int, *, now: float | None = None) -> None:
    """Count one request for ``key``; refuse with 429 and ``Retry-After`` past ``per_minute``.

    A fixed one-minute window per key: simple, cheap (two cache calls) and enough to keep a
    misbehaving form or provider from filling the database. ``per_minute`` of 0 or less means
    no limit. While the cache is away (Redis restarting) requests are let through, uncounted.
    """
    if per_minute <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // 60)
    try:
        count = _count(f"bridge:rate:{key}:{window}")
    except CACHE_AWAY as exc:
        _warn_cache_away(exc, now)
        return
    if count > per_minute:
        retry_after = max(1, math.ceil((window + 1) * 60 - now))
        raise Refusal(
            429,
            "rate_limited",
            f"More than {per_minute} requests a minute; try again in {retry_after} s.",
            headers={"Retry-After": str(retry_after)},
        )


def _count(counter: str) -> int:
    """Count one request in the window's counter (two cache calls); its new count."""
    cache.add(counter, 0, timeout=120)
    try:
        return cache.incr(counter)
    except ValueError:  # evicted between add and incr: this request opens the window again
        cache.set(counter, 1, timeout=120)
        return 1


def _warn_cache_away(exc: BaseException, now: float) -> None:
    """Log that rate limits are not counted (the cache is away), once a minute at most."""
    if now - _last_warning["at"] >= 60:
        _last_warning["at"] = now
        logger.warning("rate limits are not counted while the cache is away: %s", exc)
