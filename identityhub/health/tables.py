import django_tables2 as tables
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import mark_safe

from .models import ProvisioningError


class ProvisioningErrorTable(tables.Table):
    WRAP = {"td": {"class": "wrap"}}

    display_name = tables.Column(verbose_name="Cloud object", attrs=WRAP)
    property = tables.Column(verbose_name="Conflict or error")
    value = tables.Column(verbose_name="Value or reason", attrs=WRAP)
    matched_dn = tables.Column(verbose_name="On-prem object", empty_values=(), attrs=WRAP)
    matched_finding = tables.Column(verbose_name="Our finding", empty_values=(), orderable=False)

    class Meta:
        model = ProvisioningError
        # Object type, UPN and category are shown inside these cells and filtered in the sidebar.
        fields = ["display_name", "property", "value", "occurred", "matched_dn"]
        # The on-prem object links lead to the object page, not into the list's htmx target (#errors).
        attrs = {"class": "table provisioning-errors", "tbody": {"hx-boost": "false"}}
        order_by = ("-occurred",)
        empty_text = "No provisioning errors match."

    def __init__(self, *args, tenant, **kwargs):
        super().__init__(*args, **kwargs)
        self.tenant = tenant

    def render_display_name(self, value, record):
        upn = format_html('<br><span class="mono">{}</span>', record.upn) if record.upn else ""
        engine = (
            format_html(' <span class="badge engine-cloud">{}</span>', record.get_source_display())
            if record.source == record.Source.CLOUD_SYNC
            else ""
        )
        return format_html('{} <span class="badge">{}</span>{}{}', value, record.object_type, engine, upn)

    def render_property(self, value, record):
        if record.source == record.Source.CLOUD_SYNC:
            # An escrowed object fails every cycle: how often, and since when (occurred = the first).
            return format_html(
                '{}<br><span class="muted">{} · {}× in the window</span>', value, record.action, record.occurrences
            )
        return format_html('{}<br><span class="muted">{}</span>', value, record.category)

    def render_value(self, value):
        return format_html('<span class="mono">{}</span>', value)

    def render_matched_dn(self, value, record):
        if not record.matched_guid:
            return mark_safe('<span class="muted">not found on-prem</span>')  # noqa: S308 - a constant
        url = reverse("object-detail", args=[self.tenant.slug, record.matched_forest_id, record.matched_guid])
        return format_html(
            '<a href="{}">{}</a> <span class="muted">by {}</span>', url, value or record.matched_guid, record.matched_by
        )

    def render_matched_finding(self, value, record):
        finding = record.matched_finding
        if finding is None:
            return "—"
        state = finding.sync_state or finding.get_status_display()
        return format_html('<span class="badge {}">{}</span> {}', finding.severity, finding.rule, state)
