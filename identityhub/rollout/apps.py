from django.apps import AppConfig


class RolloutConfig(AppConfig):
    name = "identityhub.rollout"
    label = "rollout"
    verbose_name = "Rollout (steps 7 and 8)"

    def ready(self):
        from . import receivers  # noqa: F401 - connects the evidence receivers
