"""`manage.py check_export`: offline checks of ldifde/csvde files, duplicates across files, clear errors."""

import base64
import json
import uuid

import pytest
from django.core.management import call_command

LDIF_CORP = """version: 1

dn: CN=Bob Smith,OU=Staff,DC=corp,DC=contoso,DC=com
changetype: add
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: user
cn: Bob Smith
objectGUID:: {guid}
sAMAccountName: bsmith
displayName: Bob Smith
userPrincipalName: bob smith@contoso.local
mail: shared@contoso.com
proxyAddresses: SMTP:shared@contoso.com
proxyAddresses: X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDLT)/cn=Recipients/cn=bob
mailNickname: bsmith

"""

CSV_FABRIKAM = (
    "DN,objectClass,cn,sAMAccountName,displayName,userPrincipalName,mail,proxyAddresses,mailNickname\n"
    '"CN=Ann Lee,OU=Staff,DC=fabrikam,DC=com",user,Ann Lee,alee,Ann Lee,ann.lee@contoso.com,'
    "SHARED@contoso.com,SMTP:ann.lee@contoso.com,alee\n"
)


def run(*args):
    """(stdout, stderr) of a run that found something (exit status 0 or 1)."""
    from io import StringIO

    out, err = StringIO(), StringIO()
    try:
        call_command("check_export", *args, stdout=out, stderr=err)
    except SystemExit as exit_info:
        assert exit_info.code == 1, err.getvalue()
    return out.getvalue(), err.getvalue()


@pytest.fixture
def exports(tmp_path):
    guid = base64.b64encode(uuid.uuid4().bytes_le).decode()
    corp = tmp_path / "corp.ldf"
    corp.write_text(LDIF_CORP.format(guid=guid).replace("\n", "\r\n"), encoding="utf-8")
    fabrikam = tmp_path / "fabrikam.csv"
    fabrikam.write_text(CSV_FABRIKAM, encoding="utf-8")
    return corp, fabrikam


def test_it_prints_one_json_object_per_finding(exports):
    corp, fabrikam = exports
    out, _ = run(str(corp), str(fabrikam), "--verified-domain", "contoso.com", "--json")
    rows = [json.loads(line) for line in out.splitlines()]
    assert rows and all(
        {"dn", "object_class", "attribute", "value", "rule", "error", "severity", "suggestion"} <= set(row)
        for row in rows
    )
    upn = [r for r in rows if r["attribute"] == "userPrincipalName" and r["dn"].startswith("CN=Bob")]
    assert {r["error"] for r in upn} >= {"character", "topleveldomain"}
    # The X500 proxy is Exchange's own format: never flagged.
    assert not [r for r in rows if r["value"].startswith("X500:")]


def test_duplicates_are_found_across_files_on_every_holder(exports):
    corp, fabrikam = exports
    out, _ = run(str(corp), str(fabrikam), "--verified-domain", "contoso.com", "--json")
    dups = [json.loads(line) for line in out.splitlines() if '"duplicate"' in line]
    holders = {row["dn"].split(",")[0] for row in dups}
    assert holders == {"CN=Bob Smith", "CN=Ann Lee"}


def test_a_malformed_file_names_the_line_and_exits_2(tmp_path, exports, capsys):
    corp, _ = exports
    bad = tmp_path / "bad.ldf"
    bad.write_text("dn: CN=x,DC=corp\nobjectClass: user\n cont\nthis line has no colon\n")
    with pytest.raises(SystemExit) as exit_info:
        call_command("check_export", str(corp), str(bad), "--json")
    assert exit_info.value.code == 2


def test_nothing_is_printed_before_a_bad_file_is_found(tmp_path, exports):
    from io import StringIO

    corp, _ = exports
    bad = tmp_path / "bad.ldf"
    bad.write_text("dn: CN=x,DC=corp\nobjectClass: user\nthis line has no colon\n")
    out, err = StringIO(), StringIO()
    with pytest.raises(SystemExit):
        call_command("check_export", str(corp), str(bad), "--json", stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert "bad.ldf: line 3" in err.getvalue()


def test_the_dedicated_rule_set_is_selectable(exports):
    corp, fabrikam = exports
    out, _ = run(str(corp), "--ruleset", "dedicated", "--json")
    assert out.strip()
