"""The push page's "Preview": the exact request a push would send, for one record per account.

The record is read and serialised as the outbox reads it (``bridge.records``, the contact's
remote id in that account, the record's own remote id for an update), and the provider builds
its request as it would for the delivery (``integrations.preview``), secrets masked: the
reads it makes first go out (a Leeloo person looked up), the write is stopped and shown, and
nothing is written here or there.
"""

from __future__ import annotations

from django.contrib.contenttypes.models import ContentType

from bridge.models import ProviderAccount, RemoteLink
from bridge.outbox.deliver import add_contact_remote_id
from bridge.records import record_data
from integrations.errors import ConfigurationError
from integrations.preview import Preview, preview_operation


def preview_push(account: ProviderAccount, instance, operation: str, params: dict) -> Preview:
    """The write a delivery of ``instance`` to ``account`` would send (nothing is written)."""
    data = record_data(instance)
    add_contact_remote_id(data, account.pk)
    remote_id = (
        RemoteLink.objects.filter(
            account=account,
            content_type=ContentType.objects.get_for_model(type(instance)),
            object_id=instance.pk,
        )
        .values_list("remote_id", flat=True)
        .first()
        or ""
    )
    try:
        provider_class, config = account.provider_class, account.config()
    except (KeyError, ConfigurationError) as exc:
        return Preview(refusal=str(exc))
    return preview_operation(provider_class, config, operation, data, params, remote_id)
