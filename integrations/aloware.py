"""Aloware (dialer CRM): ``POST /api/v1/webhook/forms`` with ``api_token`` in the JSON body."""

from __future__ import annotations

from typing import Any

from .base import Provider


class AlowareProvider(Provider):
    id = "aloware"
    name = "Aloware"
    base_urls = {"production": "https://app.aloware.com"}
    pushes = ("lead", "contact")

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        if isinstance(json_body, dict):
            json_body["api_token"] = self.require_credential()
