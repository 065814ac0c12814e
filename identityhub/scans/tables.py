import django_tables2 as tables
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html

from .models import Finding


class FindingTable(tables.Table):
    select = tables.CheckBoxColumn(accessor="pk", attrs={"th__input": {"aria-label": "select all"}})
    severity = tables.Column(attrs={"td": {"class": "nowrap"}})
    rule = tables.Column(attrs={"td": {"class": "nowrap"}})
    value = tables.Column(attrs={"td": {"class": "wide"}})
    suggestion = tables.Column(attrs={"td": {"class": "wide"}})
    dn = tables.Column(
        verbose_name="Object", linkify=lambda record: record.get_absolute_url(), attrs={"td": {"class": "dn"}}
    )
    forest = tables.Column(accessor="forest__name", verbose_name="Forest")
    actions = tables.TemplateColumn(
        template_code=(
            '{% include "remediation/finding_actions.html#buttons" with tenant=record.tenant finding=record %}'
        ),
        orderable=False,
        verbose_name="",
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
        ]
        attrs = {"class": "table findings"}
        order_by = ("severity", "rule")  # blocking, degrading, hygiene
        empty_text = "No findings match."

    def render_severity(self, record):
        return format_html('<span class="badge {}">{}</span>', record.severity, record.get_severity_display())

    def render_suggestion(self, value):
        return format_html('<span class="mono">{}</span>', value) if value is not None else "—"

    def render_status(self, record):
        # The id lets an inline action update this cell out of band.
        status = format_html('<span id="status-{}">{}</span>', record.pk, record.get_status_display())
        # reverted_fixes: a fix of ours that a later scan saw undone (remediation app).
        if record.reverted_fixes.all():
            status += format_html(' <span class="badge red" title="{}">reverted</span>', "A fix was undone in AD")
        return status

    def render_last_seen(self, value, record):
        # A delta scan confirms the findings of objects it did not touch without rewriting them.
        return date_format(timezone.localtime(record.seen_at), "SHORT_DATETIME_FORMAT")

    def render_value(self, value, record):
        shown = format_html('<span class="mono">{}</span>', value)
        if record.detail:  # e.g. which cloud-only object already holds the value
            shown += format_html('<br><small class="muted">{}</small>', record.detail)
        return shown
