"""The ldifde / csvde readers: real-shaped samples, and each malformed case with its line number."""

import base64
import io
import sys
import uuid

import pytest

from identityhub.lib.ldif import (
    ExportFormatError,
    parse_dn,
    rdn_value,
    read_csv,
    read_export,
    read_ldif,
)

GUID = uuid.UUID("6f8a3d0e-2b4c-4d1a-9e7f-0123456789ab")
GUID_B64 = base64.b64encode(GUID.bytes_le).decode()
MUELLER_DN_B64 = base64.b64encode("CN=Müller\\, Hans,OU=Users,DC=contoso,DC=local".encode()).decode()
DISPLAY_B64 = base64.b64encode("Müller, Hans".encode()).decode()

# What `ldifde -f out.ldf -d DC=contoso,DC=local` writes: a leading blank line, CRLF, changetype
# add, base64 for non-ASCII and binary values, long values folded with one leading space.
LDIFDE = f"""
dn: CN=Smith\\, John,OU=Users,DC=contoso,DC=local
changetype: add
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: user
cn: Smith, John
sAMAccountName: jsmith
userPrincipalName: john.smith@contoso.com
proxyAddresses: SMTP:john.smith@contoso.com
proxyAddresses: smtp:jsmith@contoso.mail.onmicrosoft.com
proxyAddresses: X500:/o=Contoso/ou=Exchange Administrative Group (FYDIBOHF23SPDL
 T)/cn=Recipients/cn=jsmith
objectGUID:: {GUID_B64}
userAccountControl: 512

dn:: {MUELLER_DN_B64}
changetype: add
objectClass: top
objectClass: contact
displayName:: {DISPLAY_B64}
mail: hans.mueller@fabrikam.com
""".replace("\n", "\r\n")


def ldif(text: str, **kwargs):
    return list(read_ldif(io.BytesIO(text.encode("utf-8")), "corp", **kwargs))


def csv_rows(text: str):
    return list(read_csv(io.BytesIO(text.encode("utf-8")), "corp"))


def error_of(reader, text: str) -> ExportFormatError:
    with pytest.raises(ExportFormatError) as caught:
        list(reader(io.BytesIO(text.encode("utf-8")), "corp"))
    return caught.value


# --------------------------------------------------------------------------- LDIF


def test_ldifde_export_with_crlf_folding_base64_and_binary_guid():
    smith, mueller = ldif(LDIFDE)
    assert smith.dn == "CN=Smith\\, John,OU=Users,DC=contoso,DC=local"
    assert smith.source == "corp"
    assert smith.values("objectclass") == ["top", "person", "organizationalPerson", "user"]
    assert smith.object_class == "user"
    assert smith.first("proxyAddresses") == "SMTP:john.smith@contoso.com"
    assert smith.values("proxyaddresses")[2].endswith("(FYDIBOHF23SPDLT)/cn=Recipients/cn=jsmith")
    assert smith.first("objectGUID") == GUID.bytes_le
    assert smith.guid == str(GUID)
    assert "changetype" not in smith.attributes
    assert mueller.dn == "CN=Müller\\, Hans,OU=Users,DC=contoso,DC=local"
    assert mueller.first("displayname") == "Müller, Hans"
    assert all(not str(v).endswith("\r") for e in (smith, mueller) for vs in e.attributes.values() for v in vs)


def test_utf8_bom_version_and_comments():
    text = "\ufeffversion: 1\n# exported by ldifde\n#  folded comment\n  more comment\n\ndn: CN=a,DC=x\ncn: a\n"
    [entry] = ldif(text)
    assert entry.dn == "CN=a,DC=x"
    assert entry.attributes == {"cn": ["a"]}


def test_utf16_export_from_ldifde_dash_u():
    data = "dn: CN=Jürgen,DC=x\r\ncn: Jürgen\r\n".encode("utf-16")  # BOM + UTF-16 LE
    [entry] = read_ldif(io.BytesIO(data), "corp")
    assert entry.first("cn") == "Jürgen"


