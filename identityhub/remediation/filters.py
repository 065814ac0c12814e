"""Filters of the change log and the exceptions list; they live in the URL, so exports see the same rows."""

import json

import django_filters
from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone

from identityhub.choices import ListedModelChoiceFilter

from .models import Change, Waiver


class ChangeFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search (DN or value)")
    action = django_filters.ChoiceFilter(choices=Change.Action.choices, empty_label="Any action")
    result = django_filters.ChoiceFilter(choices=Change.Result.choices, empty_label="Any result")
    attribute = django_filters.CharFilter(lookup_expr="iexact")
    forest = ListedModelChoiceFilter(queryset=None, empty_label="Any forest")
    user = ListedModelChoiceFilter(field_name="requested_by", queryset=None, label="User", empty_label="Anyone")
    date = django_filters.DateFromToRangeFilter(
        field_name="created",
        label="Date (from, to)",
        widget=django_filters.widgets.DateRangeWidget(attrs={"type": "date"}),
    )

    class Meta:
        model = Change
        fields = ["q", "action", "result", "attribute", "forest", "user", "date"]

    def __init__(self, data=None, *args, tenant, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.filters["forest"].queryset = tenant.forests.without_secrets()
        # Members of the tenant, and anyone who ever requested one of its changes (a former member).
        requesters = Change.objects.filter(tenant=tenant).values("requested_by")
        users = get_user_model().objects.filter(Q(memberships__tenant=tenant) | Q(pk__in=requesters))
        self.filters["user"].queryset = users.distinct().order_by("username")

    def search(self, queryset, name, value):
        # Values are JSON lists. SQLite stores non-ASCII as \uXXXX escapes (whose case LIKE cannot fold),
        # PostgreSQL as the characters: look for every spelling.
        spellings = {value} | {json.dumps(v)[1:-1] for v in (value, value.lower(), value.upper())}
        match = Q(dn__icontains=value)
        for spelling in spellings:
            match |= Q(old_values__icontains=spelling) | Q(new_values__icontains=spelling)
        return queryset.filter(match)


ACTIVE, EXPIRED = "active", "expired"


class WaiverFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(method="search", label="Search (DN, value or reason)")
    state = django_filters.ChoiceFilter(
        choices=[(ACTIVE, "In force"), (EXPIRED, "Expired")], method="by_state", empty_label="Any", label="State"
    )

    class Meta:
        model = Waiver
        fields = ["q", "state"]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(finding__dn__icontains=value) | Q(finding__value__icontains=value) | Q(justification__icontains=value)
        )

    def by_state(self, queryset, name, value):
        today = timezone.localdate()
        return queryset.filter(expires_on__gt=today) if value == ACTIVE else queryset.filter(expires_on__lte=today)
