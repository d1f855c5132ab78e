"""Writing the audit log. Only the service layer calls this.

An event names the actor, the action, the target (type, id and a non-secret
label), the stated purpose, the outcome and the request's IP address. Nothing
here accepts a secret: ``detail`` is for error codes such as ``invalid_grant``.
"""

from .models import AuditEvent

SYSTEM = "system"


def record(action, **kwargs):
    """Append one event and return it (arguments: see :func:`build`)."""
    event = build(action, **kwargs)
    event.save()
    return event


def build(
    action,
    *,
    actor=None,
    target=None,
    purpose="",
    outcome=AuditEvent.Outcome.SUCCESS,
    detail="",
    ip_address=None,
    target_type=None,
    target_id=None,
    target_label="",
    actor_label=None,
):
    """One event, not saved yet (:func:`record` saves it).

    ``target`` is a model instance; ``target_type``/``target_id`` describe a
    target that cannot be loaded (an id that does not exist or is not yours).
    ``actor_label`` names an actor that is not a user (a command's operator).
    """
    if target is not None:
        target_type = target._meta.label_lower
        target_id = str(target.pk)
        target_label = str(getattr(target, "audit_label", None) or target)[:255]
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    if authenticated:
        actor_label = actor.get_username()
    return AuditEvent(
        action=action,
        actor=actor if authenticated else None,
        actor_label=(actor_label or SYSTEM)[:150],
        target_type=target_type or "",
        target_id=str(target_id or "")[:64],
        target_label=target_label[:255],
        purpose=purpose[:255],
        outcome=outcome,
        detail=detail[:255],
        ip_address=ip_address,
    )


_INSERT_TEMPLATES: dict[str, tuple[str, str]] = {}


def insert_sql(event, connection):
    """``(columns, values)`` SQL with parameters that insert ``event``: for a
    statement that appends the event in the same round trip as other work
    (see ``tokens.get_valid_token``). Each value is cast to its column's type."""
    template = _INSERT_TEMPLATES.get(connection.alias)
    if template is None:
        fields = AuditEvent._meta.concrete_fields
        template = (
            ", ".join(connection.ops.quote_name(field.column) for field in fields),
            ", ".join(f"%s::{field.db_type(connection)}" for field in fields),
        )
        _INSERT_TEMPLATES[connection.alias] = template
    params = [
        field.get_db_prep_save(field.pre_save(event, True), connection)
        for field in AuditEvent._meta.concrete_fields
    ]
    return template[0], template[1], params


def _limited(parts, limit=255):
    """``parts`` joined by ", ", cut at a whole part with a "+N more" tail."""
    text = ""
    for index, part in enumerate(parts):
        candidate = f"{text}, {part}" if text else part
        rest = len(parts) - index - 1
        tail = f", +{rest} more" if rest else ""
        if len(candidate) + len(tail) > limit:
            return f"{text}, +{len(parts) - index} more" if text else f"+{len(parts)} more"
        text = candidate
    return text


def record_reseal_run(
    sender, *, command, initiator, reports, dry_run, completed, stopped_by="", **kwargs
):
    """One event per run of rotate_keys / encrypt_legacy: who, which columns, counts.

    Connected to :data:`integrations.sealed.resealing.reseal_run_finished` by the app
    config. The counts are the run's report, never a value; ``stopped_by`` names
    what stopped an unfinished run (an error's type, or "interrupted").
    """
    unreadable = sum(len(r.unreadable) for r in reports)
    counts = (
        f"{'dry run: ' if dry_run else ''}{sum(r.resealed for r in reports)} "
        f"{'would be ' if dry_run else ''}re-sealed, {sum(r.current for r in reports)} current, "
        f"{sum(r.plaintext for r in reports)} plaintext, "
        f"{sum(r.changed for r in reports)} changed, "
        f"{sum(r.remaining for r in reports)} remaining, {unreadable} unreadable"
        f"{'' if completed else '; stopped before the end'}"
        f"{f' ({stopped_by})' if stopped_by and not completed else ''}"
    )
    record(
        AuditEvent.Action.RESEAL,
        actor_label=initiator,
        target_type="sealed_columns",
        target_label=_limited([f"{r.model}.{r.field}" for r in reports]) or "(none)",
        purpose=command,
        outcome=(
            AuditEvent.Outcome.SUCCESS
            if completed and not unreadable
            else AuditEvent.Outcome.FAILURE
        ),
        detail=counts,
    )


def record_reseal_action(sender, *, request, pks, reports, **kwargs):
    """One event per "Re-seal selected" admin action, on any model's admin.

    Connected to :data:`integrations.sealed.resealing.reseal_action_finished` by
    the app config: the staff user, their IP address, the model and the counts.
    """
    resealed = sum(r.resealed for r in reports)
    unreadable = sum(len(r.unreadable) for r in reports)
    record(
        AuditEvent.Action.RESEAL,
        actor=request.user,
        target_type=sender._meta.label_lower,
        outcome=AuditEvent.Outcome.FAILURE if unreadable else AuditEvent.Outcome.SUCCESS,
        detail=f"admin: {resealed} value(s) re-sealed in {len(pks)} row(s)"
        f"{f', {unreadable} unreadable' if unreadable else ''}",
        ip_address=request.META.get("REMOTE_ADDR") or None,
    )
