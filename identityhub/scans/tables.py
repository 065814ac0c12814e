import django_tables2 as tables
from django.utils.html import format_html

from .models import Finding


class FindingTable(tables.Table):
    severity = tables.Column(attrs={"td": {"class": "nowrap"}})
    dn = tables.Column(verbose_name="Object", linkify=lambda record: record.get_absolute_url())
    forest = tables.Column(accessor="forest__name", verbose_name="Forest")

    class Meta:
        model = Finding
        fields = ["severity", "rule", "attribute", "value", "suggestion", "dn", "forest", "status", "last_seen"]
        attrs = {"class": "table findings"}
        order_by = ("-severity", "rule")
        empty_text = "No findings match."

    def render_severity(self, value):
        return format_html('<span class="badge {}">{}</span>', value, value)

    def render_suggestion(self, value):
        return format_html('<span class="mono">{}</span>', value) if value is not None else "—"

    def render_value(self, value):
        return format_html('<span class="mono">{}</span>', value)
