"""The shared core every provider module stands on: session, auth, errors, redaction, logging.

A provider module subclasses :class:`Provider` and says only what differs: its id and name,
its documented base URLs, how it authenticates (:meth:`Provider.authenticate`), how it reads
an error body (:meth:`Provider.parse_error`) and, with small named functions, how records become
its payloads. All outbound HTTP goes through :meth:`Provider.request`, the one place that
times out, maps responses to :mod:`integrations.errors`, redacts and logs.

Provider modules receive and return plain data (dicts); they know nothing of Django models,
the outbox or the admin.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, cached_property
from typing import Any, ClassVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from .errors import (
    AuthenticationError,
    ConfigurationError,
    ForbiddenError,
    InvalidResponse,
    PermanentError,
    ProviderError,
    ProviderTimeout,
    ProviderUnreachable,
    RateLimitedError,
    RedirectRefused,
    TransientError,
)
from .events import EventReader
from .mapping import FieldMap, MappingSpec, checked_field_map
from .secrets import Secret, redact, redact_text
from .syncing import SyncedResource

logger = logging.getLogger("integrations")

DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_READ_TIMEOUT = 30.0


@dataclass(frozen=True)
class AccountConfig:
    """What a provider needs to talk to one account: plain data, no Django model."""

    name: str
    provider: str
    credential: Secret
    base_url: str = ""
    environment: str = "production"
    options: dict = field(default_factory=dict)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    pool_size: int = 10
    #: The account's field mapping (:mod:`integrations.mapping`); empty: the defaults.
    field_map: FieldMap = field(default_factory=FieldMap)


@dataclass(frozen=True)
class EnvVars:
    """The environment variables that configure a provider's default account.

    Plain data beside the provider class: ``bridge/settings.py`` reads the variables it names
    (before Django's apps are loaded) and ``bridge/env_accounts.py`` turns their values into
    the account named after the provider. An option's parser is named, not imported
    ("positive_integer"; ``bridge/env_accounts.py`` holds the parsers), so this stays data.
    """

    #: The credential; without it the provider gets no account from the environment.
    credential: str
    #: An override of the documented base URL (blank: :attr:`Provider.base_urls`).
    base_url: str
    #: The environment ("production" or "sandbox"), for providers that have both.
    environment: str = ""
    #: Account option -> (variable, parser name), e.g. ``{"campaign_id": ("X_CAMPAIGN_ID",
    #: "positive_integer")}``.
    options: dict[str, tuple[str, str]] = field(default_factory=dict)

    def names(self) -> tuple[str, ...]:
        """Every variable named here: the credential, environment, base URL, then options."""
        named = (self.credential, self.environment, self.base_url)
        return tuple(filter(None, named)) + tuple(variable for variable, _ in self.options.values())


@dataclass
class ApiResponse:
    """A successful answer: status, decoded body (None when empty) and the headers."""

    status: int
    data: Any
    headers: dict
    elapsed_ms: float


@dataclass(frozen=True)
class Option:
    """One option staff may set for an operation (the admin builds its form from these)."""

    name: str
    label: str
    kind: str = "text"  # text | int | bool | choice | list
    help: str = ""
    choices: tuple[tuple[str, str], ...] = ()
    required: bool = False
    #: Account option used when staff leave it blank (ProviderAccount.options[name]).
    account_default: bool = True


@dataclass(frozen=True)
class Operation:
    """A write the outbox can perform: its method, the record kinds it takes, its options."""

    name: str
    method: str
    label: str = ""
    kinds: tuple[str, ...] = ()
    options: tuple[Option, ...] = ()
    #: True when the result's remote id *is* the record at the provider (a created person or
    #: order), so the outbox links the record to it; False for side effects (a tag, a call).
    links_record: bool = False


@dataclass
class PushResult:
    """What a write operation achieved at the provider, as plain data for the outbox."""

    remote_id: str = ""
    #: True when the provider created a record, False when it updated one, None when unknown.
    created: bool | None = None
    #: The provider's own word for the outcome ("accepted", "created", "updated"…).
    status: str = ""
    data: Any = None


@dataclass
class CallRecord:
    """A redacted copy of one exchange, for delivery records and the logs.

    The answer is kept as the bytes that arrived, and decoded and redacted only when
    :attr:`response` is first read: a sync reads thousands of pages whose record nobody looks
    at, and redacting a page of a hundred people was a large part of reading it
    (docs/benchmarks.md, "Sync").
    """

    method: str
    url: str
    request: dict
    status: int | None = None
    elapsed_ms: float = 0.0
    body: bytes = field(default=b"", repr=False)
    encoding: str | None = field(default=None, repr=False)

    @cached_property
    def response(self) -> Any:
        """The answer's body, decoded as :func:`decode_body` does, with secrets masked."""
        return redact(_decode(self.body, self.encoding))

    def as_dict(self) -> dict:
        return {
            "method": self.method,
            "url": self.url,
            "request": self.request,
            "status": self.status,
            "response": self.response,
            "elapsed_ms": round(self.elapsed_ms, 1),
        }


#: The longest wait (seconds) a ``Retry-After`` may ask for: an hour unless the bridge's
#: BRIDGE_RETRY_AFTER_CAP_SECONDS says otherwise (set at start-up, ``bridge.apps``).
RETRY_AFTER_CAP_SECONDS = 3600.0


def parse_retry_after(value: str | None, cap: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta seconds or an HTTP date).

    The header is the provider's word, never trusted as is: the wait is at most ``cap``
    (default :data:`RETRY_AFTER_CAP_SECONDS`), so ``inf``, ``1e400`` or a date in the year 9999
    are cut to it, and a negative value or a past date is 0; no caller's clock arithmetic can
    overflow. None when there is no header or it is not a number or a date (``NaN``, text).
    """
    if not value:
        return None
    cap = RETRY_AFTER_CAP_SECONDS if cap is None else cap
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, OverflowError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(0.0, seconds), cap)


def decode_body(response: requests.Response) -> Any:
    """JSON body as Python data, ``None`` when empty, the raw text when it is not JSON."""
    return _decode(response.content, response.encoding)


def _decode(content: bytes, encoding: str | None) -> Any:
    """JSON (which names its own UTF encoding) straight from the bytes; else text."""
    if not content.strip():
        return None
    try:
        return json.loads(content)
    except ValueError:
        return content.decode(encoding or "utf-8", "replace")


class Provider:
    """Base of every provider module. Subclasses set the class attributes and a few hooks."""

    id: ClassVar[str] = ""
    name: ClassVar[str] = ""
    #: Documented base URLs by environment ("production", and "sandbox" where there is one).
    #: Their hosts are the provider's documented hosts (:meth:`documented_hosts`): the only
    #: ones a staff user who is not a superuser may point an account at.
    base_urls: ClassVar[dict[str, str]] = {}
    #: Option names this provider reads from an account's options, with help for the admin.
    account_options: ClassVar[dict[str, str]] = {}
    #: The environment variables of its default account (``.env.example`` lists each).
    env: ClassVar[EnvVars | None] = None
    #: Which record kinds the outbox can push to this provider ("lead", "contact", …).
    pushes: ClassVar[tuple[str, ...]] = ()
    #: The resources the bridge pulls from this provider's accounts, each declared with how it
    #: is read (:class:`integrations.syncing.SyncedResource`); empty for a push-only provider.
    #: The sync schedules, states and "Sync now" follow it.
    syncs: ClassVar[tuple[SyncedResource, ...]] = ()
    #: How this provider's webhook bodies read (:mod:`integrations.events`); None for a
    #: provider that sends the bridge nothing (no receiver URL is offered for its accounts).
    events: ClassVar[EventReader | None] = None
    #: Write operations the outbox may ask for: operation name -> method name (or an
    #: :class:`Operation` with its label, kinds and options). Each method takes
    #: ``(record: dict, params: dict, remote_id: str)`` and returns a PushResult.
    operations: ClassVar[dict[str, str | Operation]] = {}
    #: Options staff can set when pushing ("push" operation) to this provider.
    push_options: ClassVar[tuple[Option, ...]] = ()
    #: Contact fields a record needs to be sent: every group needs one of its fields filled
    #: (e.g. ``(("email", "phone"),)`` = an email or a phone). Checked before enqueueing.
    contact_requirements: ClassVar[tuple[tuple[str, ...], ...]] = ()
    #: What an account may map local fields to (:mod:`integrations.mapping`); none by default.
    field_mapping: ClassVar[MappingSpec] = MappingSpec()
    #: Dotted path of this provider's local fake (integrations/fakes/), for demos and tests.
    fake: ClassVar[str] = ""
    #: A harmless authenticated read that tests an account's connection
    #: (:class:`integrations.connection.Probe`); None when the API has only writes.
    connection_probe: ClassVar[Any] = None
    #: Send ``form=`` bodies as multipart/form-data (what API documents call "form-data")
    #: rather than application/x-www-form-urlencoded.
    multipart_forms: ClassVar[bool] = False

    def __init__(self, account: AccountConfig, session: requests.Session | None = None):
        self.account = account
        self.session = session or self._new_session(account.pool_size)
        if session is None:
            # Not self.base_url: a client without a URL is refused when it sends, not here.
            url = account.base_url or self.default_base_url(account.environment)
            _read_environment_once(self.session, url)
        self._local = threading.local()

    @property
    def last_call(self) -> CallRecord | None:
        """The redacted record of this thread's latest call (one client serves many threads)."""
        return getattr(self._local, "last_call", None)

    @last_call.setter
    def last_call(self, record: CallRecord | None) -> None:
        self._local.last_call = record

    # --- hooks a provider overrides -----------------------------------------------------

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        """Put the credential where this provider wants it (header, body…). Mutates in place."""
        raise NotImplementedError

    def parse_error(self, status: int, body: Any) -> tuple[str, str, dict]:
        """(code, message, field errors) from an error body; the default reads common shapes."""
        if isinstance(body, dict):
            message = str(body.get("error") or body.get("message") or "")
            return str(body.get("code") or ""), message, body.get("errors") or {}
        return "", (str(body)[:300] if body else ""), {}

    def check_success(self, response: ApiResponse) -> None:
        """Raise when a 2xx answer still means failure (Leeloo's ``status: 0``)."""

    def list_page(
        self,
        path: str,
        params: Any = None,
        *,
        limit: int = 20,
        offset: int = 0,
        parse: Callable[[dict], Any] | None = None,
    ) -> Any:
        """One page of a paged list a synced resource declares (``integrations.syncing``).

        A syncing provider with a paged resource answers a page with ``items``, ``meta``,
        ``total`` and ``listed_total`` (e.g. :class:`integrations.syncing.ListPage`).
        """
        raise NotImplementedError(f"{self.name} reads no paged list (Provider.list_page).")

    # --- what it syncs ------------------------------------------------------------------

    @classmethod
    def synced_resource(cls, name: str) -> SyncedResource:
        """The declaration of the resource ``name`` in :attr:`syncs`; a KeyError naming the
        resources it does declare otherwise."""
        for resource in cls.syncs:
            if resource.name == name:
                return resource
        declared = ", ".join(resource.name for resource in cls.syncs) or "none"
        raise KeyError(f"{cls.name} does not sync '{name}' (it syncs: {declared})")

    @classmethod
    def synced_names(cls) -> tuple[str, ...]:
        """The names of the resources it syncs, in the order declared."""
        return tuple(resource.name for resource in cls.syncs)

    # --- shared machinery --------------------------------------------------------------

    @classmethod
    def operation_specs(cls) -> dict[str, Operation]:
        """Every operation as an :class:`Operation` (plain method names filled in).

        Worked out once per class (the outbox asks twice per delivery); each caller gets its
        own dict. A class's operations are declared in its body, never changed at run time.
        """
        return dict(_operation_specs(cls))

    def perform(
        self, operation: str, record: dict, params: dict, remote_id: str = ""
    ) -> PushResult:
        """Run one write operation by name: the single entry point the outbox calls."""
        spec = self.operation_specs().get(operation)
        if spec is None:
            raise ConfigurationError(
                f"{self.name} has no operation '{operation}' "
                f"(it has: {', '.join(self.operations) or 'none'})."
            )
        return getattr(self, spec.method)(record, params or {}, remote_id or "")

    @classmethod
    def default_base_url(cls, environment: str = "production") -> str:
        """The documented URL of ``environment``; "" when the provider documents none.

        There is no fallback from "sandbox" to production: a sandbox account of a provider
        without a documented sandbox host must name its own base URL (the model refuses it
        otherwise), so test data never reaches a live account by accident.
        """
        return cls.base_urls.get(environment, "")

    @classmethod
    def documented_hosts(cls) -> frozenset[str]:
        """The host names of the documented base URLs (every environment's)."""
        return frozenset(host for url in cls.base_urls.values() if (host := urlsplit(url).hostname))

    @property
    def base_url(self) -> str:
        url = self.account.base_url or self.default_base_url(self.account.environment)
        if not url:
            raise ConfigurationError(
                f"Account '{self.account.name}': {self.name} documents no "
                f"{self.account.environment} URL; set the account's base URL."
            )
        return url.rstrip("/")

    def option(self, name: str, default: Any = None) -> Any:
        """An account option, ``default`` when unset or blank."""
        value = self.account.options.get(name)
        return default if value in (None, "") else value

    def checked_field_map(self) -> FieldMap:
        """The account's field mapping, its rows checked against :attr:`field_mapping`."""
        return checked_field_map(self.account, self.name, self.field_mapping)

    def require_credential(self) -> str:
        if not self.account.credential:
            raise ConfigurationError(
                f"Account '{self.account.name}' has no credential: set it in the admin "
                f"(Provider accounts) or in the environment."
            )
        return self.account.credential.reveal()

    @staticmethod
    def _new_session(pool_size: int) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        return session

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        form: dict | None = None,
        params: dict | list | None = None,
    ) -> ApiResponse:
        """Send one call; return the decoded answer or raise a :class:`ProviderError`."""
        headers = {"Accept": "application/json"}
        params = dict(params) if isinstance(params, dict) else params
        auth_params: dict = {}
        if json_body is not None and isinstance(json_body, dict):
            json_body = dict(json_body)
        self.authenticate(headers, json_body if json_body is not None else form, auth_params)
        if auth_params:
            params = (
                {**(params or {}), **auth_params}
                if not isinstance(params, list)
                else [
                    *params,
                    *auth_params.items(),
                ]
            )
        url = self.base_url + path
        record = CallRecord(
            method=method,
            url=url,
            request=redact({"params": params, "json": json_body, "form": form}),
        )
        self.last_call = record
        started = time.monotonic()
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                json=json_body,
                data=None if self.multipart_forms else form,
                files=_multipart(form) if self.multipart_forms and form else None,
                params=params,
                timeout=(self.account.connect_timeout, self.account.read_timeout),
                # Never: a redirect would carry the credential (a header, or the JSON body for
                # 307/308) to wherever the answer points. A 3xx is a RedirectRefused below.
                allow_redirects=False,
            )
        except requests.Timeout as exc:
            record.elapsed_ms = (time.monotonic() - started) * 1000
            self._log(record, "timeout")
            raise _network_error(
                ProviderTimeout, exc, f"{self.name} did not answer in time"
            ) from exc
        except requests.RequestException as exc:
            record.elapsed_ms = (time.monotonic() - started) * 1000
            self._log(record, "unreachable")
            raise _network_error(
                ProviderUnreachable, exc, f"{self.name} could not be reached"
            ) from exc
        record.elapsed_ms = (time.monotonic() - started) * 1000
        record.status = response.status_code
        body = decode_body(response)
        record.body, record.encoding = response.content, response.encoding
        self._log(record, "ok" if response.ok else "error")
        if response.is_redirect or 300 <= response.status_code < 400:
            raise self.redirect_refused(response)
        if not response.ok:
            raise self.error_for(response, body)
        if isinstance(body, str):
            raise InvalidResponse(
                f"{self.name} answered {response.status_code} with a body that is not JSON",
                status=response.status_code,
                body=body,
            )
        result = ApiResponse(response.status_code, body, dict(response.headers), record.elapsed_ms)
        self.check_success(result)
        return result

    def redirect_refused(self, response: requests.Response) -> RedirectRefused:
        """The error for a 3xx: where it pointed (scheme and host only), and what to check."""
        target = urlsplit(response.headers.get("Location", ""))
        port = f":{target.port}" if target.port else ""
        where = f"{target.scheme}://{target.hostname}{port}" if target.hostname else "elsewhere"
        return RedirectRefused(
            f"{self.name} answered {response.status_code} redirecting to {where}; provider "
            "calls do not follow redirects (the credential would go along). Check the "
            "account's base URL.",
            status=response.status_code,
            code="redirect",
        )

    def error_for(self, response: requests.Response, body: Any) -> ProviderError:
        """The error class for a non-2xx answer, carrying the provider's code and message."""
        status = response.status_code
        code, message, field_errors = self.parse_error(status, body)
        summary = f"{self.name} answered {status}" + (f": {message}" if message else "")
        if code:
            summary += f" [{code}]"
        kwargs = dict(
            status=status,
            code=code,
            provider_message=message,
            field_errors=field_errors,
            body=body if isinstance(body, str) else json.dumps(body) if body else "",
        )
        if status == 429:
            return RateLimitedError(
                summary,
                retry_after=parse_retry_after(response.headers.get("Retry-After")),
                **kwargs,
            )
        if status == 401:
            return AuthenticationError(summary, **kwargs)
        if status == 403:
            return ForbiddenError(summary, **kwargs)
        if status >= 500 or status in (408, 425):
            return TransientError(summary, **kwargs)
        return PermanentError(summary, **kwargs)

    def _log(self, record: CallRecord, outcome: str) -> None:
        if not logger.isEnabledFor(logging.INFO):
            return  # the redacted path is not worth computing for a line nobody keeps
        logger.info(
            "provider call account=%s provider=%s method=%s path=%s status=%s outcome=%s "
            "duration_ms=%.1f",
            self.account.name,
            self.id,
            record.method,
            redact_text(record.url[len(self.base_url) :] or "/"),
            record.status if record.status is not None else "-",
            outcome,
            record.elapsed_ms,
        )


