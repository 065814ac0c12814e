from collections import defaultdict

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import OuterRef, Prefetch, Subquery
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from identityhub.health.models import SyncSnapshot
from identityhub.scans.models import ScanRun
from identityhub.tenants.access import tenant_view
from identityhub.tenants.models import Forest, Membership, Tenant

from . import criteria, progress, roundtrip, score, timeline, webhooks
from .forms import CheckpointForm, RoundTripForm, SignOffForm, WebhookForm
from .models import (
    Checkpoint,
    CriterionState,
    RolloutEvent,
    SignOff,
    State,
    TestGroupRoundTrip,
    Webhook,
    WebhookDelivery,
)


def _checkpoint(tenant, scans=None, rows=None) -> Checkpoint:
    # The portfolio loads each tenant's checkpoint with the tenant (select_related).
    checkpoint = tenant.checkpoint if hasattr(tenant, "checkpoint") else progress.checkpoint_of(tenant)
    if checkpoint.computed_at is None:
        progress.recompute(tenant)
        checkpoint.refresh_from_db()
    # The figures shown are the findings as they are now (an Accept a second ago counts), the same
    # Finding.objects.open() every other page counts, not the stored ones of the last recompute.
    checkpoint.open_blocking = score.open_blocking(tenant, rows)
    checkpoint.score = score.tenant_score(tenant, scans, rows)
    return checkpoint


def row_colour(checkpoint: Checkpoint) -> str:
    if checkpoint.is_done and checkpoint.health_colour != "red":
        return "green"
    if checkpoint.health_colour == "red" or checkpoint.open_blocking:
        return "red"
    return "amber"


@require_GET
@login_required
def portfolio(request):
    # A few queries for any number of tenants: checkpoints with the tenants, whether the latest
    # snapshot (pulled ones first, as criteria.Evidence.snapshot picks) is a demo one as a
    # subquery, the current scans of every tenant at once.
    latest_is_demo = SyncSnapshot.objects.filter(tenant=OuterRef("pk")).order_by("is_demo", "-taken")
    tenants = list(
        Tenant.objects.for_user(request.user)
        .select_related("checkpoint")
        .annotate(health_is_demo=Subquery(latest_is_demo.values("is_demo")[:1]))
    )
    scans = defaultdict(list)
    for scan in ScanRun.objects.filter(tenant__in=tenants, is_current=True):
        scans[scan.tenant_id].append(scan)
    roles = dict(Membership.objects.filter(user=request.user).values_list("tenant_id", "role"))
    now = timezone.now()
    rows = []
    for tenant in tenants:
        checkpoint = _checkpoint(tenant, scans[tenant.pk])
        age = now - checkpoint.last_sync if checkpoint.last_sync else None
        rows.append(
            {
                "tenant": tenant,
                "role": roles.get(tenant.pk, "superuser"),
                "checkpoint": checkpoint,
                "colour": row_colour(checkpoint),
                "sync_age": criteria.age_text(age) if age is not None else None,
                "health_is_demo": bool(tenant.health_is_demo),
            }
        )
    return render(request, "rollout/portfolio.html", {"rows": rows})


def _steps(tenant, checkpoint):
    states = {s.code: s for s in CriterionState.objects.filter(tenant=tenant)}
    sign_offs = {}
    for sign_off in SignOff.objects.filter(tenant=tenant, revoked_at__isnull=True).select_related("user"):
        sign_offs.setdefault(sign_off.code, sign_off)

    def rows(keep):
        return [
            {"criterion": c, "state": states.get(c.code), "sign_off": sign_offs.get(c.code)}
            for c in criteria.CRITERIA
            if keep(c)
        ]

    steps = []
    for number, title in criteria.STEPS.items():
        done_at = getattr(checkpoint, f"step{number}_done_at")
        steps.append(
            {
                "number": number,
                "title": title,
                "rows": rows(lambda c, number=number: c.step == number and not c.checkpoint),
                "done_at": done_at,
            }
        )
        for key, (after, title) in criteria.OPTIONAL_CHECKPOINTS.items():
            if after == number and (key != criteria.LICENSE or checkpoint.ready_to_license):
                checkpoint_rows = rows(lambda c, key=key: c.checkpoint == key)
                done = all(r["state"] and r["state"].state == State.MET for r in checkpoint_rows)
                steps.append({"key": key, "after": after, "title": title, "rows": checkpoint_rows, "done": done})
    return steps


