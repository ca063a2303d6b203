"""Testing an account's connection: one harmless authenticated call, or what can be checked.

A provider with a read-only call declares it as its ``connection_probe`` (Leeloo lists one
user; Aiployees lists one lead); testing makes that call with the account's credential and
says what came back, or the error as the provider gave it. A provider whose API has only
writes (Aéllo, Aloware: each call creates a lead) is never sent one to test it; instead the
test checks what it can without writing — a credential is set, and the account's host
accepts a connection — and says that the credential itself is first used by a push.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from .base import Provider
from .errors import ProviderError, ProviderUnreachable


@dataclass(frozen=True)
class Probe:
    """A provider's harmless authenticated call: GET ``path`` with ``params``; ``what`` says
    in a few words what it reads ("lists one user")."""

    path: str
    params: dict
    what: str


@dataclass(frozen=True)
class ConnectionResult:
    """``ok`` True (the provider answered the call), False (it failed: ``summary`` says how),
    or None (nothing authenticated to call: ``summary`` says what was checked)."""

    ok: bool | None
    summary: str
    elapsed_ms: float = 0.0


def test_connection(provider: Provider) -> ConnectionResult:
    """Test ``provider``'s account the harmless way its API allows (see the module's doc)."""
    started = time.perf_counter()
    probe: Probe | None = getattr(type(provider), "connection_probe", None)
    try:
        if probe is None:
            summary = _check_without_calling(provider)
            return ConnectionResult(None, summary, _since(started))
        provider.request("GET", probe.path, params=dict(probe.params))
    except ProviderError as exc:
        return ConnectionResult(False, _failure(provider, exc), _since(started))
    elapsed = _since(started)
    summary = (
        f"Connected: {provider.name} answered GET {probe.path} ({probe.what}) "
        f"with this account's credential in {elapsed:.0f} ms."
    )
    return ConnectionResult(True, summary, elapsed)


def _check_without_calling(provider: Provider) -> str:
    """A credential is set and the host accepts a TCP connection; raises ProviderError."""
    provider.require_credential()
    parts = urlsplit(provider.base_url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname, port), provider.account.connect_timeout):
            pass
    except OSError as exc:
        where = f"{parts.hostname}:{port}"
        raise ProviderUnreachable(f"{where} did not accept a connection ({exc})") from exc
    return (
        f"{provider.name}'s API has no read-only call, so nothing was sent: a credential is "
        f"set and {parts.hostname}:{port} accepts connections. The credential itself is "
        "first used by a push (its delivery shows the provider's answer)."
    )


def _failure(provider: Provider, exc: ProviderError) -> str:
    """The provider's error in one line: status and code when it answered, else the cause."""
    if exc.status:
        detail = " ".join(p for p in (exc.code, exc.provider_message or str(exc)) if p)
        return f"{provider.name} answered HTTP {exc.status}: {detail}"
    return f"Could not test {provider.name}: {exc}"


def _since(started: float) -> float:
    return (time.perf_counter() - started) * 1000
