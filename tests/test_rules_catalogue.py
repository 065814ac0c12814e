"""The catalogue itself: every rule complete, consistent and reachable by a fixer or not."""

import re

from identityhub.lib.rules import CATALOGUE_VERSION, RULES
from identityhub.lib.rules.catalogue import SEVERITIES
from identityhub.lib.rules.checks import SPECS
from identityhub.lib.rules.suggestions import FIXERS
from identityhub.scans.models import Severity

IDFIX_ERRORS = {"character", "format", "length", "blank", "duplicate", "topleveldomain", "domainpart", "localpart"}
# IdFix's docs also name MailMatch; a cloud collision is never a forest finding (IdFix never sees the tenant).
NEW_ERRORS = {"mailmatch", "cloudcollision"}


def test_version_is_semver():
    assert re.fullmatch(r"\d+\.\d+\.\d+", CATALOGUE_VERSION)


def test_the_model_lists_the_catalogues_severities_in_its_order():
    # The rule engine (no Django) keeps SEVERITIES; pages and exports list Severity: one order, most severe first.
    assert tuple(Severity.values) == SEVERITIES == ("blocking", "degrading", "hygiene")


def test_every_rule_is_complete():
    for code, rule in RULES.items():
        assert rule.code == code
        assert rule.severity in SEVERITIES
        assert rule.error in IDFIX_ERRORS | NEW_ERRORS, code
        assert rule.rulesets and rule.rulesets <= {"multi-tenant", "dedicated"}
        assert rule.attributes and all(a[0].islower() for a in rule.attributes)
        for text in (rule.title, rule.why, rule.fix):
            assert text and text == text.strip() and len(text) < 300, code
        assert rule.source.startswith("https://"), code


def test_codes_are_stable_dotted_names():
    assert all(re.fullmatch(r"[a-z]+(\.[a-z0-9]+)+", code) for code in RULES)


def test_every_fixer_belongs_to_a_rule():
    assert set(FIXERS) <= set(RULES)


def test_every_rule_attribute_is_judged_or_counted():
    counted = {"proxyAddresses", "userCertificate", "userSMIMECertificate", "member"}
    counted |= {"objectGUID"}  # compared across the tenant's forests by the scan (duplicate.objectguid)
    judged = {spec.name for spec in SPECS.values()}
    for rule in RULES.values():
        assert set(rule.attributes) <= judged | counted, rule.code


def test_required_codes_exist():
    for code in ("upn.character", "proxy.smtp.topleveldomain", "mailnickname.length", "duplicate.smtp"):
        assert code in RULES


def test_severity_follows_effect():
    assert RULES["upn.character"].severity == "blocking"
    assert RULES["upn.topleveldomain"].severity == "degrading"  # onmicrosoft.com UPN
    assert RULES["duplicate.smtp"].severity == "degrading"  # quarantined proxy
    assert RULES["duplicate.upn"].severity == "degrading"  # placeholder UPN
    assert RULES["samaccountname.character"].severity == "hygiene"


def test_error_is_idfix_error_type_with_finer_code_in_the_rule():
    # Scripts written around IdFix's ERROR column keep working: non-ASCII letters are IdFix's
    # "character", an unverified domain its "topleveldomain", a large attribute its "length".
    assert RULES["upn.nonascii"].error == "character" and RULES["proxy.smtp.nonascii"].error == "character"
    assert RULES["upn.unverifieddomain"].error == "topleveldomain"
    assert RULES["proxy.count"].error == "length"
    assert {rule.error for code, rule in RULES.items() if not code.startswith("cloud.")} <= IDFIX_ERRORS | {"mailmatch"}


def test_malformed_mail_degrades_in_multi_tenant_and_blocks_in_dedicated():
    rule = RULES["mail.character"]
    assert rule.severity_in("multi-tenant") == "degrading" and rule.severity_in("dedicated") == "blocking"
    assert RULES["upn.character"].severity_in("dedicated") == "blocking"
