"""What a provider declares so the bridge can mirror its records: one :class:`SyncedResource`
per resource, in ``Provider.syncs``.

The bridge's sync (``bridge/sync/``) knows no provider by name. It reads how to list a
resource, how to ask for a window of it, how to parse an item and how to read one record's
detail from the account's provider's declaration, and keeps for itself only the *storing*
side (which mirror model, the upsert rules), keyed by the resource's name.

A declaration is plain data: paths, parsers (module-level functions, so a read-ahead child
process can be given them) and the *names* of client methods, which the sync looks up on the
account's client (:func:`client_method`). Nothing here imports Django or the bridge.

The client contract a syncing provider fulfils:

- a paged resource (``path`` set) is read with ``client.list_page(path, params, limit=…,
  offset=…, parse=…)``, which answers a page with ``items`` (parsed), ``meta`` (the provider's
  paging metadata; ``meta["limit"]`` when the server caps the page size), ``total`` (the count
  the provider reported, or None) and ``listed_total`` (the count shown to staff); the pages
  are walked with ``integrations.paging``'s stop rules. :class:`ListPage` is such a page;
- an unpaged resource (``list_all`` set) is read with one call of that method, answering the
  parsed records;
- every record is a plain dict with a ``remote_id``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

#: Keyword arguments the bridge can hand a parser (``SyncedResource.parse_options``), by name:
#: "region" is the default phone region for numbers written without a country code.
PARSE_OPTIONS = ("region",)


@dataclass(frozen=True)
class SyncedResource:
    """One resource a provider's accounts sync: how the bridge reads it.

    Either ``path`` (a ``limit``/``offset`` list) or ``list_all`` (one call answering every
    record) says how the list is read. The rest is optional:

    - ``window``: a client method name (or a callable) ``(since, until) -> params`` for a list
      read incrementally; such a resource's runs read from the cursor minus the look-back (or,
      on a full run, from ``everyone_since``) to the run's start. Without it the list is read
      whole each time.
    - ``detail``: a client method name reading one record's detail by remote id (a person's
      card, an order's description), read only when the account's state asks for details.
    - ``readers``: further named client methods the resource's storing side asks for by role
      (e.g. ``{"stats": "tunnel_stats"}``); the sync names the role, the provider the method.
    """

    #: The mirror resource it fills ("people", "tags", "orders"…): a ``SyncState`` resource.
    name: str
    #: The paged list's path, read with ``integrations.paging``'s stop rules; None if unpaged.
    path: str | None = None
    #: Wire item -> plain record dict with ``remote_id`` (a module-level function).
    parse: Callable[..., dict] | None = None
    #: Keyword arguments of ``parse`` the bridge supplies, from :data:`PARSE_OPTIONS`.
    parse_options: tuple[str, ...] = ()
    #: The client method answering every record at once, for an unpaged list.
    list_all: str = ""
    #: ``(since, until) -> query params`` of an incremental read (a client method's name or a
    #: callable); None: the list is read whole every time.
    window: str | Callable[[datetime, datetime], Any] | None = None
    #: Where a full windowed run starts: the earliest moment the provider accepts.
    everyone_since: datetime | None = None
    #: The record field the window filters on, whose latest value the cursor stands for.
    cursor_field: str = ""
    #: The client method reading one record's detail by its remote id ("" when there is none).
    detail: str = ""
    #: Role -> client method name, for the further reads a resource's storing side makes.
    readers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self):
        if (self.path is None) == (not self.list_all):
            raise ValueError(
                f"Synced resource '{self.name}': give exactly one of path (a paged list) or "
                "list_all (a client method answering every record)."
            )
        if self.path is not None and self.parse is None:
            raise ValueError(f"Synced resource '{self.name}': a paged list needs parse.")
        if self.window is not None and (self.everyone_since is None or not self.cursor_field):
            raise ValueError(
                f"Synced resource '{self.name}': a windowed list needs everyone_since and "
                "cursor_field."
            )
        unknown = set(self.parse_options) - set(PARSE_OPTIONS)
        if unknown:
            raise ValueError(
                f"Synced resource '{self.name}': parse_options {sorted(unknown)} are not among "
                f"{', '.join(PARSE_OPTIONS)}."
            )

    @property
    def windowed(self) -> bool:
        """Whether runs read it incrementally, from the cursor."""
        return self.window is not None

    def window_params(self, client: Any, since: datetime, until: datetime) -> Any:
        """The query params of the window ``[since, until]`` (None when not windowed)."""
        if self.window is None:
            return None
        window = client_method(client, self.window) if isinstance(self.window, str) else self.window
        return window(since, until)

    def reader(self, client: Any, role: str) -> Callable:
        """The client method declared for ``role`` in :attr:`readers`."""
        try:
            return client_method(client, self.readers[role])
        except KeyError:
            raise LookupError(
                f"{getattr(client, 'name', type(client).__name__)} declares no '{role}' reader "
                f"for its {self.name} (SyncedResource.readers)."
            ) from None


def client_method(client: Any, name: str) -> Callable:
    """``client.<name>``, or a LookupError naming the provider and the missing method."""
    method = getattr(client, name, None)
    if not callable(method):
        raise LookupError(
            f"{getattr(client, 'name', type(client).__name__)} has no method '{name}' "
            "(named in its SyncedResource declarations)."
        )
    return method


@dataclass
class ListPage:
    """One page of a paged list, as the sync reads it (a provider may answer its own class).

    ``total`` is the list's count the provider reported (None when it reports none): a stop
    rule of ``integrations.paging``; ``listed_total`` is what staff are shown.
    """

    items: list
    meta: dict = field(default_factory=dict)
    offset: int = 0
    limit: int = 0
    total: int | None = None

    @property
    def listed_total(self) -> int | None:
        return self.total
