"""The change log page, its CSV/LDIF exports, four-eyes approve/reject, exceptions, and the audit rows' immutability.

Change rows are built directly (no LDAP); only the approve-success test writes to the Samba lab.
"""

import base64
import csv
import datetime as dt
import io
import uuid

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from identityhub.lib.ldif import _ldif_records
from identityhub.remediation import exports, tasks
from identityhub.remediation.models import ApplyRun, Change, Waiver
from identityhub.scans.models import Finding
from identityhub.tenants.models import Forest, Membership, Role

URL = "/t/acme/changes/"


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def second_admin(personas, tenant, django_user_model):
    user = django_user_model.objects.create_user("second-admin")
    Membership.objects.create(user=user, tenant=tenant, role=Role.ADMIN)
    return user


@pytest.fixture
def make(forest, personas):
    """Change.objects.create with defaults: an applied UPN edit by the admin."""
    counter = iter(range(1, 10_000))

    def make_change(**fields):
        n = next(counter)
        values = {
            "tenant": forest.tenant,
            "forest": forest,
            "guid": uuid.uuid4(),
            "dn": f"CN=User {n},OU=Staff,DC=corp,DC=acme,DC=example",
            "attribute": "userPrincipalName",
            "old_values": [f"user {n}@acme.com"],
            "new_values": [f"user{n}@acme.com"],
            "action": Change.Action.EDIT,
            "requested_by": personas["admin"],
            "result": Change.Result.APPLIED,
        }
        values.update(fields)
        if values["result"] in (Change.Result.APPLIED, Change.Result.REVERTED) and "applied_at" not in fields:
            values["applied_at"] = timezone.now() + dt.timedelta(seconds=n)
        return Change.objects.create(**values)

    return make_change


def make_finding(forest, **fields):
    now = timezone.now()
    values = {
        "tenant": forest.tenant,
        "forest": forest,
        "key": uuid.uuid4().hex,
        "guid": uuid.uuid4(),
        "dn": "CN=Wendy,OU=Staff,DC=corp,DC=acme,DC=example",
        "object_class": "user",
        "ou": "OU=Staff,DC=corp,DC=acme,DC=example",
        "rule": "upn.character",
        "severity": "blocking",
        "error": "character",
        "attribute": "userPrincipalName",
        "value": "wendy w@acme.com",
        "status": Finding.Status.EXCEPTED,
        "first_seen": now,
        "last_seen": now,
    }
    values.update(fields)
    return Finding.objects.create(**values)


def rows_of(body: str) -> int:
    return body.count('id="change-')


def as_user(client, personas, who):
    client.force_login(personas[who])
    return client


def content_of(response) -> str:
    assert response.streaming
    return b"".join(response.streaming_content).decode("utf-8")


# --------------------------------------------------------------------------- the list


def test_the_log_shows_each_change_with_its_buttons(client, personas, second_admin, make):
    edit = make(dn="CN=Ann,DC=corp", old_values=["ann a@acme.com"], new_values=["anna@acme.com"])
    removal = make(attribute="proxyAddresses", old_values=["smtp:x y@acme.com"], new_values=[], action="remove")
    accepted = make(action="accept")
    conflict = make(result="conflict", error="AD now holds ['z@acme.com']", current_values=["z@acme.com"])
    theirs = make(result="awaiting", requested_by=second_admin)
    mine = make(result="awaiting")
    approved = make(approved_by=second_admin, approved_at=timezone.now())
    body = as_user(client, personas, "admin").get(URL).content.decode()

    assert rows_of(body) == 7
    assert "CN=Ann,DC=corp" in body and "ann a@acme.com" in body and "anna@acme.com" in body and "→" in body
    assert '<span class="badge green">Applied</span>' in body
    assert '<span class="badge red">Conflict</span>' in body and "AD held" in body
    assert '<span class="badge amber">Awaiting approval</span>' in body
    assert "(none)" in body  # the removal's new value
    for change in (edit, removal, approved):
        assert f"/t/acme/changes/{change.pk}/undo/" in body
    for change in (accepted, conflict, theirs, mine):
        assert f"/t/acme/changes/{change.pk}/undo/" not in body
    # Approve/Reject only on someone else's change awaiting approval.
    assert f"/t/acme/changes/{theirs.pk}/approve/" in body and f"/t/acme/changes/{theirs.pk}/reject/" in body
    assert f"/t/acme/changes/{mine.pk}/approve/" not in body and "waiting for another admin" in body
    assert "second-admin" in body  # requester of one row, approver of another
    # The exports carry the filter of the page.
    assert "/t/acme/changes/export.csv" in body and "direction=undo" in body


