from django.apps import AppConfig


class HealthConfig(AppConfig):
    name = "identityhub.health"
    label = "health"
    verbose_name = "Sync health (Microsoft Graph)"
