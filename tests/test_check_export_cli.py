"""Issue 14 points 8-11: check_export as a tool people pipe: IdFix error types, no settings or
database needed, ldapsearch input, --format/--summary, exit status, verified domains."""

import base64
import csv
import io
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from identityhub.export_check import main

ROOT = Path(__file__).resolve().parent.parent


def ldif(*records):
    return "version: 1\n\n" + "\n".join(records)


def user(cn, domain="DC=contoso,DC=com", **attrs):
    lines = [f"dn: CN={cn},OU=Staff,{domain}", "objectClass: top", "objectClass: person",
             "objectClass: organizationalPerson", "objectClass: user",
             f"objectGUID:: {base64.b64encode(uuid.uuid4().bytes_le).decode()}",
             f"sAMAccountName: {cn.lower().replace(' ', '')[:20]}"]  # fmt: skip
    for name, values in attrs.items():
        for value in values if isinstance(values, list) else [values]:
            if value.isascii():
                lines.append(f"{name}: {value}")
            else:
                lines.append(f"{name}:: {base64.b64encode(value.encode()).decode()}")
    return "\n".join(lines) + "\n"


CLEAN = user("Ann Lee", userPrincipalName="ann.lee@contoso.com", displayName="Ann Lee")
ACCENTED = user("Jose", userPrincipalName="josé@contoso.com", mail="josé@contoso.com",
                proxyAddresses=["SMTP:josé@contoso.com"], mailNickname="jose")  # fmt: skip


