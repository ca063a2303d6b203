"""A short, stable digest of chosen fields of a parsed record, worked out as a page is parsed.

Plain Python, no Django: it runs where the page is parsed — a read-ahead child process
(``integrations.readahead``) as well as the syncing process. The sync says which fields it
compares (``bridge.sync.fingerprints``) and keeps the digest of what it last applied, so a
record whose digest has not changed need not be compared again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

#: The record's key the digest is stored under.
KEY = "fingerprint"


def fingerprint(
    record: dict, fields: tuple[str, ...], as_sets: tuple[str, ...] = (), version: str = ""
) -> str:
    """24 hex digits of the ``fields`` (in order) and the ``as_sets`` (order ignored); a new
    ``version`` changes every digest."""
    listed = [version, *(record.get(name) for name in fields)]
    listed += [sorted(record.get(name) or ()) for name in as_sets]
    return hashlib.blake2b(repr(listed).encode(), digest_size=12).hexdigest()


def with_fingerprint(
    parse: Callable | None,
    fields: tuple[str, ...],
    as_sets: tuple[str, ...],
    version: str,
    item: dict,
) -> dict:
    """``parse(item)`` (or the item itself) with its :func:`fingerprint` under :data:`KEY`.

    Given as ``functools.partial(with_fingerprint, parse, fields, as_sets, version)``:
    picklable for a read-ahead child when ``parse`` is.
    """
    record = parse(item) if parse is not None else item
    record[KEY] = fingerprint(record, fields, as_sets, version)
    return record
