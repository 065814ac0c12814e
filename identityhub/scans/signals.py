"""Events other apps listen to, so that scans never import them."""

from django.dispatch import Signal

# Sent with `scan` once a scan has become its forest's current picture.
scan_completed = Signal()
