"""Hostile import files and the confirm step, through the admin's real import views.

The hostile files are built by bench/hostile_uploads.py (zipfile, part by part): each must be
refused on the import page with a message naming the file's problem and the limit, with no
confirm step and nothing written. ``python bench/faults.py --only hostile_uploads`` measures
what each refusal costs. The confirm step must import only the file this session previewed.
"""

import os
import tempfile
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bench.hostile_uploads import corpus
from bridge.models import Contact
from tests.test_import_export import confirm, csv_file, messages_of, upload

HOSTILE = {hostile.name: hostile for hostile in corpus()}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_a_hostile_file_is_refused_with_a_message_naming_the_limit(admin_client, db, name):
    hostile = HOSTILE[name]
    file = SimpleUploadedFile(hostile.file_name, hostile.data)

    response = upload(admin_client, "contact", file, hostile.file_format)

    assert response.status_code == 200
    page = response.content.decode()
    assert hostile.message in page, error_lists(page)
    assert response.context.get("confirm_form") is None
    assert Contact.objects.count() == 0
    kept = response.wsgi_request.FILES["import_file"].tmp_storage_name
    assert not os.path.exists(os.path.join(tempfile.gettempdir(), kept))  # not kept when refused


def test_the_limits_are_settings_and_the_messages_follow_them(admin_client, db, settings):
    settings.BRIDGE_IMPORT_MAX_COLUMNS = 3
    settings.BRIDGE_IMPORT_MAX_CELL_CHARS = 15
    rows = [["email", "phone", "company"], ["a@example.com", "", "A" * 16]]

    response = upload(admin_client, "contact", csv_file(rows))
    assert "Row 2, column C holds 16 characters; at most 15 are allowed" in (
        response.content.decode()
    )

    rows = [["email", "phone", "company", "city"], ["a@example.com", "", "", ""]]
    response = upload(admin_client, "contact", csv_file(rows))
    assert "Row 1 reaches column D (4 columns); at most 3 are allowed" in (
        response.content.decode()
    )
    assert Contact.objects.count() == 0


def test_a_value_under_no_header_is_refused_not_dropped(admin_client, db):
    rows = [["email", "phone"], ["a@example.com", "", "", "lost?"]]

    response = upload(admin_client, "contact", csv_file(rows))

    assert (
        "Row 2, column D holds a value, but the header row names only 2 columns"
        in response.content.decode()
    )
    assert Contact.objects.count() == 0


# --- the confirm step --------------------------------------------------------------------------


@pytest.fixture
def victim():
    """A file of the temporary folder the import never wrote: a valid CSV of one contact."""
    path = os.path.join(tempfile.gettempdir(), f"victim-{uuid.uuid4().hex}.csv")
    with open(path, "wb") as file:
        file.write(b"email\r\nvictim@example.com\r\n")
    yield path
    if os.path.exists(path):
        os.remove(path)


def confirm_fields(preview) -> dict:
    form = preview.context["confirm_form"]
    fields = ("import_file_name", "original_file_name", "format", "resource")
    return {name: form.initial[name] for name in fields}


def test_confirm_refuses_a_posted_file_name_and_neither_reads_nor_deletes_it(
    admin_client, db, victim
):
    preview = upload(admin_client, "contact", csv_file([["email"], ["mine@example.com"]]))
    posted = confirm_fields(preview)
    posted["import_file_name"] = os.path.basename(victim)

    response = admin_client.post(reverse("admin:bridge_contact_process_import"), posted)

    assert response.status_code == 200
    assert "This import is not waiting for confirmation in your session" in (
        response.content.decode()
    )
    assert os.path.exists(victim)
    assert Contact.objects.count() == 0


def test_confirm_page_carries_a_token_not_the_temporary_file_name(admin_client, db):
    preview = upload(admin_client, "contact", csv_file([["email"], ["mine@example.com"]]))
    token = confirm_fields(preview)["import_file_name"]

    assert not os.path.exists(os.path.join(tempfile.gettempdir(), token))
    done = confirm(admin_client, "contact", preview)
    assert done.status_code == 302
    assert Contact.objects.filter(email="mine@example.com").exists()

    again = admin_client.post(
        reverse("admin:bridge_contact_process_import"), confirm_fields(preview)
    )  # a token confirms one import, once
    assert again.status_code == 200
    assert "not waiting for confirmation" in again.content.decode()
    assert Contact.objects.count() == 1


def test_a_token_from_the_contact_import_does_not_confirm_a_lead_import(admin_client, db):
    preview = upload(admin_client, "contact", csv_file([["email"], ["mine@example.com"]]))

    response = admin_client.post(
        reverse("admin:bridge_lead_process_import"), confirm_fields(preview)
    )

    assert "not waiting for confirmation" in response.content.decode()
    assert Contact.objects.count() == 0


def test_confirm_checks_the_size_limit_again(admin_client, db, settings):
    rows = [["email", "notes"], ["a@example.com", "x" * 3_000]]
    preview = upload(admin_client, "contact", csv_file(rows))
    assert preview.context.get("confirm_form") is not None
    settings.BRIDGE_IMPORT_MAX_BYTES = 1_000  # lowered (or the file grew) since the preview

    response = confirm(admin_client, "contact", preview)

    assert response.status_code == 200
    assert "the limit is 1000 bytes (BRIDGE_IMPORT_MAX_BYTES)" in response.content.decode()
    assert Contact.objects.count() == 0


def test_confirm_ignores_a_format_changed_on_the_page(admin_client, db):
    preview = upload(admin_client, "contact", csv_file([["email"], ["mine@example.com"]]))
    posted = confirm_fields(preview)
    posted["format"] = "1"  # XLSX, but the kept file is the previewed CSV

    done = admin_client.post(reverse("admin:bridge_contact_process_import"), posted)

    assert done.status_code == 302, done.content.decode()[:2000]
    assert "Import finished: 1 new" in messages_of(done)[0]


def error_lists(page: str) -> str:
    """The page's error lists, for an assertion's message."""
    import re

    return "\n".join(re.findall(r'<ul class="errorlist[^"]*">.*?</ul>', page, re.S))
