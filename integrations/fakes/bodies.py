"""Reading a request body the way the fake providers' APIs do: JSON, a form, or form-data."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs


def parse_body(content_type: str, body: bytes) -> tuple[Any, dict | None]:
    """(JSON value, form dict) from a request body; the other is None."""
    if not body:
        return None, None
    kind = content_type.split(";")[0].strip().lower()
    if kind == "application/x-www-form-urlencoded":
        return None, parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    if kind == "multipart/form-data":
        return None, _parse_multipart(content_type, body)
    try:
        return json.loads(body), None
    except ValueError:
        return None, None


def _parse_multipart(content_type: str, body: bytes) -> dict[str, list[str]]:
    from email.parser import BytesParser
    from email.policy import HTTP

    message = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    form: dict[str, list[str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if name:
            form.setdefault(name, []).append(part.get_content().strip())
    return form
