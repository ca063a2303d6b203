"""App configuration for the bridge."""

from django.apps import AppConfig


class BridgeConfig(AppConfig):
    """The bridge app: mirror models, provider accounts, deliveries and sync runs."""

    name = "bridge"
    verbose_name = "CRM Bridge"
    default_auto_field = "django.db.models.BigAutoField"
