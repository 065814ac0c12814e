"""The tenant's bulk apply runs, newest first: what each applied, and a way back to its page."""

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q
from django.shortcuts import render
from django.views.decorators.http import require_GET

from identityhub.tenants.access import tenant_view

from .models import ApplyRun, Change

RUNS_SHOWN = 200


@require_GET
@tenant_view("view")
def apply_run_list(request, tenant):
    runs = (
        ApplyRun.objects.filter(tenant=tenant)
        .select_related("requested_by")
        .annotate(
            applied=Count("changes", filter=Q(changes__result=Change.Result.APPLIED)),
            conflicts=Count("changes", filter=Q(changes__result=Change.Result.CONFLICT)),
            refused=Count("changes", filter=Q(changes__result=Change.Result.REFUSED)),
            planned=Count("changes", filter=Q(changes__result=Change.Result.PLANNED)),
            took=ExpressionWrapper(F("finished") - F("created"), output_field=DurationField()),
        )
        .order_by("-created")[:RUNS_SHOWN]
    )
    return render(request, "remediation/apply_run_list.html", {"tenant": tenant, "runs": runs, "shown": RUNS_SHOWN})
