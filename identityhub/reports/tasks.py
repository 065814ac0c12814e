from celery import shared_task

from . import jobs


@shared_task(acks_late=True)
def run_export(job_id: int) -> str | None:
    job = jobs.execute(job_id)
    return job.status if job else None


@shared_task
def remove_expired_exports() -> int:
    jobs.fail_overdue()
    return jobs.remove_expired_files()
