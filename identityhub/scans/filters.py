import django_filters
from django.db.models import Q

from identityhub.choices import ConstantChoices, ListedModelChoiceFilter
from identityhub.lib import rules
from identityhub.widgets import LeanSelect, LeanTextInput

from .models import Finding, Severity

ERROR_TYPES = sorted({rule.error for rule in rules.RULES.values()})
UNRESOLVED = "unresolved"


class FindingFilter(django_filters.FilterSet):
    """The findings list's filters; they live in the URL, so a filtered view can be shared and exported."""

    q = django_filters.CharFilter(method="search", label="Search", widget=LeanTextInput)
    status = django_filters.ChoiceFilter(
        choices=ConstantChoices([*Finding.Status.choices, (UNRESOLVED, "Not resolved (open, accepted, excepted)")]),
        method="by_status",
        empty_label="Any status",
        widget=LeanSelect,
    )
    severity = django_filters.ChoiceFilter(choices=ConstantChoices(Severity.choices), widget=LeanSelect)
    rule = django_filters.ChoiceFilter(
        label="Problem",
        choices=ConstantChoices(
            sorted(((code, f"{rule.title} ({code})") for code, rule in rules.RULES.items()), key=lambda c: c[1])
        ),
        widget=LeanSelect,  # ~100 options on every request of the list: not a template each (issue 18)
    )
    error = django_filters.ChoiceFilter(
        choices=ConstantChoices((e, e) for e in ERROR_TYPES), label="Error type", widget=LeanSelect
    )
    attribute = django_filters.CharFilter(lookup_expr="iexact", widget=LeanTextInput)
    forest = ListedModelChoiceFilter(queryset=None, widget=LeanSelect)
    ou = django_filters.CharFilter(method="in_ou", label="OU", widget=LeanTextInput)
    reverted = django_filters.BooleanFilter(
        field_name="reverted_fixes", lookup_expr="isnull", exclude=True, label="Fix undone in AD", distinct=True,
        widget=LeanSelect(choices=[("", "Any"), ("true", "Yes"), ("false", "No")]),  # not "Unknown"
    )  # fmt: skip
    object_class = django_filters.ChoiceFilter(
        choices=ConstantChoices((c, c) for c in ("user", "inetOrgPerson", "contact", "group")),
        label="Class",
        widget=LeanSelect,
    )

    class Meta:
        model = Finding
        fields = ["q", "status", "severity", "rule", "error", "attribute", "forest", "ou", "object_class", "reverted"]

    def __init__(self, data=None, *args, tenant, **kwargs):
        # Open findings unless the user asks otherwise (Finding.objects.open(): what every count counts).
        if data is not None and "status" not in data:
            data = data.copy()
            data["status"] = Finding.Status.OPEN
        super().__init__(data, *args, **kwargs)
        self.filters["forest"].queryset = tenant.forests.without_secrets()  # named, not decrypted

    @property
    def forests(self) -> list:
        """The tenant's forests, by name: the rows the forest filter offers, read once for the page."""
        return list(self.form.fields["forest"].queryset)

    def search(self, queryset, name, value):
        return queryset.filter(Q(dn__icontains=value) | Q(value__icontains=value) | Q(suggestion__icontains=value))

    def by_status(self, queryset, name, value):
        if value == UNRESOLVED:
            return queryset.unresolved()
        return queryset.open() if value == Finding.Status.OPEN else queryset.filter(status=value)

    def in_ou(self, queryset, name, value):
        # An OU matches itself and everything below it.
        return queryset.filter(Q(ou__iexact=value) | Q(ou__iendswith="," + value))
