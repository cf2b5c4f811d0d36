"""PostgreSQL evaluates the alert rules in one statement; SQLite in Python. Both must raise the
same alerts: random journeys, rules, owners and answers, evaluated both ways on the same data."""

import random
from collections import Counter

import pytest
from django.utils import timezone

from apps.alerts.models import Alert, AlertRuleSet
from apps.alerts.services import alerts_raise_for_responses
from apps.organizations.models import Membership
from apps.surveys.models import Audience, Item, ItemKind
from apps.surveys.services import questionnaire_generate, questionnaire_publish
from tests.factories import JourneyFactory, StageFactory, TouchpointFactory
from tests.journeys.helpers import principal
from tests.scoring.conftest import NA, ResponseRow, ResponseStore

from .conftest import member

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

SCALES = [(1, 5), (1, 7), (0, 10), (1, 3), (1, 4), (0, 4)]
# casefold(): "ß" is "ss", "ẞ" too, "Ä" is "ä"; "  " is blank (ignored), "ﬁ" is "fi".
KEYWORDS = ["huono", "ß", "Ä", "straße", "  ", "ANGRY", "ﬁ", "ei"]
TEXTS = [
    "", "Strasse", "STRAẞE on pitkä", "ärgerlich", "ÄRGER", "huono palvelu", "OK", "fine",
    "file", "Angry!", "ei hyvä", "Straße ja huono, ÄRGERLICH",
]  # fmt: skip


def _journey(org, analyst, rng, owners):
    journey = JourneyFactory(organization=org, owner=rng.choice(owners))
    stages = [StageFactory(journey=journey, position=p) for p in (0, 1)]
    for n in range(rng.randint(2, 4)):
        # Positions repeat now and then: ties go down to the stage, the position and the id.
        TouchpointFactory(stage=rng.choice(stages), position=n % 2, owner=rng.choice(owners))
    actor = principal(org, analyst)
    questionnaire = questionnaire_generate(organization=org, actor=actor, journey=journey)
    questionnaire_publish(organization=org, actor=actor, questionnaire=questionnaire)
    questionnaire.refresh_from_db()
    version = questionnaire.published_version_id
    items = Item.objects.for_organization(org).filter(version_id=version)
    # Other scales than the generated 1-5, which make exact ties of touchpoint scores rarer
    # and near-ties in floating point likelier.
    for item in items.filter(kind__in=[ItemKind.RATING, ItemKind.OVERALL]):
        item.scale_lo, item.scale_hi = rng.choice(SCALES)
        item.save(update_fields=["scale_lo", "scale_hi"])
    position = items.filter(audience=Audience.CUSTOMER).count()
    first_tp = journey.touchpoints.order_by("id").first()
    extra = [
        # A contact detail never matches a keyword; a custom rating without a dimension or a
        # touchpoint never trips the rating rule; an open text on a touchpoint may.
        dict(kind=ItemKind.TEXT, key="contact:name"),
        dict(kind=ItemKind.TEXT, key="contact:email"),
        dict(kind=ItemKind.RATING, key="custom:r1", scale_lo=1, scale_hi=5),
        dict(kind=ItemKind.RATING, key="custom:r2", scale_lo=1, scale_hi=5, touchpoint=first_tp),
        dict(kind=ItemKind.TEXT, key="custom:t1", touchpoint=first_tp),
    ]
    for n, fields in enumerate(extra):
        Item.objects.create(
            organization=org, version_id=version, audience=Audience.CUSTOMER,
            position=position + n, texts={"en": "?"}, **fields,
        )  # fmt: skip
    if rng.random() < 0.8:
        AlertRuleSet.objects.create(
            organization=org,
            journey=journey,
            enabled=rng.random() < 0.8,
            rating_enabled=rng.random() < 0.8,
            rating_threshold=rng.choice([None, None, 1, 2, 3, 4]),
            nps_enabled=rng.random() < 0.8,
            nps_threshold=rng.randint(0, 8),
            overall_enabled=rng.random() < 0.8,
            overall_threshold=rng.choice([None, None, 0, 1, 2, 3]),
            keywords=rng.sample(KEYWORDS, rng.randint(0, 4)) if rng.random() < 0.6 else [],
            sla_hours=rng.randint(1, 72),
        )
    return ResponseStore(questionnaire)


