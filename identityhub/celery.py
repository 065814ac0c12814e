"""The Celery application; tasks live in each app's tasks.py and call plain functions."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "identityhub.settings")

app = Celery("identityhub")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
