"""List exports (CSV streamed, XLSX) are exactly what the list shows: same filters, same order, every page."""

import csv
import io

import openpyxl
import pytest
from django.http import StreamingHttpResponse

from identityhub.remediation import exports as change_exports
from identityhub.reports import datasets

from .reports_support import BIND_PASSWORD, make_report_data, other_tenant_data


@pytest.fixture
def data(forest, personas):
    return make_report_data(forest, personas["admin"])


def csv_rows(response):
    assert isinstance(response, StreamingHttpResponse)  # streamed, not built in memory
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8")
    return list(csv.reader(io.StringIO(text)))


def xlsx_rows(response, sheet=None):
    assert "spreadsheetml" in response["Content-Type"]
    book = openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    ws = book[sheet] if sheet else book.worksheets[0]
    return [["" if v is None else v for v in row] for row in ws.iter_rows(values_only=True)], ws


def test_findings_csv_is_the_open_list_in_page_order(client, personas, data):
    client.force_login(personas["auditor"])
    rows = csv_rows(client.get("/t/acme/findings/export.csv"))
    assert rows[0] == datasets.FINDING_HEADER
    ids = [int(r[0]) for r in rows[1:]]
    f = data["findings"]
    # Open by default, like the page: resolved and excepted gone (excepted has its own filter).
    assert set(ids) == {f["blocking"].pk, f["blocking2"].pk, f["formula"].pk, f["control"].pk}
    excepted = csv_rows(client.get("/t/acme/findings/export.csv?status=excepted"))
    assert [int(r[0]) for r in excepted[1:]] == [f["excepted"].pk]
    page = client.get("/t/acme/findings/")
    assert page.context["table"].page_ids == ids  # same order as on screen
    by_id = {int(r[0]): dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    blocking = by_id[f["blocking"].pk]
    assert blocking["value"] == "user 1@acme.com" and blocking["suggestion"] == "user1@acme.com"
    assert blocking["forest"] == "corp.acme.example" and blocking["objectGUID"] == str(f["blocking"].guid)
    assert by_id[f["blocking2"].pk]["suggestion"] == datasets.REMOVE_VALUE
    assert by_id[f["formula"].pk]["suggestion"] == ""
    # A spreadsheet would run this as a formula: neutralised as the change-log CSV does.
    assert by_id[f["formula"].pk]["value"] == '\'=HYPERLINK("http://x")'


def test_findings_csv_takes_filters_and_sort(client, personas, data):
    client.force_login(personas["lead"])
    rows = csv_rows(client.get("/t/acme/findings/export.csv?severity=blocking&sort=-value"))
    assert [r[5] for r in rows[1:]] == ["user 2@acme.com", "user 1@acme.com"]
    rows = csv_rows(client.get("/t/acme/findings/export.csv?status=resolved"))
    assert [int(r[0]) for r in rows[1:]] == [data["findings"]["resolved"].pk]


def test_findings_xlsx_keeps_values_as_text(client, personas, data):
    client.force_login(personas["admin"])
    rows, ws = xlsx_rows(client.get("/t/acme/findings/export.xlsx?severity=hygiene"))
    assert rows[0] == datasets.FINDING_HEADER
    assert len(rows) == 2
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["value"] == '=HYPERLINK("http://x")'  # exact, and a string cell, never a formula
    assert ws.cell(row=2, column=6).data_type == "s"
    rows, _ = xlsx_rows(client.get("/t/acme/findings/export.xlsx?severity=degrading"))
    values = {r[5] for r in rows[1:]}
    assert "bad\\x01char@acme.com" in values  # XML cannot hold \x01: written visibly escaped


def test_objects_export_is_the_current_picture(client, personas, data):
    client.force_login(personas["auditor"])
    rows = csv_rows(client.get("/t/acme/objects/export.csv"))
    assert rows[0] == datasets.OBJECT_HEADER
    dns = [r[2] for r in rows[1:]]
    assert dns == sorted(o.dn for o in data["objects"])  # the older scan's "CN=Gone" is not current
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["proxyAddresses"] == "SMTP:a@acme.com\nsmtp:b@acme.com"
    assert row["scan"] == str(data["scan"].pk)
    rows = csv_rows(client.get("/t/acme/objects/export.csv?q=User 2"))
    assert [r[2] for r in rows[1:]] == [data["objects"][1].dn]
    rows, _ = xlsx_rows(client.get("/t/acme/objects/export.xlsx"))
    assert len(rows) == 3 and rows[1][5] == 1001


def test_changes_xlsx_matches_the_change_log_csv(client, personas, data):
    client.force_login(personas["auditor"])
    their_csv = b"".join(client.get("/t/acme/changes/export.csv").streaming_content).decode("utf-8-sig")
    expected = list(csv.reader(io.StringIO(their_csv)))
    rows, _ = xlsx_rows(client.get("/t/acme/changes/export.xlsx"))
    assert rows[0] == change_exports.CSV_HEADER
    assert [[str(c) for c in r] for r in rows] == expected
    rows, _ = xlsx_rows(client.get("/t/acme/changes/export.xlsx?result=applied"))
    assert [int(r[0]) for r in rows[1:]] == [data["change"].pk]


def test_change_log_ldif_holds_the_applied_change(client, personas, data):
    client.force_login(personas["auditor"])
    text = b"".join(client.get("/t/acme/changes/export.ldf").streaming_content).decode("ascii")
    records = [r for r in text.split("\r\n\r\n") if "changetype: modify" in r]
    assert len(records) == 1
    lines = records[0].split("\r\n")
    assert f"dn: {data['change'].dn}" in lines
    assert lines[-6:] == [
        "delete: userPrincipalName",
        "userPrincipalName: user 5@acme.com",
        "-",
        "add: userPrincipalName",
        "userPrincipalName: user5@acme.com",
        "-",
    ]


def test_provisioning_errors_export_latest_snapshot_filtered(client, personas, data):
    client.force_login(personas["lead"])
    rows = csv_rows(client.get("/t/acme/health/errors/export.csv"))
    assert rows[0] == datasets.ERROR_HEADER
    assert [r[0] for r in rows[1:]] == ["obj-1", "obj-2"]  # -occurred, as the table sorts
    rows = csv_rows(client.get("/t/acme/health/errors/export.csv?property=ProxyAddresses"))
    assert [r[0] for r in rows[1:]] == ["obj-2"]
    rows, _ = xlsx_rows(client.get("/t/acme/health/errors/export.xlsx"))
    assert [r[0] for r in rows[1:]] == ["obj-1", "obj-2"]


def test_exceptions_export_has_justification_approver_expiry(client, personas, data):
    client.force_login(personas["auditor"])
    rows = csv_rows(client.get("/t/acme/exceptions/export.csv"))
    row = dict(zip(rows[0], rows[1], strict=True))
    waiver = data["waiver"]
    assert row["justification"] == waiver.justification
    assert row["approved by"] == "admin" and row["expires on"] == waiver.expires_on.isoformat()
    assert row["state"] == "in force"


def test_exports_never_leak_another_tenant_or_a_secret(client, personas, data, other_tenant):
    other_tenant_data(other_tenant, personas["outsider"])
    client.force_login(personas["auditor"])
    for url in ("/t/acme/findings/export.csv?status=", "/t/acme/objects/export.csv", "/t/acme/changes/export.xlsx"):
        body = b"".join(client.get(url).streaming_content)
        assert b"globex" not in body.lower() and BIND_PASSWORD.encode() not in body
    assert client.get("/t/globex/findings/export.csv").status_code == 404
    client.force_login(personas["outsider"])
    assert client.get("/t/acme/findings/export.xlsx").status_code == 404


@pytest.mark.parametrize("who", ["lead", "admin", "auditor", "superuser"])
def test_every_role_may_export(client, personas, data, who):
    client.force_login(personas[who])
    for url in ("/t/acme/findings/export.csv", "/t/acme/objects/export.xlsx", "/t/acme/reports/"):
        assert client.get(url).status_code == 200, url


def test_anonymous_is_sent_to_login(client, data):
    response = client.get("/t/acme/findings/export.csv")
    assert response.status_code == 302 and "/login/" in response["Location"]


def test_csv_streams_in_chunks(client, personas, forest, monkeypatch):
    from identityhub.reports import tabular

    from .reports_support import finding

    for n in range(7):
        finding(forest, 100 + n)
    monkeypatch.setattr(tabular, "ROWS_PER_CHUNK", 3)
    client.force_login(personas["auditor"])
    chunks = list(client.get("/t/acme/findings/export.csv").streaming_content)
    assert len(chunks) == 3  # header + 2 rows, 3 rows, 2 rows (+ the rest)
    assert sum(c.count(b"\n") for c in chunks) == 8


def test_list_pages_link_their_exports(client, personas, data):
    client.force_login(personas["auditor"])
    page = client.get("/t/acme/findings/?severity=blocking").content.decode()
    assert "/t/acme/findings/export.csv?severity=blocking" in page
    assert "/t/acme/findings/export.xlsx?severity=blocking" in page
    assert 'name="kind" value="workbook"' in page
    assert "/t/acme/health/errors/export.csv" in client.get("/t/acme/health/").content.decode()
    assert "/t/acme/changes/export.xlsx" in client.get("/t/acme/changes/").content.decode()
    assert "/t/acme/reports/" in client.get("/t/acme/").content.decode()


def test_xlsx_tables_freeze_their_header_and_offer_filters(client, personas, data):
    client.force_login(personas["auditor"])
    for url in ("/t/acme/findings/export.xlsx", "/t/acme/changes/export.xlsx"):
        rows, ws = xlsx_rows(client.get(url))
        assert ws.freeze_panes == "A2", url
        last_column = ws.cell(row=1, column=len(rows[0])).column_letter
        assert ws.auto_filter.ref == f"A1:{last_column}{len(rows)}", url
