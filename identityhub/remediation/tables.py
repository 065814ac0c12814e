import django_tables2 as tables
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from identityhub.lib import rules

from .models import Change, Waiver

RESULT_BADGES = {
    Change.Result.APPLIED: "green",
    Change.Result.AWAITING_APPROVAL: "amber",
    Change.Result.QUEUED: "amber",
    Change.Result.CONFLICT: "red",
    Change.Result.REFUSED: "red",
    Change.Result.REJECTED: "red",
    Change.Result.REVERTED: "",
    Change.Result.PLANNED: "amber",
    Change.Result.UNKNOWN: "amber",
    Change.Result.NOT_SENT: "amber",
    Change.Result.NOT_APPLIED: "red",
}
UNDOABLE = {Change.Action.EDIT, Change.Action.REMOVE, Change.Action.UNDO}


def values_html(values):
    if not values:
        return format_html('<span class="muted">{}</span>', "(none)")
    return format_html_join(", ", '<span class="mono">{}</span>', ((v,) for v in values))


class ChangeTable(tables.Table):
    """The change log. Each row has an id, so an approve/reject answer can replace it in place."""

    created = tables.DateTimeColumn(verbose_name="Time", attrs={"td": {"class": "nowrap"}})  # the one format
    requested_by = tables.Column(verbose_name="User", order_by=("requested_by__username",))
    forest = tables.Column(accessor="forest__name", verbose_name="Forest")
    dn = tables.Column(verbose_name="Object", attrs={"td": {"class": "mono"}})
    attribute = tables.Column()
    values = tables.Column(verbose_name="Old → new", accessor="pk", orderable=False, attrs={"td": {"class": "values"}})
    action = tables.Column()
    result = tables.Column()
    error = tables.Column(default="", verbose_name="Detail")
    approved_by = tables.Column(verbose_name="Approver", order_by=("approved_by__username",), default="")
    buttons = tables.Column(verbose_name="", accessor="pk", orderable=False)

    class Meta:
        model = Change
        fields = ["created", "requested_by", "forest", "dn", "attribute", "values", "action", "result", "error"]
        sequence = [*fields, "approved_by", "buttons"]
        attrs = {"class": "table changes"}
        row_attrs = {"id": lambda record: f"change-{record.pk}"}
        order_by = ("-created",)
        empty_text = "No changes match."

    def __init__(self, *args, request=None, notices=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.request = request
        self.notices = notices or {}

    def render_values(self, record):
        return format_html("{} → {}", values_html(record.old_values), values_html(record.new_values))

    def render_action(self, record):
        if record.reverts_id:
            return format_html('{} <small class="muted">of #{}</small>', record.get_action_display(), record.reverts_id)
        return record.get_action_display()

    def render_result(self, record):
        colour = RESULT_BADGES.get(record.result, "")
        badge = format_html('<span class="badge {}">{}</span>', colour, record.get_result_display())
        if record.result == Change.Result.UNKNOWN:
            # Said where the eye is, not only in the detail column (off-screen on narrow windows).
            return format_html("{}<br><small>AD is being read back to confirm it</small>", badge)
        return badge

    def render_error(self, record):
        if record.current_values:
            return format_html("{} <small>(AD held {})</small>", record.error, values_html(record.current_values))
        return record.error

    def render_buttons(self, record):
        buttons = change_buttons(record, self.request.user, getattr(self.request, "tenant_permissions", set()))
        context = {"change": record, "tenant": record.tenant, "notices": self.notices.get(record.pk, []), **buttons}
        return render_to_string("remediation/change_list.html#buttons", context, request=self.request)


def change_buttons(change, user, permissions) -> dict:
    """Which buttons a user gets on a row: undo, approve/reject, or nothing."""
    can_edit = "edit" in permissions
    awaiting = change.result == Change.Result.AWAITING_APPROVAL
    return {
        "undo": can_edit and change.result == Change.Result.APPLIED and change.action in UNDOABLE,
        "approve": can_edit and awaiting and change.requested_by_id != user.pk,
        "own": awaiting and change.requested_by_id == user.pk,
    }


class WaiverTable(tables.Table):
    finding = tables.Column(accessor="finding__rule", verbose_name="Finding")
    dn = tables.Column(accessor="finding__dn", verbose_name="Object", attrs={"td": {"class": "dn"}})
    value = tables.Column(accessor="finding__value", verbose_name="Value", attrs={"td": {"class": "mono"}})
    justification = tables.Column()
    expires_on = tables.DateColumn(verbose_name="Expires")
    created_by = tables.Column(verbose_name="By", order_by=("created_by__username",))
    created = tables.DateTimeColumn(verbose_name="Granted")
    state = tables.Column(accessor="reopened_at", verbose_name="State", order_by=("expires_on",), empty_values=())
    revoke = tables.TemplateColumn(
        template_code=(
            '{% if "edit" in request.tenant_permissions and not record.revoked_at and not record.reopened_at %}'
            '<button type="button" class="small" hx-post="{% url \'waiver-revoke\' record.tenant.slug record.pk %}" '
            'hx-confirm="Revoke this exception? The finding is open again." id="revoke-{{ record.pk }}">Revoke</button>'
            "{% endif %}"
        ),
        orderable=False,
        verbose_name="",
        exclude_from_export=True,
    )

    class Meta:
        model = Waiver
        fields = ["finding", "dn", "value", "justification", "expires_on", "created_by", "created", "state", "revoke"]
        attrs = {"class": "table waivers"}
        order_by = ("expires_on",)
        empty_text = "No exceptions match."

    def render_finding(self, record):
        # The readable title, as on the findings list; the rule code on hover and in the exports.
        code = record.finding.rule
        title = rules.RULES[code].title if code in rules.RULES else code
        attribute = record.finding.attribute
        return format_html('<span title="{}">{}</span> <small class="muted">{}</small>', code, title, attribute)

    def render_dn(self, record):
        return format_html(
            '<a class="mono" href="{}" hx-boost="false">{}</a>', record.finding.get_absolute_url(), record.finding.dn
        )

    def render_state(self, record):
        return waiver_state(record)

    def value_state(self, record):
        return waiver_state(record, html=False)


def waiver_state(waiver, html=True):
    if waiver.revoked_at:
        who = waiver.revoked_by.get_username() if waiver.revoked_by_id else ""
        text = f"revoked {timezone.localtime(waiver.revoked_at):%d %b %Y} by {who}, finding reopened"
        colour = "red"
    elif waiver.reopened_at:
        text = f"expired, finding reopened {timezone.localtime(waiver.reopened_at):%Y-%m-%d}"
        colour = "red"
    elif waiver.expires_on <= timezone.localdate():
        text, colour = "expired, reopens at the next daily run", "amber"
    else:
        text, colour = "in force", "green"
    return format_html('<span class="badge {}">{}</span>', colour, text) if html else text
