"""The errors every provider call can raise, one short hierarchy callers can act on.

The outbox decides what to do by class alone: retry later (:class:`TransientError`), wait as
told (:class:`RateLimitedError`), pause the account (:class:`AuthenticationError`), or give up
and show the provider's reason (:class:`PermanentError`, which a 403 on one operation and a
refused redirect also are). Network failures are also instances of
the ``requests`` exception they came from, so callers can catch either.
"""

from __future__ import annotations

from .secrets import redact_text


class ProviderError(Exception):
    """Root of every error a provider call raises; carries what the provider said."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: str = "",
        provider_message: str = "",
        field_errors: dict | None = None,
        body: str = "",
    ):
        self.status = status
        self.code = code or ""
        self.provider_message = redact_text(provider_message or "")
        self.field_errors = field_errors or {}
        self.body = redact_text(body or "")[:2000]
        super().__init__(redact_text(message))

    @property
    def retryable(self) -> bool:
        return False


class ConfigurationError(ProviderError):
    """The account is missing something it needs (a credential, a campaign id…); names it."""


class PayloadError(ProviderError):
    """A record cannot be sent as it is (e.g. Aéllo needs an email or a phone); names the field."""


class TransientError(ProviderError):
    """5xx, timeouts, connection errors: worth trying again later."""

    @property
    def retryable(self) -> bool:
        return True


class ProviderTimeout(TransientError):
    """The provider did not answer within the read timeout (or the connect timeout)."""


class ProviderUnreachable(TransientError):
    """The connection failed or was dropped before an answer came."""


class RateLimitedError(TransientError):
    """429: the provider asks us to slow down, for ``retry_after`` seconds when it says."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(message, **kwargs)


class AuthenticationError(ProviderError):
    """401 (or a provider's documented "bad token" answer): the credential is wrong or revoked.

    The only error that pauses an account: sending more with the same credential will not help.
    """


class PermanentError(ProviderError):
    """Other 4xx (or a Leeloo ``status: 0``): the request itself is refused; do not retry."""


class ForbiddenError(PermanentError):
    """403: the credential works but may not do *this* (one operation, one record).

    Only the delivery at hand fails, with the provider's reason; the account keeps sending.
    """


class RedirectRefused(PermanentError):
    """A 3xx: provider calls never follow redirects, since the credential would go along.

    The usual cause is a base URL that is not the provider's API (http instead of https, a
    moved host); the message names where the provider pointed, never the credential.
    """


class InvalidResponse(TransientError):
    """A 2xx whose body is not what the document promises (HTML, truncated JSON…)."""
