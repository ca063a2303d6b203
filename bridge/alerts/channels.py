"""Sending one message to one channel: email through Django's mail, or a webhook POST.

A webhook gets Slack's incoming-webhook JSON, ``{"text": …}``. Its URL is a secret: it is
POSTed to that URL's host only (no redirects are followed, no proxy or .netrc from the
environment is used), and every error names the channel and its masked URL, never the URL.
Failures are raised as :class:`ChannelError`, whose text is safe to store and show.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.core.mail import EmailMessage

from bridge.conf import bridge_setting
from bridge.models import AlertChannel
from bridge.models.alerts import mask_url
from integrations.secrets import redact_text, remember_secret

#: A URL's path shorter than this is not a secret worth scrubbing ("/" would mask every slash).
SECRET_PATH_MIN = 8


class ChannelError(Exception):
    """A message could not be sent to a channel; the text names the channel and the problem."""


def send(channel: AlertChannel, subject: str, text: str) -> None:
    """Send ``subject`` and ``text`` to ``channel``; :class:`ChannelError` when it fails."""
    if channel.kind == AlertChannel.Kind.WEBHOOK:
        post_webhook(channel, f"*{subject}*\n{text}")
    else:
        send_email(channel, subject, text)


def send_email(channel: AlertChannel, subject: str, text: str) -> None:
    """One email to every address of the channel."""
    addresses = channel.address_list()
    if not addresses:
        raise ChannelError(f"{channel.name}: no email address is set.")
    message = EmailMessage(
        subject=f"[CRM Bridge] {subject}",
        body=text,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=addresses,
    )
    try:
        message.send()  # raises on failure (fail_silently is off)
    except Exception as error:  # SMTP, socket, TLS: every one is this channel's failure
        problem = redact_text(f"{type(error).__name__}: {error}")[:300]
        raise ChannelError(f"{channel.name} ({', '.join(addresses)}): {problem}") from None


def remember_path(url: str) -> None:
    """The URL's path and query are its secret (Slack's token is the path): logs scrub them
    (urllib3's debug line names the path without the host) through the redacting filter."""
    parts = urlsplit(url)
    secret = parts.path + (f"?{parts.query}" if parts.query else "")
    if len(secret) >= SECRET_PATH_MIN:
        remember_secret(secret)


def post_webhook(channel: AlertChannel, text: str) -> None:
    """POST ``{"text": text}`` to the channel's URL; a 2xx answer is success."""
    url = channel.plain_url()
    where = f"{channel.name} ({mask_url(url)})"
    if not url:
        raise ChannelError(f"{channel.name}: no webhook URL is set.")
    remember_path(url)
    timeout = bridge_setting("BRIDGE_ALERT_WEBHOOK_TIMEOUT", 5.0, minimum=0.1)
    try:
        with requests.Session() as session:
            session.trust_env = False  # no proxy or .netrc: the URL goes to its own host only
            response = session.post(
                url, json={"text": text}, timeout=timeout, allow_redirects=False
            )
    except requests.Timeout:
        raise ChannelError(f"{where}: no answer within {timeout:g} s.") from None
    except requests.ConnectionError:
        raise ChannelError(f"{where}: could not connect.") from None
    except requests.RequestException as error:
        raise ChannelError(f"{where}: the request failed ({type(error).__name__}).") from None
    if 300 <= response.status_code < 400:
        raise ChannelError(
            f"{where}: answered {response.status_code} redirecting elsewhere; alerts do not "
            "follow redirects (the URL is a secret). Check the URL."
        )
    if not 200 <= response.status_code < 300:
        body = redact_text(response.text[:200].replace(url, mask_url(url)))
        raise ChannelError(f"{where}: answered {response.status_code}: {body or 'no body'}")
