"""An admin mixin for any project's model with sealed fields.

``class MyAdmin(SealedFieldsAdminMixin, admin.ModelAdmin)`` adds, whatever the
model (any primary key type, proxy models, models without timestamps):

* **Status columns**, one per sealed field, computed from the stored header alone
  (:mod:`integrations.sealed.status`): nothing is ever decrypted to draw a page.
  Added automatically while ``list_display`` is Django's default; a project that
  lists its own columns places them with :func:`sealed_status_column`.
* **The "Re-seal selected with the primary key" action**, the engine of
  ``rotate_keys``/``encrypt_legacy`` limited to the selected rows. Rows it cannot
  open are named, never shown. It sends
  :data:`integrations.sealed.resealing.reseal_action_finished` so whoever keeps
  an audit log can record it (this layer keeps none).
* **No filtering by a secret.** ``?<field>=<guess>`` (or ``__in``, on the
  sealed column, its ``<field>_sealed`` attname or a searchable field's
  ``<field>_bidx`` index, directly or through a relation) is refused like any
  lookup Django disallows (``DisallowedModelAdminLookup``: a 400): otherwise a
  staff user with view permission could learn which rows hold a guessed secret,
  unscoped and unaudited. Only ``__isnull`` stays (the status columns show it
  anyway). Finding a row by its secret is a service call, scoped and audited
  (``credentials.find_by_secret``). :class:`SealedLookupsAdminMixin` is this
  rule alone, for admins of models without sealed fields of their own.
* **Safe writes.** The sealed fields' form fields are write-only already
  (:mod:`integrations.sealed.formfields`); the mixin hides the sealed inputs from
  error reports (``sensitive_post_parameters``) and saves a change with
  ``update_fields``: the columns the form (or ``save_model``) changed plus
  ``auto_now`` ones. A sealed column left untouched is never rewritten from the
  copy loaded with the form, so a token refreshed meanwhile is not overwritten
  and a legacy plaintext value is left for ``encrypt_legacy``.
"""

import copy
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.core.exceptions import FieldDoesNotExist
from django.db.models.constants import LOOKUP_SEP
from django.utils.translation import gettext_lazy as _
from django.views.decorators.debug import sensitive_post_parameters

from . import resealing
from .blind_index import BlindIndexField
from .conf import app_settings
from .fields import EncryptedJSONField, EncryptedTokenField
from .status import sealed_status

__all__ = [
    "SealedFieldsAdminMixin",
    "SealedLookupsAdminMixin",
    "lookup_reaches_sealed_column",
    "sealed_status_column",
]

_SEALED_FIELD_TYPES = (EncryptedTokenField, EncryptedJSONField)
# Django's default list_display: the mixin adds its columns only to that.
_DEFAULT_LIST_DISPLAY = ("__str__",)
# Where the change view keeps what the object held when it was loaded.
_LOADED = "_sealed_admin_loaded"


def model_sealed_fields(model):
    """Every sealed field a row of ``model`` has, inherited ones included (the
    engine's ``sealed_fields`` lists a table's own: none for a proxy)."""
    return [f for f in model._meta.concrete_fields if isinstance(f, _SEALED_FIELD_TYPES)]


# Columns that hold a secret, or something derived from one.
_SECRET_COLUMN_TYPES = (*_SEALED_FIELD_TYPES, BlindIndexField)
# What is left on them: whether a value is set, as the status columns show
# (``isempty`` is the parameter of Django's EmptyFieldListFilter).
_HARMLESS_LOOKUPS = frozenset({"isnull", "isempty"})


def lookup_reaches_sealed_column(model, lookup: str) -> bool:
    """Whether the query-string lookup ``lookup`` compares a sealed column.

    Follows the lookup through relations as the ORM does (``owner__credentials__
    lookup_secret__in``), recognising a sealed field by its name or its attname
    (``<name>_sealed``) and a searchable field's index column (``<name>_bidx``).
    ``<column>__isnull`` (and ``__isempty``) compare nothing secret and are let through.
    """
    parts = lookup.split(LOOKUP_SEP)
    opts = model._meta
    for position, part in enumerate(parts):
        try:
            field = opts.get_field(part)  # names and attnames alike
        except FieldDoesNotExist:
            return False  # the rest are transforms/lookups, or Django ignores it
        if isinstance(field, _SECRET_COLUMN_TYPES):
            rest = parts[position + 1 :]
            return not (len(rest) == 1 and rest[0] in _HARMLESS_LOOKUPS)
        path_infos = getattr(field, "path_infos", None)
        if not path_infos:
            return False
        opts = path_infos[-1].to_opts
    return False


def sealed_status_column(field_name, description=None):
    """A ``list_display``/``readonly_fields`` entry: the status of one sealed field.

    Reads the stored sealed string (``<field>_sealed``) only: "Not set",
    "Sealed (key vN)" (noting a key that is not the primary or not configured),
    "Legacy plaintext" or "Damaged sealed value".
    """

    @admin.display(description=description or _("%(field)s status") % {"field": field_name})
    def status(obj):
        field = obj._meta.get_field(field_name)
        return sealed_status(getattr(obj, field.attname))

    status.__name__ = f"{field_name}_status"
    return status


