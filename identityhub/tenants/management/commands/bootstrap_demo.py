"""Create the `admin` superuser and the demo tenant on first run; a later run changes nothing."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from identityhub.tenants.models import Membership, Role, Tenant

DEMO_SLUG = "contoso-demo"


class Command(BaseCommand):
    help = "Create the admin superuser (password from ADMIN_PASSWORD or printed once) and the demo tenant."

    @transaction.atomic
    def handle(self, *args, **options):
        User = get_user_model()
        admin = User.objects.filter(username="admin").first()
        if admin is None:
            password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
            admin = User.objects.create_superuser("admin", "admin@example.invalid", password)
            shown = "from ADMIN_PASSWORD" if os.environ.get("ADMIN_PASSWORD") else password
            self.stdout.write(self.style.SUCCESS(f"Created superuser admin, password: {shown} (shown once)"))
        tenant, created = Tenant.objects.get_or_create(
            slug=DEMO_SLUG,
            defaults={
                "name": "Contoso (demo)",
                "verified_domains": ["contoso.com"],
                "auth_method": Tenant.AuthMethod.PHS,
            },
        )
        Membership.objects.get_or_create(user=admin, tenant=tenant, defaults={"role": Role.ADMIN})
        if created:
            self.stdout.write(self.style.SUCCESS(f"Created demo tenant {tenant.name} ({tenant.slug})"))
