"""Hostile import files, built here with zipfile, and what refusing each one costs.

``corpus()`` makes the files (XLSX written part by part, so a part can declare or hold what no
spreadsheet program would write): a sheet declaring 16,384 columns, a row reaching column XFD,
a shared-strings bomb, a zip bomb, a workbook unzipping past the total, too many parts, a DTD
with entities, a CSV renamed .xlsx, a huge single cell, and bad encodings. Each carries a piece
of the message staff must get. ``tests/test_uploads.py`` uploads every one through the admin's
import view; ``python bench/faults.py --only hostile_uploads`` (or this script) uploads each in
a child process of its own and records the wall time of the refusal and the peak memory the
process gained doing it (its peak resident memory, ``VmHWM``, after a warm-up upload and
after the hostile one).
"""

from __future__ import annotations

import argparse
import io
import json
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
OFFICE_REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PACKAGE_REL = "http://schemas.openxmlformats.org/package/2006/relationships"
CONTENT_TYPES = "http://schemas.openxmlformats.org/package/2006/content-types"
SHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
STRINGS_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
BOOK_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
MB = 1024 * 1024
CSV_FORMAT, XLSX_FORMAT = "0", "1"


@dataclass(frozen=True)
class HostileFile:
    """One file to upload, the import format chosen for it, and what the refusal must say.

    ``build`` makes the bytes when first asked (``data``), so listing the corpus is cheap.
    """

    name: str
    file_name: str
    file_format: str
    build: Callable[[], bytes]
    message: str

    @cached_property
    def data(self) -> bytes:
        return self.build()


# --- building workbooks part by part -------------------------------------------------------


def xlsx(
    sheet: bytes | str,
    shared_strings: bytes | str | None = None,
    extra_sheets: dict[str, bytes] | None = None,
    extra_parts: dict[str, bytes] | None = None,
) -> bytes:
    """A minimal XLSX: one sheet (plus ``extra_sheets`` declared as worksheets, and
    ``extra_parts`` declared as nothing), optionally a shared-strings table."""
    extra_sheets = extra_sheets or {}
    overrides = [("xl/workbook.xml", BOOK_TYPE), ("xl/worksheets/sheet1.xml", SHEET_TYPE)]
    overrides += [(name, SHEET_TYPE) for name in extra_sheets]
    relations = [("worksheet", "worksheets/sheet1.xml")]
    if shared_strings is not None:
        overrides.append(("xl/sharedStrings.xml", STRINGS_TYPE))
        relations.append(("sharedStrings", "sharedStrings.xml"))
    types = (
        f'<Types xmlns="{CONTENT_TYPES}">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        + "".join(f'<Override PartName="/{n}" ContentType="{t}"/>' for n, t in overrides)
        + "</Types>"
    )
    package_rels = (
        f'<Relationships xmlns="{PACKAGE_REL}"><Relationship Id="rId1" '
        f'Type="{OFFICE_REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>'
    )
    book = (
        f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE_REL}"><sheets>'
        '<sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    book_rels = (
        f'<Relationships xmlns="{PACKAGE_REL}">'
        + "".join(
            f'<Relationship Id="rId{n}" Type="{OFFICE_REL}/{kind}" Target="{target}"/>'
            for n, (kind, target) in enumerate(relations, start=1)
        )
        + "</Relationships>"
    )
    parts = {
        "[Content_Types].xml": types,
        "_rels/.rels": package_rels,
        "xl/workbook.xml": book,
        "xl/_rels/workbook.xml.rels": book_rels,
        "xl/worksheets/sheet1.xml": sheet,
        **extra_sheets,
        **(extra_parts or {}),
    }
    if shared_strings is not None:
        parts["xl/sharedStrings.xml"] = shared_strings
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in parts.items():
            archive.writestr(name, content)
    return out.getvalue()


def many_sheets(count: int) -> bytes:
    """A workbook whose ``workbook.xml`` declares ``count`` sheets, all the same part."""
    book = (
        f'<workbook xmlns="{MAIN}" xmlns:r="{OFFICE_REL}"><sheets>'
        + "".join(f'<sheet name="S{n}" sheetId="{n + 1}" r:id="rId1"/>' for n in range(count))
        + "</sheets></workbook>"
    )
    return xlsx(sheet_xml(HEADER_AND_ROW), extra_parts={"xl/workbook.xml": book})


