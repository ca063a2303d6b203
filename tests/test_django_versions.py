"""The bridge runs on Django 5.2 (Python 3.11) and Django 6.x (Python 3.13) without warnings.

Django's deprecation warnings are errors in the test run (tests/conftest.py,
``pytest_configure``), whatever their version-specific names; these tests prove the filters are
in place and in the right order, and that the admin's action overrides speak both versions.
"""

import warnings

import pytest
from django.contrib import admin
from django.contrib.auth.models import User
from django.test import RequestFactory
from django.utils import deprecation

from bridge.models import Contact

from .conftest import django_deprecation_filters

DJANGO_DEPRECATIONS = [
    value
    for name, value in vars(deprecation).items()
    if name.startswith("RemovedIn") and isinstance(value, type)
]


def test_there_is_a_filter_for_each_of_djangos_deprecation_warnings():
    names = {line.rsplit(".", 1)[1] for line in django_deprecation_filters()}
    assert {cls.__name__ for cls in DJANGO_DEPRECATIONS} <= names
    assert "RemovedInNextVersionWarning" in names


@pytest.mark.parametrize("category", DJANGO_DEPRECATIONS, ids=lambda cls: cls.__name__)
def test_a_django_deprecation_warning_is_an_error(category):
    with pytest.raises(category, match="a feature Django removes"):
        warnings.warn("a feature Django removes", category, stacklevel=1)


def test_pyprojects_ignores_still_win_over_the_errors():
    """The error lines come first, so pyproject.toml's ignores hold: a Django deprecation
    raised from django_q's own code, and the FORMS_URLFIELD_ASSUME_HTTPS notice."""
    category = deprecation.RemovedInNextVersionWarning
    with warnings.catch_warnings(record=True) as caught:
        warnings.warn_explicit(
            "an API django-q2 still calls",
            category,
            filename="django_q/brokers/orm.py",
            lineno=1,
            module="django_q.brokers.orm",
        )
        warnings.warn(
            "The FORMS_URLFIELD_ASSUME_HTTPS transitional setting is deprecated.",
            category,
            stacklevel=1,
        )
    assert caught == []


def superuser_request():
    request = RequestFactory().get("/admin/bridge/contact/")
    request.user = User(is_superuser=True, is_staff=True, is_active=True)
    return request


def test_the_push_operations_are_change_list_actions():
    model_admin = admin.site._registry[Contact]
    actions = model_admin.get_actions(superuser_request())
    assert "push_any_push" in actions
    assert model_admin.get_action("push_any_push") is not None


def test_django_6_offers_no_push_operation_on_the_change_form():
    """Django 6 asks for the change form's actions too; the push operations are not among
    them (Django 5.2 has no actions on the change form at all)."""
    options = pytest.importorskip("django.contrib.admin.options")
    if not hasattr(options, "ActionLocation"):
        pytest.skip("Django 5.2 has change-list actions only")
    location = options.ActionLocation
    model_admin = admin.site._registry[Contact]
    request = superuser_request()
    on_list = model_admin.get_actions(request, action_location=location.CHANGE_LIST)
    on_form = model_admin.get_actions(request, action_location=location.CHANGE_FORM)
    assert "push_any_push" in on_list
    assert not any(name.startswith("push_") for name in on_form)
    assert model_admin.get_action("push_any_push", location.CHANGE_FORM) is None
