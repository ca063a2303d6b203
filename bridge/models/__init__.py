"""The bridge's models: the CRM world it mirrors, and its own bookkeeping.

Mirror models (what staff work with): Contact, Lead, Order, Tag, Tunnel, and what only Leeloo
has (LeelooUser, Channel, Connection, TemplateCategory, Template, TunnelStatsSummary).
The bridge's own: ProviderAccount, RemoteLink, Delivery, SyncRun, SyncState, and the intake's
IntakeSource and IntakeKey.
"""

from .accounts import AccountSlot, ProviderAccount
from .crm import Contact, Lead, Order, Tag, Tunnel
from .intake import IntakeKey, IntakeSource
from .leeloo import (
    Channel,
    Connection,
    LeelooUser,
    Template,
    TemplateCategory,
    TunnelStatsSummary,
)
from .outbox import Delivery, PushBatch, RemoteLink, SyncRun
from .sync import SyncState

__all__ = [
    "AccountSlot",
    "Channel",
    "Connection",
    "Contact",
    "Delivery",
    "IntakeKey",
    "IntakeSource",
    "Lead",
    "LeelooUser",
    "Order",
    "ProviderAccount",
    "PushBatch",
    "RemoteLink",
    "SyncRun",
    "SyncState",
    "Tag",
    "Template",
    "TemplateCategory",
    "Tunnel",
    "TunnelStatsSummary",
]
