"""`manage.py check_export`: identityhub.export_check as a management command (for call_command).

`python manage.py check_export ...` does not come here: manage.py hands it to the plain module
before Django starts, so an offline check needs no settings, SECRET_KEY or database.
"""

from argparse import Namespace

from django.core.management.base import BaseCommand

from identityhub import export_check


class Command(BaseCommand):
    help = export_check.DESCRIPTION
    requires_system_checks = []

    def add_arguments(self, parser):
        export_check.add_arguments(parser)

    def handle(self, *args, **options):
        status = export_check.run(Namespace(**options), stdout=self.stdout, stderr=self.stderr)
        if status:
            raise SystemExit(status)
