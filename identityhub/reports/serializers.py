"""Read-only API representations. Every field is named: no secret (bind password, CA text, Graph
secret or key, uploads) can appear by accident when a model grows a field."""

from rest_framework import serializers

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


class FindingSerializer(serializers.ModelSerializer):
    sync_state = serializers.CharField(read_only=True, help_text='"fixed, awaiting sync", "verified clean" or "".')
    last_seen = serializers.DateTimeField(
        source="seen_at", read_only=True, help_text="When last known present: a delta scan counts as a look."
    )

    class Meta:
        model = Finding
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
