from django import template

from identityhub.lib import rules
from identityhub.scans.names import object_name

register = template.Library()


@register.filter
def rule_title(code: str) -> str:
    rule = rules.RULES.get(code)
    return rule.title if rule else code


@register.filter
def rule_why(code: str) -> str:
    rule = rules.RULES.get(code)
    return f"{rule.why} Fix: {rule.fix}" if rule else ""


@register.filter
def get_item(mapping, key):
    return mapping.get(key) if mapping else None


register.filter("object_name", object_name)


# Which holder loses a duplicate value, as Microsoft documents duplicate attribute resiliency:
# https://learn.microsoft.com/en-us/entra/identity/hybrid/connect/how-to-connect-syncservice-duplicate-attribute-resiliency
_QUARANTINE = {
    "duplicate.upn": "Entra keeps the UPN on the object that synced first; on any later one it is quarantined "
    "(replaced by <prefix>+<4 digits>@<tenant>.onmicrosoft.com).",
    "duplicate.smtp": "Entra keeps the address on the object that synced first; later ones sync without it.",
    "duplicate.mail": "Only the first object with this mail syncs; the later ones are refused.",
    "duplicate.proxy": "Not quarantined: the export of every later object fails.",
}


@register.filter
def quarantine_note(code: str) -> str:
    return _QUARANTINE.get(code, "Give each object its own value.")
