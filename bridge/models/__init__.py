"""The bridge's models: the CRM world it mirrors, and its own bookkeeping.

Mirror models (what staff work with): Contact, Lead, Order, Tag, Tunnel, and what only Leeloo
has (LeelooUser, Channel, Connection, TemplateCategory, Template, TunnelStatsSummary).
The bridge's own: ProviderAccount, RemoteLink, Delivery, SyncRun, SyncState; routing rules
(RoutingRule, RuleTarget) and each lead's LeadRouting; the inbox's InboundEvent (webhook
requests) and Activity (what happened with a person at a service); the intake's IntakeSource
and IntakeKey; the alerts' AlertChannel and Alert; the AuditEntry of every staff action;
each account's FieldMapping rows and the RemoteField definitions its pulls saw; SentState,
each record's delivery state per account (kept by database triggers); TagChange, each tag
added to or taken off a contact.
"""

from .accounts import AccountSlot, ProviderAccount
from .alerts import Alert, AlertChannel
from .audit import AuditEntry
from .crm import Contact, Lead, Order, Tag, Tunnel
from .inbox import Activity, InboundEvent
from .intake import IntakeKey, IntakeSource
from .leeloo import (
    Channel,
    Connection,
    LeelooUser,
    Template,
    TemplateCategory,
    TunnelStatsSummary,
)
from .mapping import FieldMapping, RemoteField
from .outbox import Delivery, PushBatch, RemoteLink, SyncRun
from .routing import LeadRouting, RoutingRule, RoutingWake, RuleTarget
from .sent_state import SentState
from .sync import ListedPerson, SyncState
from .tag_history import TagChange

__all__ = [
    "AccountSlot",
    "Activity",
    "Alert",
    "AlertChannel",
    "AuditEntry",
    "Channel",
    "Connection",
    "Contact",
    "Delivery",
    "FieldMapping",
    "InboundEvent",
    "IntakeKey",
    "IntakeSource",
    "Lead",
    "LeadRouting",
    "LeelooUser",
    "Order",
    "ProviderAccount",
    "PushBatch",
    "RemoteField",
    "RemoteLink",
    "RoutingRule",
    "RoutingWake",
    "RuleTarget",
    "SentState",
    "SyncRun",
    "SyncState",
    "ListedPerson",
    "Tag",
    "TagChange",
    "Template",
    "TemplateCategory",
    "Tunnel",
    "TunnelStatsSummary",
]