@pytest.mark.parametrize("who", ["lead", "auditor"])
def test_readers_see_the_log_without_buttons(client, personas, make, who):
    change = make()
    make(result="awaiting", requested_by=personas["superuser"])
    response = as_user(client, personas, who).get(URL)
    body = response.content.decode()
    assert response.status_code == 200 and rows_of(body) == 2
    assert f"/changes/{change.pk}/undo/" not in body and "/approve/" not in body
    assert "/t/acme/changes/export.csv" in body  # every role may export


def test_an_outsider_gets_404(client, personas, make):
    make()
    assert as_user(client, personas, "outsider").get(URL).status_code == 404


def test_filters_narrow_the_list_and_live_in_the_url(client, personas, second_admin, make, tenant):
    other = Forest.objects.create(tenant=tenant, name="fabrikam.example", servers="x", base_dns="DC=f")
    make(dn="CN=Müller,OU=Staff,DC=corp", old_values=["müller x@acme.com"], new_values=["mueller@acme.com"])
    make(attribute="mail", result="conflict")
    make(action="remove", new_values=[], forest=other)
    make(requested_by=second_admin, attribute="proxyAddresses", old_values=["smtp:a b@acme.com"])
    old = make(dn="CN=Old Timer,DC=corp")
    Change.objects.filter(pk=old.pk).update(created=timezone.now() - dt.timedelta(days=40))
    client = as_user(client, personas, "lead")

    def count(query):
        response = client.get(URL + "?" + query)
        assert response.status_code == 200
        return rows_of(response.content.decode())

    assert count("") == 5
    assert count("action=remove") == 1
    assert count("result=conflict") == 1
    assert count("attribute=MAIL") == 1  # case-insensitive
    assert count(f"forest={other.pk}") == 1
    assert count(f"user={second_admin.pk}") == 1
    since = (timezone.localdate() - dt.timedelta(days=7)).isoformat()
    until = (timezone.localdate() - dt.timedelta(days=30)).isoformat()
    assert count(f"date_after={since}") == 4
    assert count(f"date_before={until}") == 1
    assert count("q=old timer") == 1  # the DN
    assert count("q=mueller@") == 1  # a new value
    assert count("q=MÜLLER X") == 1  # an old value, non-ASCII, any case
    assert count("q=smtp:a b") == 1
    assert count("q=nothing-like-this") == 0
    assert count("action=remove&result=conflict") == 0


def test_sorted_and_paged(client, personas, make):
    for i in range(55):
        make(dn=f"CN=u{i:02d},DC=corp")
    client = as_user(client, personas, "auditor")
    first = client.get(URL + "?sort=dn").content.decode()
    assert rows_of(first) == 50 and first.index("CN=u00,") < first.index("CN=u01,")
    second = client.get(URL + "?sort=dn&page=2").content.decode()
    assert rows_of(second) == 5 and "CN=u54," in second
    descending = client.get(URL + "?sort=-dn").content.decode()
    assert descending.index("CN=u54,") < descending.index("CN=u53,")


def test_htmx_gets_only_the_table(client, personas, make):
    make(dn="CN=Partial,DC=corp")
    make(dn="CN=Other,DC=corp", attribute="mail")
    response = as_user(client, personas, "admin").get(
        URL + "?attribute=mail", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="changes"
    )
    body = response.content.decode()
    assert body.lstrip().startswith('<section id="changes"')
    assert "<html" not in body and '<form class="card filters"' not in body
    assert "CN=Other,DC=corp" in body and "CN=Partial" not in body
    assert "export.csv?attribute=mail" in body  # the export links follow the filter


def test_the_tenant_page_links_the_change_log_and_the_exceptions(client, personas):
    body = as_user(client, personas, "auditor").get("/t/acme/").content.decode()
    assert 'href="/t/acme/changes/"' in body and 'href="/t/acme/exceptions/"' in body


# --------------------------------------------------------------------------- CSV


