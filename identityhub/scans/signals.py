"""Events other apps listen to, so that scans never import them."""

from django.dispatch import Signal

# Sent with `scan` once a scan has become its forest's current picture.
scan_completed = Signal()

# Sent with `scan` when a scan would drop too many objects and waits for an admin (pipeline.hold_if_dropping).
scan_held = Signal()

# Sent with `scan` and `confirmed` (True: it will complete; False: discarded) once an admin decided.
scan_reviewed = Signal()
