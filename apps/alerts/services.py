"""Alert writes: raising alerts from processed responses, the workflow, rules and preferences.

`alerts_raise_for_responses` runs inside the scoring batch's transaction and costs a constant
number of queries per batch, whatever its size. On PostgreSQL the rules are evaluated in the
database: one statement reads the batch's customer answers with their journeys' rules, builds
each tripped response's triggers, picks its touchpoint and assignee and INSERTs the alerts ...
ON CONFLICT DO NOTHING (so reprocessing a response never raises a second alert). Keywords are
matched in Python (`str.casefold()`): only when a journey of the batch has keywords, its
responses' text answers are read and the matches go into a second run of the statement for
those responses. On SQLite the same rules are evaluated in Python: the answers (one query), the
candidate assignees' memberships and the rules ride along, then one INSERT.
"""

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, When
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, ValidationFailed
from apps.core.sql import bigint_array
from apps.journeys.models import Journey, Stage, Touchpoint
from apps.organizations.models import Membership, Organization
from apps.organizations.permissions import Action, Principal, require
from apps.responses.models import Answer, Response
from apps.surveys.models import Audience, Item, ItemKind, Questionnaire
from apps.surveys.services import questionnaire_edit_start
from apps.webhooks.services import webhooks_emit_alerts_created

from .consent import (
    CONSENT_CHOICES,
    CONSENT_KEY,
    CONSENT_TEXTS,
    CONTACT_KEYS,
    CONTACT_TEXTS,
    is_contact_key,
)
from .models import (
    DEFAULT_SLA_HOURS,
    NPS_DETRACTOR_MAX,
    Alert,
    AlertEvent,
    AlertNotificationPreference,
    AlertOutcome,
    AlertRuleSet,
    AlertStatus,
    NotificationMode,
    TriggerKind,
)

MAX_KEYWORDS = 50
MAX_KEYWORD_LENGTH = 60
MAX_NOTE = 4000
MAX_SLA_HOURS = 24 * 30
_TEXT_KINDS = (str(ItemKind.COMMENT), str(ItemKind.TEXT))


# --- rules ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rules:
    """A journey's rules as evaluated (the defaults when it has no AlertRuleSet row)."""

    enabled: bool = True
    rating_enabled: bool = True
    rating_threshold: int | None = None
    nps_enabled: bool = True
    nps_threshold: int = NPS_DETRACTOR_MAX
    overall_enabled: bool = True
    overall_threshold: int | None = None
    keywords: tuple[str, ...] = ()
    sla_hours: int = DEFAULT_SLA_HOURS


RULE_FIELDS = (
    "enabled",
    "rating_enabled",
    "rating_threshold",
    "nps_enabled",
    "nps_threshold",
    "overall_enabled",
    "overall_threshold",
    "keywords",
    "sla_hours",
)


def bottom_box_max(lo: int, hi: int) -> int:
    """The highest raw value in the bottom box (SCORING.md section 3): the two lowest points,
    one for scales of fewer than 5 points."""
    return lo + 1 if hi - lo + 1 >= 5 else lo


def _is_low(value: int, lo: int, hi: int, threshold: int | None) -> bool:
    return value <= (bottom_box_max(lo, hi) if threshold is None else threshold)


# --- raising alerts ---------------------------------------------------------------------------


