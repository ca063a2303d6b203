"""Credentials: encrypted at rest, write-only in the admin, scrubbed from logs and errors."""

import logging

import pytest
from django.db import connection
from django.urls import reverse

from bridge.crypto import TOKEN_PREFIX
from bridge.models import ProviderAccount
from integrations.errors import PermanentError
from integrations.secrets import MASK, RedactingFilter, Secret, redact

PLAIN = "sk-live-7f3a9c2e1b4d6f8a"


def test_credential_round_trips_and_is_ciphertext_in_the_database(make_account):
    account = make_account("aello", credential=PLAIN)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT credential FROM {ProviderAccount._meta.db_table} WHERE id = %s", [account.pk]
        )
        (stored,) = cursor.fetchone()
    assert stored.startswith(TOKEN_PREFIX)
    assert PLAIN not in stored
    loaded = ProviderAccount.objects.get(pk=account.pk)
    assert isinstance(loaded.credential, Secret)
    assert loaded.credential.reveal() == PLAIN


def test_secret_never_prints_itself():
    secret = Secret(PLAIN)
    assert PLAIN not in str(secret)
    assert PLAIN not in repr(secret)
    assert PLAIN not in f"{secret} {secret!r}"
    assert PLAIN not in repr({"credential": secret})


def test_redact_masks_secret_keys_and_known_values():
    Secret(PLAIN)
    data = {
        "api_token": "whatever-it-is",
        "headers": {"Aello-Api-Key": "x" * 20, "X-Leeloo-AuthToken": "y" * 20},
        "note": f"token was {PLAIN}",
        "phone_number": "+13105550143",
    }
    cleaned = redact(data)
    assert cleaned["api_token"] == MASK
    assert cleaned["headers"] == {"Aello-Api-Key": MASK, "X-Leeloo-AuthToken": MASK}
    assert cleaned["note"] == f"token was {MASK}"
    assert cleaned["phone_number"] == "+13105550143"


def test_log_records_are_scrubbed():
    Secret(PLAIN)
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "calling with %s", (PLAIN,), None)
    RedactingFilter().filter(record)
    assert PLAIN not in record.getMessage()
    assert MASK in record.getMessage()


def test_provider_errors_never_carry_a_known_secret():
    Secret(PLAIN)
    error = PermanentError(f"bad key {PLAIN}", provider_message=f"key {PLAIN}", body=PLAIN)
    assert PLAIN not in str(error)
    assert PLAIN not in error.provider_message + error.body


def test_admin_never_renders_the_credential(admin_client, make_account):
    account = make_account("aello", credential=PLAIN)
    for url in (
        reverse("admin:bridge_provideraccount_change", args=[account.pk]),
        reverse("admin:bridge_provideraccount_changelist"),
    ):
        response = admin_client.get(url)
        assert response.status_code == 200
        assert PLAIN.encode() not in response.content
        assert b"fernet:" not in response.content


def test_admin_keeps_the_credential_when_left_blank_and_replaces_it_when_typed(
    admin_client, make_account
):
    account = make_account("aello", credential=PLAIN)
    url = reverse("admin:bridge_provideraccount_change", args=[account.pk])
    form = {
        "name": "aello",
        "provider": "aello",
        "environment": "sandbox",
        "base_url": "",
        "enabled": "on",
        "new_credential": "",
        "options": "{}",
        "concurrency": "4",
        "requests_per_second": "10",
        "connect_timeout": "5",
        "read_timeout": "30",
    }
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.content[:2000]
    account.refresh_from_db()
    assert account.credential.reveal() == PLAIN and account.environment == "sandbox"
    admin_client.post(url, {**form, "new_credential": "new-key-0987654321"})
    account.refresh_from_db()
    assert account.credential.reveal() == "new-key-0987654321"


@pytest.mark.parametrize("key", ["", "k1"])
def test_rotation_keeps_credentials_readable(settings, make_account, key):
    from cryptography.fernet import Fernet

    from bridge.crypto import decrypt, encrypt, rotate

    old = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    stored = encrypt(PLAIN)
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    assert decrypt(stored) == PLAIN
    rotated = rotate(stored)
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert decrypt(rotated) == PLAIN


def test_rotate_credentials_command_re_encrypts_with_the_new_key(settings, make_account):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    old = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [old]
    account = make_account("aello", credential=PLAIN)
    new = Fernet.generate_key().decode()
    settings.FIELD_ENCRYPTION_KEYS = [new, old]
    call_command("rotate_credentials")
    settings.FIELD_ENCRYPTION_KEYS = [new]
    assert ProviderAccount.objects.get(pk=account.pk).credential.reveal() == PLAIN
