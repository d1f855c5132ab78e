"""Query filters (django-filter) for the list endpoints.

``?category=``, ``?status=``, ``?auth_type=``, ``?provider=`` (a provider's id
or slug), ``?type=`` and ``?tag=`` (integrations carrying every tag given) as
each endpoint has them, and ``?ordering=`` with the
fields listed per endpoint (``-`` for descending, several comma separated). A
value that is not one of the listed choices is a 400 naming the parameter;
error messages never repeat the value.
"""

import uuid

import django_filters
from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field

from ..metadata_fields import MAX_TAGS, TAG_PATTERN, clean_tag
from ..models import AuditEvent, Credential, Integration, Provider
from .fields import RFC3339DateTimeFormField

_INVALID_CHOICE = {"invalid_choice": _("Select one of the available choices.")}


def _choice(choices, **kwargs):
    return django_filters.ChoiceFilter(choices=choices, error_messages=_INVALID_CHOICE, **kwargs)


def _ordering(*fields):
    return django_filters.OrderingFilter(
        fields=[(field, field) for field in fields],
        error_messages=_INVALID_CHOICE,
        help_text=f"Sort by {', '.join(fields)}; prefix '-' for descending.",
    )


class StrictFilterSet(django_filters.FilterSet):
    """A parameter with a closed set of values (a choice, an ordering, a
    date-time) may not be sent empty: ``?status=`` is a 400, not "no filter"."""

    NON_EMPTY = (
        django_filters.ChoiceFilter,
        django_filters.OrderingFilter,
        django_filters.IsoDateTimeFilter,
    )

    def get_form_class(self):
        base = super().get_form_class()
        strict = {
            name: isinstance(item, django_filters.filters.BaseCSVFilter)
            for name, item in self.filters.items()
            if isinstance(item, self.NON_EMPTY)
        }

        class Form(base):  # type: ignore[valid-type, misc]  # the filterset's own form class
            def clean(form):
                cleaned = super().clean()
                for name, is_csv in strict.items():
                    values = form.data.getlist(name) if name in form.data else []
                    if is_csv:
                        values = [part for value in values for part in value.split(",")]
                    if "" in values:
                        form.add_error(name, _("May not be empty."))
                return cleaned

        return Form


class RFC3339DateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = RFC3339DateTimeFormField


def _filter_provider(queryset, name, value, *, field="provider"):
    """``value`` is a provider's UUID or its slug."""
    try:
        return queryset.filter(Q(**{f"{field}__pk": uuid.UUID(value)}))
    except ValueError:
        return queryset.filter(**{f"{field}__slug": value})


class ProviderFilter(StrictFilterSet):
    category = _choice(Provider.Category.choices)
    status = _choice(Provider.Status.choices)
    auth_type = _choice(Provider.AuthType.choices)
    ordering = _ordering("name", "slug", "category", "created_at", "updated_at")

    class Meta:
        model = Provider
        fields = ["category", "status", "auth_type"]


class TagsWidget(forms.TextInput):
    """Every value of the parameter, empty ones included (they are refused)."""

    def value_from_datadict(self, data, files, name):
        return data.getlist(name) if hasattr(data, "getlist") else data.get(name)


class TagsFormField(forms.Field):
    """``?tag=a&tag=b`` (or ``?tag=a,b``): tags, each checked, at most MAX_TAGS."""

    widget = TagsWidget

    def to_python(self, value):
        if not value:
            return []
        if isinstance(value, str):
            value = [value]
        tags = [part for item in value for part in str(item).split(",")]
        if len(tags) > MAX_TAGS:
            raise forms.ValidationError(
                _("At most %(count)d tags.") % {"count": MAX_TAGS}, code="too_many_tags"
            )
        for tag in tags:
            clean_tag(tag)
        return list(dict.fromkeys(tags))


@extend_schema_field(
    {
        "type": "array",
        "items": {"type": "string", "pattern": f"^{TAG_PATTERN}$", "maxLength": 64},
        "maxItems": MAX_TAGS,
        "description": "Integrations carrying every tag given: repeat the parameter "
        "(?tag=a&tag=b) or separate the tags with commas.",
    }
)
class TagsFilter(django_filters.Filter):
    field_class = TagsFormField

    def filter(self, qs, value):
        for tag in value or ():
            qs = qs.filter(**{f"{self.field_name}__has_tag": tag})
        return qs


class IntegrationFilter(StrictFilterSet):
    status = _choice(Integration.Status.choices)
    tag = TagsFilter(field_name="tags")
    provider = django_filters.CharFilter(
        method="filter_provider", max_length=100, help_text="A provider's id or slug."
    )
    category = _choice(Provider.Category.choices, field_name="provider__category")
    auth_type = _choice(Provider.AuthType.choices, field_name="provider__auth_type")
    ordering = _ordering(
        "created_at", "updated_at", "expires_at", "last_refreshed_at", "label", "status"
    )

    class Meta:
        model = Integration
        fields = ["status", "provider", "category", "auth_type", "tag"]

    def filter_provider(self, queryset, name, value):
        return _filter_provider(queryset, name, value)


class CredentialFilter(StrictFilterSet):
    type = _choice(Credential.Type.choices, field_name="credential_type")
    provider = django_filters.CharFilter(
        method="filter_provider", max_length=100, help_text="A provider's id or slug."
    )
    category = _choice(Provider.Category.choices, field_name="provider__category")
    auth_type = _choice(Provider.AuthType.choices, field_name="provider__auth_type")
    ordering = _ordering("name", "created_at", "updated_at", "expires_at")

    class Meta:
        model = Credential
        fields = ["type", "provider", "category", "auth_type"]

    def filter_provider(self, queryset, name, value):
        return _filter_provider(queryset, name, value)


class AuditEventFilter(StrictFilterSet):
    action = _choice(AuditEvent.Action.choices)
    outcome = _choice(AuditEvent.Outcome.choices)
    target_type = django_filters.CharFilter(max_length=100)
    target_id = django_filters.CharFilter(max_length=64)
    created_after = RFC3339DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = RFC3339DateTimeFilter(field_name="created_at", lookup_expr="lt")
    ordering = _ordering("created_at", "action")

    class Meta:
        model = AuditEvent
        fields = ["action", "outcome", "target_type", "target_id"]