def test_csv_streams_exactly_the_filtered_rows(client, personas, make, second_admin):
    make(dn="CN=Zed,DC=corp", attribute="mail", old_values=["zed@acme.com"], new_values=["z@acme.com"])
    make(
        dn="CN=Amy Ünal,DC=corp",
        attribute="proxyAddresses",
        old_values=["smtp:a@acme.com", "smtp:b c@acme.com"],
        new_values=["smtp:bc@acme.com"],
        approved_by=second_admin,
        approved_at=timezone.now(),
    )
    make(dn="CN=Formula,DC=corp", attribute="mail", old_values=["=HYPERLINK(1)"], new_values=["f@acme.com"])
    make(dn="CN=Conflicted,DC=corp", attribute="mail", result="conflict", error="moved on")
    response = as_user(client, personas, "auditor").get(URL + "export.csv?result=applied&sort=dn&page=2")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert 'attachment; filename="acme-changes-' in response["Content-Disposition"]
    text = content_of(response)
    assert text.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    assert [r["dn"] for r in rows] == ["CN=Amy Ünal,DC=corp", "CN=Formula,DC=corp", "CN=Zed,DC=corp"]  # page ignored
    amy = rows[0]
    assert amy["old_values"].split("\n") == ["smtp:a@acme.com", "smtp:b c@acme.com"]
    assert amy["new_values"] == "smtp:bc@acme.com"
    assert (amy["user"], amy["approved_by"], amy["action"], amy["result"]) == (
        "admin",
        "second-admin",
        "edit",
        "applied",
    )
    assert amy["forest"] == "corp.acme.example" and amy["applied_at"] and amy["time"]
    assert rows[1]["old_values"] == "'=HYPERLINK(1)"  # a spreadsheet must not run it
    assert list(rows[0]) == exports.CSV_HEADER


def test_csv_of_an_empty_filter_is_just_the_header(client, personas, make):
    make()
    text = content_of(as_user(client, personas, "lead").get(URL + "export.csv?result=rejected"))
    assert list(csv.reader(io.StringIO(text.removeprefix("\ufeff")))) == [exports.CSV_HEADER]


# --------------------------------------------------------------------------- LDIF: a small RFC 2849 reader


def parse_ldif(text: str):
    """Check the physical form (CRLF, 76 columns, ASCII) and return the modify records, unfolded and decoded."""
    assert text.endswith("\r\n")
    assert "\n" not in text.replace("\r\n", ""), "a line end that is not CRLF"
    text.encode("ascii")  # non-ASCII goes base64
    physical = text.split("\r\n")[:-1]
    assert all(len(line) <= 76 for line in physical), max(physical, key=len)
    logical = []
    for line in physical:
        if line.startswith(" "):
            assert logical and logical[-1], "continuation without a line before it"
            logical[-1] += line[1:]
        else:
            logical.append(line)
    records, current = [], []
    for line in [*logical, ""]:
        if line.startswith("#"):
            continue
        if line:
            current.append(line)
        elif current:
            records.append(current)
            current = []
    # The project's own LDIF reader unfolds the same way.
    numbered = enumerate(text.splitlines(keepends=True), 1)
    assert [[line for _, line in rec] for rec in _ldif_records(numbered)] == records
    return [_modify_record(record) for record in records]


def _value(line: str) -> tuple[str, str]:
    name, _, rest = line.partition(":")
    if rest.startswith(":"):
        return name, base64.b64decode(rest[1:].strip(), validate=True).decode("utf-8")
    assert not rest.startswith("<")
    return name, rest[1:] if rest.startswith(" ") else rest


def _modify_record(lines: list[str]) -> dict:
    name, dn = _value(lines[0])
    assert name == "dn" and lines[1] == "changetype: modify"
    ops, i = [], 2
    while i < len(lines):
        op, attribute = lines[i].split(": ", 1)
        assert op in ("add", "delete", "replace")
        values = []
        i += 1
        while lines[i] != "-":
            name, value = _value(lines[i])
            assert name == attribute
            values.append(value)
            i += 1
        ops.append((op, attribute, values))
        i += 1
    return {"dn": dn, "ops": ops}


def apply_ldif(records, state: dict) -> dict:
    """What a DC does with the records: a delete of a value that is not there fails (as ldifde would)."""
    state = {key: list(values) for key, values in state.items()}
    for record in records:
        for op, attribute, values in record["ops"]:
            held = state.setdefault((record["dn"], attribute), [])
            for value in values:
                if op == "delete":
                    assert value in held, f"{record['dn']}: {attribute} has no value {value!r}"
                    held.remove(value)
                else:
                    assert value not in held
                    held.append(value)
    return state


