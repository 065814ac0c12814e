from django import template

from identityhub.lib import rules
from identityhub.scans.models import Severity
from identityhub.scans.names import object_name

register = template.Library()


@register.filter
def rule_title(code: str) -> str:
    rule = rules.RULES.get(code)
    return rule.title if rule else code


@register.filter
def rule_why(code: str) -> str:
    rule = rules.RULES.get(code)
    return f"{rule.why} Fix: {rule.fix} Source: {rule.source}" if rule else ""


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


@register.filter
def severity_split(counts) -> list[tuple[str, int]]:
    """{% for severity, n in counts|severity_split %}: every severity, most severe first."""
    return Severity.split(counts)


@register.simple_tag
def severities() -> list[tuple[str, str]]:
    """{% severities as choices %}: (severity, label) in the same order, for column headers."""
    return Severity.choices


register.filter("object_name", object_name)