@cache
def _operation_specs(provider: type[Provider]) -> dict[str, Operation]:
    """``provider``'s operations as :class:`Operation` objects (see ``operation_specs``)."""
    specs = {}
    for name, spec in provider.operations.items():
        if isinstance(spec, str):
            spec = Operation(
                name=name,
                method=spec,
                label="Push" if name == "push" else name.replace("_", " ").capitalize(),
                kinds=provider.pushes,
                options=provider.push_options if name == "push" else (),
                links_record=name == "push",
            )
        specs[name] = spec
    return specs


def _read_environment_once(session: requests.Session, url: str) -> None:
    """Settle what requests reads from the environment for ``url`` once, not on every call.

    With ``trust_env`` requests looks up the proxy variables, the CA bundle variables and
    ``~/.netrc`` on each request (a good share of a push's CPU in the outbox's profile:
    docs/benchmarks.md, "Push throughput"). A client
    talks to one base URL, so the answer is the same every time: read it now, keep it on the
    session and stop asking.
    """
    settings = session.merge_environment_settings(url, {}, None, None, None)
    session.proxies.update(settings["proxies"])
    session.verify = settings["verify"]
    if settings["cert"] is not None:
        session.cert = settings["cert"]
    if session.auth is None:
        session.auth = requests.utils.get_netrc_auth(url)
    session.trust_env = False


def _multipart(form: dict) -> list[tuple[str, tuple[None, str]]]:
    """A form as requests' ``files`` parts without file names (plain multipart fields)."""
    return [
        (name, (None, str(value)))
        for name, values in form.items()
        for value in (values if isinstance(values, list | tuple) else [values])
    ]


def _network_error(cls: type[ProviderError], exc: Exception, message: str) -> ProviderError:
    """Re-raise a requests failure as our class *and* its original type, like anymail does."""
    combined = type(cls.__name__, (cls, type(exc)), {})
    error = combined.__new__(combined)
    ProviderError.__init__(error, f"{message}: {type(exc).__name__}")
    error.args = (str(error),)
    return error