# --------------------------------------------------------------------------- LDIF: the builder


@pytest.mark.parametrize(
    ("value", "safe"),
    [
        ("plain@acme.com", True),
        ("", True),
        ("a:b<c", True),  # only the first character is special
        (" leading", False),
        (":colon", False),
        ("<angle", False),
        ("trailing ", False),
        ("Müller", False),
        ("line\nbreak", False),
        ("cr\rhere", False),
        ("nul\x00", False),
    ],
)
def test_safe_strings_per_rfc_2849(value, safe):
    assert exports.is_safe(value) is safe
    line = exports.attr_line("description", value)
    if safe:
        assert line.startswith("description:") and not line.startswith("description::")
    else:
        assert base64.b64decode(line.removeprefix("description:: ")).decode("utf-8") == value


def test_folding_at_76_columns():
    line = "x" * 200
    folded = exports.fold(line)
    assert [len(part) for part in folded] == [76, 76, 50]
    assert all(part.startswith(" ") for part in folded[1:])
    assert folded[0] + "".join(part[1:] for part in folded[1:]) == line
    assert exports.fold("y" * 76) == ["y" * 76]


def test_a_modify_record_deletes_the_old_value_and_adds_the_new():
    mod = exports.Modification(
        dn="CN=Jürgen Groß,OU=Straße,DC=corp,DC=example",
        attribute="proxyAddresses",
        delete=["smtp:jürgen groß@corp.example.com"],
        add=["smtp:" + "j" * 90 + "@corp.example.com", " spaced"],
        note="change 7: edit by Zoë",
    )
    text = exports.modify_record(mod)
    assert text.endswith("-\r\n\r\n") and "# change 7: edit by Zo\\xeb\r\n" in text
    physical = text.split("\r\n")
    assert physical[1].startswith("dn:: ")  # non-ASCII DN
    assert physical[2] == "changetype: modify" and physical[3] == "delete: proxyAddresses"
    assert physical[4].startswith("proxyAddresses:: ")
    assert any(line.startswith(" ") for line in physical)  # the long value is folded
    (record,) = parse_ldif(text)
    assert record["dn"] == mod.dn
    assert record["ops"] == [("delete", "proxyAddresses", mod.delete), ("add", "proxyAddresses", mod.add)]


def test_a_removal_never_writes_a_bare_delete_and_an_accept_writes_nothing():
    removal = exports.Modification("CN=a,DC=x", "proxyAddresses", delete=["smtp:a b@x.com"])
    (record,) = parse_ldif(exports.modify_record(removal))
    assert record["ops"] == [("delete", "proxyAddresses", ["smtp:a b@x.com"])]
    undo = "".join(exports.ldif([removal], exports.UNDO))
    assert parse_ldif(undo)[0]["ops"] == [("add", "proxyAddresses", ["smtp:a b@x.com"])]
    assert "".join(exports.ldif([exports.Modification("CN=a,DC=x", "mail")])) == ""


# --------------------------------------------------------------------------- LDIF: the export


@pytest.fixture
def history(make, personas):
    """A small history: two edits of one UPN (the second on top of the first), a removal, an undo of it,
    a non-ASCII edit, and rows that were never written (accept, conflict, awaiting, rejected)."""
    dn = "CN=Kim,OU=Staff,DC=corp,DC=acme,DC=example"
    first = make(dn=dn, old_values=["kim k@acme.com"], new_values=["kimk@acme.com"])
    make(dn=dn, old_values=["kimk@acme.com"], new_values=["kim.k@acme.com"], action="edit")
    removal = make(
        dn=dn,
        attribute="proxyAddresses",
        old_values=["smtp:kim k@acme.com"],
        new_values=[],
        action="remove",
        result="reverted",
    )
    make(
        dn=dn,
        attribute="proxyAddresses",
        old_values=[],
        new_values=["smtp:kim k@acme.com"],
        action="undo",
        reverts=removal,
    )
    make(
        dn="CN=Zoë Çelik,OU=Staff,DC=corp,DC=acme,DC=example",
        attribute="displayName",
        old_values=["Zoë  Çelik "],
        new_values=["Zoë Çelik"],
    )
    make(action="accept", dn="CN=Accepted,DC=corp")
    make(result="conflict", dn="CN=Conflict,DC=corp")
    make(result="awaiting", dn="CN=Awaiting,DC=corp")
    make(result="rejected", dn="CN=Rejected,DC=corp")
    return {"dn": dn, "first": first}