def test_base64_text_that_is_not_utf8_stays_bytes_and_binary_options():
    latin1 = base64.b64encode("Gödel".encode("latin-1")).decode()
    cert = base64.b64encode(b"\x30\x82\x01\x0a").decode()
    [entry] = ldif(f"dn: CN=a,DC=x\ndescription:: {latin1}\nuserCertificate;binary:: {cert}\n")
    assert entry.first("description") == "Gödel".encode("latin-1")
    assert entry.first("usercertificate") == b"\x30\x82\x01\x0a"


def test_base64_space_only_value_is_kept_and_empty_value_is_absent():
    [entry] = ldif("dn: CN=a,DC=x\ndisplayName:: IA==\nmail:\n")
    assert entry.first("displayname") == " "
    assert "mail" not in entry.attributes


def test_escaped_dns_are_kept_as_written_and_parse():
    dn = 'CN=O\\"Brien\\+Co \\#1\\2C Ltd\\\\,OU=R\\C3\\BCdiger,DC=x'
    [entry] = ldif(f"dn: {dn}\ncn: x\n")
    assert entry.dn == dn
    assert parse_dn(dn) == [[("CN", 'O"Brien+Co #1, Ltd\\')], [("OU", "Rüdiger")], [("DC", "x")]]
    assert rdn_value("CN=John Smith\\0ACNF:1234,OU=Users,DC=x") == "John Smith\nCNF:1234"
    assert parse_dn("cn=a+uid=b , ou=c") == [[("cn", "a"), ("uid", "b")], [("ou", "c")]]


def test_several_records_and_extra_blank_lines():
    entries = ldif("\n\ndn: CN=a,DC=x\ncn: a\n\n\n\ndn: CN=b,DC=x\ncn: b\ncn: c\n")
    assert [e.dn for e in entries] == ["CN=a,DC=x", "CN=b,DC=x"]
    assert entries[1].values("cn") == ["b", "c"]


def test_streams_entries_before_an_error():
    reader = read_ldif(io.BytesIO(b"dn: CN=a,DC=x\ncn: a\n\ndn: CN=b,DC=x\ncn:: !!!\n"), "corp")
    assert next(reader).dn == "CN=a,DC=x"
    with pytest.raises(ExportFormatError):
        next(reader)


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        (" continued\ndn: CN=a,DC=x\n", 1, "continuation line with no attribute before it"),
        ("dn: CN=a,DC=x\ncn: a\n\n folded\n", 4, "continuation line with no attribute before it"),
        ("dn: CN=a,DC=x\ncn: a\nmail:: bm90IGJhc2U2N!==\n", 3, "base64 value for mail is not valid"),
        ("dn: CN=a,DC=x\nphoto:< file:///etc/passwd\n", 2, "photo:< (a value read from a URL) is not"),
        ("dn: CN=a,DC=x\nchangetype: modify\nreplace: mail\n", 2, "changetype: modify records are not"),
        ("dn: CN=a,DC=x\nchangetype: delete\n", 2, "changetype: delete records are not supported"),
        ("cn: a\ndn: CN=a,DC=x\n", 1, "record does not start with dn: (found 'cn')"),
        ("dn: CN=a,DC=x\nthis line has no colon\n", 2, "expected 'attribute: value'"),
        ("dn: CN=a,DC=x\ncn: a\ndn: CN=b,DC=x\n", 3, "dn: inside a record (a blank line missing"),
        ("dn: CN=a\\\n", 1, "DN is not valid"),
        ("dn: CN=a,\n", 1, "DN is not valid: the DN ends with a separator"),
        ("dn: just-text\n", 1, "DN is not valid: cannot read an attribute=value pair"),
        ("dn:\n", 1, "DN is not valid: the DN is empty"),
        ("version: 2\n\ndn: CN=a,DC=x\n", 1, "unsupported LDIF version '2'"),
        ("dn: CN=a,DC=x\nsn: M\xfcller\n", 2, "text is not valid utf-8 (byte 0xfc at column 6)"),
    ],
)
def test_malformed_ldif(text, line, message):
    data = text.encode("latin-1") if "\xfc" in text else text.encode("utf-8")
    with pytest.raises(ExportFormatError) as caught:
        list(read_ldif(io.BytesIO(data), "corp"))
    assert caught.value.line == line
    assert message in caught.value.message
    assert str(caught.value).startswith(f"line {line}: ")