def sheet_xml(rows: str, dimension: str | None = "A1:B3", prolog: str = "") -> str:
    """A worksheet part: ``rows`` is the inside of ``<sheetData>``."""
    declared = f'<dimension ref="{dimension}"/>' if dimension else ""
    return f'{prolog}<worksheet xmlns="{MAIN}">{declared}<sheetData>{rows}</sheetData></worksheet>'


def inline_row(number: int, *values: str, first_column: str = "A") -> str:
    """A ``<row>`` of inline-string cells from ``first_column`` on."""
    from openpyxl.utils import column_index_from_string, get_column_letter

    start = column_index_from_string(first_column)
    cells = "".join(
        f'<c r="{get_column_letter(start + i)}{number}" t="inlineStr"><is><t>{v}</t></is></c>'
        for i, v in enumerate(values)
    )
    return f'<row r="{number}">{cells}</row>'


HEADER_AND_ROW = inline_row(1, "email", "phone") + inline_row(2, "a@example.com", "+13105550143")


def shared_strings_xml(count: int, width: int) -> bytes:
    """A shared-strings table of ``count`` distinct strings of ``width`` digits."""
    body = b"".join(b"<si><t>%0*d</t></si>" % (width, n) for n in range(count))
    head = f'<sst xmlns="{MAIN}" count="{count}" uniqueCount="{count}">'.encode()
    return head + body + b"</sst>"


def billion_laughs() -> str:
    """A DTD whose entities expand each other ten times over, nine levels deep."""
    entities = ['<!ENTITY lol0 "lol">'] + [
        f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)
    ]
    return f'<?xml version="1.0"?><!DOCTYPE worksheet [{"".join(entities)}]>'


def csv_bytes(text: str, encoding: str = "utf-8") -> bytes:
    return text.encode(encoding)


# --- the corpus ----------------------------------------------------------------------------