if TYPE_CHECKING:
    _AdminBase = admin.ModelAdmin[Any]  # what the mixin is mixed into, so super() type-checks
else:
    _AdminBase = object


class SealedLookupsAdminMixin(_AdminBase):
    """Refuses query-string filters on sealed and blind-index columns.

    Part of :class:`SealedFieldsAdminMixin`; on its own for an admin whose model
    has no sealed field but relations to models that do (an audit log's actor).
    """

    def lookup_allowed(self, lookup, value, request):
        # Django 5.2 and 6.x both call it with the request (positional).
        if lookup_reaches_sealed_column(self.model, lookup):
            return False
        return super().lookup_allowed(lookup, value, request)


class SealedFieldsAdminMixin(SealedLookupsAdminMixin):
    """Status columns, the re-seal action, no filtering by a secret and safe
    writes for sealed fields.

    Put it before ``admin.ModelAdmin`` in the bases. See the module docstring.
    """

    actions: Any = ["reseal_with_primary_key"]
    # Other POST parameters that carry secrets (inputs the project's form adds).
    sensitive_post_parameter_names: tuple[str, ...] = ()

    # -- status columns ---------------------------------------------------------

    def sealed_status_columns(self):
        """One status column per sealed field of the model, in field order."""
        return [
            sealed_status_column(f.name, f.verbose_name) for f in model_sealed_fields(self.model)
        ]

    def get_list_display(self, request):
        list_display = super().get_list_display(request)
        if tuple(list_display) == _DEFAULT_LIST_DISPLAY:
            return (*list_display, *self.sealed_status_columns())
        return list_display

    # -- the re-seal action -----------------------------------------------------

    @admin.action(description=_("Re-seal selected with the primary key"), permissions=["change"])
    def reseal_with_primary_key(self, request, queryset):
        """Re-seal old-key and legacy plaintext values of the selected rows."""
        pks = list(queryset.values_list("pk", flat=True))
        reports = [
            resealing.reseal_field(sealed_field.model, sealed_field, mode=mode, pks=pks)
            for sealed_field in model_sealed_fields(self.model)
            for mode in (resealing.ROTATE, resealing.LEGACY)
        ]
        resealing.reseal_action_finished.send(
            sender=self.model, request=request, pks=pks, reports=reports
        )
        self.message_user(
            request,
            _("%(count)d value(s) re-sealed with key version %(version)d.")
            % {
                "count": sum(r.resealed for r in reports),
                "version": app_settings.keyring.primary_version,
            },
        )
        unreadable = [
            f"{r.field} pk={item.pk} ({item.error})" for r in reports for item in r.unreadable
        ]
        if unreadable:
            self.message_user(
                request,
                _("Could not open: %(rows)s") % {"rows": "; ".join(unreadable)},
                level="error",
            )

    # -- keeping inputs out of error reports -----------------------------------

    def sensitive_post_parameters_for(self, request):
        """The POST parameters an error report must not show: the sealed inputs
        (all parameters when an inline edits sealed fields: their names are
        prefixed per form)."""
        if any(model_sealed_fields(inline.model) for inline in self.inlines):
            return ()
        return (
            *(f.name for f in model_sealed_fields(self.model)),
            *self.sensitive_post_parameter_names,
        )

    def _hiding_sealed_inputs(self, view, request, *args, **kwargs):
        names = self.sensitive_post_parameters_for(request)
        return sensitive_post_parameters(*names)(view)(request, *args, **kwargs)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        return self._hiding_sealed_inputs(
            super().changeform_view, request, object_id, form_url, extra_context
        )

    def changelist_view(self, request, extra_context=None):
        # list_editable may hold sealed inputs.
        return self._hiding_sealed_inputs(super().changelist_view, request, extra_context)

    # -- writing only what changed ----------------------------------------------

    def get_object(self, request, object_id, from_field=None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            # What the instance holds (a sealed field: the stored sealed string).
            setattr(
                obj,
                _LOADED,
                {
                    f.attname: copy.deepcopy(obj.__dict__.get(f.attname))
                    for f in obj._meta.concrete_fields
                },
            )
        return obj

    def fields_to_save(self, obj, form):
        """The columns a change writes: changed by the form or since loading
        (``save_model`` overrides), plus ``auto_now`` ones; never the primary key."""
        loaded = getattr(obj, _LOADED, None)
        changed = set(form.changed_data)
        names = []
        for field in obj._meta.concrete_fields:
            if field.primary_key or getattr(field, "generated", False):
                continue
            touched = (
                field.name in changed
                or getattr(field, "auto_now", False)
                or (
                    loaded is not None
                    and loaded.get(field.attname) != obj.__dict__.get(field.attname)
                )
            )
            if touched:
                names.append(field.name)
        return names

    def save_model(self, request, obj, form, change):
        if change:
            obj.save(update_fields=self.fields_to_save(obj, form))
        else:
            obj.save()
