"""The Celery application; tasks live in each app's tasks.py and call plain functions."""

import os

from celery import Celery
from celery.signals import worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identityhub.settings")

app = Celery("identityhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_init.connect
def load_reference_data(**kwargs) -> None:
    """Load the rules' public suffix list once per worker process: a quarter of a second that a
    delta scan, which checks its few changed objects in the worker itself, would otherwise pay."""
    from identityhub.lib.rules.domains import is_routable

    is_routable("example.com")