def corpus() -> list[HostileFile]:
    """Every hostile file (each built when its ``data`` is first read)."""
    good_csv = "email,phone\r\na@example.com,+13105550143\r\n"
    gap_rows = inline_row(1, "email") + '<row r="1048576"><c r="A1048576"><v>1</v></c></row>'
    files = [
        HostileFile(
            "wide_sheet",
            "wide.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(sheet_xml(HEADER_AND_ROW * 1, dimension="A1:XFD20000")),
            "The file&#x27;s sheet declares 16,384 columns (to column XFD); at most 100",
        ),
        HostileFile(
            "wide_row",
            "wide-row.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(sheet_xml(HEADER_AND_ROW + inline_row(3, "x", first_column="XFD"))),
            "Row 3 reaches column XFD (16,384 columns); at most 100",
        ),
        HostileFile(
            "tall_sheet",
            "tall.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(sheet_xml(HEADER_AND_ROW, dimension="A1:B1048576")),
            "The file has more than 50,000 rows (its sheet declares 1,048,576)",
        ),
        HostileFile(
            "row_gap",
            "gap.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(sheet_xml(gap_rows, dimension=None)),
            "The file has more than 50,000 rows",
        ),
        HostileFile(
            "shared_strings_bomb",
            "strings.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(
                sheet_xml('<row r="1"><c r="A1" t="s"><v>0</v></c></row>'),
                shared_strings=shared_strings_xml(1_800_000, 1),
            ),
            "shared strings xl/sharedStrings.xml unzips to 38.4 MB; at most 10.0 MB",
        ),
        HostileFile(
            "zip_bomb",
            "bomb.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(sheet_xml(HEADER_AND_ROW + "<!--" + " " * (60 * MB) + "-->")),
            "part xl/worksheets/sheet1.xml unzips to 60.0 MB; at most 50.0 MB",
        ),
        HostileFile(
            "zip_bomb_total",
            "bombs.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(
                sheet_xml(HEADER_AND_ROW),
                extra_sheets={
                    f"xl/worksheets/sheet{n}.xml": sheet_xml("<!--" + " " * (20 * MB) + "-->")
                    for n in (2, 3, 4)
                },
            ),
            "The workbook unzips to 60.0 MB in all; at most 50.0 MB",
        ),
        HostileFile(
            "styles_bomb",
            "styles.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(
                sheet_xml(HEADER_AND_ROW),
                extra_parts={
                    "xl/styles.xml": "<styleSheet>" + "<xf/>" * (4 * MB) + "</styleSheet>"
                },
            ),
            "part read whole (all but the worksheets) xl/styles.xml unzips to 20.0 MB",
        ),
        HostileFile(
            "many_parts",
            "parts.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(
                sheet_xml(HEADER_AND_ROW),
                extra_parts={f"p/{n}": b"" for n in range(3000)},
            ),
            "The workbook holds 3,005 parts; at most 1,000",
        ),
        HostileFile(
            "many_sheets",
            "sheets.xlsx",
            XLSX_FORMAT,
            lambda: many_sheets(100_000),
            "The workbook declares more than 100 sheets; at most 100",
        ),
        HostileFile(
            "entities",
            "laughs.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(
                sheet_xml(HEADER_AND_ROW + inline_row(3, "&lol9;"), prolog=billion_laughs())
            ),
            "declares a DOCTYPE (XML entities)",
        ),
        HostileFile(
            "csv_renamed_xlsx",
            "people.xlsx",
            XLSX_FORMAT,
            lambda: csv_bytes(good_csv),
            "The file is not an XLSX workbook (it is text, perhaps a CSV renamed .xlsx)",
        ),
        HostileFile(
            "not_a_zip",
            "noise.xlsx",
            XLSX_FORMAT,
            lambda: bytes(range(256)) * 64,
            "The file is not an XLSX workbook. Choose the csv format",
        ),
        HostileFile(
            "huge_cell_xlsx",
            "cell.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(sheet_xml(HEADER_AND_ROW + inline_row(3, "c@example.com", "9" * 40_000))),
            "Row 3, column B holds 40,000 characters; at most 32,767",
        ),
        HostileFile(
            "huge_cell_csv",
            "cell.csv",
            CSV_FORMAT,
            lambda: csv_bytes(good_csv + "b@example.com," + "7" * 4_000_000 + "\r\n"),
            "Row 3 holds a cell of more than 131,072 characters; at most 32,767",
        ),
        HostileFile(
            "long_cell_csv",
            "long.csv",
            CSV_FORMAT,
            lambda: csv_bytes(good_csv + "b@example.com," + "7" * 40_000 + "\r\n"),
            "Row 3, column B holds 40,000 characters; at most 32,767",
        ),
        HostileFile(
            "wide_csv",
            "wide.csv",
            CSV_FORMAT,
            lambda: csv_bytes("email" + "," * 16_000 + "\r\n" + good_csv),
            "Row 1 reaches column WQK (16,001 columns); at most 100",
        ),
        HostileFile(
            "latin1_csv",
            "latin1.csv",
            CSV_FORMAT,
            lambda: csv_bytes("email,first_name\r\njose@example.com,José\r\n", "latin-1"),
            "The file is not UTF-8 text: line 2 holds the byte 0xE9",
        ),
        HostileFile(
            "utf16_csv",
            "utf16.csv",
            CSV_FORMAT,
            lambda: csv_bytes(good_csv, "utf-16"),
            "The file is not UTF-8 text: it is UTF-16.",
        ),
        HostileFile(
            "utf16_no_bom_csv",
            "utf16le.csv",
            CSV_FORMAT,
            lambda: csv_bytes(good_csv, "utf-16-le"),
            "The file is not CSV text: it is full of NUL bytes",
        ),
        HostileFile(
            "xlsx_as_csv",
            "people.csv",
            CSV_FORMAT,
            lambda: xlsx(sheet_xml(HEADER_AND_ROW)),
            "The file is an XLSX workbook (a zip), not CSV text",
        ),
        HostileFile(
            "bad_xml_encoding",
            "encoding.xlsx",
            XLSX_FORMAT,
            lambda: xlsx(
                sheet_xml(HEADER_AND_ROW).encode().replace(b"a@example", b"\xe9\xff@example")
            ),
            "The workbook&#x27;s sheet XML is malformed",
        ),
    ]
    return files


