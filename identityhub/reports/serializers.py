"""Read-only API representations. Every field is named: no secret (bind password, CA text, Graph
secret or key, uploads) can appear by accident when a model grows a field."""

from operator import attrgetter

from django.db import models
from django.utils import timezone
from rest_framework import ISO_8601, serializers
from rest_framework.settings import api_settings

from identityhub.health.models import ProvisioningError, SyncSnapshot
from identityhub.remediation.models import Change, Waiver
from identityhub.remediation.tables import waiver_state
from identityhub.scans.models import DirectoryObject, Finding, ScanRun
from identityhub.tenants.access import role_of
from identityhub.tenants.models import Forest, Tenant


def username(**kwargs):
    return serializers.SlugRelatedField(slug_field="username", read_only=True, **kwargs)


class TenantSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField(help_text="Your role in this tenant (lead, admin, auditor, superuser).")

    class Meta:
        model = Tenant
        fields = [
            "slug",
            "name",
            "entra_tenant_id",
            "auth_method",
            "ruleset",
            "require_approval",
            "verified_domains",
            "role",
            "created",
        ]

    def get_role(self, tenant) -> str:
        return role_of(self.context["request"].user, tenant) or ""


class ForestSerializer(serializers.ModelSerializer):
    servers = serializers.ListField(child=serializers.CharField(), source="server_list", read_only=True)
    base_dns = serializers.ListField(child=serializers.CharField(), source="base_dn_list", read_only=True)
    include_ous = serializers.ListField(child=serializers.CharField(), source="include_ou_list", read_only=True)
    exclude_ous = serializers.ListField(child=serializers.CharField(), source="exclude_ou_list", read_only=True)
    # The server's local time of day, without an offset: JSON Schema's "time" format would require one.
    full_scan_time = serializers.CharField(read_only=True, help_text="HH:MM:SS, the server's local time.")
    has_ca_certificate = serializers.SerializerMethodField()

    class Meta:
        model = Forest
        # Never bind_password (nor the CA certificate's text): the API has no field for them at all.
        fields = [
            "id",
            "name",
            "servers",
            "port",
            "use_starttls",
            "has_ca_certificate",
            "base_dns",
            "bind_user",
            "include_ous",
            "exclude_ous",
            "extra_filter",
            "scan_schedule",
            "full_scan_time",
            "delta_minutes",
            "created",
            "updated",
        ]

    def get_has_ca_certificate(self, forest) -> bool:
        return bool(forest.ca_certificate.strip())


class ScanSerializer(serializers.ModelSerializer):
    triggered_by = username(allow_null=True)
    # status "held": the scan would drop objects_dropped of the objects_before of the forest's
    # picture and waits for an admin's confirmation (reviewed_by/at once decided).
    drop_percent = serializers.IntegerField(
        read_only=True, allow_null=True, help_text="objects_dropped as a share of objects_before, in percent."
    )
    reviewed_by = username(allow_null=True)

    class Meta:
        model = ScanRun
        fields = [
            "id",
            "forest",
            "status",
            "source",
            "kind",
            "full_reason",
            "picture",
            "is_current",
            "error",
            "triggered_by",
            "created",
            "started",
            "finished",
            "refreshed",
            "catalogue_version",
            "ruleset",
            "scope",
            "objects_read",
            "objects_changed",
            "objects_deleted",
            "objects_in_scope",
            "objects_excluded",
            "findings_count",
            "rule_counts",
            "severity_counts",
            "exclusion_counts",
            "objects_before",
            "objects_dropped",
            "drop_percent",
            "reviewed_by",
            "reviewed_at",
        ]


class DirectoryObjectSerializer(serializers.ModelSerializer):
    class Meta:
        model = DirectoryObject
        fields = ["id", "scan", "forest", "guid", "dn", "object_class", "ou", "usn_changed", "attributes"]


def _column(field):
    """(name, read, write) of one field of a flat serializer: how a row's attribute becomes JSON,
    as the field's own to_representation writes it."""
    if "." in field.source or field.source == "*" or isinstance(field, serializers.SerializerMethodField):
        raise TypeError(f"{field.field_name}: not a column (source {field.source!r})")
    if isinstance(field, serializers.PrimaryKeyRelatedField) and field.pk_field is None:
        # What DRF writes for a foreign key: the key itself, read from the row without loading the object.
        attname = field.parent.Meta.model._meta.get_field(field.source).attname
        return field.field_name, attrgetter(attname), None
    if isinstance(field, serializers.DateTimeField):
        return field.field_name, attrgetter(field.source), _datetime_writer(field)
    return field.field_name, attrgetter(field.source), field.to_representation


def _datetime_writer(field):
    """DateTimeField.to_representation with its time zone looked up once, not per value (that
    lookup, through asgiref's thread-local, was half the cost of a page)."""
    zone = field.timezone if hasattr(field, "timezone") else field.default_timezone()
    output = getattr(field, "format", api_settings.DATETIME_FORMAT)
    if zone is None or not isinstance(output, str) or output.lower() != ISO_8601:
        return field.to_representation

    def write(value):
        if not value or not timezone.is_aware(value):
            return field.to_representation(value)
        text = value.astimezone(zone).isoformat()
        return text[:-6] + "Z" if text.endswith("+00:00") else text

    return write


