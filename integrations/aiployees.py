"""Aiployees (AI phone calls, a white-label of Autocalls): ``POST /api/user/lead``, Bearer token."""

from __future__ import annotations

from typing import Any

from .base import Provider


class AiployeesProvider(Provider):
    id = "aiployees"
    name = "Aiployees"
    base_urls = {"production": "https://call.aiployees.com"}
    pushes = ("lead", "contact")

    def authenticate(self, headers: dict, json_body: Any, params: dict) -> None:
        headers["Authorization"] = f"Bearer {self.require_credential()}"
