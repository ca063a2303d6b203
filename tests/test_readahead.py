"""integrations.readahead: what crosses from the page-reading child process to the sync."""

import pickle

import requests

from integrations.base import _network_error
from integrations.errors import ProviderUnreachable, RateLimitedError, TransientError
from integrations.readahead import portable


def test_a_network_error_crosses_as_its_integrations_class_with_its_message():
    error = _network_error(
        ProviderUnreachable, requests.ConnectionError("refused"), "Leeloo could not be reached"
    )
    assert isinstance(error, requests.ConnectionError)  # made on the fly: pickle cannot name it
    crossed = pickle.loads(pickle.dumps(portable(error)))
    assert type(crossed) is ProviderUnreachable and isinstance(crossed, TransientError)
    assert str(crossed) == str(error)


def test_a_provider_error_crosses_unchanged_with_its_attributes():
    error = RateLimitedError("Leeloo answered 429", retry_after=7.0, status=429, code="slow")
    assert portable(error) is error
    crossed = pickle.loads(pickle.dumps(error))
    assert (type(crossed), crossed.retry_after, crossed.status, crossed.code) == (
        RateLimitedError,
        7.0,
        429,
        "slow",
    )


def test_a_credential_unpickled_in_the_child_is_redacted_there_too():
    from integrations import secrets

    value = "tok-unpickled-7f3a9c"
    credential = secrets.Secret(value)
    payload = pickle.dumps(credential)
    with secrets._known_lock:
        secrets._known_values.discard(value)  # as in a fresh child process
    assert secrets.redact_text(f"token={value}") == f"token={value}"
    crossed = pickle.loads(payload)
    assert crossed.reveal() == value
    assert value not in secrets.redact_text(f"token={value}")