class ColumnsListSerializer(serializers.ListSerializer):
    """Many rows of a serializer whose every field reads one attribute (a column, a property, a
    foreign key's id), written straight from each row: the JSON of the child's to_representation
    without DRF's per-row, per-field machinery (get_attribute, the key-only object of a relation,
    an OrderedDict a row), which was most of the cost of a page of 100 findings (issue 18)."""

    def to_representation(self, data):
        rows = data.all() if isinstance(data, models.manager.BaseManager) else data
        columns = [_column(field) for field in self.child._readable_fields]
        return [
            {
                name: value if (value := read(row)) is None or write is None else write(value)
                for name, read, write in columns
            }
            for row in rows
        ]


class FindingSerializer(serializers.ModelSerializer):
    sync_state = serializers.CharField(read_only=True, help_text='"fixed, awaiting sync", "verified clean" or "".')
    last_seen = serializers.DateTimeField(
        source="seen_at", read_only=True, help_text="When last known present: a delta scan counts as a look."
    )

    class Meta:
        model = Finding
        list_serializer_class = ColumnsListSerializer  # a page of findings: see there
        fields = [
            "id",
            "forest",
            "guid",
            "dn",
            "object_class",
            "ou",
            "rule",
            "severity",
            "error",
            "attribute",
            "value",
            "suggestion",
            "status",
            "first_seen",
            "last_seen",
            "resolved_at",
            "verified_at",
            "sync_state",
        ]


class ChangeSerializer(serializers.ModelSerializer):
    requested_by = username()
    approved_by = username(allow_null=True)

    class Meta:
        model = Change
        fields = [
            "id",
            "forest",
            "finding",
            "guid",
            "dn",
            "attribute",
            "old_values",
            "new_values",
            "action",
            "requested_by",
            "created",
            "result",
            "error",
            "current_values",
            "approved_by",
            "approved_at",
            "applied_at",
            "reverts",
            "apply_run",
        ]


class WaiverSerializer(serializers.ModelSerializer):
    approved_by = username(source="created_by", help_text="Who granted the exception.")
    rule = serializers.CharField(source="finding.rule", read_only=True)
    attribute = serializers.CharField(source="finding.attribute", read_only=True)
    value = serializers.CharField(source="finding.value", read_only=True)
    dn = serializers.CharField(source="finding.dn", read_only=True)
    state = serializers.SerializerMethodField()

    class Meta:
        model = Waiver
        fields = [
            "id",
            "finding",
            "rule",
            "attribute",
            "value",
            "dn",
            "justification",
            "approved_by",
            "created",
            "expires_on",
            "state",
            "reopened_at",
        ]

    def get_state(self, waiver) -> str:
        return waiver_state(waiver, html=False)


class SnapshotSerializer(serializers.ModelSerializer):
    class Meta:
        model = SyncSnapshot
        fields = [
            "id",
            "taken",
            "is_demo",
            "sync_enabled",
            "last_sync",
            "last_password_sync",
            "verified_domains",
            "domains",
            "counts",
            "error_count",
            "cloud_sync",
            "licensing",
        ]


class ProvisioningErrorSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProvisioningError
        fields = [
            "id",
            "snapshot",
            "object_id",
            "object_type",
            "display_name",
            "upn",
            "immutable_id",
            "category",
            "property",
            "value",
            "occurred",
            "matched_forest",
            "matched_guid",
            "matched_dn",
            "matched_by",
            "matched_finding",
            "source",
            "last_occurred",
            "occurrences",
            "action",
            "source_dn",
        ]


class CriterionSerializer(serializers.Serializer):
    code = serializers.CharField()
    step = serializers.IntegerField()
    name = serializers.CharField()
    proof = serializers.CharField()
    state = serializers.CharField(help_text="met, not_met or unknown")
    evidence = serializers.CharField()
    evidence_url = serializers.CharField()
    computed_at = serializers.DateTimeField(allow_null=True)
    signed_off_by = serializers.CharField()
    signed_off_at = serializers.DateTimeField(allow_null=True)
    sign_off_comment = serializers.CharField()


class SignOffSerializer(serializers.Serializer):
    code = serializers.CharField()
    user = serializers.CharField()
    comment = serializers.CharField()
    at = serializers.DateTimeField()
    revoked_at = serializers.DateTimeField(allow_null=True)
    revoked_by = serializers.CharField()


class RolloutSerializer(serializers.Serializer):
    step = serializers.IntegerField(help_text="7, 8, or 9 when both steps are done.")
    step_title = serializers.CharField()
    percent = serializers.IntegerField()
    score = serializers.IntegerField(allow_null=True)
    computed_at = serializers.DateTimeField(allow_null=True)
    criteria = CriterionSerializer(many=True)
    sign_offs = SignOffSerializer(many=True)