def check(tmp_path, *records, args=(), name="export.ldf"):
    path = tmp_path / name
    path.write_text(ldif(*records), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()
    status = main([str(path), *args], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def rows(out):
    return [json.loads(line) for line in out.splitlines()]


# --- 8. IdFix error types ---------------------------------------------------------------------


def test_non_ascii_letters_in_upn_and_smtp_are_idfix_character_errors(tmp_path):
    status, out, _ = check(tmp_path, ACCENTED, args=["--format", "json"])
    found = {(r["attribute"], r["rule"], r["error"]) for r in rows(out)}
    assert ("userPrincipalName", "upn.nonascii", "character") in found
    assert ("proxyAddresses", "proxy.smtp.nonascii", "character") in found
    idfix = {"character", "format", "length", "duplicate", "blank", "topleveldomain", "domainpart", "localpart"}
    assert {r["error"] for r in rows(out)} <= idfix | {"mailmatch"}


# --- 11. formats, summary, exit status, verified domains --------------------------------------


def test_exit_status_0_clean_1_blocking_2_unreadable(tmp_path):
    assert check(tmp_path, CLEAN)[0] == 0
    assert check(tmp_path, CLEAN, ACCENTED)[0] == 1
    degrading_only = user("Bob", userPrincipalName="bob@contoso.local")
    status, out, _ = check(tmp_path, degrading_only, args=["--json"])
    assert status == 0 and {r["severity"] for r in rows(out)} == {"degrading"}
    bad = tmp_path / "bad.ldf"
    bad.write_text("dn: CN=x,DC=contoso,DC=com\nthis line has no colon\n")
    err = io.StringIO()
    assert main([str(bad)], stdout=io.StringIO(), stderr=err) == 2 and "line 2" in err.getvalue()
    assert main([str(tmp_path / "missing.ldf")], stdout=io.StringIO(), stderr=io.StringIO()) == 2


def test_json_is_the_default_when_piped_and_json_flag_is_an_alias(tmp_path):
    _, default, _ = check(tmp_path, ACCENTED)
    _, alias, _ = check(tmp_path, ACCENTED, args=["--json"])
    assert rows(default) and [r["rule"] for r in rows(default)] == [r["rule"] for r in rows(alias)]


def test_csv_has_a_header_and_one_row_per_finding(tmp_path):
    _, out, err = check(tmp_path, ACCENTED, args=["--format", "csv"])
    table = list(csv.DictReader(io.StringIO(out)))
    assert table and {"dn", "rule", "error", "severity", "suggestion", "detail"} <= set(table[0])
    assert {r["error"] for r in table} == {"character"}
    assert "finding(s)" in err  # the summary goes to stderr: stdout stays one CSV


def test_table_groups_rows_by_rule_with_counts(tmp_path):
    second = user("Jorg", userPrincipalName="jörg@contoso.com")
    _, out, _ = check(tmp_path, ACCENTED, second, args=["--format", "table"])
    assert "upn.nonascii" in out.splitlines()[1] or any(
        line.startswith("upn.nonascii ") and line.split()[3] == "2" for line in out.splitlines()
    )
    assert "\nupn.nonascii (2): " in out
    block = out.split("\nupn.nonascii (2): ")[1].split("\n\n")[0]
    assert "CN=Jose" in block and "CN=Jorg" in block


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_table_is_the_default_on_a_terminal(tmp_path):
    path = tmp_path / "t.ldf"
    path.write_text(ldif(ACCENTED))
    out = _Terminal()
    main([str(path)], stdout=out, stderr=io.StringIO())
    assert out.getvalue().startswith("RULE ")


def test_summary_counts_per_rule_error_type_and_severity(tmp_path):
    status, out, _ = check(tmp_path, CLEAN, ACCENTED, args=["--summary", "--format", "json"])
    [summary] = rows(out)
    assert status == 1 and summary["objects"] == 2
    assert summary["by_rule"]["upn.nonascii"] == 1 and summary["by_error"]["character"] >= 3
    assert summary["by_severity"] == {"blocking": 2, "degrading": 1}  # mail syntax degrades in multi-tenant
    assert summary["findings"] == sum(summary["by_rule"].values())


def test_verified_domains_repeated_or_from_a_file(tmp_path):
    records = (user("A", userPrincipalName="a@contoso.com"), user("B", userPrincipalName="b@fabrikam.com"))
    _, out, _ = check(tmp_path, *records, args=["--json", "--verified-domain", "contoso.com"])
    assert [r["value"] for r in rows(out) if r["rule"] == "upn.unverifieddomain"] == ["b@fabrikam.com"]
    _, out, _ = check(tmp_path, *records, args=["--json", "--verified-domain", "contoso.com",
                                                 "--verified-domain", "fabrikam.com"])  # fmt: skip
    assert not rows(out)
    domains = tmp_path / "domains.txt"
    domains.write_text("# the tenant's domains\ncontoso.com\nFabrikam.com  # custom\n\n")
    _, out, _ = check(tmp_path, *records, args=["--json", "--verified-domains-file", str(domains)])
    assert not rows(out)
    status, _, err = check(tmp_path, *records, args=["--verified-domains-file", str(tmp_path / "none.txt")])
    assert status == 2 and "none.txt" in err


# --- 10. ldapsearch output --------------------------------------------------------------------


LDAPSEARCH = """# extended LDIF
#
# LDAPv3
# base <DC=contoso,DC=com> with scope subtree
# filter: (objectClass=*)
# requesting: ALL
#

# Jo, Staff, contoso.com
dn: CN=Jo,OU=Staff,DC=contoso,DC=com
objectClass: user
objectGUID: {guid}
sAMAccountName: jo
userPrincipalName: jo smith@contoso.com

# search reference
ref: ldap://ForestDnsZones.contoso.com/DC=ForestDnsZones,DC=contoso,DC=com

# search reference
ref: ldap://contoso.com/CN=Configuration,DC=contoso,DC=com

# search result
search: 2
result: 0 Success

# numResponses: 4
# numEntries: 1
# numReferences: 2
"""


def test_raw_ldapsearch_output_is_checked_and_its_extra_records_counted(tmp_path):
    guid = uuid.uuid4()
    path = tmp_path / "dc1.ldif"
    path.write_text(LDAPSEARCH.format(guid=guid))
    out, err = io.StringIO(), io.StringIO()
    assert main([str(path), "--json"], stdout=out, stderr=err) == 1
    [row] = rows(out.getvalue())
    assert row["rule"] == "upn.character" and row["guid"] == str(guid)
    assert "referrals 2" in err.getvalue() and "search results 1" in err.getvalue()
    out = io.StringIO()
    main([str(path), "--summary", "--json"], stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue())["skipped_records"] == {"referrals": 2, "search results": 1}


def test_an_object_guid_that_is_not_a_guid_is_a_clear_error(tmp_path):
    path = tmp_path / "dc1.ldif"
    path.write_text(LDAPSEARCH.format(guid="n/a"))
    out, err = io.StringIO(), io.StringIO()
    assert main([str(path)], stdout=out, stderr=err) == 2
    assert out.getvalue() == "" and "line 12" in err.getvalue() and "objectGUID" in err.getvalue()
    assert "Traceback" not in err.getvalue()


# --- 9. straight after install: no .env, SECRET_KEY or database --------------------------------


@pytest.mark.parametrize("command", [["manage.py", "check_export"], ["-m", "identityhub.export_check"]])
def test_it_runs_without_settings_secret_key_or_database(tmp_path, command):
    path = tmp_path / "export.ldf"
    path.write_text(ldif(CLEAN, ACCENTED), encoding="utf-8")
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HOME": str(tmp_path),
           "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none"}  # fmt: skip  # unreachable: never used
    script = [str(ROOT / command[0]), *command[1:]] if command[0] == "manage.py" else command
    done = subprocess.run(
        [sys.executable, *script, str(path), "--format", "json"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert {json.loads(line)["rule"] for line in done.stdout.splitlines()} >= {"upn.nonascii"}
    assert "SECRET_KEY" not in done.stderr


def test_verified_domains_separated_by_commas(tmp_path):
    records = (user("A", userPrincipalName="a@contoso.com"), user("B", userPrincipalName="b@fabrikam.com"))
    _, out, _ = check(tmp_path, *records, args=["--json", "--verified-domain", "contoso.com, fabrikam.com"])
    assert not rows(out)


def test_a_reader_that_stops_early_is_no_error(tmp_path):
    path = tmp_path / "export.ldf"
    path.write_text(ldif(*(user(f"U{i}", userPrincipalName=f"u {i}@contoso.com") for i in range(300))))
    done = subprocess.run(
        f"{sys.executable} -m identityhub.export_check {path} --format csv | head -n 2",
        shell=True, cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert len(done.stdout.splitlines()) == 2 and "Traceback" not in done.stderr


def test_a_file_without_objects_is_unreadable_not_clean(tmp_path):
    empty = tmp_path / "empty.ldf"
    empty.write_text("# search result\nsearch: 2\nresult: 0 Success\n")
    err = io.StringIO()
    assert main([str(empty)], stdout=io.StringIO(), stderr=err) == 2 and "no directory objects" in err.getvalue()


def test_an_incomplete_ldapsearch_is_checked_with_a_warning(tmp_path):
    path = tmp_path / "dc1.ldif"
    path.write_text(LDAPSEARCH.format(guid=uuid.uuid4()).replace("result: 0 Success", "result: 4 Size limit exceeded"))
    out, err = io.StringIO(), io.StringIO()
    assert main([str(path), "--json"], stdout=out, stderr=err) == 1
    assert "incomplete" in err.getvalue() and "4 Size limit exceeded" in err.getvalue()
