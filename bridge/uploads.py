"""Uploaded import files, checked before they are parsed: a small file must stay cheap to read.

An XLSX is a zip of XML parts, and openpyxl trusts what they declare. A sheet whose
``<dimension ref="A1:XFD…">`` claims 16,384 columns makes every row that wide; the shared-strings
table is read whole before the first row; a part can unzip to a thousand times its size. So
``read_xlsx`` first reads the zip's directory (the sizes each part unzips to; Python's zipfile
never unzips a part past the size its directory declares) and the parts' prologs, then lets
openpyxl open the workbook, refuses a declared dimension past the limits, and streams the rows in
read-only mode with the declared size set aside, counting rows, columns and characters per cell.
``read_csv`` decodes the bytes itself (UTF-8 only: other encodings are named and refused) and
streams the rows under the same limits.

Every refusal is an ``UploadRefused`` whose message is for staff: it names the file's problem
and the limit (settings ``BRIDGE_IMPORT_MAX_*``, read at each upload).
"""

from __future__ import annotations

import codecs
import csv
import io
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from xml.etree import ElementTree

import tablib
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from import_export.formats import base_formats
from openpyxl.utils import get_column_letter

#: Parts a workbook may hold: a real one has a few dozen (sheets, styles, rels, images).
MAX_XLSX_PARTS = 1_000
#: Sheets a workbook may declare: openpyxl opens every one when it loads the workbook.
MAX_XLSX_SHEETS = 100
#: What openpyxl reads as the shared-strings table: the first part with this content type.
SHARED_STRINGS_TYPE = (
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"
)
WORKSHEET_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"
CONTENT_TYPES_PART = "[Content_Types].xml"
#: A part's prolog: where an XML declaration, comments and a DOCTYPE would be.
PROLOG_BYTES = 4096
#: Excel's own limit on the characters in a cell.
EXCEL_CELL_CHARS = 32_767


class UploadRefused(ValueError):
    """A file refused before or while it is read; the message says why, for staff."""


@dataclass(frozen=True)
class UploadLimits:
    """The bounds an uploaded file is read within (settings ``BRIDGE_IMPORT_MAX_*``)."""

    rows: int
    columns: int
    cell_chars: int
    unzipped_bytes: int
    shared_strings_bytes: int

    @classmethod
    def from_settings(cls) -> UploadLimits:
        """The limits as configured now (tests and operators may change them)."""
        return cls(
            rows=settings.BRIDGE_IMPORT_MAX_ROWS,
            columns=settings.BRIDGE_IMPORT_MAX_COLUMNS,
            cell_chars=settings.BRIDGE_IMPORT_MAX_CELL_CHARS,
            unzipped_bytes=settings.BRIDGE_IMPORT_MAX_UNZIPPED_BYTES,
            shared_strings_bytes=settings.BRIDGE_IMPORT_MAX_SHARED_STRINGS_BYTES,
        )


def size(value: int) -> str:
    """A byte count as staff read it ("1.0 GB")."""
    return str(filesizeformat(value)).replace("\xa0", " ")


# --- XLSX: the zip, before openpyxl sees it ----------------------------------------------------


def check_xlsx_archive(archive: zipfile.ZipFile, limits: UploadLimits) -> None:
    """Refuse a workbook whose parts would unzip past the limits, or that carries a DTD.

    Every part is bounded (the worksheets are streamed, so they have the larger bound); the
    shared strings and every other part openpyxl reads whole have the smaller one.
    """
    parts = archive.infolist()
    if len(parts) > MAX_XLSX_PARTS:
        raise UploadRefused(
            f"The workbook holds {len(parts):,} parts; at most {MAX_XLSX_PARTS:,} are allowed."
        )
    total = 0
    for part in parts:
        if part.file_size > limits.unzipped_bytes:
            raise UploadRefused(
                f"The workbook's part {part.filename} unzips to {size(part.file_size)}; at most "
                f"{size(limits.unzipped_bytes)} is allowed (BRIDGE_IMPORT_MAX_UNZIPPED_BYTES)."
            )
        total += part.file_size
    if total > limits.unzipped_bytes:
        raise UploadRefused(
            f"The workbook unzips to {size(total)} in all; at most "
            f"{size(limits.unzipped_bytes)} is allowed (BRIDGE_IMPORT_MAX_UNZIPPED_BYTES)."
        )
    worksheets, shared_strings, books = read_content_types(archive, limits)
    for part in parts:
        if part.filename in worksheets or part.is_dir():
            continue
        if part.file_size > limits.shared_strings_bytes:
            what = (
                "shared strings"
                if part.filename == shared_strings
                else "part read whole (all but the worksheets)"
            )
            raise UploadRefused(
                f"The workbook's {what} {part.filename} unzips to {size(part.file_size)}; at "
                f"most {size(limits.shared_strings_bytes)} is allowed "
                "(BRIDGE_IMPORT_MAX_SHARED_STRINGS_BYTES)."
            )
    for part in parts:
        if not part.is_dir():
            refuse_doctype(archive, part)
    for name in books & set(archive.namelist()):
        refuse_many_sheets(archive, name)


