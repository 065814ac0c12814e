"""Issue 18: a large findings XLSX is never built inside a request; the background job prepares it."""

import pytest

from identityhub.reports.models import ExportJob

from .test_query_counts import scan

pytestmark = pytest.mark.django_db(transaction=True)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def test_a_large_xlsx_goes_to_the_export_job_with_the_filter(client, personas, forest, settings):
    scan(forest, 12)  # 36 open findings, 12 of them upn.topleveldomain
    settings.EXPORT_XLSX_IN_REQUEST_MAX_ROWS = 20
    client.force_login(personas["lead"])

    response = client.get("/t/acme/findings/export.xlsx?q=smith&per_page=25")
    assert response.status_code == 302 and response["Content-Type"] != XLSX
    job = ExportJob.objects.get()
    assert response["Location"] == job.get_absolute_url()
    assert job.kind == ExportJob.Kind.WORKBOOK and job.created_by == personas["lead"]
    assert job.params["filter"] == "q=smith&per_page=25"
    page = client.get(response["Location"]).content.decode()
    assert "prepared in the background" in page

    # At or under the limit the spreadsheet comes at once, as before; no job.
    small = client.get("/t/acme/findings/export.xlsx?rule=upn.topleveldomain")
    assert small.status_code == 200 and small["Content-Type"] == XLSX
    assert ExportJob.objects.count() == 1


def test_the_background_export_keeps_the_export_role(client, personas, forest, settings):
    scan(forest, 12)
    settings.EXPORT_XLSX_IN_REQUEST_MAX_ROWS = 1
    client.force_login(personas["outsider"])
    assert client.get("/t/acme/findings/export.xlsx").status_code == 404
    assert not ExportJob.objects.exists()


def test_the_xlsx_link_leads_to_the_job_page_in_the_browser(live_server, page, personas, forest, settings):
    """Clicking XLSX on a large list opens the job's page (not a download of that page), which says why."""
    from .browser import log_in, screenshot

    scan(forest, 12)
    settings.EXPORT_XLSX_IN_REQUEST_MAX_ROWS = 20
    log_in(page, live_server, "lead", "pw-lead")
    for width in (1440, 1024):
        page.set_viewport_size({"width": width, "height": 900})
        page.goto(f"{live_server.url}/t/acme/findings/")
        page.click("form.exports a:text-is('XLSX')")
        page.wait_for_url("**/reports/**")
        assert "prepared in the background" in page.content()
        screenshot(page, f"i18p-xlsx-in-background-{width}")
    assert ExportJob.objects.filter(kind=ExportJob.Kind.WORKBOOK).count() == 2