@require_GET
@tenant_view("view")
def rollout(request, tenant):
    scans = score.current_scans(tenant)  # once, for the score, the forests' and the OUs' rows
    figures = score.rollout_figures(tenant, scans)
    checkpoint = _checkpoint(tenant, scans, figures["rows"])
    ev = criteria.Evidence(tenant, checkpoint)
    perms = request.tenant_permissions
    forests = list(tenant.forests.without_secrets())  # names for the round trip: no decryption
    # Each hook's latest delivery, not every delivery it ever made (one query, a window per hook).
    last_delivery = Prefetch("deliveries", WebhookDelivery.objects.all()[:1], to_attr="last_delivery")
    hooks = Webhook.objects.filter(tenant=tenant).defer("secret").prefetch_related(last_delivery)
    trips = TestGroupRoundTrip.objects.filter(tenant=tenant).select_related("forest", "requested_by")
    context = {
        "tenant": tenant,
        "checkpoint": checkpoint,
        "colour": row_colour(checkpoint),
        "steps": _steps(tenant, checkpoint),
        "trade_offs": criteria.AUTH_TRADE_OFFS,
        "excepted": ev.excepted_blocking,
        "excepted_usage_location": ev.excepted_usage_location if checkpoint.ready_to_license else [],
        "health_is_demo": ev.snapshot is not None and ev.snapshot.is_demo,
        "trips": trips.defer(*Forest.secrets_via("forest"))[:5],
        "trip_form": RoundTripForm(tenant=tenant, forests=forests) if "edit" in perms else None,
        "forests_exist": bool(forests),
        "sign_off_form": SignOffForm() if "progress" in perms else None,
        "forests": figures["forests"],
        "ous": figures["ous"],
        "rules": figures["rules"],
        "burn_down": figures["burn_down"],
        "timeline": timeline.timeline_html(timeline.recent(tenant)),
        "webhooks": hooks if "webhooks" in perms else [],
        "webhook_form": WebhookForm() if "webhooks" in perms else None,
    }
    return render(request, "rollout/rollout.html", context)


def _sign_off_criterion(code: str):
    criterion = criteria.BY_CODE.get(code)
    if criterion is None or not criterion.needs_sign_off:
        raise Http404("No such sign-off.")
    return criterion


@require_POST
@tenant_view("progress")
def sign_off(request, tenant, code):
    criterion = _sign_off_criterion(code)
    form = SignOffForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A sign-off needs a comment: say what you checked.")
        return redirect("rollout", tenant.slug)
    with transaction.atomic():
        SignOff.objects.create(tenant=tenant, code=code, user=request.user, comment=form.cleaned_data["comment"])
        progress.event(
            tenant, RolloutEvent.Kind.SIGN_OFF,
            f"{criterion.title}: signed off by {request.user.get_username()}: {form.cleaned_data['comment']}",
            user=request.user,
        )  # fmt: skip
        progress.recompute(tenant)
    messages.success(request, f"Signed off: {criterion.title}.")
    return redirect("rollout", tenant.slug)


@require_POST
@tenant_view("progress")
def revoke(request, tenant, code):
    criterion = _sign_off_criterion(code)
    with transaction.atomic():
        revoked = SignOff.objects.filter(tenant=tenant, code=code, revoked_at__isnull=True).update(
            revoked_at=timezone.now(), revoked_by=request.user
        )
        if revoked:
            progress.event(
                tenant, RolloutEvent.Kind.SIGN_OFF,
                f"{criterion.title}: sign-off revoked by {request.user.get_username()}.", user=request.user,
            )  # fmt: skip
            progress.recompute(tenant)
    if revoked:
        messages.success(request, f"Sign-off revoked: {criterion.title}.")
    else:
        messages.error(request, "Nothing to revoke.")
    return redirect("rollout", tenant.slug)


@require_POST
@tenant_view("edit")
def round_trip_start(request, tenant):
    form = RoundTripForm(request.POST, tenant=tenant)
    if not form.is_valid():
        messages.error(request, "Choose the forest to create the test group in.")
        return redirect("rollout", tenant.slug)
    try:
        trip = roundtrip.start(form.cleaned_data["forest"], request.user)
    except roundtrip.Busy as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Test group {trip.name} will be created in {trip.container}.")
    return redirect("rollout", tenant.slug)


@require_http_methods(["GET", "POST"])
@tenant_view("edit")
def rollout_settings(request, tenant):
    checkpoint = progress.checkpoint_of(tenant)
    form = CheckpointForm(request.POST or None, instance=checkpoint)
    if request.method == "POST" and form.is_valid():
        form.save()
        progress.recompute(tenant)
        messages.success(request, "Rollout thresholds saved.")
        return redirect("rollout", tenant.slug)
    return render(request, "rollout/settings_form.html", {"tenant": tenant, "form": form})


@require_POST
@tenant_view("webhooks")
def webhook_add(request, tenant):
    form = WebhookForm(request.POST)
    if form.is_valid():
        hook = form.save(commit=False)
        hook.tenant, hook.created_by = tenant, request.user
        hook.save()
        messages.success(request, f"Webhook added: {hook.url}")
    else:
        errors = "; ".join(f"{name}: {' '.join(errs)}" for name, errs in form.errors.items())
        messages.error(request, f"Webhook not added: {errors}")
    return redirect("rollout", tenant.slug)


@require_POST
@tenant_view("webhooks")
def webhook_delete(request, tenant, webhook_id):
    hook = get_object_or_404(Webhook, tenant=tenant, pk=webhook_id)
    hook.delete()
    messages.success(request, f"Webhook removed: {hook.url}")
    return redirect("rollout", tenant.slug)


@require_POST
@tenant_view("webhooks")
def webhook_test(request, tenant, webhook_id):
    hook = get_object_or_404(Webhook, tenant=tenant, pk=webhook_id)
    payload = webhooks.payload_for(tenant, "test", f"test message sent by {request.user.get_username()}.")
    delivery = hook.deliveries.create(event="test", payload=payload, next_attempt_at=timezone.now())
    webhooks.queue(delivery)
    messages.success(request, "Test message queued; its delivery shows below.")
    return redirect("rollout", tenant.slug)
