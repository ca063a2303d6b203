"""Import and export of contacts and leads through the admin, as staff use them.

Every import goes through the real views: upload (a dry-run preview), then confirm. The files
are built here: CSV as text, XLSX with openpyxl.
"""

import csv
import io
from datetime import date, datetime
from decimal import Decimal

import openpyxl
import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from bridge.models import Contact, Lead, Tag
from bridge.resources import ContactResource, LeadResource

CSV_FORMAT, XLSX_FORMAT = "0", "1"


def csv_file(rows: list[list], name="people.csv", encoding="utf-8") -> SimpleUploadedFile:
    text = io.StringIO()
    csv.writer(text).writerows(rows)
    return SimpleUploadedFile(name, text.getvalue().encode(encoding), content_type="text/csv")


def xlsx_file(rows: list[list], name="people.xlsx") -> SimpleUploadedFile:
    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    buffer = io.BytesIO()
    book.save(buffer)
    return SimpleUploadedFile(name, buffer.getvalue())


def upload(client, model: str, file, file_format=CSV_FORMAT):
    """The first step: upload a file, get the preview (or the errors)."""
    return client.post(
        reverse(f"admin:bridge_{model}_import"),
        {"resource": "0", "format": file_format, "import_file": file},
    )


def confirm(client, model: str, preview):
    """The second step: confirm the import the preview showed."""
    assert preview.status_code == 200
    form = preview.context.get("confirm_form")
    assert form is not None, page_errors(preview)
    fields = ("import_file_name", "original_file_name", "format", "resource")
    return client.post(
        reverse(f"admin:bridge_{model}_process_import"),
        {name: form.initial[name] for name in fields},
    )


def page_errors(response) -> str:
    return response.content.decode()


def import_types(preview) -> list[str]:
    return [row.import_type for row in preview.context["result"].rows]


