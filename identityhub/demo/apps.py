from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The demo tenant of `make run`: seeds data through the other apps, which never import it."""

    name = "identityhub.demo"
