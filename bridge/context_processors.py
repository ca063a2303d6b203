"""Template context every admin page shares: warnings staff must not miss."""

from django.conf import settings


def security_warnings(request) -> dict:
    """``development_encryption_key``: credentials are encrypted with a generated dev key."""
    return {
        "development_encryption_key": getattr(
            settings, "FIELD_ENCRYPTION_KEY_IS_DEVELOPMENT", False
        ),
    }
