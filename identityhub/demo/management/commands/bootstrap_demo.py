"""Create the `admin` superuser and the demo tenant's story on first run; a later run changes nothing."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from identityhub.demo import story


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
        told = story.tell(admin)
        if told.scans:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo tenant Contoso (demo): {told.scans} scans over four weeks, {told.findings_open} open "
                    f"findings, {told.changes} changes, {told.exceptions} exceptions and accepted findings, "
                    f"{told.snapshots} sync-health snapshots"
                )
            )
