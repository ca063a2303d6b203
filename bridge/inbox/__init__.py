"""The inbox: provider webhooks stored first, then applied to the mirror by workers.

The mirror image of the outbox (``bridge/outbox/``): each request is an ``InboundEvent`` row
written before anything else and answered at once; a django-q2 task queued on commit applies
it (``process_event``), once, in one transaction; events that came too early are retried with
backoff, and a scheduled sweep picks up what a killed process left (``sweep``).

One role per module: ``receiver`` (the view: token, auth, limits), ``store`` (the row, dedup,
the kick), ``process`` (claim, apply, retry, sweep, purge), ``people`` (matching and the
activity every applier records), one applier module per provider (``leeloo``, ``aiployees``,
``aloware``), and ``setup`` (an account's URL and the steps to paste it). The parsing of each
provider's bodies is the provider's own (``integrations/<provider>``'s ``events``).
"""

from .process import process_again, process_due, process_event, sweep
from .receiver import receive_webhook
from .setup import auth_credential, setup_steps, webhook_path, webhook_url
from .store import kick, store_event

__all__ = [
    "auth_credential",
    "kick",
    "process_again",
    "process_due",
    "process_event",
    "receive_webhook",
    "setup_steps",
    "store_event",
    "sweep",
    "webhook_path",
    "webhook_url",
]
