"""The outbox's write operations on Leeloo.ai: ``(record, params, remote_id) -> PushResult``.

:class:`LeelooOperations` is mixed into :class:`~integrations.leeloo.client.LeelooProvider`;
each ``op_*`` method is named by an entry of ``OPERATIONS`` and turns one outbox delivery into
the client's calls (finding the person or channel first when the record has no remote id).
"""

from __future__ import annotations

from ..base import PushResult
from ..errors import ConfigurationError, PayloadError
from ..mapping import as_text
from .payloads import (
    ORDER_UPDATE_STATUSES,
    build_order_update_form,
    parse_variables,
    person_fields,
    record_kind,
)
from .wire import _id_list, _required


class LeelooOperations:
    """The ``op_*`` methods of :class:`LeelooProvider`, over its endpoint methods."""

    def op_push(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Push a contact or lead as a person, or an order as a manual order."""
        if record_kind(record) == "order":
            return self.push_order(record, params, remote_id)
        return self.push_person(record, params, remote_id)

    def push_person(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create or update the person for a contact or lead record.

        With a known ``remote_id`` the card is updated; otherwise the person is looked up by
        phone, then by email, and updated when found or created through the account's LGT.
        """
        fields = person_fields(record)
        fields["custom_fields"] = self.mapped_custom_fields(record, fields["custom_fields"])
        person_id = remote_id
        if not person_id:
            found = self.find_person(phone=fields["phone"], email=fields["email"])
            person_id = found["remote_id"] if found else ""
        if person_id:
            data = self.update_person(
                person_id,
                phone=fields["phone"],
                email=fields["email"],
                custom_fields=fields["custom_fields"],
            )
            return PushResult(remote_id=person_id, created=False, status="updated", data=data)
        if not (fields["phone"] or fields["email"]):
            raise PayloadError(
                "Leeloo.ai needs a phone or an email to add a person.",
                field_errors={"phone": ["required"], "email": ["required"]},
            )
        person = self.create_person(
            name=fields["name"],
            email=fields["email"],
            phone=fields["phone"],
            leadgentool_id=self._leadgentool_id(params),
            connected_users_ids=_id_list(
                params.get("connected_users_ids") or self.option("connected_users_ids")
            ),
        )
        if fields["custom_fields"]:  # POST /people takes no custom fields; set them after.
            self.update_person(person["remote_id"], custom_fields=fields["custom_fields"])
        return PushResult(
            remote_id=person["remote_id"], created=True, status="created", data=person
        )

    def push_order(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create a manual order, or resolve/reject the one already pushed (``remote_id``).

        Leeloo's update only settles a manual order, so an already pushed order that is neither
        RESOLVED nor REJECTED locally has nothing to send.
        """
        if not remote_id:
            return self.op_create_order(record, params, remote_id)
        status = str(params.get("status") or record.get("status") or "").upper()
        if status not in ORDER_UPDATE_STATUSES:
            return PushResult(remote_id=remote_id, created=False, status="unchanged")
        return self.op_update_order(record, params, remote_id)

    def op_add_tag(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Tag the person ``remote_id`` with params ``tag_id`` (or the tag named ``tag``)."""
        person_id = self.person_id_for(record, remote_id)
        tag_id = self.tag_id_for(params)
        self.add_tag(person_id, tag_id)
        return PushResult(
            remote_id=person_id, created=False, status="tagged", data={"tag_id": tag_id}
        )

    def op_remove_tag(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Untag the person ``remote_id`` (params ``tag_id`` or ``tag``)."""
        person_id = self.person_id_for(record, remote_id)
        tag_id = self.tag_id_for(params)
        self.remove_tag(person_id, tag_id)
        return PushResult(
            remote_id=person_id, created=False, status="untagged", data={"tag_id": tag_id}
        )

    def op_add_comment(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Comment on the person ``remote_id`` with params ``comment``."""
        comment = self.add_comment(self.person_id_for(record, remote_id), params.get("comment"))
        return PushResult(
            remote_id=comment["remote_id"], created=True, status="created", data=comment
        )

    def op_send_message(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Send params ``text`` to params ``account_id`` or the first channel of ``remote_id``."""
        account_id = self.channel_id_for(params, record, remote_id)
        data = self.send_message(account_id, params.get("text", ""))
        return PushResult(remote_id=account_id, status="sent", data=data)

    def op_send_template(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Send params ``template_id`` with ``variables`` to a channel (as send_message)."""
        account_id = self.channel_id_for(params, record, remote_id)
        variables = parse_variables(params.get("variables"))
        data = self.send_template(account_id, params.get("template_id"), variables)
        return PushResult(remote_id=account_id, status="sent", data=data)

    def op_create_order(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create a manual order for an order record (params may name ``person_id``)."""
        order = self.create_order(self.build_order_payload(record, params))
        return PushResult(
            remote_id=order["remote_id"], created=True, status=order["status"], data=order
        )

    def op_update_order(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Resolve or reject the manual order ``remote_id`` from the record's payment."""
        form = build_order_update_form(record, params)
        order_id = self.update_order(_required(remote_id, "order_id"), form)
        return PushResult(remote_id=order_id, created=False, status=form["status"], data=form)

    def op_log_call(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Log a call from params (``account_id`` may come from the person ``remote_id``)."""
        call = dict(params)
        call["account_id"] = self.channel_id_for(params, record, remote_id)
        data = self.log_call(call)
        return PushResult(
            remote_id=str((data or {}).get("id") or ""), created=True, status="logged", data=data
        )

    def op_subscribe_tunnel(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Subscribe a channel to params ``tunnel_id`` at ``tunnel_block_id``."""
        account_id = self.channel_id_for(params, record, remote_id)
        data = self.subscribe_to_tunnel(
            account_id, params.get("tunnel_id"), params.get("tunnel_block_id")
        )
        return PushResult(remote_id=account_id, status="subscribed", data=data)

    def op_create_traffic_source(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Create a traffic source (params ``name``, ``description``) in the tunnel's LGT.

        The LGT is the one staff named, else the tunnel's first, else the account's default.
        """
        tools = [
            tool.get("remote_id") or tool.get("id")
            for tool in record.get("leadgen_tools") or []
            if tool.get("remote_id") or tool.get("id")
        ]
        if tools and not params.get("leadgentool_id"):
            params = {**params, "leadgentool_id": tools[0]}
        source = self.create_traffic_source(
            self._leadgentool_id(params), params.get("name"), params.get("description", "")
        )
        return PushResult(
            remote_id=source["remote_id"], created=True, status="created", data=source
        )

    def op_add_sms_connection(self, record: dict, params: dict, remote_id: str) -> PushResult:
        """Add the record's person as an SMS contact on the account's SMS connection."""
        fields = person_fields(record)
        if not fields["phone"]:
            raise PayloadError("An SMS connection needs a phone.", field_errors={"phone": []})
        count = self.add_sms_connections(
            [fields],
            connection_id=params.get("connection_id") or self.option("connection_id"),
            leadgentool_id=self._leadgentool_id(params),
            tag_ids=_id_list(params.get("tag_ids")),
        )
        return PushResult(status="accepted", data={"count_to_process": count})

    # --- helpers -------------------------------------------------------------------------

    def mapped_custom_fields(self, record: dict, fields: dict) -> dict:
        """The contact's custom fields with the account's mapping rows over them (a row whose
        local field is blank sends nothing, so it never blanks Leeloo's value)."""
        mapped = {
            name: value
            for name, value in self.checked_field_map().values(record).items()
            if as_text(value)
        }
        return {**fields, **mapped}

    def _leadgentool_id(self, params: dict) -> str:
        value = params.get("leadgentool_id") or self.option("leadgentool_id")
        if not value:
            raise ConfigurationError(
                f"Account '{self.account.name}' has no Leeloo.ai lead-generation tool: set the "
                "account option 'leadgentool_id' (in a sales funnel, right-click the LGT and "
                "choose 'Copy LGT ID')."
            )
        return str(value)

    def person_id_for(self, record: dict, remote_id: str) -> str:
        """The person an operation is about: the pushed record's id, else found by phone/email."""
        if remote_id:
            return remote_id
        fields = person_fields(record or {})
        found = self.find_person(phone=fields["phone"], email=fields["email"])
        if found is None:
            raise PayloadError(
                "This record is not in Leeloo.ai yet (no person with its phone or email): "
                "push it first.",
                field_errors={"person_id": ["required"]},
            )
        return found["remote_id"]

    def channel_id_for(self, params: dict, record: dict, remote_id: str) -> str:
        """Params ``account_id``, else the first communication channel of the person."""
        if params.get("account_id"):
            return str(params["account_id"])
        person_id = self.person_id_for(record, remote_id)
        for channel in self.get_person(person_id)["channels"]:
            if channel.get("account_id"):
                return str(channel["account_id"])
        raise PayloadError(
            f"Leeloo.ai person {person_id} has no communication channel to write to.",
            field_errors={"account_id": ["required"]},
        )
