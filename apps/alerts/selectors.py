"""Alert reads: the inbox with its filters, one alert with what the handler may see, and the
dashboard's figures per journey and touchpoint."""

import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.distribution.models import SurveyInvitation
from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Membership, Organization
from apps.responses.models import Answer
from apps.surveys.models import Dimension, ItemKind

from .consent import contact_from_answers, is_contact_key
from .models import (
    Alert,
    AlertEvent,
    AlertNotificationPreference,
    AlertOutcome,
    AlertRuleSet,
    AlertStatus,
    NotificationMode,
    TriggerKind,
)

FILTERS = ("status", "journey", "touchpoint", "assignee", "overdue")


@dataclass(frozen=True)
class AlertFilter:
    """The inbox's filters; None: any. `assignee` is a user id, or 0 for unassigned."""

    status: str | None = None
    journey: int | None = None
    touchpoint: int | None = None
    assignee: int | None = None
    overdue: bool | None = None


def alert_filter_parse(
    params: Any, *, me: int | None = None
) -> tuple[AlertFilter, dict[str, list[str]]]:
    """The filters from query parameters, and an error per bad one (naming it)."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    status = (params.get("status") or "").strip()
    if status:
        if status not in (*AlertStatus.values, "open"):
            errors["status"] = ["Choose one of: open, " + ", ".join(AlertStatus.values) + "."]
        else:
            values["status"] = status
    for name in ("journey", "touchpoint"):
        raw = (params.get(name) or "").strip()
        if raw:
            if not raw.isdigit():
                errors[name] = ["Give an id."]
            else:
                values[name] = int(raw)
    raw = (params.get("assignee") or "").strip()
    if raw:
        if raw == "me" and me is not None:
            values["assignee"] = me
        elif raw == "none":
            values["assignee"] = 0
        elif raw.isdigit():
            values["assignee"] = int(raw)
        else:
            errors["assignee"] = ["Give a user id, me or none."]
    raw = (params.get("overdue") or "").strip().lower()
    if raw:
        if raw not in ("true", "false", "1", "0", "yes", "no"):
            errors["overdue"] = ["Give true or false."]
        else:
            values["overdue"] = raw in ("true", "1", "yes")
    return AlertFilter(**values), errors


def alerts(
    *,
    organization: Organization,
    alert_filter: AlertFilter | None = None,
    now: datetime | None = None,
) -> QuerySet[Alert]:
    """The organisation's alerts, newest first, filtered; with journey, touchpoint and assignee
    (one query per page)."""
    found = Alert.objects.for_organization(organization).select_related(
        "journey", "touchpoint", "assignee"
    )
    flt = alert_filter or AlertFilter()
    if flt.status == "open":
        found = found.exclude(status=AlertStatus.RESOLVED)
    elif flt.status:
        found = found.filter(status=flt.status)
    if flt.journey is not None:
        found = found.filter(journey_id=flt.journey)
    if flt.touchpoint is not None:
        found = found.filter(touchpoint_id=flt.touchpoint)
    if flt.assignee == 0:
        found = found.filter(assignee__isnull=True)
    elif flt.assignee is not None:
        found = found.filter(assignee_id=flt.assignee)
    if flt.overdue is not None:
        overdue = Q(first_action_at__isnull=True, due_at__lt=now or timezone.now()) & ~Q(
            status=AlertStatus.RESOLVED
        )
        found = found.filter(overdue) if flt.overdue else found.exclude(overdue)
    return found.order_by("-created_at", "-id")


def alert_get(*, organization: Organization, alert_id: int) -> Alert | None:
    return (
        Alert.objects.for_organization(organization)
        .select_related("journey", "touchpoint", "assignee", "journey__owner")
        .filter(pk=alert_id)
        .first()
    )


def trigger_texts(alert: Alert) -> list[str]:
    """What tripped the alert, one sentence each (in the active language)."""
    names = {}
    if alert.touchpoint is not None:
        names[alert.touchpoint_id] = alert.touchpoint.name
    wanted = {t.get("touchpoint") for t in alert.triggers} - set(names) - {None}
    if wanted:
        names.update(
            Touchpoint.objects.for_organization(alert.organization_id)
            .filter(pk__in=wanted)
            .values_list("pk", "name")
        )
    dimensions = dict(Dimension.choices)
    texts = []
    for trigger in alert.triggers:
        kind = trigger.get("kind")
        scale = {"value": trigger.get("value"), "lo": trigger.get("lo"), "hi": trigger.get("hi")}
        if kind == TriggerKind.RATING:
            texts.append(
                _("%(touchpoint)s, %(dimension)s: %(value)s on %(lo)s-%(hi)s")
                % {
                    "touchpoint": names.get(trigger.get("touchpoint"), "?"),
                    "dimension": str(dimensions.get(trigger.get("dimension"), "")).lower(),
                    **scale,
                }
            )
        elif kind == TriggerKind.NPS:
            texts.append(_("Likelihood to recommend: %(value)s on %(lo)s-%(hi)s") % scale)
        elif kind == TriggerKind.OVERALL:
            texts.append(_("Overall satisfaction: %(value)s on %(lo)s-%(hi)s") % scale)
        elif kind == TriggerKind.KEYWORD:
            words = ", ".join(trigger.get("keywords") or [])
            texts.append(_("Comment mentions: %(words)s") % {"words": words})
    return texts


@dataclass
class AnswerLine:
    question: str
    answer: str


@dataclass
class AlertDetail:
    alert: Alert
    triggers: list[str]
    answers: list[AnswerLine]
    comments: list[AnswerLine]
    # Name, email and phone when the customer agreed to be contacted; None otherwise.
    contact: dict[str, str] | None
    events: list[AlertEvent] = field(default_factory=list)


def alert_detail(*, organization: Organization, alert: Alert, language: str) -> AlertDetail:
    """The alert with the customer's answers and comments, the contact the customer agreed to
    share (never without their consent), and its history (four queries)."""
    rows = list(
        Answer.objects.for_organization(organization)
        .filter(response_id=alert.response_id)
        .select_related("item")
        .order_by("item__position", "id")
    )
    answers, comments, consent_rows = [], [], []
    for answer in rows:
        item = answer.item
        question = item.text_in(language) or next(iter(item.texts.values()), item.key)
        if is_contact_key(item.key):
            consent_rows.append((item.key, list(answer.choices or []), answer.text or ""))
            continue
        if item.kind in (ItemKind.COMMENT, ItemKind.TEXT):
            if answer.text.strip():
                comments.append(AnswerLine(question, answer.text.strip()))
        elif item.kind in (ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL):
            shown = (
                _("not applicable")
                if answer.not_applicable
                else f"{answer.value} ({item.scale_lo}-{item.scale_hi})"
            )
            answers.append(AnswerLine(question, shown))
    invitation = (
        SurveyInvitation.objects.for_organization(organization)
        .filter(response_id=alert.response_id)
        .values("name", "email")
        .first()
    )
    contact = contact_from_answers(consent_rows, invitation)
    events = list(
        AlertEvent.objects.for_organization(organization)
        .filter(alert=alert)
        .select_related("actor")
        .order_by("created_at", "id")
    )
    statuses, outcomes = dict(AlertStatus.choices), dict(AlertOutcome.choices)
    for event in events:
        # Labels in the reader's language for the stored codes.
        event.status_label = str(statuses.get(event.data.get("to"), ""))
        event.outcome_label = str(outcomes.get(event.data.get("outcome"), ""))
    return AlertDetail(alert, trigger_texts(alert), answers, comments, contact, events)


def assignable_members(*, organization: Organization) -> list[Membership]:
    return list(
        Membership.objects.for_organization(organization)
        .select_related("user")
        .order_by("user__full_name", "user__email")
    )


def alert_rules_get(*, organization: Organization, journey: Journey) -> AlertRuleSet:
    """The journey's rules; an unsaved row with the defaults when it has none."""
    found = AlertRuleSet.objects.for_organization(organization).filter(journey=journey).first()
    return found or AlertRuleSet(organization=organization, journey=journey)


