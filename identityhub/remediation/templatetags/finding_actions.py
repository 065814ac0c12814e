from django import template

from identityhub.remediation.buttons import ActionUrls, finding_buttons

register = template.Library()


@register.simple_tag(takes_context=True)
def action_buttons(context, finding, refused=()):
    """{% action_buttons finding refused %}: the finding's buttons (remediation.buttons), for the
    template's `tenant`."""
    return finding_buttons(finding, ActionUrls(context["tenant"].slug), refused)
