"""Bad input to forms, bulk selections and API filters: a clear error, nothing changed, never a 500 (issue #12, 6-7)."""

import pytest
from django.utils import timezone

from identityhub.remediation.models import ApplyRun, Change, Waiver
from identityhub.scans.models import Finding

from .reports_support import finding

HUGE_IDS = [str(2**63), str(2**64 + 1), "9" * 40]
NUL = "legacy\x00mailbox"


@pytest.fixture
def findings(forest):
    made = [finding(forest, n) for n in range(1, 4)]
    made.append(finding(forest, 4, rule="mail.character", severity="degrading", attribute="mail"))
    return made


def _open(findings):
    return Finding.objects.filter(pk__in=[f.pk for f in findings], status="open").count()


# ----------------------------------------------------------------------------- exceptions: dates, NUL, length


@pytest.mark.parametrize("expires_on", ["2026-02-30", "2026-13-01", "2026-00-10", "31/12/2030", "tomorrow", "9" * 30])
def test_an_impossible_expiry_date_is_a_form_error_next_to_the_field(client, personas, findings, expires_on):
    client.force_login(personas["admin"])
    response = client.post(
        f"/t/acme/findings/{findings[0].pk}/waive/",
        {"justification": "Retired in Q3", "expires_on": expires_on},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    body = response.content.decode()
    field = body.index('name="expires_on"')
    error = body.index("Enter a valid date.")
    assert field < error < body.index("Save exception")  # next to the date field
    assert 'value="Retired in Q3"' in body  # what was typed stays
    assert not Waiver.objects.exists() and _open(findings) == 4


def test_a_justification_with_a_nul_byte_is_refused(client, personas, findings):
    client.force_login(personas["admin"])
    expires = (timezone.localdate() + timezone.timedelta(days=30)).isoformat()
    response = client.post(f"/t/acme/findings/{findings[0].pk}/waive/", {"justification": NUL, "expires_on": expires})
    assert response.status_code == 200 and "Null characters are not allowed." in response.content.decode()
    assert not Waiver.objects.exists()
    too_long = client.post(
        f"/t/acme/findings/{findings[0].pk}/waive/", {"justification": "x" * 100_000, "expires_on": expires}
    )
    assert too_long.status_code == 200 and "at most 2000 characters" in too_long.content.decode()
    assert not Waiver.objects.exists()
    ok = client.post(f"/t/acme/findings/{findings[0].pk}/waive/", {"justification": "Retired", "expires_on": expires})
    assert ok.status_code == 200 and Waiver.objects.count() == 1


# ----------------------------------------------------------------------------- edit value and reject reason


def test_an_edit_value_with_a_nul_byte_is_refused_before_anything_is_recorded(client, personas, findings):
    client.force_login(personas["admin"])
    response = client.post(
        f"/t/acme/findings/{findings[0].pk}/edit/", {"value": "user\x001@acme.com"}, HTTP_HX_REQUEST="true"
    )
    assert response.status_code == 200
    body = response.content.decode()
    assert "Null characters are not allowed." in body and 'name="value"' in body
    assert not Change.objects.exists() and _open(findings) == 4


def test_a_reject_reason_with_a_nul_byte_is_refused_and_the_change_still_waits(client, personas, findings):
    change = Change.objects.create(
        tenant=findings[0].tenant, forest=findings[0].forest, finding=findings[0], guid=findings[0].guid,
        dn=findings[0].dn, attribute="userPrincipalName", old_values=["user 1@acme.com"],
        new_values=["user1@acme.com"], action="edit", requested_by=personas["lead"], result="awaiting",
    )  # fmt: skip
    client.force_login(personas["admin"])
    response = client.post(f"/t/acme/changes/{change.pk}/reject/", {"reason": "no\x00way"}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and "Null characters are not allowed." in response.content.decode()
    prompt = client.post(f"/t/acme/changes/{change.pk}/reject/", HTTP_HX_REQUEST="true", HTTP_HX_PROMPT="no\x00way")
    assert prompt.status_code == 200 and "Null characters are not allowed." in prompt.content.decode()
    plain = client.post(f"/t/acme/changes/{change.pk}/reject/", {"reason": "no\x00way"}, follow=True)
    assert plain.status_code == 200 and "Null characters are not allowed." in plain.content.decode()
    change.refresh_from_db()
    assert change.result == "awaiting" and change.approved_by is None


# ----------------------------------------------------------------------------- bulk: ids and filters


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_beyond_64_bits_in_a_bulk_selection_select_nothing(client, personas, findings, huge):
    client.force_login(personas["admin"])
    for data in ({"ids": f"{findings[0].pk},{huge}"}, {"select": [huge, str(findings[0].pk)]}):
        response = client.post("/t/acme/findings/bulk/preview/", {"action": "accept", **data})
        assert response.status_code == 200
        assert [r.finding.pk for r in response.context["rows"]] == [findings[0].pk]


@pytest.mark.parametrize(
    "bad", ["severity=hygienex", "status=gone", "rule=no.such.rule", f"forest={2**64}", "forest=abc", "reverted=maybe"]
)
def test_an_invalid_filter_in_a_whole_filter_bulk_selection_refuses(client, personas, findings, bad):
    client.force_login(personas["admin"])
    for url in ("/t/acme/findings/bulk/preview/", "/t/acme/findings/bulk/apply/"):
        response = client.post(url, {"action": "accept", "scope": "filter", "filter": bad})
        assert response.status_code == 400, (url, bad)
        field = bad.split("=")[0]
        assert field in response.content.decode()
    assert not Change.objects.exists() and _open(findings) == 4


def test_a_refused_whole_filter_selection_answers_the_styled_page_saying_what_and_how(client, personas, findings):
    client.force_login(personas["admin"])
    for url in ("/t/acme/findings/bulk/preview/", "/t/acme/findings/bulk/apply/"):
        response = client.post(url, {"action": "accept", "scope": "filter", "filter": "forest=abc&severity=blocking"})
        assert response.status_code == 400, url
        page = response.content.decode()
        # The site's page (chrome and breadcrumbs), not a bare text answer.
        assert 'class="crumbs"' in page and 'id="selection-refused"' in page, url
        assert "forest" in page and "Nothing was changed" in page
        # How to fix it: back to the list with the valid part of the filter kept, the refused value dropped.
        assert 'href="/t/acme/findings/?severity=blocking"' in page
    assert not Change.objects.exists() and _open(findings) == 4


BULK_URLS = ("/t/acme/findings/bulk/preview/", "/t/acme/findings/bulk/apply/")


def _styled_refusal(response, message: str) -> str:
    """The site's page (top bar, breadcrumbs) answering 400 with the refusal and what to do, not bare text."""
    page = response.content.decode()
    assert response.status_code == 400 and response["Content-Type"].startswith("text/html")
    assert 'class="topbar"' in page and 'class="crumbs"' in page and 'id="selection-refused"' in page
    assert message in page and "Nothing was changed" in page
    assert 'href="/t/acme/findings/' in page  # the way back to the list
    return page


@pytest.mark.parametrize("action", [None, "", "delete-everything", "accept\x00"])
def test_a_bulk_request_without_a_known_action_answers_the_styled_page(client, personas, findings, action):
    client.force_login(personas["admin"])
    ids = [str(f.pk) for f in findings]
    data = {"select": ids, "ids": ",".join(ids)} | ({} if action is None else {"action": action})
    for url in BULK_URLS:
        _styled_refusal(client.post(url, data), "Choose a bulk action.")
    assert not Change.objects.exists() and not ApplyRun.objects.exists() and _open(findings) == 4


def test_a_bulk_run_of_nothing_is_refused_on_the_styled_page(client, personas, findings, other_tenant):
    """A run must name findings of this tenant: none (or only another tenant's) starts no empty job."""
    client.force_login(personas["admin"])
    for ids in ("", "abc", str(2**64)):
        page = _styled_refusal(client.post(BULK_URLS[1], {"action": "accept", "ids": ids}), "Nothing to apply")
        assert "Preview: Accept as is" not in page  # nothing was previewed
    assert not Change.objects.exists() and not ApplyRun.objects.exists() and _open(findings) == 4


@pytest.mark.parametrize("odd", ["²", "١", "٣٤"])
def test_non_ascii_digits_in_a_bulk_selection_select_nothing(client, personas, findings, odd):
    # str.isdigit() says yes to "²" (int() then fails: a 500) and to Arabic-Indic digits (int() reads them).
    client.force_login(personas["admin"])
    for data in ({"ids": f"{findings[0].pk},{odd}"}, {"select": [odd, str(findings[0].pk)]}):
        response = client.post(BULK_URLS[0], {"action": "accept", **data})
        assert response.status_code == 200
        assert [r.finding.pk for r in response.context["rows"]] == [findings[0].pk]
    _styled_refusal(client.post(BULK_URLS[1], {"action": "accept", "ids": odd}), "Nothing to apply")
    assert not ApplyRun.objects.exists()


def test_a_valid_whole_filter_selection_still_selects_exactly_the_filter(client, personas, findings):
    client.force_login(personas["admin"])
    response = client.post(
        "/t/acme/findings/bulk/preview/", {"action": "accept", "scope": "filter", "filter": "severity=degrading"}
    )
    assert response.status_code == 200
    assert [r.finding.pk for r in response.context["rows"]] == [findings[3].pk]


# ----------------------------------------------------------------------------- URLs and API filters


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_beyond_64_bits_in_urls_answer_404(client, personas, findings, huge):
    client.force_login(personas["admin"])
    for url in (
        f"/t/acme/findings/{huge}/actions/",
        f"/t/acme/scans/{huge}/",
        f"/t/acme/changes/{huge}/undo/",
        f"/t/acme/reports/{huge}/",
        f"/api/tenants/acme/findings/{huge}/",
        f"/api/tenants/acme/forests/{huge}/",
        f"/api/tenants/acme/health-snapshots/{huge}/",
    ):
        response = client.post(url) if "undo" in url else client.get(url)
        assert response.status_code == 404, url


@pytest.mark.parametrize("huge", HUGE_IDS)
def test_ids_beyond_64_bits_in_api_filters_answer_400_or_nothing(client, personas, findings, huge):
    client.force_login(personas["auditor"])
    for url in (
        f"/api/tenants/acme/findings/?forest={huge}",
        f"/api/tenants/acme/objects/?forest={huge}",
        f"/api/tenants/acme/changes/?forest={huge}",
        f"/api/tenants/acme/changes/?user={huge}",
    ):
        response = client.get(url)
        assert response.status_code == 400, url
        assert "forest" in response.json() or "user" in response.json()
    errors = client.get(f"/api/tenants/acme/provisioning-errors/?snapshot={huge}")
    assert errors.status_code in (200, 400) and errors.json().get("results", []) == []


def test_invalid_filter_values_in_the_api_answer_400_naming_the_field(client, personas, findings):
    client.force_login(personas["auditor"])
    response = client.get("/api/tenants/acme/findings/?severity=hygienex")
    assert response.status_code == 400 and "severity" in response.json()
    nul = client.get("/api/tenants/acme/findings/", {"q": "a\x00b"})
    assert nul.status_code == 400 and "q" in nul.json()


def test_invalid_filter_values_in_the_pages_answer_with_an_error_not_a_500(client, personas, findings):
    client.force_login(personas["auditor"])
    for url in (
        f"/t/acme/findings/?forest={2**64}",
        "/t/acme/findings/?q=a%00b",
        "/t/acme/changes/?date_after=2026-02-30",
        f"/t/acme/changes/?user={2**64}",
        "/t/acme/exceptions/?q=%00",
    ):
        assert client.get(url).status_code in (200, 400), url


# ----------------------------------------------------------------------------- logging (point 10)


def test_bad_input_is_logged_as_one_short_info_line(client, personas, findings, caplog):
    client.force_login(personas["admin"])
    caplog.set_level("INFO", logger="identityhub.badinput")
    client.post(
        f"/t/acme/findings/{findings[0].pk}/waive/",
        {"justification": "x\x00" + "y" * 100_000, "expires_on": "2026-02-30"},
        HTTP_HX_REQUEST="true",
    )
    bulk = {"action": "accept", "scope": "filter", "filter": "severity=hygienex"}
    client.post("/t/acme/findings/bulk/preview/", bulk)
    records = [r for r in caplog.records if r.name == "identityhub.badinput"]
    assert len(records) == 2
    for record in records:
        assert record.levelname == "INFO" and record.exc_info is None
        line = record.getMessage()
        assert "\n" not in line and len(line) < 700 and "admin" in line
    assert "expires_on" in records[0].getMessage() and "severity" in records[1].getMessage()


# ----------------------------------------------------------------------------- forest form: DN and filter lengths


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("exclude_ous", "OU=" + "x" * 100_000 + ",DC=corp", "a DN of 100,011 characters"),
        ("base_dns", "DC=" + "a" * 3000, "at most 2,048"),
        ("extra_filter", "(cn=" + "a" * 5000 + ")", "at most 500 characters"),  # the model's max_length
    ],
)
def test_the_forest_form_bounds_dns_and_the_filter(client, personas, forest, field, value, error):
    from .test_forests import FORM

    client.force_login(personas["admin"])
    response = client.post(f"/t/acme/forests/{forest.pk}/", dict(FORM, name=forest.name, **{field: value}))
    body = response.content.decode()
    assert response.status_code == 200 and error in body
    forest.refresh_from_db()
    assert getattr(forest, field) != value