def notification_mode(*, organization: Organization, user_id: int) -> str:
    mode = (
        AlertNotificationPreference.objects.for_organization(organization)
        .filter(user_id=user_id)
        .values_list("mode", flat=True)
        .first()
    )
    return mode or NotificationMode.IMMEDIATE


# --- dashboard figures ------------------------------------------------------------------------


@dataclass
class AlertFigures:
    """Open and overdue alerts, median hours to the first action, and the share of resolved
    alerts whose customer was recovered (None when nothing is resolved yet)."""

    label: str
    touchpoint_id: int | None
    total: int = 0
    open: int = 0
    overdue: int = 0
    median_hours_to_first_action: float | None = None
    resolved: int = 0
    recovered: int = 0
    _waits: list[float] = field(default_factory=list, repr=False)

    @property
    def recovered_share(self) -> float | None:
        return 100.0 * self.recovered / self.resolved if self.resolved else None


@dataclass
class AlertPanel:
    journey: AlertFigures
    touchpoints: list[AlertFigures]


# The columns of the alert rows the dashboard figures are made of, in order.
DASHBOARD_ALERT_COLUMNS = (
    "touchpoint_id", "status", "created_at", "first_action_at", "due_at", "outcome",
)  # fmt: skip


def dashboard_alerts(*, organization: Organization, journey: Journey) -> QuerySet[Alert]:
    """The journey's alerts the dashboard figures count (select DASHBOARD_ALERT_COLUMNS); the
    dashboard reads them in one query with the actions panel's counts."""
    return Alert.objects.for_organization(organization).filter(journey=journey).order_by()


