"""Previewing a write: the exact request an operation would send, and nothing written.

The provider builds its request as for a real push — same payload methods, same
authentication, the same redacted copy the delivery records keep — over a session that lets
reads through (a Leeloo push first looks the person up, and what it writes depends on the
answer) and stops the first write before it leaves the machine: the provider's own record of
that request (:class:`integrations.base.CallRecord`, secrets masked) is the preview.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from .base import AccountConfig, Provider
from .errors import ProviderError

#: Methods that only read: the preview lets them through.
READS = frozenset({"GET", "HEAD", "OPTIONS"})


class _Stopped(Exception):
    """Raised by the preview session in place of sending a write (never a requests error, so
    the provider does not take it for a network failure)."""


class _PreviewSession(requests.Session):
    def request(self, method, *args, **kwargs):
        if method.upper() in READS:
            return super().request(method, *args, **kwargs)
        raise _Stopped


@dataclass(frozen=True)
class Preview:
    """What an operation would send: method, URL and the request's parts (redacted); or why
    it would send nothing (``refusal``: the provider's own check, before any call)."""

    method: str = ""
    url: str = ""
    request: dict | None = None
    refusal: str = ""

    @property
    def body(self) -> Any:
        """The JSON body, else the form, else the query parameters (what staff check)."""
        request = self.request or {}
        for part in ("json", "form", "params"):
            if request.get(part) not in (None, {}, []):
                return request[part]
        return None


def preview_operation(
    provider_class: type[Provider],
    account: AccountConfig,
    operation: str,
    record: dict,
    params: dict,
    remote_id: str = "",
) -> Preview:
    """The first write ``operation`` would send for ``record`` to ``account``, unsent (the
    reads before it are made: their answers decide the write)."""
    provider = provider_class(account, session=_PreviewSession())
    try:
        provider.perform(operation, record, params, remote_id)
    except _Stopped:
        call = provider.last_call
        return Preview(method=call.method, url=call.url, request=call.request)
    except ProviderError as refused:
        return Preview(refusal=str(refused))
    return Preview(refusal="This operation would write nothing for this record.")
