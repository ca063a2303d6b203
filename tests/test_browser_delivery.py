"""Aloware's "contact already exists" in Chromium: the dead delivery's page says the way out,
and "Retry with force update" from the Deliveries list sends it again, updated (issue 15,
point 7)."""

import pytest

from bridge import outbox
from bridge.models import Contact, Delivery

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_dead_aloware_delivery_is_retried_with_force_update_from_the_list(
    page, live_server, staff, make_contact, fake_account, fakes
):
    aloware = fake_account("aloware")
    contact = make_contact(first_name="Ann", phone="+13105550191")
    outbox.enqueue(Contact, {aloware: [contact.pk]})
    outbox.run_until_settled([aloware.pk], timeout=30)
    contact.first_name = "Annie"
    contact.save()
    batch = outbox.enqueue(Contact, {aloware: [contact.pk]})
    outbox.run_until_settled([aloware.pk], timeout=30)
    delivery = batch.deliveries.get()
    assert delivery.state == Delivery.State.DEAD

    log_in(page, live_server)
    page.goto(f"{live_server.url}/admin/bridge/delivery/{delivery.pk}/change/")
    assert "use force_update" in page.inner_text(".field-error_message")
    assert 'run "Retry with force update"' in page.inner_text(".field-next_step")

    page.goto(f"{live_server.url}/admin/bridge/delivery/")
    page.check(f"input[name=_selected_action][value='{delivery.pk}']")
    page.select_option("select[name=action]", label="Retry with force update (Aloware)")
    page.click("button[name=index]")
    assert "1 Aloware delivery will be sent again with force update." in (
        page.inner_text("ul.messagelist")
    )
    outbox.run_until_settled([aloware.pk], timeout=30)

    page.goto(f"{live_server.url}/admin/bridge/delivery/{delivery.pk}/change/")
    assert "Delivered" in page.inner_text(".field-state_display")
    assert fakes.fakes["aloware"].contacts["+13105550191"]["first_name"] == "Annie"