def dashboard_figures(
    *,
    organization: Organization,
    journey: Journey,
    now: datetime | None = None,
    touchpoints: list[tuple[int, str]] | None = None,
    rows: Iterable[tuple[Any, ...]] | None = None,
) -> AlertPanel:
    """Alert figures for the journey and each of its touchpoints: one query when the caller
    passes the journey's touchpoints in order as (id, name) (the dashboard has them), else two;
    none more when it passes the alerts' `rows` (DASHBOARD_ALERT_COLUMNS of
    `dashboard_alerts`) read already."""
    now = now or timezone.now()
    if touchpoints is None:
        touchpoints = list(
            Touchpoint.objects.for_organization(organization)
            .filter(journey=journey)
            .order_by("stage__position", "position", "id")
            .values_list("pk", "name")
        )
    overall = AlertFigures(label=journey.name, touchpoint_id=None)
    by_touchpoint = {pk: AlertFigures(label=name, touchpoint_id=pk) for pk, name in touchpoints}
    if rows is None:
        rows = dashboard_alerts(organization=organization, journey=journey).values_list(
            *DASHBOARD_ALERT_COLUMNS
        )
    for touchpoint_id, status, created_at, first_action_at, due_at, outcome in rows:
        targets = [overall]
        if touchpoint_id in by_touchpoint:
            targets.append(by_touchpoint[touchpoint_id])
        for figures in targets:
            figures.total += 1
            if status != AlertStatus.RESOLVED:
                figures.open += 1
                if first_action_at is None and due_at < now:
                    figures.overdue += 1
            else:
                figures.resolved += 1
                figures.recovered += outcome == AlertOutcome.RECOVERED
            if first_action_at is not None:
                figures._waits.append((first_action_at - created_at) / timedelta(hours=1))
    for figures in (overall, *by_touchpoint.values()):
        if figures._waits:
            figures.median_hours_to_first_action = statistics.median(figures._waits)
    return AlertPanel(journey=overall, touchpoints=list(by_touchpoint.values()))


def questionnaires_asking_consent(
    *, organization: Organization, questionnaires: list[Any]
) -> dict[int, str]:
    """Questionnaire id -> "published" when its published version asks for contact consent,
    "draft" when only its draft does (one query)."""
    from apps.surveys.models import Item

    from .consent import CONSENT_KEY

    found: dict[int, str] = {}
    rows = (
        Item.objects.for_organization(organization)
        .filter(version__questionnaire__in=[q.pk for q in questionnaires], key=CONSENT_KEY)
        .values_list("version__questionnaire_id", "version_id", "version__published_at")
    )
    published = {q.pk: q.published_version_id for q in questionnaires}
    for questionnaire_id, version_id, published_at in rows:
        if version_id == published.get(questionnaire_id):
            found[questionnaire_id] = "published"
        elif published_at is None:
            found.setdefault(questionnaire_id, "draft")
    return found
