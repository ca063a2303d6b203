"""What the bridge mirrors from a Leeloo.ai account, and how each resource is read.

Seven resources (``integrations.syncing.SyncedResource``): the bridge's sync reads their paths,
parsers, windows and detail readers from here, and stores them itself. The order runs go in
(tags and people before what links to them) is the bridge's, not this tuple's.

People and communication channels are the only lists with a ``filter[last_message]`` window,
so they are read incrementally; the others are read whole on every run. ``GET /people``
refuses to answer without a window, hence :data:`EVERYONE_SINCE` for a full run.
"""

from __future__ import annotations

from ..syncing import SyncedResource
from .parsing import parse_channel, parse_order, parse_person_keyed, parse_tunnel, parse_user
from .wire import EVERYONE_SINCE

SYNCS = (
    # One list, not paged.
    SyncedResource("tags", list_all="list_tags"),
    SyncedResource("users", path="/users", parse=parse_user),
    # The people sync reads the account's tag list first: a tag taken off a person at Leeloo
    # is taken off the contact, while tags Leeloo does not have stay.
    SyncedResource(
        "people",
        path="/people",
        parse=parse_person_keyed,
        parse_options=("region",),
        window="people_params",
        everyone_since=EVERYONE_SINCE,
        cursor_field="last_message_at",
        detail="get_person",
        readers={"tags": "list_tags"},
    ),
    # The account's connections (bots) are read after the channels, with them.
    SyncedResource(
        "channels",
        path="/communication-channels",
        parse=parse_channel,
        window="channel_params",
        everyone_since=EVERYONE_SINCE,
        cursor_field="last_message_at",
        readers={"connections": "list_connections"},
    ),
    SyncedResource("orders", path="/orders", parse=parse_order, detail="get_order"),
    # A tunnel's detail is its LGTs (``?include=leadgentools``); its statistics are a second
    # request, and the statistics of every tunnel a third after the list.
    SyncedResource(
        "tunnels",
        path="/tunnels",
        parse=parse_tunnel,
        detail="get_tunnel",
        readers={"stats": "tunnel_stats", "all_stats": "all_tunnel_stats"},
    ),
    # Message template categories (one list), then each category's templates.
    SyncedResource(
        "templates",
        list_all="list_template_categories",
        readers={"templates": "list_templates"},
    ),
)
