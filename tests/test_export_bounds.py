"""Evidence pack and workbooks stay bounded whatever the values hold (issue #12, point 2).

A 100,000-character exclude-OU DN pinned a worker for 11+ minutes in WeasyPrint's table layout
(`word-break: break-all` on a monospace cell). The PDF now lays out at most PDF_CELL_CHARS of any value,
with break opportunities every few characters; the CSVs of the pack keep every value whole. XLSX cells
stop at Excel's own maximum. The bounds are asserted on the output, not timed.
"""

import csv
import io
import zipfile
from html.parser import HTMLParser

import openpyxl
import pytest
from django.template.loader import render_to_string
from pypdf import PdfReader

from identityhub.remediation.models import Change
from identityhub.reports import evidence, jobs
from identityhub.reports.models import ExportJob
from identityhub.reports.tabular import PDF_CELL_CHARS, XLSX_CELL_CHARS, clip

from .reports_support import make_report_data

HUGE = 100_000


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def hostile(forest, personas):
    """The report data, with 100,000-character values wherever a user or AD can put one."""
    data = make_report_data(forest, personas["admin"])
    forest.exclude_ous = "OU=" + "x" * HUGE + ",DC=corp,DC=acme,DC=example"
    forest.save()
    waiver = data["waiver"]
    waiver.justification = "because " + "j" * HUGE
    waiver.save()
    waiver.finding.dn = "CN=" + "d" * HUGE + ",DC=corp"
    waiver.finding.value = "v" * HUGE + "@acme.com"
    waiver.finding.save()
    Change.objects.filter(pk=data["change"].pk).update(  # a change is immutable once saved: as if written so
        dn="CN=" + "c" * HUGE + ",DC=corp", old_values=["o" * HUGE], new_values=["n" * HUGE, "second"]
    )
    return data


class _Text(HTMLParser):
    """Every text node of the body (not the stylesheet)."""

    def __init__(self):
        super().__init__()
        self.nodes, self._skip = [], 0

    def handle_starttag(self, tag, attrs):
        self._skip += tag in ("style", "title")

    def handle_endtag(self, tag):
        self._skip -= tag in ("style", "title")

    def handle_data(self, data):
        if not self._skip:
            self.nodes.append(data)


def test_clip_keeps_short_text_and_marks_what_it_cut():
    assert clip("short", 10) == "short"
    cut = clip("x" * 5000, 1000)
    assert len(cut) == 1000 and cut.startswith("x" * 100) and "(5,000 characters in all" in cut
    assert clip(None, 10) == "" and clip(["a", "b"], 10) == "a\nb"


def test_evidence_pdf_lays_out_bounded_cells_and_the_csvs_keep_every_value(forest, personas, hostile, tmp_path):
    pack = evidence.build(forest.tenant, personas["auditor"], tmp_path)
    html = render_to_string("reports/evidence_pdf.html", pack.context)
    assert "break-all" not in html  # the quadratic layout of a long unbreakable mono run
    parser = _Text()
    parser.feed(html)
    longest = max(len(node.replace("\u200b", "")) for node in parser.nodes)
    assert longest <= PDF_CELL_CHARS
    assert len(html) < 200_000  # four 100,000-character values, none laid out whole

    # The CSVs hold the values whole.
    forests = list(csv.DictReader((tmp_path / "forests.csv").open(encoding="utf-8")))
    assert forests[0]["exclude OUs"] == forest.exclude_ous
    exceptions = list(csv.DictReader((tmp_path / "exceptions.csv").open(encoding="utf-8")))
    assert exceptions[0]["justification"] == hostile["waiver"].justification
    changes = (tmp_path / "changes.csv").read_text(encoding="utf-8")
    assert "o" * HUGE in changes and "n" * HUGE in changes

    pdf = evidence.render_pdf(pack)
    text = "".join("".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages).split())
    assert "charactersinall" in text and "x" * 200 in text


def test_evidence_job_with_huge_values_completes(client, personas, hostile, django_capture_on_commit_callbacks):
    client.force_login(personas["auditor"])
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/t/acme/reports/start/", {"kind": "evidence"})
    job = ExportJob.objects.get()
    assert job.status == "completed", job.error
    with job.file.open("rb") as handle:
        archive = zipfile.ZipFile(handle)
        assert "x" * HUGE in archive.read("forests.csv").decode()


def _cells(book):
    for sheet in book.worksheets:
        for row in sheet.iter_rows(values_only=True):
            yield from (c for c in row if isinstance(c, str))


def test_workbook_cells_stop_at_excels_maximum(forest, personas, hostile, tmp_path):
    job = ExportJob.objects.create(
        tenant=forest.tenant, kind="workbook", params={"filter": "status="}, created_by=personas["auditor"]
    )
    job = jobs.execute(job.pk)
    assert job.status == "completed", job.error
    with job.file.open("rb") as handle:
        book = openpyxl.load_workbook(handle, read_only=True)
        cells = list(_cells(book))
    assert max(len(c) for c in cells) <= XLSX_CELL_CHARS == 32_767
    assert any(c.startswith("v" * 1000) and "characters in all" in c for c in cells)


def test_list_xlsx_export_cells_are_bounded_and_the_csv_whole(client, personas, hostile):
    client.force_login(personas["auditor"])
    response = client.get("/t/acme/exceptions/export.xlsx")
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)
    cells = list(_cells(book))
    assert max(len(c) for c in cells) <= XLSX_CELL_CHARS
    whole = b"".join(client.get("/t/acme/exceptions/export.csv").streaming_content).decode("utf-8-sig")
    assert hostile["waiver"].justification in whole