def messages_of(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


CONTACT_HEADER = ["First name", "last_name", "email", "phone", "other_phones", "company", "tags"]


# --- contacts ----------------------------------------------------------------------------------


def test_contact_csv_preview_writes_nothing_then_confirm_creates_normalised_contacts(
    admin_client, db
):
    rows = [
        CONTACT_HEADER + ["date_of_birth", "country"],
        ["Ann", "Lee", "Ann.Lee@Example.COM", "(310) 555-0143", "mobile: 310 555 0199", "Acme",
         "VIP, Newsletter", "1985-04-23", "us"],
        ["Bob", "Ray", "bob@example.com", "+44 20 7946 0958", "", "", "vip", "", ""],
    ]  # fmt: skip

    preview = upload(admin_client, "contact", csv_file(rows))

    assert import_types(preview) == ["new", "new"]
    assert Contact.objects.count() == 0 and Tag.objects.count() == 0  # the preview is a dry run

    done = confirm(admin_client, "contact", preview)

    assert done.status_code == 302
    assert "Import finished: 2 new, 0 updated" in messages_of(done)[0]
    ann = Contact.objects.get(first_name="Ann")
    assert (ann.email, ann.phone, ann.country) == ("ann.lee@example.com", "+13105550143", "US")
    assert ann.other_phones == [{"label": "mobile", "phone_number": "+13105550199"}]
    assert ann.date_of_birth == date(1985, 4, 23)
    assert sorted(ann.tags.values_list("name", flat=True)) == ["Newsletter", "VIP"]
    bob = Contact.objects.get(first_name="Bob")
    assert bob.phone == "+442079460958"
    assert list(bob.tags.values_list("name", flat=True)) == ["VIP"]  # "vip" is the same tag
    assert Tag.objects.count() == 2


def test_import_updates_contacts_matched_by_phone_typed_differently_or_email_in_other_case(
    admin_client, make_contact
):
    by_phone = make_contact(phone="+13105550143", email="a@example.com", company="Old")
    by_email = make_contact(phone="+13105550150", email="b@example.com", city="")
    rows = [
        ["email", "phone", "company", "city"],
        ["", "310.555.0143", "New Co", ""],
        ["B@EXAMPLE.COM", "", "", "Los Angeles"],
        ["c@example.com", "", "", ""],
    ]

    preview = upload(admin_client, "contact", csv_file(rows))
    assert import_types(preview) == ["update", "update", "new"]
    confirm(admin_client, "contact", preview)

    assert Contact.objects.count() == 3
    by_phone.refresh_from_db()
    by_email.refresh_from_db()
    assert (by_phone.company, by_phone.email) == ("New Co", "a@example.com")  # blank kept
    assert (by_email.city, by_email.phone) == ("Los Angeles", "+13105550150")


def test_rows_for_the_same_person_in_one_file_make_one_contact(admin_client, db):
    rows = [
        ["email", "phone", "first_name", "city", "tags"],
        ["", "(310) 555-0160", "Ann", "", "VIP"],
        ["ann@example.com", "+1 310 555 0160", "", "Los Angeles", ""],
        ["ANN@example.com", "", "", "", "Newsletter"],
    ]

    preview = upload(admin_client, "contact", csv_file(rows))
    assert import_types(preview) == ["new", "update", "update"]
    confirm(admin_client, "contact", preview)

    ann = Contact.objects.get()
    assert (ann.first_name, ann.email, ann.phone, ann.city) == (
        "Ann",
        "ann@example.com",
        "+13105550160",
        "Los Angeles",
    )
    assert sorted(ann.tags.values_list("name", flat=True)) == ["Newsletter", "VIP"]


def test_a_file_with_bad_rows_names_row_column_and_problem_and_writes_nothing(
    admin_client, make_contact
):
    existing = make_contact(company="Kept")
    rows = [
        ["email", "phone", "date_of_birth", "company", "tags"],
        ["ok@example.com", "+13105550170", "", "", "Brand new tag"],
        ["bad-phone@example.com", "12", "", "", ""],
        ["bob@", "+13105550171", "31/02/1985", "", ""],
        [existing.email, "", "", "Overwritten?", ""],
    ]

    preview = upload(admin_client, "contact", csv_file(rows))

    assert preview.status_code == 200
    assert preview.context.get("confirm_form") is None
    page = page_errors(preview)
    assert "Row 3, column phone: &#x27;12&#x27; is not a valid phone number in region US" in page
    assert (
        "Row 4, column email: Enter a valid email address. (the cell holds &#x27;bob@&#x27;)"
        in (page)
    )
    assert "Row 4, column date_of_birth: &#x27;31/02/1985&#x27; is not a date" in page
    assert "nothing will be imported" in page
    assert Contact.objects.count() == 1 and Tag.objects.count() == 0
    existing.refresh_from_db()
    assert existing.company == "Kept"


def test_a_row_with_neither_email_nor_phone_is_refused(admin_client, db):
    rows = [["first_name", "email", "phone"], ["Nobody", "", ""]]

    preview = upload(admin_client, "contact", csv_file(rows))

    assert "Row 2, column email: give an email or a phone" in page_errors(preview)
    assert preview.context.get("confirm_form") is None


def test_confirm_refuses_the_whole_file_when_a_row_became_invalid_after_the_preview(
    admin_client, make_contact
):
    rows = [
        ["email", "phone"],
        ["new@example.com", "+13105550180"],
        ["other@example.com", "+13105550181"],
    ]
    preview = upload(admin_client, "contact", csv_file(rows))
    # Meanwhile someone adds the first row's phone and email to two different contacts.
    make_contact(phone="+13105550180", email="x@example.com")
    make_contact(phone="+13105550189", email="new@example.com")

    done = confirm(admin_client, "contact", preview)

    assert done.status_code == 302
    assert done.url == reverse("admin:bridge_contact_import")
    assert (
        "Nothing was imported. Row 2: Email: a contact with this email already exists."
        in (messages_of(done)[0])
    )
    assert not Contact.objects.filter(email="other@example.com").exists()
    assert Contact.objects.count() == 2


# --- leads ---------------------------------------------------------------------------------------


LEAD_HEADER = ["email", "phone", "first_name", "product_reference", "product_title",
               "product_price", "status", "received_at"]  # fmt: skip


def test_lead_xlsx_import_matches_or_creates_contacts_once(admin_client, make_contact):
    known = make_contact(phone="+13105550143", email="known@example.com")
    rows = [
        LEAD_HEADER,
        ["", 3105550143, "", "10864675", "Renault Midlum", 45000.5, "Qualified",
         datetime(2024, 5, 1, 14, 30)],
        ["New.Person@Example.com", "", "Nia", "", "", None, "", "2024-05-02T09:00:00+02:00"],
        ["new.person@example.com", "", "", "777", "Truck", "1,200", "won", ""],
    ]  # fmt: skip

    preview = upload(admin_client, "lead", xlsx_file(rows), XLSX_FORMAT)
    assert import_types(preview) == ["new", "new", "new"]
    assert Lead.objects.count() == 0 and Contact.objects.count() == 1
    confirm(admin_client, "lead", preview)

    assert Lead.objects.count() == 3
    first, second, third = Lead.objects.order_by("id")
    assert first.contact == known
    assert (first.product_price, first.status) == (Decimal("45000.50"), "qualified")
    assert first.received_at.isoformat() == "2024-05-01T14:30:00+00:00"
    nia = Contact.objects.get(email="new.person@example.com")
    assert second.contact == third.contact == nia and nia.first_name == "Nia"
    assert second.status == "new" and second.received_at.isoformat() == "2024-05-02T07:00:00+00:00"
    assert third.product_price == Decimal("1200")
    assert first.external_id != second.external_id
    assert Contact.objects.count() == 2


def test_lead_preview_without_confirming_writes_no_lead_and_no_contact(admin_client, db):
    rows = [LEAD_HEADER, ["new@example.com", "", "Ann", "1", "Truck", "10", "new", ""]]

    preview = upload(admin_client, "lead", csv_file(rows))

    assert import_types(preview) == ["new"]
    assert preview.context.get("confirm_form") is not None
    assert Lead.objects.count() == 0 and Contact.objects.count() == 0


def test_lead_rows_break_the_product_rule_and_choices_with_clear_errors(admin_client, db):
    rows = [
        LEAD_HEADER,
        ["a@example.com", "", "", "", "Truck", "abc", "pending", "tomorrow"],
        ["b@example.com", "", "", "1", "", "-5", "", ""],
    ]

    preview = upload(admin_client, "lead", csv_file(rows))

    page = page_errors(preview)
    assert "Row 2, column product_reference: A product reference is required" in page
    assert "Row 2, column product_price: &#x27;abc&#x27; is not a price" in page
    assert "Row 2, column status: &#x27;pending&#x27; is not one of: contacted, lost, new" in page
    assert "Row 2, column received_at: &#x27;tomorrow&#x27; is not a date and time" in page
    assert "Row 3, column product_price: Ensure this value is greater than or equal to 0." in page
    assert Lead.objects.count() == 0 and Contact.objects.count() == 0


def test_reimporting_an_exported_lead_skips_it_instead_of_overwriting(admin_client, make_lead):
    lead = make_lead(status="won")
    exported = export(admin_client, "lead", LeadResource, CSV_FORMAT).content.decode()
    changed = exported.replace(",won,", ",lost,")
    assert changed != exported

    preview = upload(admin_client, "lead", SimpleUploadedFile("leads.csv", changed.encode()))

    assert import_types(preview) == ["skip"]
    confirm(admin_client, "lead", preview)
    lead.refresh_from_db()
    assert lead.status == "won" and Lead.objects.count() == 1


# --- exports -------------------------------------------------------------------------------------


def export(client, model: str, resource_class, file_format, query=""):
    """POST the export form with every column ticked, as the page does by default."""
    prefix = resource_class.__name__.lower()
    data = {"resource": "0", "format": file_format}
    data.update({f"{prefix}_{name}": "on" for name in resource_class().get_export_order()})
    response = client.post(reverse(f"admin:bridge_{model}_export") + query, data)
    assert response.status_code == 200, response.content[:500]
    return response


def test_contact_export_csv_and_xlsx_have_the_header_and_the_filtered_rows(
    admin_client, make_contact
):
    vip, news = Tag.objects.create(name="VIP"), Tag.objects.create(name="Newsletter")
    web = make_contact(lead_source="web", company="Acme", tags=[vip, news])
    make_contact(lead_source="phone")
    header = list(ContactResource().get_export_order())

    response = export(admin_client, "contact", ContactResource, CSV_FORMAT, "?lead_source=web")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows[0] == header
    assert len(rows) == 2
    record = dict(zip(header, rows[1], strict=True))
    assert (record["email"], record["phone"], record["company"], record["tags"]) == (
        web.email,
        web.phone,
        "Acme",
        "Newsletter, VIP",
    )

    response = export(admin_client, "contact", ContactResource, XLSX_FORMAT)
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    values = list(sheet.iter_rows(values_only=True))
    assert list(values[0]) == header
    assert {row[header.index("email")] for row in values[1:]} == set(
        Contact.objects.values_list("email", flat=True)
    )


def test_lead_export_names_the_contact_and_the_external_id(admin_client, make_lead):
    lead = make_lead()

    response = export(admin_client, "lead", LeadResource, CSV_FORMAT)

    rows = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert len(rows) == 1
    assert rows[0]["external_id"] == lead.external_id
    assert (rows[0]["email"], rows[0]["phone"]) == (lead.contact.email, lead.contact.phone)
    assert rows[0]["product_reference"] == "10864675"


# --- bad files and permissions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("file", "file_format", "message"),
    [
        (csv_file([["email"], ["josé@example.com"]], encoding="latin-1"), CSV_FORMAT,
         "The file is not UTF-8 text"),
        (csv_file([["email"], ["a@example.com"]]), XLSX_FORMAT, "The file is not an XLSX workbook"),
        (csv_file([["name", "city"], ["Ann", "LA"]]), CSV_FORMAT,
         "The file is missing required columns: email or phone. Columns found: name, city."),
        (csv_file([["email"]] + [[f"p{n}@example.com"] for n in range(4)]), CSV_FORMAT,
         "The file has more than 3 rows"),
        (xlsx_file([["email"]] + [[f"p{n}@example.com"] for n in range(9)]), XLSX_FORMAT,
         "The file has more than 3 rows"),
        (csv_file([["email", "notes"], ["a@example.com", "x" * 30_000]]), CSV_FORMAT,
         "the limit is 19.5"),
    ],
    ids=["latin-1", "not-xlsx", "missing-columns", "too-many-rows", "too-many-xlsx-rows",
         "too-large"],
)  # fmt: skip
def test_bad_files_get_a_clear_message_and_no_import(
    admin_client, db, settings, file, file_format, message
):
    settings.BRIDGE_IMPORT_MAX_ROWS = 3
    settings.BRIDGE_IMPORT_MAX_BYTES = 20_000

    response = upload(admin_client, "contact", file, file_format)

    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context.get("confirm_form") is None
    assert Contact.objects.count() == 0


