"""Intake sources in the admin and from the shell: the token is shown once, rotated, never kept."""

import io
import re

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from bridge.models import IntakeSource
from bridge.models.intake import hash_token

from .intake_helpers import lead_body, post_json

pytest_plugins = ["tests.intake_fixtures"]
pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("empty_cache")]

TOKEN = re.compile(r"crmb_in_[A-Za-z0-9_-]{20,}")


def add_source(client, **fields):
    data = {
        "name": "website",
        "enabled": "on",
        "allowed_origins": "",
        "rate_limit_per_minute": "60",
        "thank_you_url": "",
        "default_push_options": "{}",
        **fields,
    }
    return client.post(reverse("admin:bridge_intakesource_add"), data)


def shown_tokens(response) -> list[str]:
    return TOKEN.findall(response.content.decode())


def test_adding_a_source_shows_its_token_once_and_keeps_only_its_hash(admin_client):
    response = add_source(admin_client, allow_form_token="on")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    (token,) = set(shown_tokens(response))
    assert "Shown once" in response.content.decode()
    source = IntakeSource.objects.get(name="website")
    assert source.token_hash == hash_token(token)
    assert token.startswith(source.token_prefix) and len(source.token_prefix) < len(token) / 3
    assert token not in str(vars(source))
    page = admin_client.get(reverse("admin:bridge_intakesource_change", args=[source.pk]))
    assert shown_tokens(page) == []
    assert source.token_prefix in page.content.decode()
    assert post_json(token, lead_body()).status_code == 202


def test_a_sources_page_has_a_curl_example_and_a_form_snippet_with_a_placeholder(
    admin_client, make_source
):
    source, token = make_source(allow_form_token=True, thank_you_url="https://example.com/ok")
    page = admin_client.get(reverse("admin:bridge_intakesource_change", args=[source.pk]))
    text = page.content.decode()
    assert token not in text
    assert "curl -X POST http://testserver/api/v1/leads" in text
    assert "Authorization: Bearer &lt;YOUR-TOKEN&gt;" in text
    assert "&lt;form method=&quot;post&quot; action=&quot;http://testserver/api/v1/leads" in text
    assert "name=&quot;token&quot; value=&quot;&lt;YOUR-TOKEN&gt;&quot;" in text
    assert "name=&quot;redirect&quot;" in text
    assert 'data-copy="intake-curl"' in text and 'data-copy="intake-form"' in text


def test_the_form_snippet_says_when_a_source_takes_no_form_token(admin_client, make_source):
    source, _ = make_source(allow_form_token=False)
    page = admin_client.get(reverse("admin:bridge_intakesource_change", args=[source.pk]))
    text = page.content.decode()
    assert "name=&quot;token&quot;" not in text
    assert "does not accept its token in a form field" in text


def test_rotating_shows_each_new_token_once_and_the_old_one_stops_working(
    admin_client, make_source
):
    first, old_first = make_source("first")
    second, old_second = make_source("second")
    response = admin_client.post(
        reverse("admin:bridge_intakesource_changelist"),
        {"action": "rotate_tokens", "_selected_action": [first.pk, second.pk], "index": "0"},
    )
    assert response.status_code == 200
    tokens = shown_tokens(response)
    assert len(set(tokens)) == 2 and not {old_first, old_second} & set(tokens)
    assert post_json(old_first, lead_body()).status_code == 401
    new_first = next(
        t for t in tokens if hash_token(t) == IntakeSource.objects.get(pk=first.pk).token_hash
    )
    assert post_json(new_first, lead_body()).status_code == 202
    from django.contrib.admin.models import LogEntry

    assert LogEntry.objects.filter(change_message="Rotated the token.").count() == 2
    assert not any(t in str(LogEntry.objects.values_list()) for t in tokens)


@pytest.mark.parametrize(
    ("fields", "error_field", "words"),
    [
        ({"name": "has spaces"}, "name", "valid “slug”"),
        ({"allowed_origins": "https://example.com/path"}, "allowed_origins", "not an origin"),
        ({"allowed_origins": "example.com"}, "allowed_origins", "not an origin"),
        ({"rate_limit_per_minute": "0"}, "rate_limit_per_minute", "greater than or equal to 1"),
        ({"thank_you_url": "javascript:alert(1)"}, "thank_you_url", "valid URL"),
        ({"default_push_options": "[]"}, "default_push_options", "keyed by account id"),
        ({"default_push_options": '{"7": {"a": 1}}'}, "default_push_options", "not among"),
    ],
)
def test_the_add_form_names_each_bad_field(admin_client, fields, error_field, words):
    response = add_source(admin_client, **fields)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert error_field in errors, errors
    assert words in " ".join(errors[error_field]), errors
    assert not IntakeSource.objects.exists()


