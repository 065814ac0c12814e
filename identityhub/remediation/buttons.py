"""The action buttons of one finding: the findings list's actions cell, the object page's, and the
`#buttons` part the inline actions swap back in (Cancel, a refused action) are this one markup.

Built in Python rather than a template: the list renders it on every row (50 to 200 a page), where an
include with four `{% url %}` cost a quarter of the request (issue 18). The URLs come from one reverse
per action and tenant (ActionUrls), not four per row.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# (URL name, htmx method, button class, label). Accept and Exception only while the finding is open.
EDIT = ("finding-edit", "get", "small primary", "Fix")
REMOVE = ("finding-remove", "post", "small", "Remove")
ACCEPT = ("finding-accept", "post", "small", "Accept")
WAIVE = ("finding-waive", "get", "small", "Exception")


class ActionUrls:
    """The tenant's action URLs for any finding, from one reverse per action: the finding's id is the
    only part that changes (`…/findings/<id>/edit/`)."""

    def __init__(self, slug: str):
        self._parts = {}
        for name, *_ in (EDIT, REMOVE, ACCEPT, WAIVE):
            head, _sep, tail = reverse(name, args=[slug, 0]).rpartition("/0/")
            self._parts[name] = (head + "/", "/" + tail)

    def url(self, name: str, finding_id: int) -> str:
        head, tail = self._parts[name]
        return f"{head}{finding_id}{tail}"


def finding_buttons(finding, urls: ActionUrls, refused: Iterable[str] = ()) -> SafeString:
    """The finding's actions cell (#actions-<id>): Fix and Remove while it is not resolved, Accept and
    Exception while it is open, and the reasons a refused action gave."""
    pk = finding.pk
    parts = [f'<div id="actions-{pk}" class="finding-actions">']
    parts += [f'  <small class="error">{escape(reason)}</small>' for reason in refused or ()]
    if finding.status == "resolved":
        parts.append('  <span class="muted">—</span>')
    else:
        buttons = [EDIT, REMOVE, *((ACCEPT, WAIVE) if finding.status == "open" else ())]
        for name, method, css, label in buttons:
            confirm = ""
            if name == REMOVE[0]:
                what = f"Remove {finding.attribute} value {finding.value} from {finding.dn}?"
                confirm = f' hx-confirm="{escape(what)}"'
            parts.append(
                f'  <button type="button" class="{css}" hx-{method}="{urls.url(name, pk)}" '
                f'hx-target="#actions-{pk}" hx-swap="outerHTML"{confirm}>{label}</button>'
            )
    parts.append("</div>")
    return mark_safe("\n".join(parts))  # noqa: S308 - every text from the finding is escaped above