def test_folded_line_numbers_point_at_the_logical_line_start():
    text = "dn: CN=a,DC=x\ncn: a\nmail:: bm90\n IGJhc2U2N!==\n"
    assert error_of(read_ldif, text).line == 3


# --------------------------------------------------------------------------- CSV

# What `csvde -f out.csv` writes: header row starting with DN, multi-valued joined with ';',
# binary as X'hex', quotes only where a field needs them.
CSVDE = (
    "DN,objectClass,cn,sAMAccountName,displayName,proxyAddresses,objectGUID,mail\r\n"
    '"CN=Smith\\, John,OU=Users,DC=contoso,DC=local",top;person;organizationalPerson;user,'
    '"Smith, John",jsmith,"Smith, ""JJ"" John",SMTP:john@contoso.com;smtp:js@contoso.com,'
    f"X'{GUID.bytes_le.hex()}',\r\n"
    '"CN=Sales,OU=Groups,DC=contoso,DC=local",top;group,Sales,sales;team,Sales; EMEA,,,\r\n'
    "\r\n"
    '"CN=Note,DC=contoso,DC=local",top;contact,Note,,"line one\r\nline two",,,n@fabrikam.com\r\n'
)


def test_csvde_export():
    smith, sales, note = csv_rows(CSVDE)
    assert smith.dn == "CN=Smith\\, John,OU=Users,DC=contoso,DC=local"
    assert smith.values("objectClass") == ["top", "person", "organizationalPerson", "user"]
    assert smith.first("displayName") == 'Smith, "JJ" John'
    assert smith.values("proxyAddresses") == ["SMTP:john@contoso.com", "smtp:js@contoso.com"]
    assert smith.guid == str(GUID)
    assert "mail" not in smith.attributes  # empty field = absent
    # Single-valued columns are never split: the ';' stays visible to the character rules.
    assert sales.first("samaccountname") == "sales;team"
    assert sales.first("displayname") == "Sales; EMEA"
    assert note.first("displayname") == "line one\r\nline two"
    assert note.first("mail") == "n@fabrikam.com"


def test_csv_plain_hex_for_known_binary_and_short_rows():
    [entry] = csv_rows(f"DN,objectGUID,mail\nCN=a,DC=x,{GUID.bytes_le.hex()}\n".replace("CN=a,DC=x", '"CN=a,DC=x"'))
    assert entry.first("objectguid") == GUID.bytes_le
    [short] = csv_rows('DN,cn,mail\n"CN=a,DC=x",a\n')
    assert short.attributes == {"cn": ["a"]}


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("cn,mail\na,a@x.com\n", 1, "CSV header has no DN column"),
        ("", 1, "CSV file is empty"),
        ('DN,cn\n"CN=a,DC=x",a\n"CN=b,DC=x",b,extra\n', 3, "row has 3 fields, the header has 2"),
        ('DN,cn\n"CN=a,DC=x",a\n,b\n', 3, "row has an empty DN"),
        ('DN,objectGUID\n"CN=a,DC=x",not-hex\n', 2, "objectGUID 'not-hex' is not a GUID"),
        ('DN,cn\n"CN=a,DC=x",a\n"CN=b,DC=x","unclosed\n', 3, "CSV cannot be read"),
        ('DN,cn,CN\n"CN=a,DC=x",a,b\n', 1, "CSV header repeats cn"),
        ("DN,cn\nCN=a\\,b\n", 2, "DN is not valid"),
    ],
)
def test_malformed_csv(text, line, message):
    error = error_of(read_csv, text)
    assert error.line == line
    assert message in error.message


# --------------------------------------------------------------------------- sniffing


def test_read_export_sniffs_content_over_extension(tmp_path):
    as_csv = tmp_path / "export.ldf"
    as_csv.write_text(CSVDE, encoding="utf-8-sig", newline="")
    assert [e.first("samaccountname") for e in read_export(as_csv, "f")] == ["jsmith", "sales;team", None]
    as_ldif = tmp_path / "export.csv"
    as_ldif.write_bytes(b"\xef\xbb\xbf" + LDIFDE.encode())
    assert [e.object_class for e in read_export(str(as_ldif), "f")] == ["user", "contact"]


