from django import template

from identityhub.lib import rules

register = template.Library()


@register.filter
def rule_title(code: str) -> str:
    rule = rules.RULES.get(code)
    return rule.title if rule else code


@register.filter
def rule_why(code: str) -> str:
    rule = rules.RULES.get(code)
    return f"{rule.why} Fix: {rule.fix} Source: {rule.source}" if rule else ""
