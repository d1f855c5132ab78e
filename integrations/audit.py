"""Writing the audit log. Only the service layer calls this.

An event names the actor, the action, the target (type, id and a non-secret
label), the stated purpose, the outcome and the request's IP address. Nothing
here accepts a secret: ``detail`` is for error codes such as ``invalid_grant``.
"""

from .models import AuditEvent

SYSTEM = "system"


def record(action, *, actor=None, target=None, purpose="", outcome=AuditEvent.Outcome.SUCCESS,
           detail="", ip_address=None, target_type=None, target_id=None):
    """Append one event and return it.

    ``target`` is a model instance; ``target_type``/``target_id`` describe a
    target that cannot be loaded (an id that does not exist or is not yours).
    """
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
        target_label = str(getattr(target, "audit_label", None) or target)[:255]
    else:
        target_label = ""
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    return AuditEvent.objects.create(
        action=action,
        actor=actor if authenticated else None,
        actor_label=actor.get_username()[:150] if authenticated else SYSTEM,
        target_type=target_type or "",
        target_id=str(target_id or "")[:64],
        target_label=target_label,
        purpose=purpose[:255],
        outcome=outcome,
        detail=detail[:255],
        ip_address=ip_address,
    )
