"""Leeloo.ai (messaging CRM): API v2, ``X-Leeloo-AuthToken`` header, ``{"status": 1}`` envelope."""

from __future__ import annotations

from typing import Any

from .base import Provider


class LeelooProvider(Provider):
    id = "leeloo"
    name = "Leeloo.ai"
    base_urls = {"production": "https://api.leeloo.ai"}
    pushes = ("contact", "lead", "order")

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        headers["X-Leeloo-AuthToken"] = self.require_credential()