@dataclass
class _Respondent:
    response_id: int
    journey_id: int
    journey_owner_id: int | None
    triggers: list[dict[str, Any]] = field(default_factory=list)
    # touchpoint id -> normalised dimension answers (SCORING.md section 4) as (numerator,
    # denominator): the lowest touchpoint is picked by exact means, so that both evaluations
    # agree on ties
    scores: dict[int, list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    # touchpoint id -> (owner id, stage position, position)
    touchpoints: dict[int, tuple[int | None, int, int]] = field(default_factory=dict)
    triggered_touchpoints: set[int] = field(default_factory=set)
    # (kind, key, touchpoint id, dimension, lo, hi, value or None, text) in questionnaire order
    rows: list[tuple[Any, ...]] = field(default_factory=list)


_RULES = "response__questionnaire__journey__alert_rules__"
_ANSWER_COLUMNS = (
    "response_id",
    "response__questionnaire__journey_id",
    "item__kind",
    "item__key",
    "item__touchpoint_id",
    "item__touchpoint__stage__position",
    "item__touchpoint__position",
    "item__dimension",
    "item__scale_lo",
    "item__scale_hi",
    "value",
    "not_applicable",
    "text",
    # The owners, if they are still members, and the journey's rules (None: no row, defaults).
    "touchpoint_owner",
    "journey_owner",
    *(_RULES + name for name in ("id", *RULE_FIELDS)),
)


def _member(organization_id: int, user_column: str) -> Any:
    """`user_column` if that user is a member of the organisation, else NULL."""
    return Case(
        When(
            Exists(
                Membership.objects.for_organization(organization_id).filter(
                    user_id=OuterRef(user_column)
                )
            ),
            then=F(user_column),
        ),
        default=None,
    )


def _respondents(
    organization_id: int, response_ids: Sequence[int]
) -> tuple[dict[int, _Respondent], dict[int, Rules]]:
    """The customer responses' answers that rules look at, grouped by response, and their
    journeys' rules, in one query."""
    rows = (
        Answer.objects.for_organization(organization_id)
        .filter(response_id__in=list(response_ids), response__audience=Audience.CUSTOMER)
        .filter(item__kind__in=[ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL, *_TEXT_KINDS])
        # Journeys with alerts switched off raise nothing: their answers are not read.
        .filter(Q(**{_RULES + "id": None}) | Q(**{_RULES + "enabled": True}))
        .annotate(
            touchpoint_owner=_member(organization_id, "item__touchpoint__owner_id"),
            journey_owner=_member(organization_id, "response__questionnaire__journey__owner_id"),
        )
        .order_by("response_id", "item__position", "id")
        .values_list(*_ANSWER_COLUMNS)
    )
    respondents: dict[int, _Respondent] = {}
    rules: dict[int, Rules] = {}
    for row in rows:
        (
            response_id,
            journey_id,
            kind,
            key,
            touchpoint_id,
            stage_position,
            tp_position,
            dimension,
            lo,
            hi,
            value,
            not_applicable,
            text,
            tp_owner_id,
            journey_owner_id,
            rule_set_id,
            *rule_values,
        ) = row
        if journey_id not in rules:
            rules[journey_id] = (
                Rules(**dict(zip(RULE_FIELDS, rule_values, strict=True)))
                if rule_set_id is not None
                else Rules()
            )
        respondent = respondents.get(response_id)
        if respondent is None:
            respondent = respondents[response_id] = _Respondent(
                response_id, journey_id, journey_owner_id
            )
        if touchpoint_id is not None:
            respondent.touchpoints[touchpoint_id] = (tp_owner_id, stage_position, tp_position)
        scaled = value is not None and not not_applicable and lo is not None and hi is not None
        if kind == ItemKind.RATING and scaled and hi > lo and touchpoint_id and dimension:
            respondent.scores[touchpoint_id].append((100 * (value - lo), hi - lo))
        respondent.rows.append(
            (kind, key, touchpoint_id, dimension, lo, hi, value if scaled else None, text)
        )
    return respondents, rules


def _folded_keywords(keywords: Sequence[str]) -> list[tuple[str, str]]:
    """The rule's keywords that are not blank, each with its case-folded form."""
    return [(word, word.casefold()) for word in keywords if word.strip()]


def _keywords_in(text: str, keywords: Sequence[tuple[str, str]]) -> list[str]:
    """The keywords (as the rule spells them, in its order) that `text` contains, ignoring case
    (`str.casefold()`: "STRASSE" contains "straße")."""
    folded = text.casefold()
    return [word for word, folded_word in keywords if folded_word in folded]


def _evaluate(respondent: _Respondent, rules: Rules) -> None:
    """Fill the respondent's triggers (in questionnaire order) under the journey's rules."""
    keywords = _folded_keywords(rules.keywords)
    for kind, key, touchpoint_id, dimension, lo, hi, value, text in respondent.rows:
        if kind == ItemKind.RATING and value is not None and touchpoint_id and dimension:
            if rules.rating_enabled and _is_low(value, lo, hi, rules.rating_threshold):
                respondent.triggers.append(
                    {
                        "kind": TriggerKind.RATING.value,
                        "touchpoint": touchpoint_id,
                        "dimension": dimension,
                        "value": value,
                        "lo": lo,
                        "hi": hi,
                    }
                )
                respondent.triggered_touchpoints.add(touchpoint_id)
        elif kind == ItemKind.NPS and value is not None:
            if rules.nps_enabled and value <= rules.nps_threshold:
                respondent.triggers.append(
                    {"kind": TriggerKind.NPS.value, "value": value, "lo": lo, "hi": hi}
                )
        elif kind == ItemKind.OVERALL and value is not None:
            if rules.overall_enabled and _is_low(value, lo, hi, rules.overall_threshold):
                respondent.triggers.append(
                    {"kind": TriggerKind.OVERALL.value, "value": value, "lo": lo, "hi": hi}
                )
        elif kind in _TEXT_KINDS and text and keywords and not is_contact_key(key):
            found = _keywords_in(text, keywords)
            if found:
                respondent.triggers.append(
                    {
                        "kind": TriggerKind.KEYWORD.value,
                        "keywords": found,
                        "touchpoint": touchpoint_id,
                    }
                )
                if touchpoint_id:
                    respondent.triggered_touchpoints.add(touchpoint_id)


def _lowest_touchpoint(respondent: _Respondent) -> int | None:
    """The triggered touchpoint with the lowest touchpoint score, the exact mean (unscored ones
    last; ties: the earlier touchpoint in the journey, then the lower id)."""

    def rank(touchpoint_id: int) -> tuple[Fraction | float, int, int, int]:
        scores = respondent.scores.get(touchpoint_id)
        _owner, stage_position, position = respondent.touchpoints.get(touchpoint_id, (None, 0, 0))
        score: Fraction | float = float("inf")
        if scores:
            score = sum((Fraction(*pair) for pair in scores), Fraction(0)) / len(scores)
        return score, stage_position or 0, position or 0, touchpoint_id

    if not respondent.triggered_touchpoints:
        return None
    if len(respondent.triggered_touchpoints) == 1:
        return next(iter(respondent.triggered_touchpoints))
    return min(respondent.triggered_touchpoints, key=rank)


def alerts_raise_for_responses(
    *,
    organization_id: int,
    response_ids: Sequence[int],
    now: datetime | None = None,
    in_python: bool = False,
) -> int:
    """Raise one alert per customer response in `response_ids` that trips its journey's rules.

    Called by the scoring pipeline inside its batch transaction. Employee responses never raise
    alerts. A response that already has an alert keeps it unchanged. Returns how many responses
    tripped a rule (their alerts may have existed already). PostgreSQL evaluates the rules in
    the database unless `in_python` (the SQLite evaluation; the tests compare the two).
    """
    if not response_ids:
        return 0
    now = now or timezone.now()
    if connection.vendor == "postgresql" and not in_python:
        tripped, raised = _raise_in_database(organization_id, response_ids, now)
    else:
        tripped, raised = _raise_in_python(organization_id, response_ids, now)
    if raised:
        webhooks_emit_alerts_created(
            organization_id=organization_id, response_ids=raised, created_at=now
        )
        transaction.on_commit(lambda: _queue_notify(organization_id, response_ids=raised))
    return tripped


def _raise_in_python(
    organization_id: int, response_ids: Sequence[int], now: datetime
) -> tuple[int, list[int]]:
    """(responses that tripped a rule, the responses whose alerts to announce)."""
    respondents, rules = _respondents(organization_id, response_ids)
    tripped: list[tuple[_Respondent, Rules, int | None, int | None]] = []
    for respondent in respondents.values():
        journey_rules = rules.get(respondent.journey_id, Rules())
        if not journey_rules.enabled:
            continue
        _evaluate(respondent, journey_rules)
        if not respondent.triggers:
            continue
        touchpoint_id = _lowest_touchpoint(respondent)
        owner_id = respondent.touchpoints[touchpoint_id][0] if touchpoint_id else None
        tripped.append((respondent, journey_rules, touchpoint_id, owner_id))
    if not tripped:
        return 0, []
    alerts = []
    for respondent, journey_rules, touchpoint_id, owner_id in tripped:
        # The lowest-scoring triggered touchpoint's owner, else the journey owner, else nobody
        # (unassigned alerts are in every admin's inbox); owners who left count as none.
        owner_id = owner_id or respondent.journey_owner_id
        sla = timedelta(hours=journey_rules.sla_hours)
        alerts.append(
            Alert(
                organization_id=organization_id,
                response_id=respondent.response_id,
                journey_id=respondent.journey_id,
                touchpoint_id=touchpoint_id,
                triggers=respondent.triggers,
                assignee_id=owner_id,
                created_at=now,
                due_at=now + sla,
                escalate_at=now + 2 * sla,
            )
        )
    Alert.objects.bulk_create(alerts, ignore_conflicts=True)
    # Those that existed already are left out by the webhooks (stamped another time) and by the
    # notification (already told or resolved).
    return len(alerts), [alert.response_id for alert in alerts]


def _table(model: Any) -> str:
    return str(model._meta.db_table)


# The rules evaluated in the database, as `_evaluate` and `_lowest_touchpoint` do in Python.
# Parameters: org, the batch's response ids, now, and `kw`: NULL on the first run, which leaves
# out the responses of journeys with keywords and returns their ids; the second run takes those
# responses with their keyword matches (found in Python), a JSON list of {"a": answer id, "k":
# [keywords found]}. `base`: the batch's customer responses of journeys with alerts on (the
# others read no answers) with the rules, defaults where the journey has no row. `hits`: their
# scaled rating, NPS and overall answers (each response's answers through the answers' unique
# index, as the scoring statements read them) with whether each trips its rule; `kw`: the
# keyword matches. `trig` has one row per trigger; its JSON, as `_evaluate` builds it, is built
# once per item and value (`texts`) and the response's list is put together as text (building
# a JSON object per answer took a third of the statement's time). `picked` is the
# lowest-scoring triggered touchpoint (exact mean of the normalised dimension answers, unscored
# last, then by stage and touchpoint position); the alert goes to its owner if still a member,
# else to the journey owner if a member. The alerts are inserted in response order.
_BOTTOM_BOX = "CASE WHEN i.scale_hi - i.scale_lo + 1 >= 5 THEN i.scale_lo + 1 ELSE i.scale_lo END"
_RAISE_SQL = f"""
WITH base AS MATERIALIZED (
    SELECT r.id AS response_id, q.journey_id, j.owner_id AS journey_owner_id,
        COALESCE(rs.rating_enabled, true) AS rating_on, rs.rating_threshold,
        COALESCE(rs.nps_enabled, true) AS nps_on,
        COALESCE(rs.nps_threshold, {NPS_DETRACTOR_MAX}) AS nps_max,
        COALESCE(rs.overall_enabled, true) AS overall_on, rs.overall_threshold,
        COALESCE(rs.sla_hours, {DEFAULT_SLA_HOURS}) AS sla_hours,
        COALESCE(rs.keywords, '[]'::jsonb) <> '[]'::jsonb AS has_keywords
    FROM {_table(Response)} r
    JOIN {_table(Questionnaire)} q ON q.id = r.questionnaire_id
    JOIN {_table(Journey)} j ON j.id = q.journey_id
    LEFT JOIN {_table(AlertRuleSet)} rs ON rs.journey_id = q.journey_id
    WHERE r.organization_id = %(org)s AND r.id = ANY(CAST(%(ids)s AS bigint[]))
        AND r.audience = '{Audience.CUSTOMER}' AND COALESCE(rs.enabled, true)
),
batch AS MATERIALIZED (
    SELECT * FROM base WHERE %(kw)s::jsonb IS NOT NULL OR NOT has_keywords
),
hits AS MATERIALIZED (
    SELECT b.response_id, i.position, a.id AS answer_id, a.item_id, i.kind, i.touchpoint_id,
        i.dimension, a.value, i.scale_lo, i.scale_hi,
        CASE i.kind
            WHEN '{ItemKind.RATING}' THEN i.touchpoint_id IS NOT NULL AND i.dimension <> ''
                AND b.rating_on AND a.value <= COALESCE(b.rating_threshold, {_BOTTOM_BOX})
            WHEN '{ItemKind.NPS}' THEN b.nps_on AND a.value <= b.nps_max
            ELSE b.overall_on AND a.value <= COALESCE(b.overall_threshold, {_BOTTOM_BOX})
        END AS tripped
    FROM batch b
    CROSS JOIN LATERAL (
        SELECT a.id, a.item_id, a.value FROM {_table(Answer)} a
        WHERE a.response_id = b.response_id AND a.organization_id = %(org)s
            AND a.value IS NOT NULL AND NOT a.not_applicable OFFSET 0
    ) a
    JOIN {_table(Item)} i ON i.id = a.item_id
    WHERE i.kind IN ('{ItemKind.RATING}', '{ItemKind.NPS}', '{ItemKind.OVERALL}')
        AND i.scale_lo IS NOT NULL AND i.scale_hi IS NOT NULL
),
kw AS (
    SELECT a.response_id, i.position, a.id AS answer_id, i.touchpoint_id, m.k AS keywords
    FROM jsonb_to_recordset(COALESCE(%(kw)s::jsonb, '[]'::jsonb)) AS m(a bigint, k jsonb)
    JOIN {_table(Answer)} a ON a.id = m.a AND a.organization_id = %(org)s
    JOIN batch b ON b.response_id = a.response_id
    JOIN {_table(Item)} i ON i.id = a.item_id
),
trig AS (
    SELECT response_id, position, answer_id, item_id, value, NULL::text AS t,
        CASE WHEN kind = '{ItemKind.RATING}' THEN touchpoint_id END AS touchpoint_id
    FROM hits WHERE tripped
    UNION ALL
    SELECT response_id, position, answer_id, NULL, NULL, jsonb_build_object(
        'kind', '{TriggerKind.KEYWORD.value}', 'keywords', keywords, 'touchpoint', touchpoint_id
    )::text, touchpoint_id
    FROM kw
),
texts AS (
    SELECT item_id, value, CASE WHEN kind = '{ItemKind.RATING}' THEN jsonb_build_object(
            'kind', '{TriggerKind.RATING.value}', 'touchpoint', touchpoint_id,
            'dimension', dimension, 'value', value, 'lo', scale_lo, 'hi', scale_hi)
        ELSE jsonb_build_object('kind', kind, 'value', value, 'lo', scale_lo, 'hi', scale_hi)
        END::text AS t
    FROM (SELECT DISTINCT item_id, value, kind, touchpoint_id, dimension, scale_lo, scale_hi
        FROM hits WHERE tripped) d
),
tripped AS (
    SELECT g.response_id, CAST('[' || string_agg(COALESCE(g.t, x.t), ', '
        ORDER BY g.position, g.answer_id) || ']' AS jsonb) AS triggers
    FROM trig g LEFT JOIN texts x ON x.item_id = g.item_id AND x.value = g.value
    GROUP BY g.response_id
),
triggered AS (
    SELECT DISTINCT response_id, touchpoint_id FROM trig WHERE touchpoint_id IS NOT NULL
),
scores AS (
    SELECT h.response_id, h.touchpoint_id,
        round(avg(CAST(100 * (h.value - h.scale_lo) AS numeric(60, 40))
            / (h.scale_hi - h.scale_lo)), 25) AS score
    FROM hits h JOIN triggered t ON t.response_id = h.response_id
        AND t.touchpoint_id = h.touchpoint_id
    WHERE h.kind = '{ItemKind.RATING}' AND h.dimension <> '' AND h.scale_hi > h.scale_lo
    GROUP BY h.response_id, h.touchpoint_id
),
picked AS (
    SELECT DISTINCT ON (t.response_id) t.response_id, t.touchpoint_id, tp.owner_id
    FROM triggered t
    JOIN {_table(Touchpoint)} tp ON tp.id = t.touchpoint_id
    JOIN {_table(Stage)} st ON st.id = tp.stage_id
    LEFT JOIN scores s ON s.response_id = t.response_id AND s.touchpoint_id = t.touchpoint_id
    ORDER BY t.response_id, s.score ASC NULLS LAST, st.position, tp.position, tp.id
),
inserted AS (
    INSERT INTO {_table(Alert)} (organization_id, response_id, journey_id, touchpoint_id,
        triggers, status, assignee_id, outcome, resolution_note, created_at, due_at,
        escalate_at)
    SELECT %(org)s, x.response_id, b.journey_id, p.touchpoint_id, x.triggers,
        '{AlertStatus.NEW}',
        CASE WHEN EXISTS (SELECT FROM {_table(Membership)} m
                WHERE m.organization_id = %(org)s AND m.user_id = p.owner_id) THEN p.owner_id
            WHEN EXISTS (SELECT FROM {_table(Membership)} m
                WHERE m.organization_id = %(org)s AND m.user_id = b.journey_owner_id)
            THEN b.journey_owner_id
        END,
        '', '', %(now)s, %(now)s + b.sla_hours * interval '1 hour',
        %(now)s + 2 * b.sla_hours * interval '1 hour'
    FROM tripped x JOIN batch b ON b.response_id = x.response_id
    LEFT JOIN picked p ON p.response_id = x.response_id
    ORDER BY x.response_id
    ON CONFLICT DO NOTHING
    RETURNING response_id
)
SELECT (SELECT count(*) FROM tripped),
    ARRAY(SELECT response_id FROM inserted ORDER BY response_id),
    ARRAY(SELECT response_id FROM base WHERE has_keywords AND %(kw)s::jsonb IS NULL
        ORDER BY response_id)
"""  # noqa: S608 (table names and constants only)


def _raise_in_database(
    organization_id: int, response_ids: Sequence[int], now: datetime
) -> tuple[int, list[int]]:
    """(responses that tripped a rule, the responses whose alerts were inserted): `_RAISE_SQL`
    once, and again for the responses of journeys with keywords, if any."""
    params: dict[str, Any] = {
        "org": organization_id, "ids": bigint_array(response_ids), "now": now, "kw": None,
    }  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(_RAISE_SQL, params)
        tripped, raised, deferred = cursor.fetchone()
        if deferred:
            matches = _keyword_matches(organization_id, deferred)
            cursor.execute(
                _RAISE_SQL, {**params, "ids": bigint_array(deferred), "kw": json.dumps(matches)}
            )
            more, more_raised, _none = cursor.fetchone()
            tripped += more
            raised = sorted([*raised, *more_raised])
    return int(tripped), list(raised)


def _keyword_matches(organization_id: int, response_ids: Sequence[int]) -> list[dict[str, Any]]:
    """The text answers of these responses (customer responses of journeys with alerts on and
    keywords) that contain a keyword of their journey's rules: [{"a": answer id, "k": [the
    keywords found, in the rule's order]}]."""
    rows = (
        Answer.objects.for_organization(organization_id)
        .filter(response_id__in=list(response_ids), item__kind__in=_TEXT_KINDS)
        .exclude(text="")
        .values_list("id", "item__key", "text", _RULES + "keywords")
    )
    matches = []
    folded: dict[str, list[tuple[str, str]]] = {}
    for answer_id, key, text, keywords in rows:
        if is_contact_key(key):
            continue
        cache_key = json.dumps(keywords)
        if cache_key not in folded:
            folded[cache_key] = _folded_keywords(keywords)
        found = _keywords_in(text, folded[cache_key])
        if found:
            matches.append({"a": answer_id, "k": found})
    return matches


def _queue_notify(
    organization_id: int,
    *,
    response_ids: list[int] | None = None,
    alert_ids: list[int] | None = None,
) -> None:
    from .tasks import notify_assignees

    notify_assignees.delay(
        organization_id=organization_id, response_ids=response_ids or [], alert_ids=alert_ids or []
    )


# --- the workflow -----------------------------------------------------------------------------


def _locked(organization: Organization, alert: Alert) -> Alert:
    return (
        Alert.objects.for_organization(organization)
        .select_for_update(of=("self",))
        .select_related("journey", "touchpoint")
        .get(pk=alert.pk)
    )


def _event(
    alert: Alert, actor: Principal | None, kind: str, data: dict[str, Any], now: datetime
) -> None:
    AlertEvent.objects.create(
        organization_id=alert.organization_id,
        alert=alert,
        actor=actor.user if actor is not None else None,
        actor_label=actor.label if actor is not None else "system",
        kind=kind,
        data=data,
        created_at=now,
    )


def _set_status(
    organization: Organization,
    actor: Principal,
    alert: Alert,
    status: str,
    now: datetime,
    ip_address: str | None,
    extra: dict[str, Any] | None = None,
) -> None:
    previous = alert.status
    alert.status = status
    if alert.first_action_at is None:
        alert.first_action_at = now
    alert.save(
        update_fields=["status", "first_action_at", "outcome", "resolution_note", "resolved_at"]
    )
    data = {"from": previous, "to": status, **(extra or {})}
    _event(alert, actor, "status", data, now)
    audit_record(
        organization=organization,
        actor=actor,
        action="alert.status_changed",
        target=alert,
        data=data,
        ip_address=ip_address,
    )


@transaction.atomic
def alert_start(
    *,
    organization: Organization,
    actor: Principal,
    alert: Alert,
    ip_address: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """new -> in progress: someone took it; this is the first action the SLA waits for."""
    require(actor, Action.ALERT_WORK, alert)
    alert = _locked(organization, alert)
    if alert.status != AlertStatus.NEW:
        raise Conflict(
            "Only a new alert can be started.",
            fields={"status": [f"The alert is {alert.get_status_display().lower()}."]},
        )
    _set_status(
        organization, actor, alert, AlertStatus.IN_PROGRESS, now or timezone.now(), ip_address
    )
    return alert


@transaction.atomic
def alert_resolve(
    *,
    organization: Organization,
    actor: Principal,
    alert: Alert,
    outcome: str,
    note: str,
    ip_address: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Close the loop: the outcome and a note saying what was done are required."""
    require(actor, Action.ALERT_WORK, alert)
    errors: dict[str, list[str]] = {}
    note = (note or "").strip()
    if outcome not in AlertOutcome.values:
        errors["outcome"] = ["Choose one of: " + ", ".join(AlertOutcome.values) + "."]
    if not note:
        errors["note"] = ["Write what was done: a resolved alert needs a note."]
    elif len(note) > MAX_NOTE:
        errors["note"] = [f"At most {MAX_NOTE} characters."]
    if errors:
        raise ValidationFailed("The alert was not resolved.", fields=errors)
    alert = _locked(organization, alert)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(
            "The alert is already resolved.", fields={"status": ["The alert is resolved."]}
        )
    now = now or timezone.now()
    alert.outcome = outcome
    alert.resolution_note = note
    alert.resolved_at = now
    _set_status(
        organization, actor, alert, AlertStatus.RESOLVED, now, ip_address, {"outcome": outcome}
    )
    return alert


def _member_user_id(organization: Organization, assignee_id: Any) -> int:
    try:
        user_id = int(assignee_id)
    except (TypeError, ValueError):
        user_id = -1
    found = (
        Membership.objects.for_organization(organization)
        .filter(user_id=user_id)
        .values_list("user_id", flat=True)
        .first()
    )
    if found is None:
        raise ValidationFailed(
            "Alerts can only be assigned to members of the organisation.",
            fields={"assignee": ["Not a member of this organisation."]},
        )
    return int(found)


@transaction.atomic
def alert_assign(
    *,
    organization: Organization,
    actor: Principal,
    alert: Alert,
    assignee_id: int | None,
    ip_address: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """Give the alert to another member (or to nobody: None); the new assignee is told."""
    require(actor, Action.ALERT_WORK, alert)
    user_id = None if assignee_id in (None, "") else _member_user_id(organization, assignee_id)
    alert = _locked(organization, alert)
    if alert.status == AlertStatus.RESOLVED:
        raise Conflict(
            "A resolved alert cannot be reassigned.",
            fields={"assignee": ["The alert is resolved."]},
        )
    if alert.assignee_id == user_id:
        return alert
    now = now or timezone.now()
    previous = alert.assignee_id
    alert.assignee_id = user_id
    alert.notified_at = None
    alert.save(update_fields=["assignee", "notified_at"])
    data = {"from": previous, "to": user_id}
    _event(alert, actor, "assigned", data, now)
    audit_record(
        organization=organization,
        actor=actor,
        action="alert.reassigned",
        target=alert,
        data=data,
        ip_address=ip_address,
    )
    if user_id is not None:
        alert_ids = [alert.pk]
        transaction.on_commit(lambda: _queue_notify(organization.pk, alert_ids=alert_ids))
    return alert


@transaction.atomic
def alert_update(
    *,
    organization: Organization,
    actor: Principal,
    alert: Alert,
    fields: dict[str, Any],
    ip_address: str | None = None,
    now: datetime | None = None,
) -> Alert:
    """The API's PATCH: any of `assignee`, `status` (in_progress / resolved, with `outcome` and
    `note`), in one transaction: a refused part changes nothing."""
    require(actor, Action.ALERT_WORK, alert)
    common: dict[str, Any] = {
        "organization": organization,
        "actor": actor,
        "ip_address": ip_address,
        "now": now,
    }
    if "assignee" in fields:
        alert = alert_assign(alert=alert, assignee_id=fields["assignee"], **common)
    status = fields.get("status")
    if status == AlertStatus.IN_PROGRESS:
        alert = alert_start(alert=alert, **common)
    elif status == AlertStatus.RESOLVED:
        alert = alert_resolve(
            alert=alert, outcome=fields.get("outcome", ""), note=fields.get("note", ""), **common
        )
    elif status is not None:
        raise ValidationFailed(
            "An alert can be moved to in_progress or resolved.",
            fields={"status": ["Choose in_progress or resolved."]},
        )
    return alert


# --- rules ------------------------------------------------------------------------------------


def _journey_scales(
    organization: Organization, journey: Journey
) -> dict[str, set[tuple[int, int]]]:
    """Scales of the journey's customer items that rules compare against, by item kind."""
    scales: dict[str, set[tuple[int, int]]] = defaultdict(set)
    rows = (
        Item.objects.for_organization(organization)
        .filter(
            version__questionnaire__journey=journey,
            audience=Audience.CUSTOMER,
            kind__in=[ItemKind.RATING, ItemKind.OVERALL, ItemKind.NPS],
            scale_lo__isnull=False,
            scale_hi__isnull=False,
        )
        .values_list("kind", "scale_lo", "scale_hi")
        .distinct()
    )
    for kind, lo, hi in rows:
        scales[kind].add((lo, hi))
    return scales


_THRESHOLDS = {
    "rating_threshold": (ItemKind.RATING, (1, 5)),
    "overall_threshold": (ItemKind.OVERALL, (1, 5)),
    "nps_threshold": (ItemKind.NPS, (0, 10)),
}


def _clean_rules(
    organization: Organization, journey: Journey, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    unknown = sorted(set(values) - set(RULE_FIELDS))
    for name in unknown:
        errors[name] = ["Unknown field."]
    for name in ("enabled", "rating_enabled", "nps_enabled", "overall_enabled"):
        if name in values:
            if not isinstance(values[name], bool):
                errors[name] = ["Must be true or false."]
            else:
                cleaned[name] = values[name]
    scales = None
    for name, (kind, default_scale) in _THRESHOLDS.items():
        if name not in values:
            continue
        raw = values[name]
        if raw in (None, "") and name != "nps_threshold":
            cleaned[name] = None
            continue
        try:
            threshold = int(raw)
            if isinstance(raw, float | bool) or str(threshold) != str(raw).strip():
                raise ValueError
        except (TypeError, ValueError):
            errors[name] = ["Give a whole number on the item's scale."]
            continue
        if scales is None:
            scales = _journey_scales(organization, journey)
        for lo, hi in sorted(scales.get(kind) or {default_scale}):
            if not lo <= threshold <= hi:
                errors[name] = [
                    f"{threshold} is outside the scale {lo}-{hi} of this journey's items."
                ]
                break
        else:
            cleaned[name] = threshold
    if "keywords" in values:
        raw_keywords = values["keywords"]
        if isinstance(raw_keywords, str):
            raw_keywords = raw_keywords.replace("\n", ",").split(",")
        if not isinstance(raw_keywords, list) or not all(isinstance(k, str) for k in raw_keywords):
            errors["keywords"] = ["Give a list of words."]
        else:
            words = list(dict.fromkeys(k.strip() for k in raw_keywords if k.strip()))
            if len(words) > MAX_KEYWORDS:
                errors["keywords"] = [f"At most {MAX_KEYWORDS} keywords."]
            elif any(len(w) > MAX_KEYWORD_LENGTH for w in words):
                errors["keywords"] = [f"A keyword has at most {MAX_KEYWORD_LENGTH} characters."]
            else:
                cleaned["keywords"] = words
    if "sla_hours" in values:
        try:
            hours = int(values["sla_hours"])
            if isinstance(values["sla_hours"], float | bool):
                raise ValueError
        except (TypeError, ValueError):
            errors["sla_hours"] = ["Give a whole number of hours."]
        else:
            if not 1 <= hours <= MAX_SLA_HOURS:
                errors["sla_hours"] = [f"Between 1 and {MAX_SLA_HOURS} hours."]
            else:
                cleaned["sla_hours"] = hours
    return cleaned, errors


@transaction.atomic
def alert_rules_update(
    *,
    organization: Organization,
    actor: Principal,
    journey: Journey,
    values: dict[str, Any],
    ip_address: str | None = None,
) -> AlertRuleSet:
    """Change a journey's alert rules. Thresholds are raw values on the scale of the journey's
    items (a threshold outside it is refused, naming the field); None means bottom box."""
    require(actor, Action.ALERT_RULES_MANAGE, journey)
    cleaned, errors = _clean_rules(organization, journey, values)
    if errors:
        raise ValidationFailed("The alert rules were not changed.", fields=errors)
    Journey.objects.for_organization(organization).select_for_update().get(pk=journey.pk)
    rule_set = AlertRuleSet.objects.for_organization(organization).filter(journey=journey).first()
    if rule_set is None:
        rule_set = AlertRuleSet(organization=organization, journey=journey)
    before = {name: getattr(rule_set, name) for name in RULE_FIELDS}
    for name, value in cleaned.items():
        setattr(rule_set, name, value)
    rule_set.save()
    after = {name: getattr(rule_set, name) for name in RULE_FIELDS}
    changed = {
        name: [before[name], after[name]] for name in RULE_FIELDS if before[name] != after[name]
    }
    if changed:
        audit_record(
            organization=organization,
            actor=actor,
            action="alert_rules.updated",
            target=journey,
            data={"changed": changed},
            ip_address=ip_address,
        )
    return rule_set


# --- consent questions ------------------------------------------------------------------------


@transaction.atomic
def contact_questions_add(
    *,
    organization: Organization,
    actor: Principal,
    questionnaire: Questionnaire,
    ip_address: str | None = None,
) -> int:
    """Add "may we contact you?" and name / email / phone to the customer side of the
    questionnaire's draft (opened from the published version when needed). Returns how many
    items were added (0: it asks already). Publishing is the questionnaire's usual step."""
    require(actor, Action.JOURNEY_EDIT, questionnaire.journey)
    version = questionnaire_edit_start(
        organization=organization, actor=actor, questionnaire=questionnaire, ip_address=ip_address
    )
    existing = set(
        Item.objects.for_organization(organization)
        .filter(version=version, audience=Audience.CUSTOMER)
        .values_list("key", flat=True)
    )
    position = (
        Item.objects.for_organization(organization)
        .filter(version=version, audience=Audience.CUSTOMER)
        .count()
    )
    languages = list(version.languages)

    def texts(by_language: Any) -> dict[str, str]:
        return {lang: by_language.get(lang) or by_language["en"] for lang in languages}

    rows: list[dict[str, Any]] = [
        dict(
            kind=ItemKind.SINGLE_CHOICE,
            key=CONSENT_KEY,
            texts=texts(CONSENT_TEXTS),
            choices=[{"value": c["value"], "texts": texts(c["texts"])} for c in CONSENT_CHOICES],
        ),
        *(
            dict(kind=ItemKind.TEXT, key=key, texts=texts(CONTACT_TEXTS[key]))
            for key in CONTACT_KEYS
        ),
    ]
    items: list[Item] = []
    for row in rows:
        if row["key"] in existing:
            continue
        items.append(
            Item(
                organization=organization,
                version=version,
                audience=Audience.CUSTOMER,
                position=position + len(items),
                **row,
            )
        )
    Item.objects.bulk_create(items)
    if items:
        audit_record(
            organization=organization,
            actor=actor,
            action="alert_rules.contact_questions_added",
            target=questionnaire,
            data={"version": version.number, "items": len(items)},
            ip_address=ip_address,
        )
    return len(items)


# --- notification preferences -----------------------------------------------------------------


@transaction.atomic
def notification_preference_set(
    *, organization: Organization, actor: Principal, mode: str, ip_address: str | None = None
) -> AlertNotificationPreference:
    """The acting member's choice: an email per alert, or a daily digest."""
    require(actor, Action.ALERT_VIEW)
    if actor.user is None:
        raise ValidationFailed(
            "Only members have alert emails.", fields={"mode": ["Not a member."]}
        )
    if mode not in NotificationMode.values:
        raise ValidationFailed(
            "Choose how to hear about alerts.",
            fields={"mode": ["Choose one of: " + ", ".join(NotificationMode.values) + "."]},
        )
    preference, _created = AlertNotificationPreference.objects.for_organization(
        organization
    ).get_or_create(organization=organization, user=actor.user, defaults={"mode": mode})
    if preference.mode != mode:
        preference.mode = mode
        preference.save(update_fields=["mode"])
    return preference
