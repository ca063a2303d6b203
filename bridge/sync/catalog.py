"""The account's catalogue: tags, tunnels, users, channels and templates.

Tags and tunnels are local models linked by ``RemoteLink``; users, channels, connections and
templates are provider-only rows keyed by (account, remote id) (``upsert.upsert_owned``), today
Leeloo's models. How each is read is the provider's declaration (``Context.resource``).
"""

from __future__ import annotations

from django.db import transaction

from bridge.models import (
    Channel,
    Connection,
    LeelooUser,
    RemoteLink,
    Tag,
    Template,
    TemplateCategory,
    Tunnel,
    TunnelStatsSummary,
)
from integrations.errors import PermanentError

from . import paging
from .context import Context, tag_key
from .upsert import Links, changes, fit, person_contacts, unique_by_remote_id, upsert_owned, write

# --- tags ----------------------------------------------------------------------------------


def pull_tags(ctx: Context) -> None:
    """The account's tags (one list, or a paged one) into Tag rows, by RemoteLink, else by
    name."""
    paging.read_resource(ctx, upsert_tags)


def upsert_tags(ctx: Context, tags: list[dict]) -> None:
    """Each Leeloo tag to the Tag linked to its id, else the Tag of its name (any case), else a
    new Tag. A linked tag whose name changed at Leeloo is renamed, unless another tag has the
    new name; a tag of that name already linked to another Leeloo tag is a failure."""
    tags = unique_by_remote_id(ctx, tags)
    links = Links(ctx, Tag, [t["remote_id"] for t in tags])
    all_links = dict(
        RemoteLink.objects.filter(account=ctx.account, content_type=links.content_type).values_list(
            "object_id", "remote_id"
        )
    )
    linked = Tag.objects.in_bulk([link.object_id for link in links.by_remote.values()])
    by_name = dict(ctx.tags())
    created, updated, unchanged = [], [], 0
    for tag in tags:
        remote_id, name = tag["remote_id"], tag["name"].strip()[:100]
        link = links.by_remote.get(remote_id)
        obj = linked.get(link.object_id) if link else None
        owner = by_name.get(tag_key(name))
        mine = obj.pk if obj is not None else None
        reason = "" if name else "the tag has no name"
        if not reason and owner is not None and owner != mine:
            other = all_links.get(owner)
            if obj is not None or (other and other != remote_id):
                reason = f"tag #{owner} '{name}' is already another tag"
        if reason:
            ctx.fail(remote_id, reason)
            continue
        if obj is None and owner is not None:
            obj = Tag(pk=owner, name=name)
            updated.append(obj)  # linked by name: no rename, a new link
        elif obj is None:
            obj = Tag(name=name)
            created.append(obj)
        elif obj.name != name:
            obj.name = name
            updated.append(obj)
        else:
            unchanged += 1
        by_name[tag_key(name)] = obj.pk or -len(created)
        all_links[obj.pk] = remote_id
        links.pulled(remote_id, obj)
    renamed = [tag for tag in updated if tag.pk in linked]
    with transaction.atomic(savepoint=False):  # inside the page's (see paging.read_pages)
        _create_tags(ctx, created)
        write(Tag, [], renamed, {"name"})
        links.save()
    ctx.count(created=len(created), updated=len(updated), unchanged=unchanged)


def _create_tags(ctx: Context, tags: list[Tag]) -> None:
    """Insert new tags; one the people sync made meanwhile (same name, any case) is used."""
    if not tags:
        return
    # In name order, as the people sync inserts (see PageTags._tag_ids); no ids back from a
    # skipping insert, so they are read after.
    Tag.objects.bulk_create(sorted(tags, key=lambda tag: tag_key(tag.name)), ignore_conflicts=True)
    ids = {tag_key(name): pk for name, pk in Tag.objects.values_list("name", "pk")}
    for tag in tags:
        tag.pk = ids[tag_key(tag.name)]
    ctx.forget_tags()  # a paged tag list's next batch finds these by name


# --- tunnels -------------------------------------------------------------------------------


def pull_tunnels(ctx: Context) -> None:
    """Every tunnel with its LGTs and statistics, then the statistics of all tunnels."""
    paging.read_resource(ctx, upsert_tunnels)
    if ctx.details:
        save_tunnel_summary(ctx, ctx.read("all_stats"))


