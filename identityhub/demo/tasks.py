from celery import shared_task

from . import story


@shared_task(acks_late=True)
def keep_demo_current() -> bool:
    """Beat: the demo's story (sync health, scans, findings, changes...) would age in real time;
    see story.keep_current."""
    return story.keep_current()
