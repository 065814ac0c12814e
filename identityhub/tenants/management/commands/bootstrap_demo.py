"""Create the `admin` superuser and the demo tenant on first run; a later run changes nothing."""

import os
import secrets
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from identityhub.tenants.models import Forest, Membership, Role, Tenant

DEMO_SLUG = "contoso-demo"
DEMO_FOREST = "contoso.local (demo export)"
DEMO_EXPORT = Path(__file__).resolve().parents[3] / "scans" / "demo" / "contoso.ldif"


def _check_password(password: str | None, user) -> None:
    """ADMIN_PASSWORD must pass the project's password validators (AUTH_PASSWORD_VALIDATORS), like any other."""
    if not password:
        return
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise CommandError(
            f"ADMIN_PASSWORD is refused: {' '.join(exc.messages)} Set a stronger one, or unset it for a generated one."
        ) from None


class Command(BaseCommand):
    help = "Create the admin superuser (password from ADMIN_PASSWORD or printed once) and the demo tenant."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            _check_password(os.environ.get("ADMIN_PASSWORD"), User(username="admin", email="admin@example.invalid"))
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", "admin@example.invalid", password)
            shown = "from ADMIN_PASSWORD" if os.environ.get("ADMIN_PASSWORD") else password
            self.stdout.write(self.style.SUCCESS(f"Created superuser admin, password: {shown} (shown once)"))
        tenant, created = Tenant.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={
                "name": "Contoso (demo)",
                "verified_domains": ["contoso.com", "contoso.onmicrosoft.com", "contoso.mail.onmicrosoft.com"],
                "auth_method": Tenant.AuthMethod.PHS,
            },
        )
        Membership.objects.get_or_create(user=admin, tenant=tenant, defaults={"role": Role.ADMIN})
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created demo tenant {tenant.name} ({tenant.slug})"))
        self._scan_demo_forest(tenant, admin)
        self._seed_demo_health(tenant)

    def _seed_demo_health(self, tenant):
        """A few sync-health snapshots from bundled demo data, labelled as demo on the health page."""
        from identityhub.health.demo import seed_demo

        if seeded := seed_demo(tenant):
            self.stdout.write(self.style.SUCCESS(f"Seeded {seeded} demo sync-health snapshots"))

    def _scan_demo_forest(self, tenant, admin):
        """The bundled export of a messy fictional forest, scanned once so a newcomer sees findings at once."""
        from identityhub.scans import pipeline
        from identityhub.scans.models import ScanRun
        from identityhub.scans.sources import entries_for

        forest, _ = Forest.objects.get_or_create(
            tenant=tenant,
            name=DEMO_FOREST,
            defaults={
                "servers": "dc01.contoso.local",
                "base_dns": "DC=contoso,DC=local",
                "bind_user": "svc-identityhub@contoso.local",
                "scan_schedule": Forest.Schedule.MANUAL,
            },
        )
        if ScanRun.objects.filter(forest=forest).exists():
            return
        with DEMO_EXPORT.open("rb") as handle:
            scan = ScanRun.objects.create(
                tenant=tenant, forest=forest, source=ScanRun.Source.UPLOAD, triggered_by=admin
            )
            scan.upload.save(DEMO_EXPORT.name, File(handle))
        scan = pipeline.execute(scan.pk, entries_for)
        self.stdout.write(
            self.style.SUCCESS(
                f"Scanned the demo export: {scan.objects_in_scope} objects, {scan.findings_count} open findings"
            )
        )
