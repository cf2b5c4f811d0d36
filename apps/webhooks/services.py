"""Webhook writes: managing endpoints (audited), emitting events, and delivering them.

Emitting records one event and one delivery per subscribed active endpoint, and queues the
deliveries on commit: an event emitted in a transaction that rolls back sends nothing. A
delivery is tried at most `WEBHOOKS_MAX_ATTEMPTS` times with exponential backoff and jitter;
each try is claimed under a row lock with its attempt number, so a duplicate task neither posts
twice nor re-sends what was delivered. After `WEBHOOKS_DISABLE_AFTER_FAILURES` deliveries in a
row fail for good, the endpoint is disabled and the organisation's admins get an email.
"""

import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from apps.audit.services import audit_record
from apps.core.emails import render_subject
from apps.core.errors import NotFound, ValidationFailed
from apps.organizations.models import Organization, Role
from apps.organizations.permissions import Action, Principal, require

from . import guard, transport
from .models import (
    TEST_EVENT,
    DeliveryStatus,
    DisabledReason,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)

log = logging.getLogger(__name__)

SECRET_PREFIX = "whsec_"  # noqa: S105 - a label, not a secret
MAX_ENDPOINTS = 20
SIGNATURE_VERSION = "v1"
USER_AGENT = "CX-Platform-Webhooks/1"
# How long a claimed attempt may take before the sweeper may assume its worker died.
_LEASE_MARGIN = timedelta(seconds=60)


# --- signing ----------------------------------------------------------------------------------


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)  # 256 random bits


