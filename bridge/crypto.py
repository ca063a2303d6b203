"""Provider credentials encrypted at rest with Fernet, keyed from the environment.

``FIELD_ENCRYPTION_KEY`` holds one or more Fernet keys, newest first: values are encrypted with
the first and decrypted with any, so a key is rotated by putting the new one in front and running
``python manage.py rotate_credentials`` (README, "Rotating the encryption key"). In DEBUG without
a key the settings generate one for the checkout (``bridge/devkeys.py``).
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models

from integrations.secrets import Secret

TOKEN_PREFIX = "fernet:"


@lru_cache(maxsize=4)
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEY is not set.")
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEY is not a valid Fernet key (32 url-safe base64-encoded bytes)."
        ) from exc


def cipher() -> MultiFernet:
    """The Fernet keyring built from the current settings."""
    return _fernet(tuple(settings.FIELD_ENCRYPTION_KEYS))


def encrypt(plain: str) -> str:
    """Ciphertext for storing ``plain``; empty stays empty."""
    if not plain:
        return ""
    return TOKEN_PREFIX + cipher().encrypt(plain.encode()).decode()


def decrypt(stored: str) -> str:
    """Plain text of a stored value; a clear error (never the value) when no key opens it."""
    if not stored:
        return ""
    if not stored.startswith(TOKEN_PREFIX):
        raise ImproperlyConfigured("A stored credential is not encrypted (no 'fernet:' prefix).")
    try:
        return cipher().decrypt(stored[len(TOKEN_PREFIX) :].encode()).decode()
    except InvalidToken:
        raise ImproperlyConfigured(
            "A stored credential cannot be decrypted with FIELD_ENCRYPTION_KEY: was the key "
            "changed without keeping the old one after it?"
        ) from None


def rotate(stored: str) -> str:
    """Re-encrypt a stored value with the newest key."""
    if not stored:
        return ""
    return TOKEN_PREFIX + cipher().rotate(stored[len(TOKEN_PREFIX) :].encode()).decode()


class EncryptedSecretField(models.TextField):
    """A text column holding Fernet ciphertext; in Python the value is a :class:`Secret`."""

    description = "An encrypted secret"

    def from_db_value(self, value, expression, connection):
        if value is None:
            return Secret("")
        return Secret(decrypt(value))

    def to_python(self, value):
        if isinstance(value, Secret):
            return value
        return Secret(value or "")

    def get_prep_value(self, value):
        if isinstance(value, Secret):
            value = value.reveal()
        return encrypt(value or "")

    def value_to_string(self, obj):
        """Serialisation (dumpdata) writes the mask, never the value."""
        return str(self.value_from_object(obj))
