"""Who may do what through the API.

* Everyone signed in reads providers; changing them takes a staff user with the
  model permission the admin would ask for (``integrations.add_provider`` ...).
* Integrations and credentials are their owner's alone. The viewsets' querysets
  are scoped to the owner first, so another user's id answers 404 — the object
  is never found, so its existence is not confirmed. :class:`IsOwner` is the
  second lock, for any code path that finds an object another way.
* Audit events: a user reads the events about themselves (as actor) and about
  their own integrations and credentials; reading everyone's takes a staff user
  with ``integrations.view_auditevent``, as the admin asks (``is_staff`` alone
  is not enough).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission


def _signed_in(request):
    user = getattr(request, "user", None)
    return bool(user and user.is_authenticated)


class IsStaffOrReadOnly(BasePermission):
    """Reads for anyone signed in; writes for staff holding the model permission."""

    perms_map = {
        "POST": "add",
        "PUT": "change",
        "PATCH": "change",
        "DELETE": "delete",
    }

    def has_permission(self, request, view):
        if not _signed_in(request):
            return False
        if request.method in SAFE_METHODS:
            return True
        if not request.user.is_staff:
            return False
        action = self.perms_map.get(request.method)
        if action is None:
            return False
        model = view.get_queryset().model
        return request.user.has_perm(f"{model._meta.app_label}.{action}_{model._meta.model_name}")


class IsOwner(BasePermission):
    """Object level: only the owner reaches an integration or a credential."""

    def has_permission(self, request, view):
        return _signed_in(request)

    def has_object_permission(self, request, view, obj):
        return obj.owner_id == request.user.pk


def reads_every_audit_event(user):
    """Whether ``user`` may read the whole audit log, not only their own part."""
    return bool(user.is_staff and user.has_perm("integrations.view_auditevent"))


class CanReadAuditEvent(BasePermission):
    """Read only; staff with the view permission see every event, others
    those in their scope."""

    def has_permission(self, request, view):
        return _signed_in(request) and request.method in SAFE_METHODS

    def has_object_permission(self, request, view, obj):
        if reads_every_audit_event(request.user):
            return True
        # The viewset's queryset already holds only this user's events.
        return view.get_queryset().filter(pk=obj.pk).exists()
