"""Read a provider's list pages in a child process, beside the process that writes them.

A large sync is CPU-bound in one Python process: reading a page (HTTP, JSON, parsing, checking
every phone number) competes for the interpreter with writing the previous one. Read in a
child process, the pages are ready on another core while the writer works (bridge.sync's
``PageReader`` decides when). Nothing here touches the database or Django: the child gets the
provider class, the account's plain configuration and the list's arguments, keeps one client
per account, and waits its slot's interval between requests, as the parent's pacer would.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from importlib import import_module

from .base import AccountConfig
from .errors import ProviderError
from .secrets import RedactingFilter

#: One client (and the time its next request may go) per account, in the child process.
_clients: dict[tuple[str, str], list] = {}


@dataclass(frozen=True)
class ListJob:
    """What the child needs to read one list: who, where, and at what pace."""

    provider: str  # "integrations.leeloo.LeelooProvider"
    config: AccountConfig
    interval: float  # seconds between two requests of this slot
    path: str
    params: object
    size: int
    parse: object  # a picklable callable (a module-level function or a functools.partial)
    log_level: int = logging.INFO  # the parent's level for the provider-call lines


def read_page(job: ListJob, offset: int):
    """In the child: wait for the slot's turn, then read and parse the page at ``offset``."""
    key = (job.provider, job.config.name)
    if not _clients:
        _log_like_the_parent(job.log_level)
    if key not in _clients:
        module, name = job.provider.rsplit(".", 1)
        _clients[key] = [getattr(import_module(module), name)(job.config), 0.0]
    entry = _clients[key]
    client, next_at = entry
    delay = next_at - time.monotonic()
    if delay > 0:
        time.sleep(delay)
    entry[1] = max(next_at, time.monotonic() - job.interval) + job.interval
    try:
        return client.list_page(
            job.path, job.params, limit=job.size, offset=offset, parse=job.parse
        )
    except ProviderError as error:
        raise portable(error) from None


def _log_like_the_parent(level: int) -> None:
    """The child's provider-call lines go to its stderr (the worker's), redacted, as the
    parent's would; the child has no Django settings to configure logging from."""
    handler = logging.StreamHandler()
    handler.addFilter(RedactingFilter())
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logger = logging.getLogger("integrations")
    logger.addHandler(handler)
    logger.setLevel(level)


def portable(error: ProviderError) -> ProviderError:
    """The error as an instance of its integrations class, so it crosses a process boundary.

    Network failures are also instances of the requests exception they came from (a class made
    on the fly, which pickle cannot name); the parent gets the integrations class they belong
    to, with the same message and attributes.
    """
    cls = next(c for c in type(error).__mro__ if c.__module__ == ProviderError.__module__)
    if cls is type(error):
        return error
    copy = cls.__new__(cls)
    copy.__dict__.update(error.__dict__)
    copy.args = error.args
    return copy
