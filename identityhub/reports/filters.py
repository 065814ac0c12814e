import django_filters
from django.db.models import Q

from identityhub.choices import ListedModelChoiceFilter
from identityhub.health.filters import ProvisioningErrorFilter
from identityhub.scans.models import DirectoryObject


class DirectoryObjectFilter(django_filters.FilterSet):
    """Filters of the objects export (the current picture): the same names as the findings list's."""

    q = django_filters.CharFilter(method="search", label="Search (DN)")
    forest = ListedModelChoiceFilter(queryset=None)
    object_class = django_filters.ChoiceFilter(
        choices=[(c, c) for c in ("user", "inetOrgPerson", "contact", "group")], label="Class"
    )
    ou = django_filters.CharFilter(method="in_ou", label="OU")

    class Meta:
        model = DirectoryObject
        fields = ["q", "forest", "object_class", "ou"]

    def __init__(self, data=None, *args, tenant, **kwargs):
        super().__init__(data, *args, **kwargs)
        self.filters["forest"].queryset = tenant.forests.all()

    def search(self, queryset, name, value):
        return queryset.filter(dn__icontains=value)

    def in_ou(self, queryset, name, value):
        return queryset.filter(Q(ou__iexact=value) | Q(ou__iendswith="," + value))


class ProvisioningErrorApiFilter(ProvisioningErrorFilter):
    """The health page's filters for the API, with `category` and `property` declared anew.

    drf-spectacular reads `filter.field` of the class's filters while building the schema, which
    caches a form field with the class-level (empty) choices; ProvisioningErrorFilter fills its
    choices per instance. Own Filter objects here keep that cache away from the health page's filter.
    """

    category = django_filters.ChoiceFilter(choices=[])
    property = django_filters.ChoiceFilter(choices=[])

    def __init__(self, data=None, queryset=None, **kwargs):
        super().__init__(data, queryset=queryset, **kwargs)
        for name in ("category", "property"):
            self.filters[name].__dict__.pop("_field", None)  # built from the per-instance choices instead