def refuse_many_sheets(archive: zipfile.ZipFile, name: str) -> None:
    """Refuse a workbook part declaring more than MAX_XLSX_SHEETS sheets (counted as it is
    read, stopping at the first one too many)."""
    sheets = 0
    with archive.open(name) as stream:
        try:
            for _event, element in ElementTree.iterparse(stream):
                if element.tag.rsplit("}", 1)[-1] == "sheet":
                    sheets += 1
                    if sheets > MAX_XLSX_SHEETS:
                        raise UploadRefused(
                            f"The workbook declares more than {MAX_XLSX_SHEETS:,} sheets; at "
                            f"most {MAX_XLSX_SHEETS:,} are allowed."
                        )
                element.clear()
        except ElementTree.ParseError as exc:
            raise UploadRefused(f"The workbook's part {name} is not valid XML: {exc}.") from None


def read_content_types(archive: zipfile.ZipFile, limits: UploadLimits) -> tuple[set, str, set]:
    """(the worksheet part names, the shared-strings part name or "", the workbook part names)
    from [Content_Types].xml, found the way openpyxl finds them (its Override elements)."""
    try:
        part = archive.getinfo(CONTENT_TYPES_PART)
    except KeyError:
        raise UploadRefused(
            "The file is not an XLSX workbook (it has no [Content_Types].xml). Choose the csv "
            "format for a .csv file, or save the sheet from Excel as .xlsx."
        ) from None
    if part.file_size > limits.shared_strings_bytes:
        raise UploadRefused(
            f"The workbook's {CONTENT_TYPES_PART} unzips to {size(part.file_size)}; at most "
            f"{size(limits.shared_strings_bytes)} is allowed."
        )
    refuse_doctype(archive, part)
    try:
        root = ElementTree.fromstring(archive.read(part))
    except ElementTree.ParseError as exc:
        raise UploadRefused(
            f"The workbook's {CONTENT_TYPES_PART} is not valid XML: {exc}."
        ) from None
    worksheets, shared_strings, books = set(), "", set()
    for override in root:
        if not override.tag.endswith("Override"):
            continue
        name = (override.get("PartName") or "").lstrip("/")
        kind = override.get("ContentType")
        if kind == WORKSHEET_TYPE:
            worksheets.add(name)
        elif kind == SHARED_STRINGS_TYPE and not shared_strings:
            shared_strings = name
        elif kind and kind.endswith(".main+xml"):
            books.add(name)
    return worksheets - {shared_strings}, shared_strings, books


def refuse_doctype(archive: zipfile.ZipFile, part: zipfile.ZipInfo) -> None:
    """Refuse a part whose prolog declares a DTD: no XLSX part has one, and entities defined
    there can expand a few bytes into gigabytes."""
    with archive.open(part) as stream:
        prolog = stream.read(PROLOG_BYTES)
    if b"<!DOCTYPE" in prolog or b"<!ENTITY" in prolog:
        raise UploadRefused(
            f"The workbook's part {part.filename} declares a DOCTYPE (XML entities); an XLSX "
            "workbook never does, so the file is refused."
        )


# --- XLSX: the sheet, streamed -----------------------------------------------------------------