def test_push_options_for_a_default_account_are_kept(admin_client, make_account):
    account = make_account("aiployees")
    response = add_source(
        admin_client,
        default_accounts=[account.pk],
        default_push_options=f'{{"{account.pk}": {{"campaign_id": 42}}}}',
        allowed_origins="https://WWW.Example.com, https://shop.example.com",
    )
    assert response.status_code == 200, response.context["adminform"].form.errors
    source = IntakeSource.objects.get()
    assert list(source.default_accounts.all()) == [account]
    assert source.default_push_options == {str(account.pk): {"campaign_id": 42}}
    assert source.origins == ["https://www.example.com", "https://shop.example.com"]


def test_default_push_options_are_checked_as_the_push_page_checks_them(admin_client, make_account):
    aello = make_account("aello")
    calls = make_account("aiployees", name="calls")
    response = add_source(
        admin_client,
        default_accounts=[aello.pk, calls.pk],
        default_push_options=f'{{"{aello.pk}": {{"campaign_id": 42}}}}',
    )
    errors = " ".join(response.context["adminform"].form.errors["default_push_options"])
    assert f"{aello.name}: unknown option 'campaign_id'" in errors
    assert "calls: Campaign id is required" in errors
    assert not IntakeSource.objects.exists()


# --- the command --------------------------------------------------------------------------------


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("intake_source", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_the_command_creates_a_source_and_prints_only_its_token(db):
    out, err = run(
        "partner",
        "--origin",
        "https://a.example.com",
        "--rate-limit",
        "120",
        "--allow-form-token",
        "--thank-you-url",
        "https://a.example.com/thanks",
    )
    token = out.strip()
    assert TOKEN.fullmatch(token)
    assert "Created intake source 'partner'" in err and token not in err
    source = IntakeSource.objects.get(name="partner")
    assert source.token_hash == hash_token(token)
    assert (source.rate_limit_per_minute, source.allow_form_token) == (120, True)
    assert source.origins == ["https://a.example.com"]
    assert post_json(token, lead_body()).status_code == 202


def test_the_command_rotates_a_sources_token(make_source):
    source, old = make_source("partner")
    out, err = run("partner", "--rotate")
    new = out.strip()
    assert new != old and "Rotated" in err
    assert post_json(old, lead_body()).status_code == 401
    assert post_json(new, lead_body()).status_code == 202


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["partner"], "already exists; use --rotate"),
        (["nobody", "--rotate"], "there is no intake source 'nobody'"),
        (["bad name"], "name:"),
        (["fresh", "--origin", "https://a.example.com/x"], "allowed_origins:"),
        (["fresh", "--rate-limit", "0"], "rate_limit_per_minute:"),
        (["fresh", "--thank-you-url", "ftp//nope"], "thank_you_url:"),
    ],
)
def test_the_command_refuses_bad_input_clearly(make_source, args, words):
    make_source("partner")
    with pytest.raises(CommandError, match=re.escape(words)):
        run(*args)
    assert list(IntakeSource.objects.values_list("name", flat=True)) == ["partner"]


def test_the_list_links_each_source_to_its_leads(admin_client, make_source, make_lead):
    make_source("website")
    make_lead(source="website")
    make_lead(source="elsewhere")
    listing = admin_client.get(reverse("admin:bridge_intakesource_changelist"))
    (link,) = re.findall(r'href="([^"]*source__exact=website)"', listing.content.decode())
    leads = admin_client.get(link)
    assert leads.status_code == 200
    assert leads.context["cl"].result_count == 1


# --- default routing ----------------------------------------------------------------------------


def test_a_leads_default_targets_are_its_sources_enabled_accounts_with_their_options(
    make_source, make_account, make_lead
):
    from bridge.intake.defaults import default_targets

    aello = make_account("aello")
    aloware = make_account("aloware")
    off = make_account("aello", name="aello-off", enabled=False)
    source, _ = make_source(default_push_options={str(aloware.pk): {"force_update": True}})
    source.default_accounts.set([aello, aloware, off])
    lead = make_lead(source="website")
    assert default_targets(lead) == [(aello, {}), (aloware, {"force_update": True})]
    assert default_targets(make_lead(source="typed-by-hand")) == []
    source.enabled = False
    source.save()
    assert default_targets(lead) == []
