import django_filters
from django.db.models import Q

from .models import ProvisioningError


class ProvisioningErrorFilter(django_filters.FilterSet):
    """Filters of the provisioning errors table; they live in the URL like the findings list's."""

    q = django_filters.CharFilter(method="search", label="Search")
    source = django_filters.ChoiceFilter(choices=ProvisioningError.Source.choices, label="Engine")
    category = django_filters.ChoiceFilter(choices=[])
    property = django_filters.ChoiceFilter(choices=[], label="Property or error code")
    object_type = django_filters.ChoiceFilter(
        choices=[("user", "user"), ("group", "group"), ("contact", "contact")], label="Object type"
    )

    class Meta:
        model = ProvisioningError
        fields = ["q", "source", "category", "property", "object_type"]

    def __init__(self, data=None, queryset=None, **kwargs):
        super().__init__(data, queryset=queryset, **kwargs)
        # Graph documents one category (PropertyConflict) and two properties today: offer what is there.
        for name in ("category", "property"):
            values = (
                sorted(set(queryset.order_by().values_list(name, flat=True)) - {""}) if queryset is not None else []
            )
            self.filters[name].extra["choices"] = [(v, v) for v in values]

    def search(self, queryset, name, value):
        return queryset.filter(
            Q(display_name__icontains=value)
            | Q(upn__icontains=value)
            | Q(value__icontains=value)
            | Q(matched_dn__icontains=value)
            | Q(source_dn__icontains=value)
        )