def upsert_tunnels(ctx: Context, tunnels: list[dict]) -> None:
    """One page of tunnels into Tunnel rows by RemoteLink, each with its LGTs and stats.

    The list has names and dates only: with details on, each tunnel's LGTs
    (``?include=leadgentools``) and statistics are read too — two requests per tunnel.
    """
    tunnels = unique_by_remote_id(ctx, tunnels)
    links = Links(ctx, Tunnel, [t["remote_id"] for t in tunnels])
    existing = Tunnel.objects.in_bulk([link.object_id for link in links.by_remote.values()])
    created, updated, fields = [], [], set()
    for tunnel in tunnels:
        remote_id = tunnel["remote_id"]
        values = _tunnel_values(ctx, tunnel)
        if values is None:
            continue
        link = links.by_remote.get(remote_id)
        obj = existing.get(link.object_id) if link else None
        if obj is None:
            obj = Tunnel(**values, stats_updated_at=ctx.now if "stats" in values else None)
            created.append(obj)
        elif changed := changes(obj, values):
            for name in changed:
                setattr(obj, name, values[name])
            if "stats" in changed:
                obj.stats_updated_at = ctx.now
                changed.append("stats_updated_at")
            fields.update(changed)
            updated.append(obj)
        else:
            ctx.count(unchanged=1)
        links.pulled(remote_id, obj, tunnel["remote_updated_at"])
    with transaction.atomic(savepoint=False):  # inside the page's (see paging.read_pages)
        write(Tunnel, created, updated, fields)
        links.save()
    ctx.count(created=len(created), updated=len(updated))


def _tunnel_values(ctx: Context, tunnel: dict) -> dict | None:
    """A tunnel's fields, with its LGTs and stats when details are on; None when it is gone."""
    values = {
        "name": tunnel["name"],
        "remote_created_at": tunnel["remote_created_at"],
        "remote_updated_at": tunnel["remote_updated_at"],
    }
    if ctx.details:
        try:
            detail = ctx.read_detail(tunnel["remote_id"])
            stats = ctx.read("stats", tunnel["remote_id"])
        except PermanentError as error:
            ctx.fail(tunnel["remote_id"], f"its detail could not be read: {error}")
            return None
        values["leadgen_tools"] = detail["leadgen_tools"]
        values["stats"] = stats
    return fit(Tunnel, values)


def save_tunnel_summary(ctx: Context, stats: list[dict]) -> None:
    """Keep the account-wide tunnel statistics (only written when they changed)."""
    summary, _ = TunnelStatsSummary.objects.get_or_create(account=ctx.account)
    if summary.stats != stats:
        summary.stats, summary.updated_at = stats, ctx.now
        summary.save(update_fields=["stats", "updated_at"])


# --- users, channels, connections, templates ------------------------------------------------


def pull_users(ctx: Context) -> None:
    """Every platform user (manager) into LeelooUser rows."""
    paging.read_resource(ctx, upsert_users)


def upsert_users(ctx: Context, users: list[dict]) -> None:
    """One page of users into LeelooUser rows."""
    upsert_owned(ctx, LeelooUser, users)


def pull_channels(ctx: Context) -> None:
    """Communication channels in the run's window (with UTM marks), then the connections."""
    paging.read_resource(ctx, upsert_channels)
    connections = ctx.read("connections")
    ctx.run.remote_total = (ctx.run.remote_total or 0) + len(connections)
    upsert_owned(ctx, Connection, connections)
    ctx.page_done()


def upsert_channels(ctx: Context, channels: list[dict]) -> None:
    """One page of channels, each tied to its person's Contact once that person is linked."""
    contacts = person_contacts(ctx.account, [c["person_id"] for c in channels])
    rows = []
    for channel in channels:
        row = {
            "remote_id": channel["remote_id"],
            "person_remote_id": channel["person_id"],
            "name": channel["name"],
            "source": channel["source"],
            "bot_status": channel["bot_status"],
            "last_message_at": channel["last_message_at"],
            "remote_created_at": channel["remote_created_at"],
            "utm_marks": channel["utm_marks"],
        }
        if channel["person_id"] in contacts:
            row["contact_id"] = contacts[channel["person_id"]]
        rows.append(row)
    upsert_owned(ctx, Channel, rows)


def pull_templates(ctx: Context) -> None:
    """Message template categories, then each category's templates (one request each)."""
    categories = ctx.read_all()
    saved = upsert_owned(ctx, TemplateCategory, categories)
    total = len(categories)
    for category in categories:
        templates = ctx.read("templates", category["remote_id"])
        total += len(templates)
        owner = saved[category["remote_id"]]
        upsert_owned(ctx, Template, [{**t, "category_id": owner.pk} for t in templates])
    ctx.run.remote_total = total
    ctx.page_done()
