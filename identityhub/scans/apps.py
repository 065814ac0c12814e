from django.apps import AppConfig


class ScansConfig(AppConfig):
    name = "identityhub.scans"
    label = "scans"
    verbose_name = "Scans and findings"

    def ready(self):
        from . import counts

        counts.connect()
