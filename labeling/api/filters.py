"""Query parameters of the API as django-filter FilterSets: typed, documented, and a bad value is a 400."""

from __future__ import annotations

import django_filters
from django.core.validators import validate_slug
from rest_framework.exceptions import ValidationError

from labeling.models import Adjudication, Assignment


class AssignmentFilter(django_filters.FilterSet):
    campaign = django_filters.CharFilter(field_name="campaign__slug", validators=[validate_slug],
                                         help_text="campaign slug")
    status = django_filters.ChoiceFilter(choices=Assignment.Status.choices)

    class Meta:
        model = Assignment
        fields = ["campaign", "status"]


class AdjudicationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=Adjudication.Status.choices, empty_label=None)

    class Meta:
        model = Adjudication
        fields = ["status"]


def checked(filterset_class, params, **defaults) -> dict:
    """The cleaned query parameters of a plain APIView, or a 400 naming the bad one.

    An empty value (`?status=`) counts as not given: the default applies.
    """
    data = {**defaults, **{k: v for k, v in params.items() if k in filterset_class.base_filters and v != ""}}
    fs = filterset_class(data=data)
    if not fs.is_valid():
        raise ValidationError(fs.errors)
    cleaned = {k: v for k, v in fs.form.cleaned_data.items() if v not in (None, "")}
    return {**defaults, **cleaned}