def read_xlsx(data: bytes, limits: UploadLimits | None = None) -> tablib.Dataset:
    """The first sheet of an XLSX workbook as a dataset (header row first), within the limits.

    Stops one row past the row limit (the resource then names the limit); refuses a declared
    or actual width past the column limit and a cell past the character limit.
    """
    import openpyxl
    from openpyxl.worksheet._read_only import ReadOnlyWorksheet

    limits = limits or UploadLimits.from_settings()
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile:
        raise UploadRefused(not_a_workbook_message(data)) from None
    with archive:
        check_xlsx_archive(archive, limits)
        try:
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        except ElementTree.ParseError as exc:
            raise UploadRefused(f"The workbook's XML is malformed: {exc}.") from None
        try:
            sheet = book.active
            if not isinstance(sheet, ReadOnlyWorksheet):
                raise UploadRefused("The workbook's first sheet is not a worksheet of cells.")
            refuse_declared_dimension(sheet, limits)
            # The declared size is not used to pad the rows: each row is as wide as its cells.
            sheet.reset_dimensions()
            try:
                return dataset_from_rows(sheet.iter_rows(values_only=True), limits)
            except ElementTree.ParseError as exc:
                raise UploadRefused(f"The workbook's sheet XML is malformed: {exc}.") from None
        finally:
            book.close()


def not_a_workbook_message(data: bytes) -> str:
    """Why bytes that are not a zip are not a workbook, in the words staff need."""
    if looks_like_text(data):
        return (
            "The file is not an XLSX workbook (it is text, perhaps a CSV renamed .xlsx). "
            "Choose the csv format for a .csv file, or save the sheet from Excel as .xlsx."
        )
    return (
        "The file is not an XLSX workbook. Choose the csv format for a .csv file, or save the "
        "sheet from Excel as .xlsx."
    )


def looks_like_text(data: bytes) -> bool:
    """True when the file's start decodes as UTF-8 and holds no NUL byte."""
    head = data[:1024]
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start > len(head) - 4  # a character cut at the end of the sample
    return b"\x00" not in head


def refuse_declared_dimension(sheet, limits: UploadLimits) -> None:
    """Refuse a sheet whose ``<dimension ref>`` declares more columns or rows than allowed."""
    if sheet.max_column is not None and sheet.max_column > limits.columns:
        raise UploadRefused(
            f"The file's sheet declares {sheet.max_column:,} columns "
            f"(to column {get_column_letter(sheet.max_column)}); at most {limits.columns:,} are "
            "allowed (BRIDGE_IMPORT_MAX_COLUMNS)."
        )
    if sheet.max_row is not None and sheet.max_row - (sheet.min_row or 1) > limits.rows:
        raise UploadRefused(
            f"The file has more than {limits.rows:,} rows (its sheet declares "
            f"{sheet.max_row:,}); import at most {limits.rows:,} at a time (split the file)."
        )


def dataset_from_rows(rows: Iterable[Iterable], limits: UploadLimits) -> tablib.Dataset:
    """A dataset from rows (the header first), checked as they come: at most one row past the
    row limit is read, every row and cell within the column and character limits, and no
    value under a column the header does not name."""
    rows = iter(rows)
    header = next(rows, None)
    if not header or all(value is None for value in header):
        raise UploadRefused("The file's first row is empty: it must name the columns.")
    header = checked_row(list(header), 1, limits)
    while header and header[-1] in (None, ""):
        header.pop()
    dataset = tablib.Dataset(headers=header)
    width = len(header)
    for number, values in enumerate(rows, start=2):
        row = checked_row(list(values), number, limits)
        extra = [i for i, value in enumerate(row[width:], start=width) if value not in (None, "")]
        if extra:
            raise UploadRefused(
                f"Row {number}, column {column_label(extra[0] + 1)} holds a value, but the "
                f"header row names only {width} columns; name the column or clear the cell."
            )
        dataset.append(row[:width] + [None] * (width - len(row)))
        if number - 1 > limits.rows:
            break
    return dataset


