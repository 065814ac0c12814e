from django.apps import AppConfig


class ReportsConfig(AppConfig):
    name = "identityhub.reports"
    label = "reports"
    verbose_name = "Reports, exports and the REST API"
