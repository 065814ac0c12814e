"""Dates and durations as every page shows them: one format, compact in tables, humane durations."""

import re
from datetime import date, datetime, timedelta
from functools import lru_cache

from django import template
from django.template.defaultfilters import date as date_filter
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()


_BREAK_AFTER = re.compile(r"([@.,=_/;-])")


@register.filter
def soft_breaks(value) -> str:
    """Escaped text that may wrap after @ . , = _ / ; - (a long address or DN breaks between its
    parts, not mid-word)."""
    return mark_safe(_BREAK_AFTER.sub(r"\1<wbr>", escape(value or "")))  # noqa: S308 - escaped first


@register.filter
def when_short(value):
    """A compact date for a table cell, the full one on hover: "14:05" today, "29 Nov" this year,
    "29 Nov 2025" before; the same wording on every page."""
    if not isinstance(value, datetime):
        return value or ""
    local, today = timezone.localtime(value), timezone.localdate()
    title, shown = _day_texts(local.date(), today.year, translation.get_language())
    if local.date() == today:
        shown = f"{local:%H:%M}"  # the date filter's "H:i"
    # An ISO time has no character to escape.
    return mark_safe(f'<time datetime="{local.isoformat()}" title="{title}">{shown}</time>')  # noqa: S308


@lru_cache(maxsize=1024)
def _day_texts(day: date, this_year: int, language: str | None) -> tuple[str, str]:
    """A day's full date and its compact one (without the year this year), escaped: the date filter
    took ~10 µs a call, three calls per when_short (a rollout page makes 60 and more)."""
    shown = date_filter(day, "j M" if day.year == this_year else "j M Y")
    return escape(date_filter(day)), escape(shown)


@register.filter
def duration(value) -> str:
    """A humane duration: "0.4 s", "12 s", "3 min 5 s", "2 h 10 min", "3 days 4 h"."""
    if value is None or value == "":
        return ""
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if seconds < 10:
        return f"{seconds:.1f} s"
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} day{'s' if days != 1 else ''} {hours} h" if hours else f"{days} day{'s' if days != 1 else ''}"


# The tenant's sections, in the order of the tenant bar; each lists the URL names that belong to it,
# so the bar marks the current section on every page below it (an object page is under Findings).
TENANT_SECTIONS = [
    ("Overview", "tenant-detail", {"tenant-detail", "forest-create", "forest-edit"}, None),
    ("Findings", "finding-list", {"finding-list", "object-detail", "bulk-preview"}, None),
    ("Scans", "scan-list", {"scan-list", "scan-detail"}, None),
    ("Sync health", "health", {"health", "health-connection"}, None),
    ("Rollout", "rollout", {"rollout", "rollout-settings"}, None),
    ("Changes", "change-list", {"change-list", "planned-list"}, None),
    ("Bulk runs", "apply-run-list", {"apply-run-list", "apply-run"}, None),
    ("Exceptions", "waiver-list", {"waiver-list"}, None),
    ("Reports", "reports", {"reports", "export-job"}, "export"),
]


@register.inclusion_tag("includes/tenant_nav.html", takes_context=True)
def tenant_nav(context, tenant):
    request = context["request"]
    match = getattr(request, "resolver_match", None)
    current = match.url_name if match else ""
    permissions = getattr(request, "tenant_permissions", ())
    items = [
        {"label": label, "url": reverse(name, args=[tenant.slug]), "current": current in names}
        for label, name, names, needs in TENANT_SECTIONS
        if needs is None or needs in permissions
    ]
    return {"tenant": tenant, "items": items}
