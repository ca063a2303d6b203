"""The fake Leeloo's conversation routes: communication channels, chat messages, templates
sent, manual subscriptions to a tunnel block, and calls.

A mixin of :class:`~integrations.fakes.leeloo.FakeLeeloo`; the records are
:class:`~integrations.fakes.leeloo.state.LeelooState`'s.
"""

from __future__ import annotations

from ..core import FakeResponse, route
from .common import (
    CALL_FIELDS,
    CALL_STATUSES,
    CALL_TYPES,
    ID,
    not_found,
    now_text,
    ok,
    parse_js_date,
    refuse,
)


class MessageRoutes:
    """Channels, chats, templates sent, subscriptions and calls."""

    # --- messages and communication channels ----------------------------------------------

    def _add_message(self, account_id: str, text: str) -> dict:
        stamp = now_text()
        message = {
            "id": self.new_id(),
            "text": text,
            "type": "YOUR_MESSAGE",
            "read": True,
            "createdAt": stamp,
            "updatedAt": stamp,
        }
        self.messages.setdefault(account_id, []).insert(0, message)
        channel = self.channels[account_id]
        channel["lastMessageTime"] = stamp
        if channel["person_id"] in self.people:
            self.touch(channel["person_id"], stamp)
        return message

    @route("GET", r"/api/v2/communication-channels/" + ID.format("person_id") + "/chat-messages")
    def list_chat_messages(self, request, person_id):
        """A channel's chat, newest first, paged."""
        # The path says person_id; the document means the communication channel (account) id.
        if person_id not in self.channels:
            return not_found("Communication channel", person_id)
        return self.page(request, self.messages.get(person_id, []))

    @route("POST", r"/api/v2/messages/send-message")
    def send_message(self, request):
        """Send a text to a channel; it lands in the channel's chat."""
        account_id, text = request.field("account_id"), request.field("text")
        if not account_id or not str(text or "").strip():
            return refuse("account_id and text are required")
        if account_id not in self.channels:
            return not_found("Communication channel", account_id)
        self._add_message(account_id, str(text))
        return ok({})

    @route("GET", r"/api/v2/communication-channels")
    def list_channels(self, request):
        """Communication channels, newest message first; the window is optional here."""
        window = self._window(request, required=False)
        if isinstance(window, FakeResponse):
            return window
        start, end = window
        channels = sorted(self.channels.values(), key=lambda c: c["lastMessageTime"], reverse=True)
        chosen = [
            channel
            for channel in channels
            if (start is None or parse_js_date(channel["lastMessageTime"]) >= start)
            and (end is None or parse_js_date(channel["lastMessageTime"]) <= end)
        ]
        return self.page(request, chosen, total=len(channels))

    @route("GET", r"/api/v2/communication-channels/" + ID.format("account_id") + "/person")
    def person_by_channel(self, request, account_id):
        """The person behind a communication channel."""
        channel = self.channels.get(account_id)
        person = self.people.get(channel["person_id"]) if channel else None
        if person is None:
            return not_found("Communication channel", account_id)
        return ok(self.person_card(person), included={})

    @route(
        "POST", r"/api/v2/communication-channels/" + ID.format("account_id") + "/manual-subscribe"
    )
    def manual_subscribe(self, request, account_id):
        """Subscribe a channel to a tunnel block (form-data only)."""
        form = request.form or {}
        tunnel_id = (form.get("tunnel_id") or [""])[0]
        block_id = (form.get("tunnel_block_id") or [""])[0]
        if not tunnel_id or not block_id:
            return refuse("tunnel_id and tunnel_block_id are required (form-data)")
        channel = self.channels.get(account_id)
        if channel is None:
            return not_found("Communication channel", account_id)
        tunnel = self.tunnels.get(tunnel_id)
        if tunnel is None or block_id not in tunnel["blocks"]:
            return refuse(f"Block {block_id} is not in tunnel {tunnel_id}")
        self.subscriptions.append(
            {"account_id": account_id, "tunnel_id": tunnel_id, "tunnel_block_id": block_id}
        )
        tool = self.leadgentools[tunnel["leadgentools"][0]] if tunnel["leadgentools"] else {}
        person = self.people.get(channel["person_id"])
        if person is not None:
            person["subscribeHistory"] = [
                *person["subscribeHistory"],
                {
                    "tunnelName": tunnel["name"],
                    "leadgentoolName": tool.get("name", ""),
                    "trafficSource": "Default traffic source",
                    "tunnelId": tunnel_id,
                    "leadgentoolId": tool.get("id", ""),
                    "trafficSourceId": "",
                    "accountId": account_id,
                },
            ]
        return ok({})

    # --- templates sent -------------------------------------------------------------------

    @route("POST", r"/api/v2/messages/send-template")
    def send_template(self, request):
        """Send a template to a channel; it lands in the channel's chat."""
        account_id, template_id = request.field("account_id"), request.field("template_id")
        if not account_id or not template_id:
            return refuse("account_id and template_id are required")
        if account_id not in self.channels:
            return not_found("Communication channel", account_id)
        template = self._template(template_id)
        if template is None:
            return not_found("Template", template_id)
        variables = request.field("variables", {}) or {}
        if not isinstance(variables, dict):
            return refuse("variables must be an object")
        text = template["message_name"] + "".join(f" {k}={v}" for k, v in variables.items())
        self._add_message(account_id, text)
        return ok({})

    # --- calls ----------------------------------------------------------------------------

    @route("POST", r"/api/v2/calls")
    def add_call(self, request):
        """A call on a card; every field required (form-data only)."""
        if request.form is None:
            return refuse("The request body must be form-data")
        call = {key: values[0] for key, values in request.form.items()}
        for name in CALL_FIELDS:
            if not call.get(name):
                return refuse(f"{name} is required")
        if call["status"] not in CALL_STATUSES:
            return refuse(f"status must be one of {', '.join(CALL_STATUSES)}")
        if call["type"] not in CALL_TYPES:
            return refuse(f"type must be one of {', '.join(CALL_TYPES)}")
        if not call["duration"].isdigit():
            return refuse("duration must be a number of seconds")
        if parse_js_date(call["date"]) is None:
            return refuse("date must be a date")
        if call["user_id"] not in self.users:
            return refuse(f"User {call['user_id']} not found")
        if call["account_id"] not in self.channels:
            return refuse(f"Communication channel {call['account_id']} not found")
        call["id"] = self.new_id()
        self.calls.append(call)
        return ok({})
