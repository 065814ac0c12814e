"""Create the `admin` superuser and the demo tenant's story on first run; a later run changes nothing."""

import os
import secrets

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from identityhub.demo import story


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
        told = story.tell(admin)
        story.keep_current()  # a demo seeded at an earlier run: its health dated from now again
        if told.scans:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Demo tenant Contoso (demo): {told.scans} scans over four weeks, {told.findings_open} open "
                    f"findings, {told.changes} changes, {told.exceptions} exceptions and accepted findings, "
                    f"{told.snapshots} sync-health snapshots"
                )
            )