def checked_row(row: list, number: int, limits: UploadLimits) -> list:
    """The row, refused when it is wider than the column limit or a cell is too long."""
    if len(row) > limits.columns:
        raise UploadRefused(
            f"Row {number} reaches column {column_label(len(row))} ({len(row):,} columns); "
            f"at most {limits.columns:,} are allowed (BRIDGE_IMPORT_MAX_COLUMNS)."
        )
    for index, value in enumerate(row):
        if isinstance(value, str) and len(value) > limits.cell_chars:
            raise UploadRefused(
                f"Row {number}, column {column_label(index + 1)} holds {len(value):,} "
                f"characters; at most {limits.cell_chars:,} are allowed "
                "(BRIDGE_IMPORT_MAX_CELL_CHARS)."
            )
    return row


def column_label(number: int) -> str:
    """A column as a spreadsheet names it ("XFD"); by number past what letters can name."""
    return get_column_letter(number) if number <= 18_278 else f"number {number:,}"


# --- CSV ---------------------------------------------------------------------------------------

BOMS = {
    codecs.BOM_UTF32_LE: "UTF-32",
    codecs.BOM_UTF32_BE: "UTF-32",
    codecs.BOM_UTF16_LE: "UTF-16",
    codecs.BOM_UTF16_BE: "UTF-16",
}
SAVE_AS_UTF8 = (
    'Save it from Excel as "CSV UTF-8 (Comma delimited)", or upload the .xlsx workbook and '
    "choose the xlsx format."
)


def decode_csv(data: bytes) -> str:
    """The CSV's text: UTF-8 (a BOM is allowed); anything else refused with what it looks like."""
    if data.startswith(b"PK\x03\x04"):
        raise UploadRefused(
            "The file is an XLSX workbook (a zip), not CSV text: choose the xlsx format."
        )
    for bom, name in BOMS.items():  # UTF-32 first: its LE mark starts with UTF-16's
        if data.startswith(bom):
            raise UploadRefused(f"The file is not UTF-8 text: it is {name}. {SAVE_AS_UTF8}")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UploadRefused(
            f"The file is not UTF-8 text: line {line} holds the byte "
            f"0x{data[exc.start]:02X}, which UTF-8 does not allow (Latin-1 or Windows-1252 text?). "
            f"{SAVE_AS_UTF8}"
        ) from None
    head = text[:1024]
    if head.count("\x00") * 4 >= len(head) > 0:  # a stray NUL is refused in its cell instead
        raise UploadRefused(
            "The file is not CSV text: it is full of NUL bytes (UTF-16 without a byte order "
            f"mark, or not text at all). {SAVE_AS_UTF8}"
        )
    return text


def csv_rows(text: str) -> Iterator[list[str]]:
    """The rows of CSV text, a cell past the csv module's own bound refused with a message."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if "field larger than field limit" in str(exc):
                raise UploadRefused(
                    f"Row {reader.line_num} holds a cell of more than {csv.field_size_limit():,} "
                    "characters; at most "
                    f"{settings.BRIDGE_IMPORT_MAX_CELL_CHARS:,} are allowed "
                    "(BRIDGE_IMPORT_MAX_CELL_CHARS)."
                ) from None
            raise UploadRefused(f"The CSV file could not be read: {exc}.") from None
        if row:  # blank lines are skipped, as tablib does
            yield row


def read_csv(data: bytes, limits: UploadLimits | None = None) -> tablib.Dataset:
    """A CSV file's rows as a dataset (header row first), within the limits."""
    limits = limits or UploadLimits.from_settings()
    return dataset_from_rows(csv_rows(decode_csv(data)), limits)


# --- the formats the admin's import offers -----------------------------------------------------


class CheckedCSV(base_formats.CSV):
    """CSV for imports: read as bytes, decoded and streamed by ``read_csv``."""

    def create_dataset(self, in_stream, **kwargs):
        if isinstance(in_stream, str):
            in_stream = in_stream.encode("utf-8")
        return read_csv(in_stream)

    def get_read_mode(self):
        return "rb"

    def is_binary(self):
        return True


class CheckedXLSX(base_formats.XLSX):
    """XLSX for imports: the zip checked, then the first sheet streamed by ``read_xlsx``."""

    def create_dataset(self, in_stream, **kwargs):
        return read_xlsx(in_stream)
