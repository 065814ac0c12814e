from django.apps import AppConfig


class RemediationConfig(AppConfig):
    name = "identityhub.remediation"
    label = "remediation"
    verbose_name = "Remediation and change log"

    def ready(self):
        from . import planned, reverted  # noqa: F401 - connect their scan_completed receivers
