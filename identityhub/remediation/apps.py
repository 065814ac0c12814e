from django.apps import AppConfig


class RemediationConfig(AppConfig):
    name = "identityhub.remediation"
    label = "remediation"
    verbose_name = "Remediation and change log"

    def ready(self):
        from . import reverted  # noqa: F401 - connects the scan_completed receiver