def test_read_export_falls_back_to_extension_and_accepts_text_streams(tmp_path):
    only_comments = tmp_path / "empty.ldif"
    only_comments.write_text("# nothing exported\n")
    assert list(read_export(only_comments, "f")) == []
    assert [e.dn for e in read_export(io.StringIO("dn: CN=a,DC=x\ncn: a\n"), "f")] == ["CN=a,DC=x"]
    with pytest.raises(ExportFormatError, match="line 1: not an LDIF"):
        list(read_export(io.BytesIO(b"hello world\n"), "f"))
    cp1252 = 'DN,sn\n"CN=a,DC=x",M\xfcller\n'.encode("cp1252")
    assert next(read_export(io.BytesIO(cp1252), "f", encoding="cp1252")).first("sn") == "Müller"


def test_memory_stays_flat_on_a_large_stream():
    import tracemalloc

    record = b"dn: CN=u%d,OU=Users,DC=x\ncn: u\nmail: u@x.com\nobjectGUID:: " + GUID_B64.encode() + b"\n\n"

    class Endless(io.RawIOBase):
        def __init__(self, count):
            self.left = count
            self.pending = b""

        def readable(self):
            return True

        def readinto(self, buffer):
            while len(self.pending) < len(buffer) and self.left:
                self.pending += record % self.left
                self.left -= 1
            data, self.pending = self.pending[: len(buffer)], self.pending[len(buffer) :]
            buffer[: len(data)] = data
            return len(data)

    def peak_reading(count):
        tracemalloc.start()
        read = sum(1 for _ in read_ldif(io.BufferedReader(Endless(count)), "big"))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert read == count
        return peak

    small, large = peak_reading(1_000), peak_reading(15_000)  # ~0.1 MB and ~1.5 MB of LDIF
    assert large < small * 1.5 + 50_000


# --------------------------------------------------------------------------- bench/generate.py


def load_generator():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "bench" / "generate.py"
    spec = importlib.util.spec_from_file_location("bench_generate", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def extra_holders(entries, attribute):
    from collections import Counter

    seen = Counter(v.lower() for e in entries if "CNF:" not in e.dn for v in e.values(attribute))
    return sum(n - 1 for n in seen.values() if n > 1)


@pytest.mark.parametrize("fmt", ["ldif", "slapadd"])
def test_generated_forest_reads_back_with_exactly_the_planted_duplicates(fmt):
    generate = load_generator().generate
    out = io.StringIO()
    summary = generate(out, 3000, seed=5, fmt=fmt, defect_rate=0.2, suffix="DC=corp,DC=example,DC=test")
    entries = list(read_ldif(io.BytesIO(out.getvalue().encode()), "corp"))
    assert len(entries) == 3000 + summary["objects"]["container"]
    planted = summary["defect_attributes"]
    assert extra_holders(entries, "userPrincipalName") == planted.get("duplicate:userPrincipalName", 0)
    assert extra_holders(entries, "mailNickname") == planted.get("duplicate:mailNickname", 0)
    assert extra_holders(entries, "proxyAddresses") == planted.get("duplicate:mail+proxyAddresses", 0) + planted.get(
        "duplicate:proxyAddresses", 0
    )
    assert extra_holders(entries, "sAMAccountName") == 0
    assert summary["defects_total"] == sum(summary["defects"].values()) > 400
    assert all(summary["defects"][kind] > 0 for kind in summary["defects"])
    classes = {e.object_class for e in entries}
    assert {"user", "contact", "group"} <= classes
    assert ("inetOrgPerson" in classes) == (fmt == "ldif")
    assert all(isinstance(e.first("objectGUID"), bytes) for e in entries if e.object_class in ("user", "group"))


def test_cross_output_duplicates_overlap_between_seeds():
    generate = load_generator().generate
    holders = []
    for seed in (1, 2):
        out = io.StringIO()
        summary = generate(out, 1500, seed=seed, defect_rate=0.2)
        entries = read_ldif(io.BytesIO(out.getvalue().encode()), f"forest{seed}")
        values = {v.lower() for e in entries for v in e.values("mail") if v[-16:-12].isdigit()}
        holders.append((summary["defects"]["duplicate_cross"], values))
    (count_a, mails_a), (count_b, mails_b) = holders
    assert len(mails_a & mails_b) == min(count_a, count_b) > 0
