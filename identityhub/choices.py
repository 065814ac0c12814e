"""Choices for forms and filters that cost nothing to copy and read with one plain query.

A Django form deep-copies its fields, and a django-filter FilterSet its filters, on every request:
the findings list's ~100 problems were copied twice per request, its ~130 options in all (issue 18).
A model choice field reads its queryset with `.iterator()`, which on PostgreSQL is a server-side
cursor: DECLARE, FETCH and CLOSE, three round trips for a tenant's one or two forests.
"""

import django_filters
from django.utils.choices import BaseChoiceIterator, normalize_choices
from django_filters.fields import ModelChoiceField, ModelChoiceIterator


class ConstantChoices(BaseChoiceIterator):
    """Choices fixed when the code loads, shared by every copy of the field or filter offering them."""

    def __init__(self, choices):
        self.choices = tuple(normalize_choices(choices))

    def __iter__(self):
        return iter(self.choices)

    def __len__(self):
        return len(self.choices)

    def __deepcopy__(self, memo):
        return self  # nothing to copy: never changed after it is made


class ListedModelChoiceIterator(ModelChoiceIterator):
    """django-filter's model choices (the empty and null choices first), from one plain query.

    The rows are kept on the field's queryset: a form lives for one request (a FilterSet copies its
    filters and the form its fields for each), and a page that shows the same rows elsewhere (the
    findings list's forest names) reads them from there instead of asking again."""

    def __iter__(self):
        field = self.field
        if field.empty_label is not None:
            yield ("", field.empty_label)
        if field.null_label is not None:
            yield (field.null_value, field.null_label)
        for obj in self.queryset:
            yield self.choice(obj)


class ListedModelChoiceField(ModelChoiceField):
    iterator = ListedModelChoiceIterator


class ListedModelChoiceFilter(django_filters.ModelChoiceFilter):
    """A ModelChoiceFilter for a short list (a tenant's forests, its users): no server-side cursor."""

    field_class = ListedModelChoiceField
