"""The usage-location rules (rules/licensing.py): users' c, judged only when the tenant tracks
licence readiness."""

import uuid

import pytest

from identityhub.lib.entry import Entry
from identityhub.lib.rules import RULES, Context, check_entry, check_value

ON = Context(licence_readiness=True)


def _entry(object_class="user", **attributes):
    values = {
        "objectclass": ["top", "person", "organizationalPerson", object_class],
        "objectguid": [uuid.uuid4().bytes_le],
    }
    values.update({k.lower(): [v] for k, v in attributes.items()})
    values.setdefault("userprincipalname", ["ann@contoso.com"])
    values.setdefault("displayname", ["Ann"])
    values.setdefault("mailnickname", ["ann"])
    values.setdefault("samaccountname", ["ann"])
    values.setdefault("cn", ["Ann"])
    return Entry(dn="CN=Ann,OU=Staff,DC=contoso,DC=com", attributes=values, source="corp")


def _codes(entry, ctx):
    return {f.rule for f in check_entry(entry, ctx) if f.rule.startswith("usagelocation")}


@pytest.mark.parametrize(
    ("country", "codes"),
    [
        (None, {"usagelocation.missing"}),
        ("", {"usagelocation.missing"}),
        ("DE", set()),
        ("gb", set()),
        ("UK", {"usagelocation.invalid"}),
        ("DEU", {"usagelocation.invalid"}),
        ("Germany", {"usagelocation.invalid"}),
        (" D", {"usagelocation.invalid"}),
    ],
)
def test_the_country_as_usage_location(country, codes):
    entry = _entry(**({"c": country} if country is not None else {}))
    assert _codes(entry, ON) == codes
    assert _codes(entry, Context()) == set()  # off unless the tenant tracks licence readiness


def test_only_users_are_judged_and_the_rule_says_where_usage_location_comes_from():
    assert _codes(_entry(object_class="contact"), ON) == set()
    rule = RULES["usagelocation.missing"]
    assert rule.attributes == ("c",) and "In from AD - User Common" in rule.why
    assert rule.severity == "degrading"


def test_a_new_country_value_is_checked_before_it_is_written():
    entry = _entry()
    assert [f.rule for f in check_value(entry, "c", "UK", ON)] == ["usagelocation.invalid"]
    assert check_value(entry, "c", "GB", ON) == []
