"""Data for the report and API tests: one tenant's scans, objects, findings, changes, waivers, health."""

import uuid
from datetime import timedelta

from django.utils import timezone

from identityhub.health.models import ProvisioningError, SyncSnapshot
from identityhub.remediation.models import Change, Waiver
from identityhub.scans.models import DirectoryObject, Finding, ScanRun
from identityhub.tenants.models import Forest

BIND_PASSWORD = "S3cret-bind-pw!"  # tests/conftest.py's forest: must never appear in an export


def finding(forest, n, rule="upn.character", severity="blocking", **kwargs):
    now = timezone.now()
    defaults = {
        "key": f"k{n}",
        "guid": uuid.uuid4(),
        "dn": f"CN=User {n},OU=Staff,DC=corp,DC=acme,DC=example",
        "object_class": "user",
        "ou": "OU=Staff,DC=corp,DC=acme,DC=example",
        "error": "character",
        "attribute": "userPrincipalName",
        "value": f"user {n}@acme.com",
        "suggestion": f"user{n}@acme.com",
        "first_seen": now - timedelta(days=2),
        "last_seen": now,
    }
    defaults.update(kwargs)
    return Finding.objects.create(tenant=forest.tenant, forest=forest, rule=rule, severity=severity, **defaults)


def make_report_data(forest, user):
    """A completed current scan and an older one, objects, findings of three rules and four states,
    an applied change with its undo, a waiver, a health snapshot with two provisioning errors."""
    tenant = forest.tenant
    now = timezone.now()
    old = ScanRun.objects.create(
        tenant=tenant, forest=forest, status="completed", catalogue_version="1", ruleset=tenant.ruleset,
        started=now - timedelta(days=3), finished=now - timedelta(days=3), objects_in_scope=10,
        severity_counts={"blocking": 5, "hygiene": 2},
    )  # fmt: skip
    scan = ScanRun.objects.create(
        tenant=tenant, forest=forest, status="completed", is_current=True, catalogue_version="1",
        ruleset=tenant.ruleset, started=now - timedelta(hours=1), finished=now,
        scope={"servers": ["127.0.0.11"], "port": 389, "bases": ["DC=corp,DC=acme,DC=example"], "exclude": [],
               "filter": "(objectClass=user)"},
        objects_read=12, objects_in_scope=10, objects_excluded=2, findings_count=4,
        severity_counts={"blocking": 2, "hygiene": 1}, exclusion_counts={"critical system object": 2},
    )  # fmt: skip
    DirectoryObject.objects.create(
        scan=old, forest=forest, guid=uuid.uuid4(), dn="CN=Gone,DC=corp", object_class="user", ou="DC=corp"
    )
    objects = [
        DirectoryObject.objects.create(
            scan=scan,
            forest=forest,
            guid=uuid.uuid4(),
            dn=f"CN=User {n},OU=Staff,DC=corp,DC=acme,DC=example",
            object_class="user",
            ou="OU=Staff,DC=corp,DC=acme,DC=example",
            usn_changed=1000 + n,
            attributes={
                "userPrincipalName": [f"user {n}@acme.com"],
                "proxyAddresses": ["SMTP:a@acme.com", "smtp:b@acme.com"],
            },
        )  # fmt: skip
        for n in (1, 2)
    ]
    findings = {
        "blocking": finding(forest, 1, guid=objects[0].guid),
        "blocking2": finding(forest, 2, guid=objects[1].guid, suggestion=""),
        "formula": finding(
            forest,
            3,
            rule="displayname.length",
            severity="hygiene",
            attribute="displayName",
            error="format",
            value='=HYPERLINK("http://x")',
            suggestion=None,
        ),  # fmt: skip
        "control": finding(
            forest,
            4,
            rule="mail.character",
            severity="degrading",
            attribute="mail",
            value="bad\x01char@acme.com",
            suggestion=None,
        ),  # fmt: skip
        "resolved": finding(forest, 5, status="resolved", resolved_at=now),
        "excepted": finding(forest, 6, rule="mail.character", severity="degrading", status="excepted"),
    }
    change = Change.objects.create(
        tenant=tenant, forest=forest, finding=findings["resolved"], guid=findings["resolved"].guid,
        dn=findings["resolved"].dn, attribute="userPrincipalName", old_values=["user 5@acme.com"],
        new_values=["user5@acme.com"], action="edit", requested_by=user, result="applied", applied_at=now,
    )  # fmt: skip
    Change.objects.create(
        tenant=tenant, forest=forest, guid=findings["blocking"].guid, dn=findings["blocking"].dn,
        attribute="userPrincipalName", old_values=["user 1@acme.com"], new_values=["user1@acme.com"],
        action="edit", requested_by=user, result="awaiting",
    )  # fmt: skip
    waiver = Waiver.objects.create(
        tenant=tenant, finding=findings["excepted"], justification="Legacy mailbox, retired in Q3",
        expires_on=(now + timedelta(days=30)).date(), created_by=user,
    )  # fmt: skip
    snapshot = SyncSnapshot.objects.create(
        tenant=tenant, taken=now, sync_enabled=True, last_sync=now - timedelta(minutes=10),
        verified_domains=["acme.com"], counts={"users": {"synced": 9, "cloud_only": 1}}, error_count=2,
    )  # fmt: skip
    errors = [
        ProvisioningError.objects.create(
            snapshot=snapshot,
            object_id=f"obj-{n}",
            object_type="user",
            display_name=f"User {n}",
            upn=f"user{n}@acme.com",
            category="PropertyConflict",
            property=prop,
            value=f"dup{n}@acme.com",
            occurred=now - timedelta(hours=n),
        )  # fmt: skip
        for n, prop in ((1, "UserPrincipalName"), (2, "ProxyAddresses"))
    ]
    return {"scan": scan, "old_scan": old, "objects": objects, "findings": findings, "change": change,
            "waiver": waiver, "snapshot": snapshot, "errors": errors}  # fmt: skip


def other_tenant_data(other_tenant, user):
    """A forest, scan, object, finding, change, waiver and snapshot of another tenant (Globex)."""
    forest = Forest.objects.create(
        tenant=other_tenant, name="corp.globex.example", servers="127.0.0.12", port=389,
        base_dns="DC=corp,DC=globex,DC=example", bind_user="svc@globex.example", bind_password="globex-pw",
    )  # fmt: skip
    return make_report_data(forest, user)
