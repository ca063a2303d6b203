"""What staff may ask Leeloo.ai for: the push options, account options and operations.

Plain declarations the admin turns into forms and the outbox into calls; the methods they name
are in :mod:`integrations.leeloo.operations`.
"""

from __future__ import annotations

from ..base import Operation, Option
from ..mapping import MappingSpec
from .payloads import CALL_STATUSES

PEOPLE = ("contact", "lead")


def _ask(
    name: str,
    label: str,
    help: str = "",  # noqa: A002 - Option's own field name
    *,
    kind: str = "text",
    required: bool = False,
    choices: tuple = (),
) -> Option:
    """An option staff type for one push only (no account-wide default)."""
    return Option(
        name, label, kind, help, choices=choices, required=required, account_default=False
    )


TAG_NAME = _ask("tag", "Tag", "The tag's name, as in Settings, CRM, Tags.")
TAG_ID = _ask("tag_id", "Tag id", "Or its id ('Copy ID' next to the tag).")
CHANNEL = _ask(
    "account_id", "Channel id", "Communication channel; blank: the person's first channel."
)

PUSH_OPTIONS = (
    Option(
        "leadgentool_id",
        "Lead-generation tool",
        help="LGT new people are added to; the account's option when blank.",
    ),
    Option(
        "connected_users_ids",
        "Connected users",
        kind="list",
        help="Platform user ids connected to new people.",
    ),
)
ACCOUNT_OPTIONS = {
    "leadgentool_id": "Lead-generation tool (LGT) new people are added to: in a sales "
    "funnel, right-click the LGT and choose 'Copy LGT ID'. Required to create people.",
    "connected_users_ids": "Platform user ids (comma-separated) connected to new people. Optional.",
    "connection_id": "Communication channel (bot) for SMS connections: an id from "
    "'GET /connections'. Required to add SMS connections.",
    "payment_credits_id": "Payment system for manual orders: Settings, Payments, "
    "'Details' on the payment. Required to create orders.",
    "offer_id": "Offer manual orders are created for: Sales Funnel, Offers. Required to "
    "create orders.",
    "manager_id": "Platform user new orders are assigned to. Optional ('System').",
}
#: A person's custom fields are whatever the account defined (Content -> Fields), with a type
#: each; the API lists no fields, so the names and types offered are those the people sync
#: saw on the cards it read (``parse_custom_field_types``).
FIELD_MAPPING = MappingSpec(
    pulled=True,
    defaults="every custom field of the contact is sent under its own name, with the type "
    "the last pull saw (guessed from the value for a field no pull has seen). A row sends "
    "another local field into one of Leeloo.ai's custom fields, converted to its type.",
)

OPERATIONS = {
    "push": "op_push",
    "add_tag": Operation("add_tag", "op_add_tag", "Add tag", PEOPLE, (TAG_NAME, TAG_ID)),
    "remove_tag": Operation(
        "remove_tag", "op_remove_tag", "Remove tag", PEOPLE, (TAG_NAME, TAG_ID)
    ),
    "add_comment": Operation(
        "add_comment",
        "op_add_comment",
        "Add comment",
        PEOPLE,
        (_ask("comment", "Comment", "Text left on the person's card.", required=True),),
    ),
    "send_message": Operation(
        "send_message",
        "op_send_message",
        "Send message",
        PEOPLE,
        (_ask("text", "Message", "The text to send.", required=True), CHANNEL),
    ),
    "send_template": Operation(
        "send_template",
        "op_send_template",
        "Send message template",
        PEOPLE,
        (
            _ask("template_id", "Template id", "From Message Templates.", required=True),
            _ask(
                "variables",
                "Variables",
                "The template's variables as name=value.",
                kind="list",
            ),
            CHANNEL,
        ),
    ),
    "create_order": Operation(
        "create_order",
        "op_create_order",
        "Create manual order",
        ("order",),
        (
            Option("offer_id", "Offer id", help="Sales Funnel, Offers."),
            Option("payment_credits_id", "Payment system id", help="Settings, Payments."),
            Option("manager_id", "Manager id", help="Platform user; blank is 'System'."),
            _ask("notify", "Notify the person", "Tell the person about the order.", kind="bool"),
        ),
        links_record=True,
    ),
    "update_order": Operation(
        "update_order",
        "op_update_order",
        "Resolve or reject order",
        ("order",),
        (
            _ask(
                "status",
                "Status",
                "Blank: the order's own status.",
                kind="choice",
                choices=(("RESOLVED", "Resolved"), ("REJECTED", "Rejected")),
            ),
            _ask("user_comments", "Comments", "Why the amount or date differs."),
        ),
    ),
    "log_call": Operation(
        "log_call",
        "op_log_call",
        "Log call",
        PEOPLE,
        (
            _ask("user_id", "Platform user id", "Who took the call.", required=True),
            _ask("from", "From", "Calling number or extension.", required=True),
            _ask("to", "To", "Called number or extension.", required=True),
            _ask("date", "Date", "When, ISO 8601 in UTC (2024-03-22T15:30:17Z).", required=True),
            _ask(
                "status",
                "Outcome",
                "",
                kind="choice",
                choices=tuple((value, value.replace("_", " ").title()) for value in CALL_STATUSES),
                required=True,
            ),
            _ask("duration", "Duration", "Seconds.", kind="int", required=True),
            _ask(
                "type",
                "Direction",
                "",
                kind="choice",
                choices=(("INBOUND", "Inbound"), ("OUTBOUND", "Outbound")),
                required=True,
            ),
            _ask("record_link", "Recording URL", "Blank: no recording."),
            CHANNEL,
        ),
    ),
    "subscribe_tunnel": Operation(
        "subscribe_tunnel",
        "op_subscribe_tunnel",
        "Subscribe to tunnel",
        PEOPLE,
        (
            _ask("tunnel_id", "Tunnel id", "From the tunnel's address.", required=True),
            _ask("tunnel_block_id", "Block id", "From the block's address.", required=True),
            CHANNEL,
        ),
    ),
    # Offered on tunnels: the traffic source goes into one of the tunnel's LGTs.
    "create_traffic_source": Operation(
        "create_traffic_source",
        "op_create_traffic_source",
        "Create traffic source",
        ("tunnel",),
        (
            _ask("name", "Name", "The traffic source's name.", required=True),
            _ask("description", "Description"),
            Option(
                "leadgentool_id",
                "Lead-generation tool id",
                help="The LGT (in the tunnel) the traffic source is created in.",
            ),
        ),
    ),
    "add_sms_connection": Operation(
        "add_sms_connection",
        "op_add_sms_connection",
        "Add SMS connection",
        PEOPLE,
        (
            Option("connection_id", "SMS connection id", help="From GET /connections."),
            Option("leadgentool_id", "Lead-generation tool", help="LGT to add them through."),
            _ask("tag_ids", "Tag ids", "Tags to give them.", kind="list"),
        ),
    ),
}