BEFORE = {
    ("CN=Kim,OU=Staff,DC=corp,DC=acme,DC=example", "userPrincipalName"): ["kim k@acme.com"],
    ("CN=Kim,OU=Staff,DC=corp,DC=acme,DC=example", "proxyAddresses"): ["smtp:kim k@acme.com"],
    ("CN=Zoë Çelik,OU=Staff,DC=corp,DC=acme,DC=example", "displayName"): ["Zoë  Çelik "],
}


def test_ldif_holds_the_written_changes_in_order_and_undo_reverses_them(client, personas, history):
    client = as_user(client, personas, "auditor")
    response = client.get(URL + "export.ldf")
    assert response.status_code == 200 and response["Content-Disposition"].endswith('.ldf"')
    forward = parse_ldif(content_of(response))
    assert len(forward) == 5  # never the accept, conflict, awaiting or rejected rows
    assert {r["dn"] for r in forward} == {history["dn"], "CN=Zoë Çelik,OU=Staff,DC=corp,DC=acme,DC=example"}
    after = apply_ldif(forward, BEFORE)
    assert after[(history["dn"], "userPrincipalName")] == ["kim.k@acme.com"]
    assert after[(history["dn"], "proxyAddresses")] == ["smtp:kim k@acme.com"]
    assert after[("CN=Zoë Çelik,OU=Staff,DC=corp,DC=acme,DC=example", "displayName")] == ["Zoë Çelik"]

    response = client.get(URL + "export.ldf?direction=undo")
    assert response["Content-Disposition"].endswith('-undo.ldf"')
    undo = parse_ldif(content_of(response))
    assert [r["dn"] for r in undo] == [r["dn"] for r in reversed(forward)]
    assert apply_ldif(undo, after) == {key: values for key, values in BEFORE.items()}


def test_ldif_follows_the_filter(client, personas, history):
    client = as_user(client, personas, "lead")
    text = content_of(client.get(URL + "export.ldf?attribute=userPrincipalName&q=kim"))
    records = parse_ldif(text)
    assert len(records) == 2 and "# Filter: attribute=userPrincipalName&q=kim" in text
    only_first = parse_ldif(content_of(client.get(URL + "export.ldf?q=kim%20k%40acme&attribute=userPrincipalName")))
    assert only_first[0]["ops"][0] == ("delete", "userPrincipalName", ["kim k@acme.com"])
    assert parse_ldif(content_of(client.get(URL + "export.ldf?result=conflict"))) == []


def test_exports_need_a_membership(client, personas, history):
    client = as_user(client, personas, "outsider")
    assert client.get(URL + "export.ldf").status_code == 404
    assert client.get(URL + "export.csv").status_code == 404


# --------------------------------------------------------------------------- approve / reject


