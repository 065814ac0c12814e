import django_tables2 as tables
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from identityhub.lib import rules
from identityhub.tenants.templatetags.ui import soft_breaks, when_short

from .models import Finding
from .names import object_name, parent_path

# The sizes the pager offers (the server caps what it accepts; see the pagination helper).
PAGE_SIZES = (25, 50, 100, 200)


def _col(name: str, **td) -> dict:
    """th and td share a class, so the stylesheet gives the column its fixed width."""
    return {"th": {"class": f"col-{name}"}, "td": {"class": f"col-{name}", **td}}


class FindingTable(tables.Table):
    """The findings grid: readable rule titles (code on hover), objects by name with their OU below,
    fixed column widths (style: table.findings .col-*), compact dates."""

    page_sizes = PAGE_SIZES

    select = tables.CheckBoxColumn(
        accessor="pk",
        attrs={
            "th": {"class": "col-select"},
            "td": {"class": "col-select"},
            "th__input": {"aria-label": "Select all rows on this page", "data-select-all": "select"},
            "td__input": {"aria-label": "Select this row"},
        },
    )
    severity = tables.Column(attrs=_col("severity"))
    rule = tables.Column(attrs=_col("rule"), verbose_name="Problem")
    attribute = tables.Column(attrs=_col("attribute"))
    value = tables.Column(attrs=_col("value"))
    suggestion = tables.Column(attrs=_col("suggestion"))
    dn = tables.Column(verbose_name="Object", attrs=_col("object"))
    forest = tables.Column(accessor="forest__name", verbose_name="Forest", attrs=_col("forest"))
    status = tables.Column(attrs=_col("status"))
    last_seen = tables.Column(verbose_name="Last seen", attrs=_col("seen"))
    actions = tables.TemplateColumn(
        template_code=(
            '{% include "remediation/finding_actions.html#buttons" with tenant=record.tenant finding=record %}'
        ),
        orderable=False,
        verbose_name="",
        attrs=_col("actions"),
    )

    class Meta:
        model = Finding
        fields = [
            "select",
            "severity",
            "rule",
            "attribute",
            "value",
            "suggestion",
            "dn",
            "forest",
            "status",
            "last_seen",
        ]
        sequence = [
            "select",
            "severity",
            "rule",
            "attribute",
            "value",
            "suggestion",
            "actions",
            "dn",
            "forest",
            "status",
            "last_seen",
        ]
        # Links in the rows lead to other pages: only the sort headers and the pager stay in the list's
        # htmx target (the section around the table boosts its links into #findings).
        attrs = {"class": "table findings", "tbody": {"hx-boost": "false"}}
        row_attrs = {"data-rule": lambda record: record.rule, "id": lambda record: f"finding-{record.pk}"}
        order_by = ("severity", "rule")  # blocking, degrading, hygiene
        empty_text = "No findings match."

    def __init__(self, *args, holders=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.holders = holders or {}  # finding pk -> other holders of a duplicate value (holders.py)

    def render_severity(self, record):
        return format_html('<span class="badge {}">{}</span>', record.severity, record.get_severity_display())

    def render_rule(self, value):
        rule = rules.RULES.get(value)
        if rule is None:
            return value
        return format_html('<span title="{} — {} Fix: {}">{}</span>', value, rule.why, rule.fix, rule.title)

    def render_suggestion(self, value):
        if value is None:
            return "—"
        if value == "":
            return format_html('<span class="muted">remove the value</span>')
        return format_html('<span class="mono clamp" title="{}">{}</span>', value, soft_breaks(value))

    def render_dn(self, value, record):
        return format_html(
            '<a href="{}" title="{}">{}</a><small class="muted path">{}</small>',
            record.get_absolute_url(),
            value,
            object_name(value),
            soft_breaks(parent_path(value)),
        )

    def render_status(self, record):
        # The id lets an inline action update this cell out of band.
        status = format_html('<span id="status-{}">{}</span>', record.pk, record.get_status_display())
        # reverted_fixes: a fix of ours that a later scan saw undone (remediation app).
        if record.reverted_fixes.all():
            status += format_html(' <span class="badge red" title="{}">reverted</span>', "A fix was undone in AD")
        return status

    def render_attribute(self, value):
        return format_html('<span title="{}">{}</span>', value, value)

    def render_last_seen(self, value, record):
        # A scan confirms the findings it sees unchanged without rewriting them (with_seen).
        return when_short(timezone.localtime(record.seen_at))

    def render_value(self, value, record):
        # A very long value (a 300-character displayName) shows its first lines; all of it on hover
        # and on the object page.
        shown = format_html('<span class="mono clamp" title="{}">{}</span>', value, soft_breaks(value))
        if record.detail:  # e.g. which cloud-only object already holds the value
            shown += format_html('<small class="muted detail" title="{}">{}</small>', record.detail, record.detail)
        holders = self.holders.get(record.pk)
        if holders:
            links = format_html_join(", ", '<a href="{}" title="{}">{}</a>', ((h.url, h.dn, h.name) for h in holders))
            shown += format_html('<small class="holders">Also held by {}</small>', links)
        return shown
