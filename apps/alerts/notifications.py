"""Alert emails: to the assignee at once or in a daily digest; the SLA's reminder and escalation.

Every email is claimed before it is sent (a conditional UPDATE of the timestamp that records it),
so racing workers and beat ticks send each at most once: an assignee's alert is announced once,
a digest goes out once a day, and each SLA stage is sent once per alert.
"""

import logging
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation

from apps.core.emails import render_subject
from apps.organizations.models import Membership, Organization

from .models import (
    Alert,
    AlertEvent,
    AlertNotificationPreference,
    AlertStatus,
    NotificationMode,
)
from .selectors import trigger_texts

logger = logging.getLogger(__name__)

DIGEST_HOUR = 7  # the digest goes out from 07:00 in the organisation's time zone


def _zone(organization: Organization) -> ZoneInfo:
    try:
        return ZoneInfo(organization.time_zone)
    except (KeyError, ValueError):
        return ZoneInfo("UTC")


def alert_url(alert: Alert, organization: Organization) -> str:
    return settings.SITE_URL.rstrip("/") + reverse(
        "alerts:detail", args=[organization.slug, alert.pk]
    )


def _send(organization: Organization, to: str, template: str, context: dict[str, Any]) -> bool:
    """Render `alerts/emails/<template>*` in the organisation's language and send it; False
    when it could not be sent."""
    context = {"organization": organization, **context}
    with translation.override(organization.default_language or "en"):
        subject = render_subject(f"alerts/emails/{template}_subject.txt", context)
        text = render_to_string(f"alerts/emails/{template}.txt", context)
    message = EmailMultiAlternatives(
        subject, text, None, [to], headers={"Auto-Submitted": "auto-generated"}
    )
    try:
        message.send()
    except Exception:
        logger.exception("alert email %s to a member could not be sent", template)
        return False
    return True


def _alert_context(alert: Alert, organization: Organization) -> dict[str, Any]:
    with translation.override(organization.default_language or "en"):
        triggers = trigger_texts(alert)
    return {
        "alert": alert,
        "journey_name": alert.journey.name,
        "touchpoint_name": alert.touchpoint.name if alert.touchpoint else "",
        "triggers": triggers,
        "url": alert_url(alert, organization),
    }


def _claim(organization: Organization, alert_id: int, field: str, now: datetime) -> bool:
    with transaction.atomic():
        return bool(
            Alert.objects.for_organization(organization)
            .filter(pk=alert_id, **{f"{field}__isnull": True})
            .update(**{field: now})
        )


def _digest_users(organization: Organization, user_ids: Sequence[int]) -> set[int]:
    return set(
        AlertNotificationPreference.objects.for_organization(organization)
        .filter(user_id__in=list(user_ids), mode=NotificationMode.DIGEST)
        .values_list("user_id", flat=True)
    )


def alerts_notify(
    *,
    organization: Organization,
    response_ids: Sequence[int] = (),
    alert_ids: Sequence[int] = (),
    now: datetime | None = None,
) -> int:
    """Email the assignees who want each alert at once (the others get it in their digest).
    Returns how many emails were sent."""
    now = now or timezone.now()
    alerts = list(
        Alert.objects.for_organization(organization)
        .filter(Q(response_id__in=list(response_ids)) | Q(pk__in=list(alert_ids)))
        .filter(assignee__isnull=False, notified_at__isnull=True)
        .exclude(status=AlertStatus.RESOLVED)
        .select_related("journey", "touchpoint", "assignee")
    )
    digest = _digest_users(organization, [a.assignee_id for a in alerts if a.assignee_id])
    sent = 0
    for alert in alerts:
        if alert.assignee_id in digest or alert.assignee is None:
            continue
        if not _claim(organization, alert.pk, "notified_at", now):
            continue
        context = _alert_context(alert, organization)
        sent += _send(organization, alert.assignee.email, "alert_new", context)
    return sent


