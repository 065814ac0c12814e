"""Events other apps listen to, so that health never imports them."""

from django.dispatch import Signal

# Sent with `tenant` and `snapshot` after a pull has stored its snapshot (successful pulls only).
health_pulled = Signal()

# Sent with `tenant` and `pull` (the HealthPull row, status failed, error set) when a pull fails.
health_pull_failed = Signal()
