"""Development keys generated once per checkout, for DEBUG runs that set none.

A development run (``make demo``) needs a ``SECRET_KEY`` and a Fernet key for the stored
provider credentials. A key written in the source is the same for every checkout, so anything
encrypted with it is readable by anyone who has the code. Instead each checkout generates its
own keys on first use into a git-ignored folder (``var/`` by default, ``BRIDGE_DEV_KEYS_DIR``
to move it), readable by its owner only, and the admin shows a banner while they are in use:
they are still keys on the same disk as the database, fit for a demo, not for production.

This module is imported by the settings, so it uses nothing of Django's.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
from pathlib import Path

SECRET_KEY_FILE = "dev-secret-key"
ENCRYPTION_KEY_FILE = "dev-field-encryption-key"

#: The SECRET_KEY development runs used before keys were generated per checkout.
LEGACY_SECRET_KEY = "django-insecure-crm-bridge-development-only-never-in-production"


def read_or_create(path: Path, make) -> str:
    """The key stored at ``path``; made with ``make()`` and stored (mode 0600) the first time.

    Several processes of one demo start at once (web server, worker, fake providers): the file
    is created exclusively, so they all end up with the one key the first of them wrote.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return _read_when_written(path)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(make() + "\n")
    return path.read_text().strip()


def _read_when_written(path: Path) -> str:
    """Read a key another process may be writing this instant (an empty file means: not yet)."""
    for _ in range(100):
        value = path.read_text().strip()
        if value:
            return value
        os.sched_yield()
    raise RuntimeError(f"The development key file {path} is empty: delete it to make a new one.")


def new_fernet_key() -> str:
    """A fresh Fernet key (32 random bytes, url-safe base64)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()


def development_secret_key(folder: Path) -> str:
    """This checkout's SECRET_KEY for development runs."""
    return read_or_create(folder / SECRET_KEY_FILE, lambda: secrets.token_urlsafe(50))


def development_encryption_keys(folder: Path) -> list[str]:
    """This checkout's Fernet key, then the legacy one (decryption only).

    Credentials a demo saved before keys were generated were encrypted with a key derived from
    the shared development secret; keeping it last lets them still open, and
    ``rotate_credentials`` (which the demo runs) re-encrypts them with this checkout's key.
    """
    return [read_or_create(folder / ENCRYPTION_KEY_FILE, new_fernet_key), legacy_encryption_key()]


def legacy_encryption_key() -> str:
    """The Fernet key development runs derived from the shared secret before this module."""
    digest = hashlib.sha256(("crm-bridge-credentials:" + LEGACY_SECRET_KEY).encode()).digest()
    return base64.urlsafe_b64encode(digest).decode()