def alerts_digest_send(*, now: datetime | None = None) -> int:
    """Once a day per member who chose the digest (from DIGEST_HOUR in their organisation's time
    zone): their assigned open alerts not yet announced. Crosses organisations by design (the
    beat task). Returns how many digests were sent."""
    now = now or timezone.now()
    sent = 0
    preferences = (
        AlertNotificationPreference.unscoped.filter(mode=NotificationMode.DIGEST)
        .select_related("organization", "user")
        .order_by("id")
    )
    for preference in preferences:
        organization = preference.organization
        local = now.astimezone(_zone(organization))
        if local.time() < time(DIGEST_HOUR):
            continue
        today = local.date()
        with transaction.atomic():
            claimed = (
                AlertNotificationPreference.objects.for_organization(organization)
                .filter(pk=preference.pk)
                .filter(Q(digest_sent_on__isnull=True) | Q(digest_sent_on__lt=today))
                .update(digest_sent_on=today)
            )
        if not claimed:
            continue
        with transaction.atomic():
            alerts = list(
                Alert.objects.for_organization(organization)
                .select_for_update(of=("self",))
                .filter(assignee=preference.user, notified_at__isnull=True)
                .exclude(status=AlertStatus.RESOLVED)
                .select_related("journey", "touchpoint")
                .order_by("created_at", "id")
            )
            if not alerts:
                continue
            Alert.objects.for_organization(organization).filter(
                pk__in=[a.pk for a in alerts]
            ).update(notified_at=now)
        contexts = [_alert_context(alert, organization) for alert in alerts]
        sent += _send(
            organization,
            preference.user.email,
            "alert_digest",
            {
                "alerts": contexts,
                "count": len(contexts),
                "inbox_url": settings.SITE_URL.rstrip("/")
                + reverse("alerts:inbox", args=[organization.slug]),
            },
        )
    return sent


def _members(organization_id: int, user_ids: Sequence[int]) -> set[int]:
    return set(
        Membership.objects.for_organization(organization_id)
        .filter(user_id__in=list(user_ids))
        .values_list("user_id", flat=True)
    )


def alerts_sla_tick(*, now: datetime | None = None) -> dict[str, int]:
    """The SLA's two stages for alerts nobody has acted on: a reminder to the assignee once the
    first action is overdue, an escalation to the journey owner one SLA period later. Each is
    claimed on the alert before it is sent: one of each per alert, however often this runs.
    Crosses organisations by design (the beat task)."""
    now = now or timezone.now()
    counts = {"reminded": 0, "escalated": 0}
    waiting = Alert.unscoped.filter(first_action_at__isnull=True).exclude(
        status=AlertStatus.RESOLVED
    )
    stages = (
        ("reminded", "reminded_at", waiting.filter(due_at__lte=now, reminded_at__isnull=True)),
        (
            "escalated",
            "escalated_at",
            waiting.filter(escalate_at__lte=now, escalated_at__isnull=True),
        ),
    )
    for stage, field, found in stages:
        alerts = list(
            found.select_related(
                "organization", "journey", "touchpoint", "assignee", "journey__owner"
            ).order_by("due_at", "id")[:1000]
        )
        by_org: dict[int, list[Alert]] = defaultdict(list)
        for alert in alerts:
            by_org[alert.organization_id].append(alert)
        for organization_id, group in by_org.items():
            organization = group[0].organization
            recipients = [(a.assignee if stage == "reminded" else a.journey.owner) for a in group]
            members = _members(organization_id, [u.pk for u in recipients if u is not None])
            for alert, recipient in zip(group, recipients, strict=True):
                if not _claim(organization, alert.pk, field, now):
                    continue
                to = recipient if recipient is not None and recipient.pk in members else None
                AlertEvent.objects.create(
                    organization=organization,
                    alert=alert,
                    kind=stage,
                    actor_label="system",
                    data={"to": to.email if to else None},
                    created_at=now,
                )
                counts[stage] += 1
                if to is not None:
                    template = "alert_reminder" if stage == "reminded" else "alert_escalation"
                    context = _alert_context(alert, organization)
                    context["assignee"] = alert.assignee
                    context["overdue_hours"] = int((now - alert.due_at) / timedelta(hours=1))
                    _send(organization, to.email, template, context)
    return counts
