"""Rows to CSV (streamed, constant memory) and to XLSX (openpyxl write-only, rows go straight to disk).

A dataset is a header plus an iterator of rows (lists of cells). CSV cells that a spreadsheet would run
as a formula get a leading apostrophe, as the change-log CSV does (remediation/exports.py); XLSX cells
are always written as text, so there a value stays exactly what AD holds, up to Excel's limit of
characters in a cell (a longer one is clipped with a marker; the CSV export has it whole).
"""

from __future__ import annotations

import csv
import io
import re
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, date, datetime

from django.http import FileResponse, StreamingHttpResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.utils import get_column_letter

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 500  # CSV rows per chunk of the streamed response
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# Excel holds at most 32,767 characters in a cell ("Excel specifications and limits", support.microsoft.com).
XLSX_CELL_CHARS = 32_767
# Characters of one value the evidence PDF lays out: WeasyPrint's table layout grows faster than the text.
PDF_CELL_CHARS = 1_000


def text(value) -> str:
    """One cell as text: None is empty, datetimes are ISO 8601, lists are one value per line."""
    if value is None:
        return ""
    if value.__class__ is datetime:
        return datetime_text(value)
    if isinstance(value, (datetime, date)):  # a tuple: `datetime | date` builds a union on every call
        return value.isoformat()
    if isinstance(value, list | tuple):
        return "\n".join(text(v) for v in value)
    return str(value)


_DATETIME_TEXT: dict[datetime, str] = {}
_DATETIME_TEXT_MAX = 4096


def datetime_text(value: datetime) -> str:
    """value.isoformat(), remembered: the rows of an export share a few times (a scan's start, a
    forest's refresh), and isoformat() was a third of a findings row's cost. Only naive and UTC
    values are remembered: equal instants in two other zones are written differently."""
    if value.tzinfo is not UTC and value.tzinfo is not None:
        return value.isoformat()
    out = _DATETIME_TEXT.get(value)
    if out is None:
        if len(_DATETIME_TEXT) >= _DATETIME_TEXT_MAX:  # bounded: a long export of distinct times
            _DATETIME_TEXT.clear()
        out = _DATETIME_TEXT[value] = value.isoformat()
    return out


def clip(value, limit: int) -> str:
    """`value` as text of at most `limit` characters: a longer one is cut and says how long it was."""
    out = text(value)
    if len(out) <= limit:
        return out
    marker = f" … ({len(out):,} characters in all; the CSV has the whole value)"
    return out[: limit - len(marker)] + marker


_FORMULA_CHARS = frozenset("".join(FORMULA_START))


def csv_cell(value) -> str:
    # The hot path of a million-row export: plain strings skip text()'s type checks.
    out = value if value.__class__ is str else text(value)
    return "'" + out if out and out[0] in _FORMULA_CHARS else out


def csv_chunks(header: list[str], rows: Iterable[list]) -> Iterator[str]:
    """The CSV text in chunks of ROWS_PER_CHUNK rows; `rows` is consumed lazily."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    for n, row in enumerate(rows, 1):
        writer.writerow([csv_cell(v) for v in row])
        if n % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()


def write_csv(fileobj, header: list[str], rows: Iterable[list]) -> int:
    """Write a CSV to a text file; returns the number of data rows."""
    writer = csv.writer(fileobj)
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])
        count += 1
    return count


def csv_response(filename: str, header: list[str], rows: Iterable[list]) -> StreamingHttpResponse:
    response = StreamingHttpResponse(csv_chunks(header, rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def sheet_title(title: str, taken: set[str]) -> str:
    """An Excel sheet name: at most 31 characters, none of []:*?/\\, unique in the workbook."""
    base = re.sub(r"[\[\]:*?/\\]", "_", title)[:31] or "Sheet"
    name, n = base, 1
    while name.lower() in taken:
        n += 1
        name = f"{base[: 31 - len(str(n)) - 1]}~{n}"
    taken.add(name.lower())
    return name


def xlsx_cell(sheet, value):
    """A text cell (never a formula), with characters XML cannot hold written as \\xNN."""
    out = clip(ILLEGAL_CHARACTERS_RE.sub(lambda m: f"\\x{ord(m.group()):02x}", text(value)), XLSX_CELL_CHARS)
    cell = WriteOnlyCell(sheet, value=out)
    cell.data_type = "s"
    return cell


class XlsxWriter:
    """A write-only workbook: add sheets, append rows (held on disk by openpyxl), save once."""

    def __init__(self):
        self.workbook = Workbook(write_only=True)
        self.titles: set[str] = set()
        self.tables: dict[object, list[int]] = {}  # sheet with a header -> [columns, rows]

    def sheet(self, title: str, header: list[str] | None = None):
        sheet = self.workbook.create_sheet(sheet_title(title, self.titles))
        if header:
            # A table: the header stays in view while scrolling, and Excel offers its filters.
            sheet.freeze_panes = "A2"  # before the first row: write-only sheets write their view first
            self.tables[sheet] = [len(header), 0]
            self.append(sheet, header)
        return sheet

    def append(self, sheet, row: Iterable) -> None:
        sheet.append([xlsx_cell(sheet, v) if isinstance(v, str) or not isinstance(v, int | float) else v for v in row])
        if sheet in self.tables:
            self.tables[sheet][1] += 1

    def save(self, fileobj) -> None:
        for sheet, (columns, rows) in self.tables.items():
            sheet.auto_filter.ref = f"A1:{get_column_letter(max(columns, 1))}{max(rows, 1)}"
        self.workbook.save(fileobj)


def write_xlsx(fileobj, sheets: Iterable[tuple[str, list[str], Iterable[list]]]) -> None:
    writer = XlsxWriter()
    for title, header, rows in sheets:
        sheet = writer.sheet(title, header)
        for row in rows:
            writer.append(sheet, row)
    writer.save(fileobj)


def xlsx_response(filename: str, sheets) -> FileResponse:
    """Build the workbook in a temporary file (not in memory) and send it."""
    spool = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it
    write_xlsx(spool, sheets)
    spool.seek(0)
    return FileResponse(spool, as_attachment=True, filename=filename, content_type=XLSX_TYPE)