def _answers(store, audience, rng):
    answers = {}
    # Stored in random order: answer ids do not follow the items' positions.
    items = list(store.items.items())
    rng.shuffle(items)
    for (side, key), item in items:
        if side != audience or rng.random() < 0.15:
            continue  # unanswered
        if item.kind in (ItemKind.RATING, ItemKind.NPS, ItemKind.OVERALL):
            if item.kind == ItemKind.RATING and rng.random() < 0.1:
                answers[key] = NA
            else:
                answers[key] = rng.randint(item.scale_lo, item.scale_hi)
        elif item.kind in (ItemKind.COMMENT, ItemKind.TEXT):
            text = rng.choice(TEXTS)
            if text:
                answers[key] = text
    return answers


def _alerts(org):
    columns = (
        "response_id", "journey_id", "touchpoint_id", "assignee_id", "triggers", "status",
        "created_at", "due_at", "escalate_at", "outcome", "resolution_note",
    )  # fmt: skip
    return list(Alert.objects.for_organization(org).order_by("response_id").values_list(*columns))


def test_the_database_and_python_evaluations_raise_the_same_alerts(org, analyst):
    rng = random.Random(20261205)  # noqa: S311 - reproducible test data, not secrets
    members = [member(org) for _ in range(3)]
    leaver = member(org)
    owners = [*members, leaver, None]
    stores = [_journey(org, analyst, rng, owners) for _ in range(6)]
    Membership.objects.for_organization(org).filter(user=leaver).delete()
    responses = []
    for store in stores:
        rows = []
        for _ in range(60):
            audience = Audience.EMPLOYEE if rng.random() < 0.15 else Audience.CUSTOMER
            rows.append(ResponseRow(audience, _answers(store, audience, rng)))
        responses += store.add_many(rows)
    rng.shuffle(responses)
    ids = sorted(r.pk for r in responses)
    now = timezone.now()

    # Two batches, as the pipeline would hand them over.
    in_database = sum(
        alerts_raise_for_responses(organization_id=org.pk, response_ids=part, now=now)
        for part in (ids[:150], ids[150:])
    )
    by_database = _alerts(org)
    # Raising again inserts nothing and still counts the tripped responses.
    assert alerts_raise_for_responses(organization_id=org.pk, response_ids=ids, now=now) == (
        in_database
    )
    assert _alerts(org) == by_database
    Alert.objects.for_organization(org).delete()

    in_python = alerts_raise_for_responses(
        organization_id=org.pk, response_ids=ids, now=now, in_python=True
    )
    by_python = _alerts(org)
    assert in_database == in_python == len(by_python)
    assert by_database == by_python

    # The data exercised what it should (else the comparison proves little).
    kinds = Counter(t["kind"] for alert in by_python for t in alert[4])
    assert all(kinds[kind] >= 10 for kind in ("rating", "nps", "overall", "keyword")), kinds
    keyword_words = {w for alert in by_python for t in alert[4] for w in t.get("keywords", ())}
    assert {"ß", "Ä"} <= keyword_words
    assert any(t["kind"] == "keyword" and t["touchpoint"] for a in by_python for t in a[4])
    assert {alert[3] for alert in by_python} >= {*(m.pk for m in members), None}
    assert leaver.pk not in {alert[3] for alert in by_python}
    assert any(alert[2] is None for alert in by_python)
    assert len({alert[1] for alert in by_python}) >= 4
    assert len({alert[7] - alert[6] for alert in by_python}) >= 3  # several SLAs
    assert 100 < len(by_python) < len(responses)
