"""The intake tests' fixtures (a pytest plugin their modules name in ``pytest_plugins``)."""

import pytest
from django.core.cache import cache

from bridge.intake.auth import forget_sources
from bridge.models import IntakeSource


@pytest.fixture
def empty_cache():
    """Rate-limit counters live in the cache, and each process remembers the sources it has
    read: each intake test starts with neither.

    Not autouse: this module is a plugin, and an autouse fixture would run for every test.
    """
    cache.clear()
    forget_sources()
    yield
    cache.clear()
    forget_sources()


@pytest.fixture
def make_source(db):
    """An intake source, validated as the admin would, and its token: (source, token)."""

    def make(name="website", **fields):
        source = IntakeSource(name=name, **fields)
        token = source.issue_token()
        source.full_clean()
        source.save()
        return source, token

    return make