def test_the_requester_cannot_approve_their_own_change(client, personas, make):
    change = make(result="awaiting")
    response = as_user(client, personas, "admin").post(f"{URL}{change.pk}/approve/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200 and body.lstrip().startswith("<tr") and f'id="change-{change.pk}"' in body
    assert "someone else must approve" in body and "Awaiting approval" in body
    change.refresh_from_db()
    assert change.result == "awaiting" and change.approved_by is None and change.applied_at is None
    # Without htmx: back to the log, with the reason as a message.
    response = client.post(f"{URL}{change.pk}/approve/", follow=True)
    assert "someone else must approve" in response.content.decode()
    change.refresh_from_db()
    assert change.result == "awaiting"


@pytest.mark.parametrize(("who", "status"), [("lead", 403), ("auditor", 403), ("outsider", 404)])
def test_readers_and_strangers_cannot_approve_or_reject(client, personas, make, who, status):
    change = make(result="awaiting", requested_by=personas["superuser"])
    client = as_user(client, personas, who)
    assert client.post(f"{URL}{change.pk}/approve/").status_code == status
    assert client.post(f"{URL}{change.pk}/reject/").status_code == status
    change.refresh_from_db()
    assert change.result == "awaiting" and change.approved_by is None


def test_another_admin_rejects_with_a_reason(client, personas, second_admin, make):
    change = make(result="awaiting")
    client.force_login(second_admin)
    response = client.post(f"{URL}{change.pk}/reject/", HTTP_HX_REQUEST="true", HTTP_HX_PROMPT="wrong domain")
    body = response.content.decode()
    assert "Rejected by approver" in body and "wrong domain" in body and "/approve/" not in body
    change.refresh_from_db()
    assert (change.result, change.error, change.approved_by) == ("rejected", "wrong domain", second_admin)
    # Decided once: a second decision is refused, nothing changes.
    body = client.post(f"{URL}{change.pk}/approve/", HTTP_HX_REQUEST="true").content.decode()
    assert "not waiting for approval" in body
    change.refresh_from_db()
    assert change.result == "rejected" and change.applied_at is None


def test_a_change_of_another_tenant_is_404(client, personas, make, other_tenant):
    other_forest = Forest.objects.create(tenant=other_tenant, name="g", servers="x", base_dns="DC=g")
    change = make(tenant=other_tenant, forest=other_forest, result="awaiting", requested_by=personas["outsider"])
    assert as_user(client, personas, "admin").post(f"{URL}{change.pk}/approve/").status_code == 404


@pytest.mark.samba
@pytest.mark.django_db(transaction=True)
def test_a_second_admin_approves_and_the_change_is_written(client, personas, sandbox_forest, sandbox, fix_tenant):
    from .remediation_support import finding_on, scan

    fix_tenant.require_approval = True
    fix_tenant.save()
    dn = sandbox.user("Una Bad", userPrincipalName="una bad@corp.example.com")
    scan(sandbox_forest)
    client.force_login(personas["admin"])
    finding = finding_on(dn, "userPrincipalName")
    client.post(f"/t/acme/findings/{finding.pk}/edit/", {"value": "unabad@corp.example.com"}, HTTP_HX_REQUEST="true")
    change = Change.objects.get(finding=finding)
    assert change.result == "awaiting" and sandbox.value(dn, "userPrincipalName") == ["una bad@corp.example.com"]

    client.force_login(personas["superuser"])
    response = client.post(f"{URL}{change.pk}/approve/", HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert "Approved: applied." in body and '<span class="badge green">Applied</span>' in body
    assert f"/changes/{change.pk}/undo/" in body  # now undoable
    change.refresh_from_db()
    assert change.result == "applied" and change.approved_by == personas["superuser"]
    assert sandbox.value(dn, "userPrincipalName") == ["unabad@corp.example.com"]


# --------------------------------------------------------------------------- immutability and the admin


def test_a_finished_change_cannot_be_edited_or_deleted(make):
    change = make()
    change.new_values = ["tampered@acme.com"]
    with pytest.raises(ValidationError):
        change.save()
    with pytest.raises(ValidationError):
        change.save(update_fields=["result"])  # the outcome is recorded once
    with pytest.raises(ValidationError):
        change.delete()
    change.refresh_from_db()
    assert change.new_values != ["tampered@acme.com"]


def test_the_admin_site_is_read_only(client, personas, make, tenant):
    change = make()
    run = ApplyRun.objects.create(tenant=tenant, requested_by=personas["admin"])
    client.force_login(personas["superuser"])
    for model, obj in (("change", change), ("applyrun", run)):
        assert client.get(f"/admin/remediation/{model}/").status_code == 200
        assert client.get(f"/admin/remediation/{model}/add/").status_code == 403
        page = client.get(f"/admin/remediation/{model}/{obj.pk}/change/")
        assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
        assert client.get(f"/admin/remediation/{model}/{obj.pk}/delete/").status_code == 403
        assert client.post(f"/admin/remediation/{model}/{obj.pk}/change/", {}).status_code == 403
    assert client.get("/admin/remediation/waiver/add/").status_code == 403
    assert Change.objects.filter(pk=change.pk).exists()


# --------------------------------------------------------------------------- exceptions


def test_the_exceptions_list_and_expiry_reopening_by_the_task(client, personas, forest):
    today = timezone.localdate()
    waivers = {}
    for name, expires in (("future", today + dt.timedelta(days=30)), ("past", today - dt.timedelta(days=1))):
        finding = make_finding(forest, dn=f"CN={name},DC=corp", value=f"{name} x@acme.com")
        waivers[name] = Waiver.objects.create(
            tenant=forest.tenant,
            finding=finding,
            justification=f"{name}: HR system owns it",
            expires_on=expires,
            created_by=personas["admin"],
        )
    client = as_user(client, personas, "auditor")
    body = client.get("/t/acme/exceptions/").content.decode()
    assert "future: HR system owns it" in body and "CN=past,DC=corp" in body and "upn.character" in body
    assert "in force" in body and "expired, reopens at the next daily run" in body and ">admin<" in body
    active = client.get("/t/acme/exceptions/?state=active").content.decode()
    assert "CN=past" not in active
    # The page's exports take its filter: what is listed is what is exported.
    assert 'href="/t/acme/exceptions/export.csv?state=active"' in active
    assert 'href="/t/acme/exceptions/export.xlsx?state=active"' in active
    exported = b"".join(client.get("/t/acme/exceptions/export.csv?state=active").streaming_content).decode()
    assert "future: HR system owns it" in exported and "past: HR system owns it" not in exported

    assert tasks.reopen_expired_waivers.delay().get() == 1
    assert tasks.reopen_expired_waivers.delay().get() == 0  # idempotent
    assert Finding.objects.get(pk=waivers["past"].finding_id).status == "open"
    assert Finding.objects.get(pk=waivers["future"].finding_id).status == "excepted"
    body = client.get("/t/acme/exceptions/?state=expired", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="waivers")
    body = body.content.decode()
    assert body.lstrip().startswith('<section id="waivers"') and "finding reopened" in body
    assert "CN=future" not in body


def test_the_exceptions_list_is_for_members_only(client, personas):
    assert as_user(client, personas, "lead").get("/t/acme/exceptions/").status_code == 200
    assert as_user(client, personas, "outsider").get("/t/acme/exceptions/").status_code == 404


def test_the_reopening_runs_daily_from_beat(settings):
    entry = settings.CELERY_BEAT_SCHEDULE["reopen-expired-waivers"]
    assert entry["task"] == tasks.reopen_expired_waivers.name
    assert entry["schedule"].remaining_estimate(timezone.now()) <= dt.timedelta(days=1)


# --------------------------------------------------------------------------- in the browser


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_in_the_browser_a_second_admin_filters_the_log_and_rejects_a_change(live_server, page, make, second_admin):
    from .browser import log_in, screenshot

    second_admin.set_password("pw-second")
    second_admin.save()
    make(dn="CN=Applied One,DC=corp")
    make(dn="CN=Conflicted,DC=corp", result="conflict", error="AD now holds ['x@acme.com']", current_values=["x"])
    waiting = make(dn="CN=Waiting,DC=corp", result="awaiting")
    log_in(page, live_server, "second-admin", "pw-second")
    page.goto(f"{live_server.url}/t/acme/changes/")
    assert page.locator("table.changes tbody tr").count() == 3

    page.select_option("#id_result", "awaiting")  # htmx reloads the table, the URL keeps the filter
    page.wait_for_function("() => document.querySelectorAll('table.changes tbody tr').length === 1")
    assert "result=awaiting" in page.url
    assert "result=awaiting" in page.get_attribute("a[href*='export.csv']", "href")

    page.once("dialog", lambda dialog: dialog.accept("not our naming scheme"))
    page.click(f"#change-{waiting.pk} button:has-text('Reject')")
    page.wait_for_selector(f"#change-{waiting.pk} >> text=Rejected by approver")
    assert "not our naming scheme" in page.inner_text(f"#change-{waiting.pk}")
    screenshot(page, "change-log-rejected")
    waiting.refresh_from_db()
    assert waiting.result == "rejected" and waiting.approved_by == second_admin


def test_a_bulk_run_stopped_by_its_time_limit_says_so(personas, forest, settings, monkeypatch):
    from celery.exceptions import SoftTimeLimitExceeded

    from identityhub.remediation import bulk

    settings.BULK_SOFT_TIME_LIMIT = 3600
    finding = make_finding(forest, dn="CN=slow,DC=corp", value="slow x@acme.com")
    run = ApplyRun.objects.create(
        tenant=forest.tenant, requested_by=personas["admin"], action="accept", finding_ids=[finding.pk], total=1
    )

    def too_long(run, finding):
        raise SoftTimeLimitExceeded()  # what Celery raises inside the task at its soft limit

    monkeypatch.setattr(bulk, "_apply_row", too_long)
    with pytest.raises(SoftTimeLimitExceeded):
        bulk.run_bulk(run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and run.error == "Stopped: it ran longer than its time limit of 60 minutes."
