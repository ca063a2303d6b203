"""One way to read the bridge's own settings, with errors that name the setting.

``settings.py`` reads the environment once at start-up; the machinery reads its tunables here
at run time (tests override them with ``override_settings``). A value below its minimum is a
configuration mistake, reported as such and naming the setting, like anymail's
``get_anymail_setting``.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def bridge_setting(name: str, default: Any, *, minimum: float | None = None) -> Any:
    """``settings.<name>`` (``default`` when unset), checked against ``minimum``.

    The value keeps the type of ``default`` (an int setting given as "3" is 3), so a setting
    typed in an environment file or an ``override_settings`` reads the same way.
    """
    value = getattr(settings, name, default)
    if default is not None and not isinstance(default, bool):
        try:
            value = type(default)(value)
        except (TypeError, ValueError):
            raise ImproperlyConfigured(
                f"{name} must be a {type(default).__name__}, not {value!r}."
            ) from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name} must be at least {minimum:g}, not {value}.")
    return value
