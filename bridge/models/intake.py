"""Intake sources: who may post leads to ``POST /api/v1/leads``, and what the bridge keeps of it.

An ``IntakeSource`` is one web form, landing page or lead vendor. It holds only a hash of its
token (the token itself is shown once, when it is made or rotated), the browser origins allowed
to call the API from a page (CORS), its rate limit and its default routing. Every lead it brings
carries its name in ``Lead.source``.

An ``IntakeKey`` remembers an ``Idempotency-Key`` or an ``externalId`` a source has sent, with
the lead it made: the unique constraint on (source, key) is what makes a retry — even two at
the same instant — land on the same lead.
"""

from __future__ import annotations

import hashlib
import secrets
from urllib.parse import urlsplit

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone

from .accounts import ProviderAccount
from .crm import Lead

#: Tokens start with this, so a leaked one is recognisable in a scan of code or logs.
TOKEN_MARK = "crmb_in_"
#: How many characters of a token (after the mark) are kept to tell tokens apart.
PREFIX_LENGTH = 6


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256, hex. Tokens are random, so no salt is needed."""
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def parse_origins(text: str) -> list[str]:
    """The origins of a text with one per line (or separated by spaces or commas)."""
    return [part for part in text.replace(",", " ").split() if part]


def check_origin(origin: str) -> str:
    """``origin`` as a browser sends it (``https://host[:port]``), or a ValidationError."""
    parts = urlsplit(origin)
    if (
        parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.fragment
        or parts.username
    ):
        raise ValidationError(
            {
                "allowed_origins": f"“{origin}” is not an origin: write scheme and host only, "
                "e.g. https://www.example.com (no path, no trailing slash)."
            }
        )
    return origin.lower()


class IntakeSource(models.Model):
    """A web form, landing page or vendor allowed to post leads, with its token and defaults."""

    name = models.SlugField(
        max_length=100,
        unique=True,
        help_text="Short name; every lead it brings carries it as its source (routing rules "
        "match on it).",
    )
    enabled = models.BooleanField(
        default=True, help_text="A disabled source's requests are refused (401), like a bad token."
    )
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(
        max_length=32,
        editable=False,
        help_text="The token's first characters, to tell which one a caller holds.",
    )
    token_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    allowed_origins = models.TextField(
        blank=True,
        help_text="Pages allowed to call the API from a browser (CORS), one origin per line, "
        "e.g. https://www.example.com. Leave blank for server-to-server use and plain forms.",
    )
    rate_limit_per_minute = models.PositiveIntegerField(
        "rate limit (requests a minute)",
        default=60,
        validators=[MinValueValidator(1), MaxValueValidator(100_000)],
        help_text="Requests past this many in a minute are answered 429 with Retry-After.",
    )
    allow_form_token = models.BooleanField(
        "accept the token in a form field",
        default=False,
        help_text="Accept the token as a hidden “token” field of an HTML form. Anyone who can "
        "read the page can read the token: use it only for a form's own source.",
    )
    thank_you_url = models.URLField(
        "thank-you URL",
        max_length=500,
        blank=True,
        help_text="Where a form that asks for it (a “redirect” field) is sent after posting.",
    )
    default_accounts = models.ManyToManyField(
        ProviderAccount,
        blank=True,
        related_name="intake_sources",
        help_text="Where this source's leads are pushed when no routing rule matches.",
    )
    default_push_options = models.JSONField(
        default=dict,
        blank=True,
        help_text='Push options per default account, keyed by account id: {"3": {"campaign_id":'
        " 42}}.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self):
        return self.name

    def save(self, *args, **kwargs):
        """A source saved without a token gets one nobody knows (rotate it to use the source)."""
        if not self.token_hash:
            self.issue_token()
        super().save(*args, **kwargs)

    def issue_token(self) -> str:
        """Give the source a new random token and return it; only its hash is kept.

        The caller saves the source and shows the token once: it cannot be read back.
        """
        token = TOKEN_MARK + secrets.token_urlsafe(32)
        self.token_hash = hash_token(token)
        self.token_prefix = token[: len(TOKEN_MARK) + PREFIX_LENGTH]
        self.token_rotated_at = timezone.now()
        return token

    @property
    def origins(self) -> list[str]:
        """The allowed origins as a list, lower-cased."""
        return [origin.lower() for origin in parse_origins(self.allowed_origins)]

    def clean(self):
        """One origin per line in the browser's form; push options a dict of dicts by account."""
        super().clean()
        self.allowed_origins = "\n".join(
            check_origin(origin) for origin in parse_origins(self.allowed_origins)
        )
        check_push_options(self.default_push_options)


def check_push_options(options) -> None:
    """A ValidationError unless ``options`` is {account id: {option: value}}."""
    if not isinstance(options, dict):
        raise ValidationError(
            {"default_push_options": "Write an object keyed by account id, e.g. {}."}
        )
    for key, value in options.items():
        if not str(key).isdigit() or not isinstance(value, dict):
            raise ValidationError(
                {
                    "default_push_options": f"“{key}”: each key is an account id and each value "
                    'an object of options, e.g. {"3": {"campaign_id": 42}}.'
                }
            )


class IntakeKey(models.Model):
    """An idempotency key (``Idempotency-Key`` header or ``externalId``) a source has used."""

    source = models.ForeignKey(IntakeSource, on_delete=models.CASCADE, related_name="keys")
    key = models.CharField(max_length=300)
    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="intake_keys")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["source", "key"], name="intake_key_unique"),
        ]

    def __str__(self):
        return f"{self.source}: {self.key}"
