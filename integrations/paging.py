"""The stop rules of a ``limit``/``offset`` list, in one place for every reader of pages.

A provider client's own iteration (``LeelooProvider.iter_pages``) and the bridge's sync (which
reads ahead, writes in batches and resumes from a saved offset) walk lists the same way:

- the offset moves by the items received, so a server that caps ``limit`` below the size asked
  (and says so in ``meta.limit``) is still read to the end;
- an empty page, or one shorter than the size asked (or served), ends the list;
- so does reaching the list's count, when the provider reported one (``Page.total``);
- a page that repeats the previous one means the server ignored the offset: the read is refused
  rather than looping forever.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .errors import InvalidResponse


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def refuse_repeat(
    provider: str, path: str, offset: int, keys: Sequence, previous: Sequence | None
) -> None:
    """InvalidResponse when a non-empty page's ``keys`` are the previous page's.

    ``keys`` identify the page's items (the items themselves, or their ids when the reader
    changes the items after reading them).
    """
    if keys and previous is not None and list(keys) == list(previous):
        raise InvalidResponse(
            f"{provider} answered offset {offset} of {path} with the previous page"
        )


def next_offset(page, offset: int, size: int) -> tuple[int, bool]:
    """The offset after ``page`` (read at ``offset``, ``size`` asked), and whether it was the
    last page of the list."""
    received = len(page.items)
    after = offset + received
    served = _int(page.meta.get("limit")) or size
    last = received < min(size, served) or (page.total is not None and after >= page.total)
    return after, last
