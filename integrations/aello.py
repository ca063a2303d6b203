"""Aéllo Copilot (dealership lead inbox): ``POST /leads`` with an ``Aello-Api-Key`` header."""

from __future__ import annotations

from typing import Any

from .base import Provider


class AelloProvider(Provider):
    id = "aello"
    name = "Aéllo Copilot"
    base_urls = {
        "production": "https://api.customers.aello-copilot.com",
        "sandbox": "https://api.customers.sandbox.aello-copilot.com",
    }
    pushes = ("lead",)

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        headers["Aello-Api-Key"] = self.require_credential()