def signature(secret: str, timestamp: int | str, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of "<timestamp>.<body>">` keyed with the endpoint's secret."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def envelope_body(
    *, event_id: uuid.UUID, event: str, created: datetime, organization_slug: str, data: dict
) -> str:
    """The stable JSON envelope: {id, type, created, organization, data}, keys sorted."""
    envelope = {
        "id": str(event_id),
        "type": event,
        "created": created.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "organization": organization_slug,
        "data": data,
    }
    return json.dumps(envelope, cls=DjangoJSONEncoder, sort_keys=True, separators=(",", ":"))


# --- managing endpoints -----------------------------------------------------------------------


def _endpoints(organization: Organization | int) -> Any:
    return WebhookEndpoint.objects.for_organization(organization)


def _validate(
    *,
    url: str | None,
    events: Any,
    description: str | None,
    fields: dict[str, list[str]],
) -> dict[str, Any]:
    clean: dict[str, Any] = {}
    if url is not None:
        try:
            clean["url"] = guard.url_check(url)
        except guard.UnsafeUrl as exc:
            fields["url"] = [str(exc)]
    if events is not None:
        if isinstance(events, str) or not isinstance(events, Iterable):
            fields["events"] = ["Give a list of events."]
        else:
            names = [str(e).strip() for e in events]
            unknown = sorted({n for n in names if n not in EventType.values})
            if unknown:
                fields["events"] = [
                    f"Unknown event: {', '.join(unknown)}. Choose from: "
                    f"{', '.join(EventType.values)}."
                ]
            elif not names:
                fields["events"] = ["Choose at least one event."]
            else:
                clean["events"] = [e for e in EventType.values if e in names]
    if description is not None:
        description = description.strip()
        if len(description) > 200:
            fields["description"] = ["At most 200 characters."]
        clean["description"] = description
    return clean


def _raise(fields: dict[str, list[str]]) -> None:
    if fields:
        raise ValidationFailed(
            f"Invalid webhook endpoint: {', '.join(sorted(fields))}.", fields=fields
        )


@transaction.atomic
def webhook_endpoint_create(
    *,
    organization: Organization,
    actor: Principal,
    url: str,
    events: Any,
    description: str = "",
    ip_address: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Create an endpoint; returns it with its secret (shown to the person once)."""
    require(actor, Action.WEBHOOKS_MANAGE, organization)
    fields: dict[str, list[str]] = {}
    clean = _validate(url=url, events=events, description=description or "", fields=fields)
    _raise(fields)
    if _endpoints(organization).count() >= MAX_ENDPOINTS:
        raise ValidationFailed(
            f"An organisation can have at most {MAX_ENDPOINTS} webhook endpoints.",
            fields={"url": [f"At most {MAX_ENDPOINTS} endpoints: delete one first."]},
        )
    secret = new_secret()
    endpoint = WebhookEndpoint.objects.create(
        organization=organization, secret=secret, created_by=actor.user, **clean
    )
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook.created",
        target=endpoint,
        data={"url": endpoint.url, "events": endpoint.events},
        ip_address=ip_address,
    )
    return endpoint, secret


def _locked(organization: Organization, endpoint_id: int) -> WebhookEndpoint:
    endpoint = _endpoints(organization).select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


@transaction.atomic
def webhook_endpoint_update(
    *,
    organization: Organization,
    actor: Principal,
    endpoint_id: int,
    url: str | None = None,
    events: Any = None,
    description: str | None = None,
    is_active: bool | None = None,
    ip_address: str | None = None,
) -> WebhookEndpoint:
    """Change the URL, events or description; `is_active` disables or re-enables."""
    require(actor, Action.WEBHOOKS_MANAGE, organization)
    endpoint = _locked(organization, endpoint_id)
    fields: dict[str, list[str]] = {}
    clean = _validate(url=url, events=events, description=description, fields=fields)
    _raise(fields)
    changes = {
        name: [getattr(endpoint, name), value]
        for name, value in clean.items()
        if getattr(endpoint, name) != value
    }
    for name, (_old, value) in changes.items():
        setattr(endpoint, name, value)
    if changes:
        endpoint.save()
        audit_record(
            organization=organization,
            actor=actor,
            action="webhook.updated",
            target=endpoint,
            data={"changes": changes},
            ip_address=ip_address,
        )
    if is_active is not None and bool(is_active) != endpoint.is_active:
        _set_active(organization, actor, endpoint, bool(is_active), ip_address)
    return endpoint


def _set_active(
    organization: Organization,
    actor: Principal | None,
    endpoint: WebhookEndpoint,
    active: bool,
    ip_address: str | None,
    reason: str = DisabledReason.MANUAL,
) -> None:
    endpoint.is_active = active
    endpoint.consecutive_failures = 0 if active else endpoint.consecutive_failures
    endpoint.disabled_at = None if active else timezone.now()
    endpoint.disabled_reason = DisabledReason.NONE if active else reason
    endpoint.save(
        update_fields=[
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "updated_at",
        ]
    )
    data: dict[str, Any] = {"url": endpoint.url}
    if not active:
        data["reason"] = reason
        if reason == DisabledReason.FAILURES:
            data["consecutive_failures"] = endpoint.consecutive_failures
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook.enabled" if active else "webhook.disabled",
        target=endpoint,
        data=data,
        ip_address=ip_address,
    )


@transaction.atomic
def webhook_endpoint_set_active(
    *,
    organization: Organization,
    actor: Principal,
    endpoint_id: int,
    active: bool,
    ip_address: str | None = None,
) -> WebhookEndpoint:
    """Disable, or re-enable (which starts the failure count again from zero)."""
    require(actor, Action.WEBHOOKS_MANAGE, organization)
    endpoint = _locked(organization, endpoint_id)
    if endpoint.is_active != active:
        _set_active(organization, actor, endpoint, active, ip_address)
    return endpoint


@transaction.atomic
def webhook_endpoint_delete(
    *,
    organization: Organization,
    actor: Principal,
    endpoint_id: int,
    ip_address: str | None = None,
) -> None:
    require(actor, Action.WEBHOOKS_MANAGE, organization)
    endpoint = _locked(organization, endpoint_id)
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook.deleted",
        target=endpoint,
        data={"url": endpoint.url, "events": endpoint.events},
        ip_address=ip_address,
    )
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_rotate_secret(
    *,
    organization: Organization,
    actor: Principal,
    endpoint_id: int,
    ip_address: str | None = None,
) -> tuple[WebhookEndpoint, str]:
    """A new secret, effective at once for every delivery not yet posted."""
    require(actor, Action.WEBHOOKS_MANAGE, organization)
    endpoint = _locked(organization, endpoint_id)
    secret = new_secret()
    endpoint.secret = secret
    endpoint.secret_rotated_at = timezone.now()
    endpoint.save(update_fields=["secret", "secret_rotated_at", "updated_at"])
    audit_record(
        organization=organization,
        actor=actor,
        action="webhook.secret_rotated",
        target=endpoint,
        data={"url": endpoint.url},
        ip_address=ip_address,
    )
    return endpoint, secret


@transaction.atomic
def webhook_endpoint_send_test(
    *,
    organization: Organization,
    actor: Principal,
    endpoint_id: int,
    ip_address: str | None = None,
) -> WebhookDelivery:
    """Queue a `webhook.test` event to this endpoint only (also while it is disabled)."""
    require(actor, Action.WEBHOOKS_MANAGE, organization)
    endpoint = _endpoints(organization).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    data = {"message": "This is a test event from CX Platform.", "endpoint": endpoint.pk}
    deliveries = _record(organization.pk, organization.slug, TEST_EVENT, [data], [endpoint])
    return deliveries[0]


# --- emitting events --------------------------------------------------------------------------


def _subscribed(organization_id: int, event: str) -> list[WebhookEndpoint]:
    # One query; the event filter runs here because SQLite cannot look inside JSON lists.
    endpoints = _endpoints(organization_id).filter(is_active=True).select_related("organization")
    return [e for e in endpoints if event in (e.events or [])]


def _record(
    organization_id: int,
    organization_slug: str,
    event: str,
    payloads: list[dict[str, Any]],
    endpoints: list[WebhookEndpoint],
) -> list[WebhookDelivery]:
    """One event per payload, one delivery per (event, endpoint): two INSERTs, queued on commit."""
    now = timezone.now()
    events = []
    for data in payloads:
        event_id = uuid.uuid4()
        body = envelope_body(
            event_id=event_id,
            event=event,
            created=now,
            organization_slug=organization_slug,
            data=data,
        )
        events.append(
            WebhookEvent(
                id=event_id, organization_id=organization_id, type=event, body=body, created_at=now
            )
        )
    WebhookEvent.objects.bulk_create(events)
    deliveries = WebhookDelivery.objects.bulk_create(
        [
            WebhookDelivery(
                organization_id=organization_id,
                endpoint=endpoint,
                event=row,
                next_attempt_at=now,
            )
            for row in events
            for endpoint in endpoints
        ]
    )
    delivery_ids = [d.pk for d in deliveries]
    transaction.on_commit(lambda: _queue(organization_id, delivery_ids))
    return deliveries


def _queue(organization_id: int, delivery_ids: list[int]) -> None:
    """One message for a single delivery; a batch (a scoring batch's responses) is one message
    that a webhook worker fans out, so the emitting worker does not publish hundreds."""
    from .tasks import deliver, dispatch

    if len(delivery_ids) == 1:
        deliver.delay(organization_id, delivery_ids[0], 1)
    elif delivery_ids:
        dispatch.delay(organization_id, delivery_ids)


def webhooks_emit(
    *, organization_id: int, event: str, payload: dict[str, Any]
) -> list[WebhookDelivery]:
    """Record `event` with `payload` as its `data` for every active endpoint subscribed to it;
    the posts are queued when the surrounding transaction commits (nothing if it rolls back).
    One query when nobody subscribes."""
    if event not in EventType.values:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = _subscribed(organization_id, event)
    if not endpoints:
        return []
    slug = endpoints[0].organization.slug
    return _record(organization_id, slug, event, [payload], endpoints)


def webhooks_emit_many(
    *, organization_id: int, event: str, payloads: list[dict[str, Any]]
) -> list[WebhookDelivery]:
    """`webhooks_emit` for several events of one type at once (e.g. the alerts one scoring
    batch raised): one query when nobody subscribes, three otherwise, whatever their number."""
    if event not in EventType.values:
        raise ValueError(f"unknown webhook event {event!r}")
    endpoints = _subscribed(organization_id, event) if payloads else []
    if not endpoints:
        return []
    return _record(organization_id, endpoints[0].organization.slug, event, payloads, endpoints)


def webhooks_emit_responses(*, organization_id: int, response_ids: list[int]) -> int:
    """`response.submitted` for each of these responses (the scoring worker's batch): a constant
    number of queries whatever the batch size (one when nobody subscribes). Returns the number
    of events. Employee responses carry only their questionnaire, audience and day."""
    from .selectors import response_event_payloads

    if not response_ids:
        return 0
    endpoints = _subscribed(organization_id, EventType.RESPONSE_SUBMITTED)
    if not endpoints:
        return 0
    payloads = response_event_payloads(organization_id=organization_id, response_ids=response_ids)
    if payloads:
        _record(
            organization_id,
            endpoints[0].organization.slug,
            EventType.RESPONSE_SUBMITTED,
            payloads,
            endpoints,
        )
    return len(payloads)


def webhooks_emit_alerts_created(
    *, organization_id: int, response_ids: list[int], created_at: datetime
) -> int:
    """`alert.created` for the alerts a scoring batch just raised for these responses (those
    stamped `created_at`: an alert that existed already was announced when it was made). One
    query when nobody subscribes, four otherwise, whatever their number. Returns the events."""
    from apps.alerts.models import Alert

    if not response_ids:
        return 0
    endpoints = _subscribed(organization_id, EventType.ALERT_CREATED)
    if not endpoints:
        return 0
    payloads = [
        {
            "alert": row["id"],
            "status": row["status"],
            "journey": {"id": row["journey_id"], "name": row["journey__name"]},
            "touchpoint": (
                {"id": row["touchpoint_id"], "name": row["touchpoint__name"]}
                if row["touchpoint_id"]
                else None
            ),
            "response": row["response_id"],
            "triggers": row["triggers"],
            "assigned": row["assignee_id"] is not None,
            "due_at": row["due_at"],
        }
        for row in Alert.objects.for_organization(organization_id)
        .filter(response_id__in=response_ids, created_at=created_at)
        .order_by("id")
        .values(
            "id", "status", "journey_id", "journey__name", "touchpoint_id", "touchpoint__name",
            "response_id", "triggers", "assignee_id", "due_at",
        )
    ]  # fmt: skip
    if payloads:
        _record(
            organization_id, endpoints[0].organization.slug, EventType.ALERT_CREATED, payloads,
            endpoints,
        )  # fmt: skip
    return len(payloads)


def webhooks_emit_report_delivered(*, delivery: Any, recipients: int) -> list[WebhookDelivery]:
    """`report.delivered` for a scheduled report delivery just recorded as sent. Recipients'
    addresses stay out of the payload: only how many got it. One query when nobody subscribes."""
    endpoints = _subscribed(delivery.organization_id, EventType.REPORT_DELIVERED)
    if not endpoints:
        return []
    schedule = delivery.schedule
    journey = schedule.journey
    payload = {
        "delivery": delivery.pk,
        "schedule": {"id": schedule.pk, "name": schedule.name},
        "journey": {"id": journey.pk, "name": journey.name},
        "trigger": delivery.trigger,
        "due_at": delivery.due_at,
        "period_start": delivery.period_start,
        "period_end": delivery.period_end,
        "language": delivery.language,
        "recipients": recipients,
    }
    return _record(
        delivery.organization_id,
        endpoints[0].organization.slug,
        EventType.REPORT_DELIVERED,
        [payload],
        endpoints,
    )


# --- delivering -------------------------------------------------------------------------------


def max_attempts() -> int:
    return int(getattr(settings, "WEBHOOKS_MAX_ATTEMPTS", 6))


def retry_delay(attempt: int, *, rng: random.Random | None = None) -> int:
    """Seconds before the attempt after `attempt`: the base doubled each time, +-20 % jitter
    (so receivers that came back are not hit by every sender at once)."""
    base = int(getattr(settings, "WEBHOOKS_RETRY_BASE_SECONDS", 120))
    jitter = (rng or random).uniform(0.8, 1.2)
    return max(1, round(base * 2 ** (attempt - 1) * jitter))


def _timeout() -> float:
    return float(getattr(settings, "WEBHOOKS_TIMEOUT_SECONDS", 5.0))


@dataclass(frozen=True)
class AttemptOutcome:
    status: str
    retry_in: int | None = None  # seconds until the next attempt, if one is due
    skipped: bool = False  # nothing posted: done already, taken by another task, or gone


def _deliveries(organization_id: int) -> Any:
    return WebhookDelivery.objects.for_organization(organization_id)


def _claim(organization_id: int, delivery_id: int, attempt: int, now: datetime) -> Any:
    """The delivery, its endpoint and event if this task may make attempt number `attempt`."""
    with transaction.atomic():
        delivery = (
            _deliveries(organization_id)
            .select_for_update(of=("self",))
            .select_related("endpoint", "event")
            .filter(pk=delivery_id)
            .first()
        )
        if delivery is None or delivery.status != DeliveryStatus.PENDING:
            return delivery, False
        if delivery.attempts != attempt - 1:  # a duplicate task: that attempt was made
            return delivery, False
        if delivery.lease_until is not None and delivery.lease_until > now:
            return delivery, False
        if not delivery.endpoint.is_active and delivery.event.type != TEST_EVENT:
            delivery.status = DeliveryStatus.CANCELLED
            delivery.finished_at = now
            delivery.save(update_fields=["status", "finished_at"])
            return delivery, False
        delivery.attempts = attempt
        delivery.lease_until = now + timedelta(seconds=_timeout() * 3) + _LEASE_MARGIN
        delivery.save(update_fields=["attempts", "lease_until"])
        return delivery, True


def _post(delivery: WebhookDelivery) -> transport.PostResult:
    event = delivery.event
    body = event.body.encode()
    timestamp = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-CX-Webhook-Id": str(event.id),
        "X-CX-Webhook-Event": event.type,
        "X-CX-Webhook-Timestamp": str(timestamp),
        "X-CX-Webhook-Signature": signature(delivery.endpoint.secret, timestamp, body),
    }
    try:
        target = guard.target_resolve(delivery.endpoint.url)
    except guard.UnsafeUrl as exc:
        return transport.PostResult(None, 0, error=f"Not sent: {exc}"[:500])
    return transport.post(target, body, headers, _timeout())


def webhook_delivery_attempt(
    *, organization_id: int, delivery_id: int, attempt: int, now: datetime | None = None
) -> AttemptOutcome:
    """Make attempt number `attempt` of a delivery, log it, and say whether to retry when.

    Safe to run twice: only the task whose number matches the next attempt posts."""
    now = now or timezone.now()
    delivery, claimed = _claim(organization_id, delivery_id, attempt, now)
    if not claimed:
        status = delivery.status if delivery is not None else "missing"
        return AttemptOutcome(status, skipped=True)
    started = timezone.now()
    if attempt > max_attempts():  # requeued after the last attempt's worker died
        result = transport.PostResult(None, 0, error="No attempt left.")
    else:
        result = _post(delivery)
    give_up = not result.ok and attempt >= max_attempts()
    retry_in = None if result.ok or give_up else retry_delay(attempt)
    finished = timezone.now()
    with transaction.atomic():
        WebhookAttempt.objects.create(
            organization_id=organization_id,
            delivery=delivery,
            number=attempt,
            started_at=started,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            response_body=result.response_body,
            error=result.error,
            retry_in=retry_in,
        )
        values: dict[str, Any] = {
            "last_status_code": result.status_code,
            "last_error": result.error,
            "lease_until": None,
        }
        if result.ok:
            values.update(status=DeliveryStatus.DELIVERED, finished_at=finished)
        elif give_up:
            values.update(status=DeliveryStatus.FAILED, finished_at=finished)
        else:
            assert retry_in is not None
            values["next_attempt_at"] = finished + timedelta(seconds=retry_in)
        _deliveries(organization_id).filter(pk=delivery.pk).update(**values)
        if delivery.event.type != TEST_EVENT and (result.ok or give_up):
            _count_outcome(organization_id, delivery.endpoint_id, failed=give_up)
    status = values.get("status", DeliveryStatus.PENDING)
    return AttemptOutcome(status, retry_in=retry_in)


def _count_outcome(organization_id: int, endpoint_id: int, *, failed: bool) -> None:
    """A delivery's final outcome counts towards (or resets) the endpoint's failures in a row."""
    endpoints = _endpoints(organization_id).filter(pk=endpoint_id)
    if not failed:
        endpoints.filter(consecutive_failures__gt=0).update(consecutive_failures=0)
        return
    endpoint = endpoints.select_for_update().select_related("organization").first()
    if endpoint is None:
        return
    endpoint.consecutive_failures = F("consecutive_failures") + 1
    endpoint.save(update_fields=["consecutive_failures"])
    endpoint.refresh_from_db(fields=["consecutive_failures"])
    limit = int(getattr(settings, "WEBHOOKS_DISABLE_AFTER_FAILURES", 10))
    if endpoint.is_active and endpoint.consecutive_failures >= limit:
        _set_active(
            endpoint.organization, None, endpoint, False, None, reason=DisabledReason.FAILURES
        )
        endpoint_pk = endpoint.pk
        transaction.on_commit(lambda: webhook_endpoint_disabled_notify(endpoint_id=endpoint_pk))


def webhook_endpoint_disabled_notify(*, endpoint_id: int) -> int:
    """Email the organisation's owners and admins that an endpoint was disabled; returns how
    many messages were sent."""
    from apps.organizations.selectors import members

    endpoint = (
        WebhookEndpoint.unscoped.select_related("organization").filter(pk=endpoint_id).first()
    )
    if endpoint is None:
        return 0
    organization = endpoint.organization
    path = reverse("webhooks:detail", args=[organization.slug, endpoint.pk])
    context = {
        "organization": organization,
        "endpoint": endpoint,
        "failures": endpoint.consecutive_failures,
        "url": settings.SITE_URL.rstrip("/") + path,
    }
    sent = 0
    for membership in members(organization=organization):
        if membership.role not in (Role.OWNER, Role.ADMIN) or not membership.user.email:
            continue
        with translation.override(organization.default_language):
            subject = render_subject("webhooks/emails/disabled_subject.txt", context)
            body = render_to_string("webhooks/emails/disabled.txt", context)
        EmailMultiAlternatives(subject=subject, body=body, to=[membership.user.email]).send()
        sent += 1
    return sent


def webhook_deliveries_requeue_stalled(*, now: datetime | None = None, limit: int = 500) -> int:
    """Queue again the pending deliveries whose next attempt is overdue and that no worker
    holds (a retry message lost with a killed worker or a broker outage). Crosses tenants: it
    is the beat's sweep. A message that was only late is then a duplicate, which the attempt
    number turns away."""
    from django.db.models import Q

    now = now or timezone.now()
    overdue = now - timedelta(seconds=60)
    rows = list(
        WebhookDelivery.unscoped.filter(status=DeliveryStatus.PENDING, next_attempt_at__lt=overdue)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", "organization_id", "attempts")[:limit]
    )
    if not rows:
        return 0
    WebhookDelivery.unscoped.filter(pk__in=[pk for pk, _o, _a in rows]).update(
        next_attempt_at=now + timedelta(minutes=5)
    )
    from .tasks import deliver

    for pk, organization_id, attempts in rows:
        deliver.delay(organization_id, pk, attempts + 1)
    return len(rows)
