"""The fault suites of bench/faults.py at CI size: provider down, 429 storms, bad input
(admin forms and the CSV import).

Marked ``faults`` (``pytest -m "not faults"`` leaves them out). They assert counts, never
times: nothing lost, nothing duplicated at the fake, every malformed form refused.
"""

import pytest

from bench import common, faults

pytestmark = [pytest.mark.faults, pytest.mark.django_db(transaction=True)]


class InProcessFakes:
    """The session's in-process fake server behind the interface bench/faults.py drives."""

    def __init__(self, server):
        self.server = server

    def reset(self):
        self.server.reset()

    def add_fault(self, kind, provider="aello", **options):
        return self.server.add_fault(provider, kind, **options)

    def clear_faults(self):
        self.server.clear_faults()

    def state(self, provider="aello"):
        fake = self.server.fakes[provider]
        with fake.lock:
            return fake.summary()

    def times(self, provider="aello"):
        return [request.received_at for request in self.server.requests_for(provider)]


@pytest.fixture
def scenario(fakes, fake_account, settings):
    """(fakes, make_account, seed) as bench/faults.py's scenarios take them.

    The test settings retry within milliseconds; enough attempts to outlast the outage.
    """
    settings.BRIDGE_MAX_ATTEMPTS = 50

    def make_account(**fields):
        return fake_account("aello", **fields)

    return InProcessFakes(fakes), make_account, common.seed_leads


def test_provider_down_then_500s_loses_and_duplicates_nothing(scenario):
    result = faults.provider_down(*scenario, leads=faults.SMALL["leads"], outage_s=1.5)
    assert result["states"] == {"delivered": faults.SMALL["leads"]}, result
    assert result["lost"] == 0 and result["duplicates"] == 0, result


def test_rate_limit_storm_waits_and_delivers_everything(scenario):
    result = faults.rate_limit_storm(*scenario, leads=faults.SMALL["storm_leads"])
    assert result["lost"] == 0 and result["duplicates"] == 0, result
    assert result["inside_retry_after"] == 0, result
    assert result["max_requests_in_1s"] <= result["rate_limit_per_s"] * 1.1 + 1, result


def test_malformed_contacts_and_leads_are_refused_without_a_500():
    result = faults.bad_inputs(faults.SMALL["bad_inputs"], faults.SMALL["bad_imports"])
    for outcome in (result, result["import"]):
        assert outcome["server_errors"] == 0 and outcome["accepted"] == [], outcome
        assert outcome["refused"] == outcome["total"] and outcome["rows_written"] == 0, outcome
