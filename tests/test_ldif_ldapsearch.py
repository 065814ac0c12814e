"""Issue 14 point 10: raw `ldapsearch` output and objectGUIDs written as text, read by lib/ldif.py."""

import base64
import io
import uuid
from collections import Counter

import pytest

from identityhub.lib.ldif import ExportFormatError, read_export, read_ldif

GUID = uuid.UUID("1c2d3e4f-5a6b-4c7d-8e9f-a0b1c2d3e4f5")

# What `ldapsearch -H ldap://dc1 -b DC=contoso,DC=com "(objectClass=user)"` prints against a Windows
# DC: the extended-LDIF header, a comment before each entry, continuation references for the
# application partitions, and the result trailer (here with a paged-results control).
LDAPSEARCH = f"""# extended LDIF
#
# LDAPv3
# base <DC=contoso,DC=com> with scope subtree
# filter: (objectClass=user)
# requesting: ALL
#

# Jo Smith, Staff, contoso.com
dn: CN=Jo Smith,OU=Staff,DC=contoso,DC=com
objectClass: top
objectClass: person
objectClass: organizationalPerson
objectClass: user
sAMAccountName: jsmith
userPrincipalName: jo.smith@contoso.com
objectGUID:: {base64.b64encode(GUID.bytes_le).decode()}

# search reference
ref: ldap://ForestDnsZones.contoso.com/DC=ForestDnsZones,DC=contoso,DC=com

# search reference
ref: ldap://DomainDnsZones.contoso.com/DC=DomainDnsZones,DC=contoso,DC=com
ref: ldap://contoso.com/CN=Configuration,DC=contoso,DC=com

# Ann Lee, Staff, contoso.com
dn: CN=Ann Lee,OU=Staff,DC=contoso,DC=com
objectClass: user
sAMAccountName: alee

# search result
search: 2
result: 0 Success
control: 1.2.840.113556.1.4.319 false MAUCAQAEAA==

# numResponses: 5
# numEntries: 2
# numReferences: 2
"""


def test_ldapsearch_output_is_read_with_referrals_and_trailers_counted():
    stats = Counter()
    entries = list(read_export(io.BytesIO(LDAPSEARCH.encode()), source="dc1", stats=stats))
    assert [e.dn for e in entries] == [
        "CN=Jo Smith,OU=Staff,DC=contoso,DC=com",
        "CN=Ann Lee,OU=Staff,DC=contoso,DC=com",
    ]
    assert entries[0].guid == str(GUID)
    assert stats["referrals"] == 3 and stats["search results"] == 1


def test_paged_ldapsearch_output_has_a_trailer_per_page():
    page = LDAPSEARCH.replace("# numResponses", "# pagedresults: cookie=AQID\n# numResponses")
    stats = Counter()
    assert len(list(read_ldif(io.StringIO(page + "\n" + page), source="dc1", stats=stats))) == 4
    assert stats["search results"] == 2


def test_a_failed_search_result_is_counted_as_incomplete():
    stats = Counter()
    text = LDAPSEARCH.replace("result: 0 Success", "result: 4 Size limit exceeded")
    assert len(list(read_ldif(io.StringIO(text), source="dc1", stats=stats))) == 2
    assert stats["incomplete: result 4 Size limit exceeded"] == 1


def test_without_stats_the_reader_still_skips_them():
    assert len(list(read_ldif(io.StringIO(LDAPSEARCH), source="dc1"))) == 2


def test_without_stats_an_incomplete_search_is_an_error():
    # A scan keeps no stats: a truncated export must not become the forest's picture.
    text = LDAPSEARCH.replace("result: 0 Success", "result: 4 Size limit exceeded")
    with pytest.raises(ExportFormatError) as error:
        list(read_ldif(io.StringIO(text), source="dc1"))
    result_line = text.splitlines().index("result: 4 Size limit exceeded") + 1
    assert "incomplete" in str(error.value) and error.value.line == result_line


@pytest.mark.parametrize("text", [str(GUID), "{" + str(GUID) + "}", str(GUID).upper(), GUID.hex])
def test_an_object_guid_written_as_text_is_read(text):
    ldif = f"dn: CN=a,DC=contoso,DC=com\nobjectClass: user\nobjectGUID: {text}\n"
    [entry] = read_ldif(io.StringIO(ldif), source="x")
    assert entry.first("objectGUID") == GUID.bytes_le and entry.guid == str(GUID)


def test_an_object_guid_as_base64_text_is_read():
    b64 = base64.b64encode(str(GUID).encode()).decode()
    [entry] = read_ldif(io.StringIO(f"dn: CN=a,DC=contoso,DC=com\nobjectGUID:: {b64}\n"), source="x")
    assert entry.guid == str(GUID)


@pytest.mark.parametrize("text", ["not-a-guid", "1c2d3e4f-5a6b", "zz" * 16])
def test_an_object_guid_that_is_no_guid_is_a_line_numbered_error(text):
    ldif = f"dn: CN=a,DC=contoso,DC=com\nobjectClass: user\n\ndn: CN=b,DC=contoso,DC=com\nobjectGUID: {text}\n"
    with pytest.raises(ExportFormatError) as error:
        list(read_ldif(io.StringIO(ldif), source="x"))
    assert error.value.line == 5 and "objectGUID" in str(error.value)


def test_csv_object_guid_as_text_is_read():
    csv = f'DN,objectClass,objectGUID\n"CN=a,DC=contoso,DC=com",user,{{{GUID}}}\n'
    [entry] = read_export(io.BytesIO(csv.encode()), source="x.csv")
    assert entry.guid == str(GUID)
