"""What a job row says when Celery's soft time limit stopped its task (the limits: settings, CELERY_TASK_*)."""

from celery.exceptions import SoftTimeLimitExceeded


def stopped_reason(exc: BaseException, limit_seconds: int) -> str | None:
    """A plain sentence for a task ended by its soft time limit; None for any other failure."""
    if not isinstance(exc, SoftTimeLimitExceeded):
        return None
    minutes = max(1, round(limit_seconds / 60))
    return f"Stopped: it ran longer than its time limit of {minutes} minute{'s' if minutes != 1 else ''}."
