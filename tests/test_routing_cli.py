"""``manage.py routes``: listing, adding for scripted set-ups, and errors naming the argument."""

from datetime import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from bridge.models import Lead, LeadRouting, RoutingRule, Tag


def routes(*args) -> None:
    call_command("routes", *args)


def test_add_a_rule_with_every_argument_then_list_it(make_account, capsys):
    make_account("aiployees")
    Tag.objects.create(name="VIP")
    routes(
        "add", "web-to-caller", "--source", "website", "--source", "landing",
        "--account", "aiployees", "--option", "campaign_id=42",
        "--option", "allow_dupplicate=false", "--product-title", "Midlum", "--tag", "VIP",
        "--country", "us", "--has-phone", "yes", "--delay", "5m",
        "--hours", "mon-fri", "09:00-18:00", "--stop",
    )  # fmt: skip
    rule = RoutingRule.objects.get()
    assert (rule.sources, rule.countries, rule.has_phone) == ("website, landing", "US", True)
    assert (rule.delay_seconds, rule.business_days) == (300, "mon,tue,wed,thu,fri")
    assert (rule.business_start, rule.business_end) == (time(9), time(18))
    assert rule.stop_after_match and rule.enabled and rule.order == 10
    assert [tag.name for tag in rule.tags.all()] == ["VIP"]
    (target,) = rule.targets.all()
    assert target.options == {"campaign_id": 42, "allow_dupplicate": False}
    capsys.readouterr()
    routes()
    listing = capsys.readouterr().out
    assert "10  web-to-caller  [enabled]" in listing
    assert "source in [website, landing]" in listing and "tagged any of [VIP]" in listing
    assert "aiployees push {'campaign_id': 42, 'allow_dupplicate': False}" in listing
    assert "(after 5m, mon,tue,wed,thu,fri 09:00–18:00)" in listing and "then stop" in listing


def test_the_next_rule_goes_after_the_last_and_an_empty_list_says_so(make_account, capsys):
    routes()
    assert capsys.readouterr().out == "No routing rules.\n"
    make_account("aello")
    routes("add", "first", "--account", "aello")
    routes("add", "second", "--account", "aello", "--disabled")
    assert list(RoutingRule.objects.values_list("name", "order", "enabled")) == [
        ("first", 10, True),
        ("second", 20, False),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--account", "nope"], "--account: no account named nope (known: aello, aiployees)"),
        (
            ["--account", "aiployees", "--option", "campaign=7"],
            "--option: unknown option 'campaign' for Aiployees push",
        ),
        (
            ["--account", "aiployees", "--option", "campaign_id=seven"],
            "--option: Campaign id (campaign_id): Enter a whole number.",
        ),
        (["--account", "aiployees", "--option", "oops"], "--option: 'oops' is not NAME=VALUE."),
        (["--account", "aello", "--delay", "soon"], "--delay: 'soon' is not a duration"),
        (
            ["--account", "aello", "--hours", "mon-fri", "9-18:00"],
            "--hours: '9-18:00' is not a time span",
        ),
        (
            ["--account", "aello", "--hours", "weekdays", "09:00-18:00"],
            "--hours: 'weekdays' is not a day",
        ),
        (["--account", "aello", "--hours", "mon", "18:00-09:00"], "--hours: must be after"),
        (["--account", "aello", "--country", "France"], "--country: not a two-letter ISO"),
        (["--account", "aello", "--tag", "nope"], "--tag: no tag named nope"),
        (["--account", "aello", "--operation", "add_tag"], "--operation: Aéllo Copilot cannot"),
    ],  # fmt: skip
)
def test_bad_input_names_the_argument_and_writes_nothing(make_account, args, message):
    make_account("aello")
    make_account("aiployees", options={})
    with pytest.raises(CommandError) as error:
        routes("add", "bad", *args)
    assert message in str(error.value)
    assert not RoutingRule.objects.exists()


def test_a_rule_name_is_unique(make_account):
    make_account("aello")
    routes("add", "same", "--account", "aello")
    with pytest.raises(CommandError, match="NAME: Routing rule with this Name already exists"):
        routes("add", "same", "--account", "aello")


def test_pending_routes_new_leads_a_crash_left_unrouted(make_account, make_lead, capsys):
    make_account("aello")
    routes("add", "all", "--account", "aello")
    lead = make_lead()  # in the test's transaction: never committed, so not routed yet
    assert not LeadRouting.objects.exists()
    routes("pending", "--since", "2h")
    assert "Routed 1 lead(s); 1 push(es) queued." in capsys.readouterr().out
    assert LeadRouting.objects.get().lead == lead
    routes("pending")
    assert "Routed 0 lead(s)" in capsys.readouterr().out
    assert Lead.objects.count() == 1


def test_the_minute_sweep_routes_what_a_crash_left_unrouted_in_the_last_hour(
    make_account, make_lead
):
    from datetime import timedelta

    from django.utils import timezone

    from bridge import routing
    from bridge.schedules import bridge_jobs

    make_account("aello")
    routes("add", "all", "--account", "aello")
    now = timezone.now()
    # In the test's transaction nothing commits, so none of these is routed by its commit.
    stranded, fresh, old = make_lead(), make_lead(), make_lead()
    Lead.objects.filter(pk=stranded.pk).update(created_at=now - timedelta(minutes=5))
    Lead.objects.filter(pk=old.pk).update(created_at=now - timedelta(hours=2))
    assert routing.sweep() == 1  # fresh: its own commit routes it; old: before the window
    assert list(LeadRouting.objects.values_list("lead", flat=True)) == [stranded.pk]
    assert routing.sweep() == 0
    assert fresh.pk not in LeadRouting.objects.values_list("lead", flat=True)
    assert "bridge.routing.sweep" in {job.func for job in bridge_jobs()}