def staff_with(*codenames: str) -> User:
    user = User.objects.create_user("clerk", password="pw", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    return user


def test_staff_without_add_permission_cannot_import_but_can_export(client, db):
    client.force_login(staff_with("view_contact", "change_contact"))
    rows = [["email"], ["a@example.com"]]

    changelist = client.get(reverse("admin:bridge_contact_changelist"))
    assert changelist.status_code == 200
    assert reverse("admin:bridge_contact_import") not in changelist.content.decode()
    assert reverse("admin:bridge_contact_export") in changelist.content.decode()
    assert client.get(reverse("admin:bridge_contact_import")).status_code == 403
    assert upload(client, "contact", csv_file(rows)).status_code == 403
    assert Contact.objects.count() == 0


def test_importing_leads_also_needs_permission_to_add_contacts(client, db):
    client.force_login(staff_with("view_lead", "add_lead", "change_lead"))

    assert client.get(reverse("admin:bridge_lead_import")).status_code == 403


def test_staff_who_may_not_add_tags_cannot_create_them_by_import(client, db):
    client.force_login(staff_with("view_contact", "add_contact", "change_contact"))
    Tag.objects.create(name="VIP")
    rows = [["email", "tags"], ["a@example.com", "vip, Brand new"]]

    preview = upload(client, "contact", csv_file(rows))

    assert "Row 2, column tags: tag brand new does not exist and you may not create tags" in (
        page_errors(preview)
    )
    assert Tag.objects.count() == 1 and Contact.objects.count() == 0


def test_export_makes_formulas_inert_and_keeps_phones(admin_client, make_contact):
    make_contact(first_name='=HYPERLINK("http://evil")', phone="+13105550143")
    response = export(admin_client, "contact", ContactResource, CSV_FORMAT)
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    record = dict(zip(rows[0], rows[1], strict=True))
    assert record["first_name"] == """'=HYPERLINK("http://evil")"""
    assert record["phone"] == "+13105550143"
