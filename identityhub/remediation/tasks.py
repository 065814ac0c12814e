from celery import shared_task

from . import actions


@shared_task(acks_late=True)
def reopen_expired_waivers() -> int:
    """Daily (beat): an exception past its expiry date reopens its finding. Idempotent."""
    return actions.reopen_expired_waivers()