# --- measuring -----------------------------------------------------------------------------


def upload(client, hostile: HostileFile, model: str = "contact"):
    """POST the file to the admin's import view, as the import page does."""
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"/admin/bridge/{model}/import/",
        {
            "resource": "0",
            "format": hostile.file_format,
            "import_file": SimpleUploadedFile(hostile.file_name, hostile.data),
        },
    )


def refused(response, hostile: HostileFile) -> bool:
    """The import page again, with the expected message and no confirm step."""
    page = response.content.decode(errors="replace")
    return (
        response.status_code == 200
        and hostile.message in page
        and 'name="import_file_name"' not in page
    )


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB: ``VmHWM`` from /proc (Linux).

    Not ``ru_maxrss``: Linux carries it across ``exec``, so a child started by a parent that
    built a 300 MB file reports the parent's size as its own peak.
    """
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_one(name: str, path: str) -> dict:
    """In this (fresh) process: warm up with a good file, then time the hostile upload of the
    bytes at ``path`` (built by the parent, so building them is not measured here)."""
    from bench import common

    common.setup_django(migrate=False)
    from django.contrib.auth import get_user_model
    from django.test import Client

    from bridge.models import Contact

    listed = {h.name: h for h in corpus()}[name]
    content = Path(path).read_bytes()
    hostile = HostileFile(
        name, listed.file_name, listed.file_format, lambda: content, listed.message
    )
    hostile.data  # noqa: B018 (read before the baseline)
    warm_up = HostileFile(
        "good", "good.csv", CSV_FORMAT, lambda: b"email\r\nok@example.com\r\n", ""
    )
    user, _ = get_user_model().objects.get_or_create(
        username="bench-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(raise_request_exception=False)
    client.force_login(user)
    upload(client, warm_up)
    before_rows = Contact.objects.count()
    before_mb = peak_rss_mb()
    started = time.perf_counter()
    response = upload(client, hostile)
    elapsed = time.perf_counter() - started
    return {
        "file": name,
        "bytes": len(hostile.data),
        "refused": refused(response, hostile),
        "status": response.status_code,
        "seconds": round(elapsed, 3),
        "extra_mb": round(peak_rss_mb() - before_mb, 1),
        "rows_written": Contact.objects.count() - before_rows,
    }


def hostile_uploads() -> dict:
    """Every hostile file in a child process of its own; the per-file figures and the worst."""
    files = []
    with tempfile.TemporaryDirectory(prefix="hostile-uploads-") as folder:
        for hostile in corpus():
            path = Path(folder) / hostile.name
            path.write_bytes(hostile.data)
            files.append(measure_in_child(hostile, path))
    measured = [f for f in files if "seconds" in f]
    return {
        "files": files,
        "refused": sum(1 for f in files if f["refused"] and not f.get("rows_written")),
        "total": len(files),
        "max_s": max((f["seconds"] for f in measured), default=None),
        "max_mb": max((f["extra_mb"] for f in measured), default=None),
    }


def measure_in_child(hostile: HostileFile, path: Path) -> dict:
    """``measure_one`` in a new Python process, so no file's memory colours the next one's."""
    child = subprocess.run(
        [sys.executable, __file__, "--child", hostile.name, "--path", str(path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    try:
        return json.loads(child.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {"file": hostile.name, "refused": False, "error": child.stderr[-500:]}


def figures(result: dict) -> dict:
    """The bench/results.json keys for a hostile-upload run."""
    return {
        "hostile_uploads_refused": result["refused"],
        "hostile_uploads_total": result["total"],
        "hostile_upload_max_s": result["max_s"],
        "hostile_upload_max_mb": result["max_mb"],
    }


def main(argv=None) -> dict:
    """Measure the corpus and record it (``--child NAME`` measures one file, for the parent)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_one(args.child, args.path)))
        return {}
    from bench import common

    common.setup_django()  # migrate once here, not in every child
    result = hostile_uploads()
    common.write_results(figures(result), {"hostile_uploads": result})
    print(json.dumps(figures(result)))
    return result


if __name__ == "__main__":
    main()
