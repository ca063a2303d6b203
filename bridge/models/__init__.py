"""The bridge's models: the CRM world it mirrors, and its own bookkeeping.

Mirror models (what staff work with): Contact, Lead, Order, Tag, Tunnel.
The bridge's own: ProviderAccount, RemoteLink, Delivery, SyncRun.
"""

from .accounts import AccountSlot, ProviderAccount
from .crm import Contact, Lead, Order, Tag, Tunnel
from .outbox import Delivery, PushBatch, RemoteLink, SyncRun

__all__ = [
    "AccountSlot",
    "PushBatch",
    "Contact",
    "Delivery",
    "Lead",
    "Order",
    "ProviderAccount",
    "RemoteLink",
    "SyncRun",
    "Tag",
    "Tunnel",
]
