"""The custom fields a people pull saw, with their types, into the account's RemoteField rows.

A person's card lists its custom fields as ``{name: type}`` (``custom_field_types`` of a
parsed person); the account's pushes convert a value to the type its field had here, and the
account page offers these names as mapping targets. Only a field that is new, or seen with
another type, is written: a run reads the account's known types once and keeps them.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.utils import timezone

from bridge.models import RemoteField

from .context import Context


def remember_field_types(ctx: Context, people: Iterable[dict]) -> int:
    """Store the types of the custom fields on these (card-read) people; how many were new or
    changed. Names are written in order, so two batches written at once never deadlock."""
    known = _known_types(ctx)
    seen: dict[str, str] = {}
    for person in people:
        for name, kind in (person.get("custom_field_types") or {}).items():
            if name and kind and known.get(name) != kind:
                seen[str(name)[:200]] = str(kind)[:16]
    if not seen:
        return 0
    now = timezone.now()
    RemoteField.objects.bulk_create(
        [
            RemoteField(account=ctx.account, name=name, type=kind, seen_at=now)
            for name, kind in sorted(seen.items())
        ],
        update_conflicts=True,
        unique_fields=["account", "name"],
        update_fields=["type", "seen_at"],
    )
    known.update(seen)
    return len(seen)


def _known_types(ctx: Context) -> dict[str, str]:
    """The account's stored field types, read once per run (kept on the context)."""
    if ctx.field_types is None:
        stored = RemoteField.objects.filter(account=ctx.account).values_list("name", "type")
        ctx.field_types = dict(stored)
    return ctx.field_types
