"""A provider operation's options: the form field each one gets, and checking a stored set.

The admin's "Push to…" page (``bridge.admin.push.PushForm``) builds its option fields here,
and a routing rule's target (``bridge.models.routing.RuleTarget``) and ``manage.py routes add``
check their stored options through the same fields (:func:`check_options`), so an option
refused on the push page is refused everywhere, with the same words.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from integrations.base import Option


def option_field(option: Option, default) -> forms.Field:
    """A form field for one provider option; blank means "use the account's default"."""
    help_text = option.help
    if default not in (None, "", [], {}):
        help_text = f"{help_text} Account default: {default}.".strip()
    common = {"label": option.label, "help_text": help_text, "required": False}
    if option.kind == "bool":
        return forms.NullBooleanField(
            widget=forms.Select(
                choices=[("unknown", "Account default"), ("true", "Yes"), ("false", "No")]
            ),
            **common,
        )
    if option.kind == "int":
        return forms.IntegerField(min_value=0, **common)
    if option.kind == "choice":
        return forms.ChoiceField(choices=[("", "Account default"), *option.choices], **common)
    if option.kind == "list":
        return forms.CharField(**{**common, "help_text": f"{help_text} Comma-separated."})
    return forms.CharField(max_length=500, **common)


def option_value(option: Option, value):
    """A cleaned field's value as the outbox stores it (a list option becomes a list)."""
    if option.kind == "list" and isinstance(value, str):
        return [item.strip() for item in value.split(",") if item.strip()]
    return value


def missing_required(option: Option, value, account_options: dict) -> bool:
    """A required option left blank with no default in the account's options."""
    return option.required and value in (None, "") and not account_options.get(option.name)


def as_form_value(value) -> str:
    """A stored option value as the push page's form would have posted it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ", ".join(str(item) for item in value)
    return "" if value is None else str(value)


def check_options(account, operation: str, options: dict, field: str = "options") -> dict:
    """``options`` for ``operation`` at ``account``, cleaned as the push page cleans them.

    Raises ``ValidationError`` on ``field`` naming each bad option (an unknown name, a value
    its field refuses, a required one missing with no account default). Returns what the
    push page would enqueue: blank options left out (the account's default applies).
    """
    spec = account.provider_class.operation_specs().get(operation)
    if spec is None:
        raise ValidationError({field: f"{account.provider_class.name} has no '{operation}'."})
    if not isinstance(options, dict):
        raise ValidationError({field: 'must be a JSON object, e.g. {"campaign_id": 12}.'})
    known = {option.name: option for option in spec.options}
    problems = [
        f"unknown option '{name}' for {account.provider_class.name} {operation} "
        f"(known: {', '.join(known) or 'none'})"
        for name in options
        if name not in known
    ]
    cleaned = {}
    for name, option in known.items():
        form_field = option_field(option, None)
        try:
            value = form_field.clean(as_form_value(options.get(name)))
        except ValidationError as exc:
            problems.append(f"{option.label} ({name}): {' '.join(exc.messages)}")
            continue
        if missing_required(option, value, account.options or {}):
            problems.append(
                f"{option.label} is required for {account.name} (it has no default in its options)."
            )
        elif value not in (None, ""):
            cleaned[name] = option_value(option, value)
    if problems:
        raise ValidationError({field: problems})
    return cleaned
