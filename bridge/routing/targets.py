"""A push a routed lead gets: the account, the operation, its options, and when it is due."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from bridge.models import ProviderAccount


@dataclass
class Target:
    """One push of a lead: ``rule`` names the rule that chose it ("" for the fallback);
    ``due_at`` None means at once."""

    account: ProviderAccount
    operation: str = "push"
    options: dict = field(default_factory=dict)
    rule: str = ""
    due_at: datetime | None = None

    def as_record(self) -> dict:
        """Plain data for the lead's routing record and the admin's preview."""
        return {
            "rule": self.rule,
            "account": self.account.name,
            "account_id": self.account.pk,
            "operation": self.operation,
            "options": self.options,
            "due_at": self.due_at.isoformat() if self.due_at else None,
        }
