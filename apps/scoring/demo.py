"""Generated answers for the demo journey, so that its reports show real findings.

About 2500 customers and 150 employees answer over the last 120 days through the demo links.
Two findings are planted: staff believe the Offer is much better than customers find it (a
blind spot, ~25-30 points), and customers like Invoicing more than staff think (a hidden
strength, ~15-20 points lower for staff). Each customer has a general mood shared by all their
answers, and their NPS follows their experience of the touchpoints with different weights, so
derived importance has something to find. Seeded: every load writes the same answers (relative
to the day it runs). Stored with bulk inserts and processed by the pipeline in a few batches.
"""

import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.db import connection, transaction

from apps.distribution.models import SurveyLink
from apps.journeys.models import Journey, Touchpoint
from apps.organizations.models import Organization
from apps.responses.models import Answer, PendingResponse, Response
from apps.surveys.models import Audience, Item, ItemKind, Questionnaire, QuestionnaireStatus

from .filters import organization_today
from .services import responses_process

SEED = 20260
CUSTOMERS = 2500
DAYS = 120


# (item id, value, not applicable, text, choices as JSON)
_Answer = tuple[int, int | None, bool, str, str]


@dataclass(frozen=True)
class TouchpointProfile:
    """Mean raw rating (1-5) as customers experience it and as staff believe it is, how many
    customers use the touchpoint, and how much it drives their NPS."""

    customer: float
    employee: float
    used_by: float
    nps_weight: float


# In journey order, by the B2B template's English names.
PROFILES = {
    "Brand impression": TouchpointProfile(3.9, 4.0, 0.90, 0.3),
    "Website": TouchpointProfile(3.5, 3.7, 0.70, 0.5),
    "Sales visit": TouchpointProfile(4.0, 4.1, 0.50, 1.0),
    "Offer": TouchpointProfile(2.7, 3.8, 0.65, 1.4),  # the blind spot
    "Delivery": TouchpointProfile(3.7, 3.6, 0.85, 1.6),
    "Invoicing": TouchpointProfile(4.0, 3.25, 0.75, 0.5),  # the hidden strength
    "Support call": TouchpointProfile(3.1, 3.4, 0.40, 1.2),
}
DEFAULT_PROFILE = TouchpointProfile(3.6, 3.7, 0.6, 0.8)
BLIND_SPOT = "Offer"
HIDDEN_STRENGTH = "Invoicing"
STORES = {"Helsinki": "Uusimaa", "Tampere": "Pirkanmaa", "Turku": "Varsinais-Suomi"}
STORE_WEIGHTS = (0.5, 0.3, 0.2)
# The last team is smaller than the anonymity threshold: calibration withholds it, and the
# smallest other team it is pooled with (apps.scoring.anonymity).
TEAMS = {"Sales": 45, "Customer service": 48, "Logistics": 35, "Finance": 18, "Management": 4}
COMMENTS = {
    "low": ["The offer took weeks and was hard to read.", "Nobody called me back.",
            "Tarjous oli epäselvä ja hinta muuttui."],
    "high": ["Delivery was on time and the invoice was clear.", "Erinomaista palvelua!"],
}  # fmt: skip


def _touchpoint_profile(touchpoint_name: str, english_name: str) -> TouchpointProfile:
    return PROFILES.get(english_name) or PROFILES.get(touchpoint_name) or DEFAULT_PROFILE


def _rating(rng: random.Random, level: float) -> int:
    return max(1, min(5, round(level + rng.gauss(0.0, 0.45))))


@dataclass
class _Side:
    items: dict[str, Item]  # by key
    screening: dict[int, Item]  # touchpoint id -> screening item
    comment: Item | None


def _sides(questionnaire: Questionnaire) -> dict[str, _Side]:
    sides = {a: _Side({}, {}, None) for a in Audience.values}
    items = Item.objects.for_organization(questionnaire.organization_id).filter(
        version_id=questionnaire.published_version_id
    )
    for item in items:
        side = sides[item.audience]
        if item.kind == ItemKind.SCREENING and item.touchpoint_id:
            side.screening[item.touchpoint_id] = item
        elif item.kind == ItemKind.COMMENT and item.touchpoint_id is None:
            side.comment = item
        else:
            side.items[item.key] = item
    return sides


@transaction.atomic
def demo_responses_load(organization: Organization, journey: Journey) -> int:
    """Generate and process the demo answers unless the journey has responses (idempotent);
    returns how many responses were written."""
    questionnaire = (
        Questionnaire.objects.for_organization(organization)
        .filter(journey=journey, status=QuestionnaireStatus.PUBLISHED)
        .order_by("id")
        .first()
    )
    if questionnaire is None or questionnaire.published_version_id is None:
        return 0
    if (
        Response.objects.for_organization(organization)
        .filter(questionnaire__journey=journey)
        .exists()
    ):
        return 0
    links = {
        link.name: link
        for link in SurveyLink.objects.for_organization(organization).filter(
            questionnaire=questionnaire
        )
    }
    sides = _sides(questionnaire)
    touchpoints = list(
        Touchpoint.objects.for_organization(organization)
        .filter(journey=journey, is_active=True, archived_at__isnull=True)
        .order_by("stage__position", "position", "id")
    )
    profiles = {tp.pk: _touchpoint_profile(tp.name, tp.name_in("en")) for tp in touchpoints}
    rng = random.Random(SEED)  # noqa: S311 - reproducible demo data, not secrets
    today = organization_today(organization)
    zone = ZoneInfo(organization.time_zone)
    responses: list[Response] = []
    answers: list[list[_Answer]] = []

    def answer(
        item: Item,
        value: int | None = None,
        not_applicable: bool = False,
        text: str = "",
        choices: list[str] | None = None,
    ) -> _Answer:
        return (item.pk, value, not_applicable, text, json.dumps(choices or []))

    def response(audience: str, day: date, segment: dict[str, str], link_name: str) -> None:
        at = None
        if audience == Audience.CUSTOMER:
            moment = time(rng.randrange(7, 22), rng.randrange(60))
            at = datetime.combine(day, moment, zone).astimezone(UTC)
        responses.append(
            Response(
                organization=organization, questionnaire=questionnaire,
                version_id=questionnaire.published_version_id, audience=audience,
                link=links.get(link_name), segment=segment, idempotency_key=uuid.UUID(
                    int=rng.getrandbits(128), version=4
                ), submitted_on=day, submitted_at=at, language=rng.choice(("fi", "fi", "en")),
                duration_seconds=rng.randrange(45, 400),
            )
        )  # fmt: skip

    for _ in range(CUSTOMERS):
        store = rng.choices(list(STORES), weights=STORE_WEIGHTS)[0]
        kiosk = store == "Helsinki" and rng.random() < 0.3
        day = today - timedelta(days=rng.randrange(DAYS))
        response(Audience.CUSTOMER, day, {"store": store, "region": STORES[store]},
                 "Helsinki store counter" if kiosk else "Customers (web)")  # fmt: skip
        side = sides[Audience.CUSTOMER]
        mood = rng.gauss(0.0, 0.45)
        given: list[_Answer] = []
        drive = weight = 0.0
        for tp in touchpoints:
            profile = profiles[tp.pk]
            used = rng.random() < profile.used_by
            if tp.pk in side.screening:
                given.append(answer(side.screening[tp.pk], choices=["yes" if used else "no"]))
            if not used:
                continue
            level = profile.customer + mood + rng.gauss(0.0, 0.55)
            for dimension in ("effectiveness", "ease", "emotion"):
                item = side.items.get(f"tp:{tp.pk}:{dimension}")
                if item is None:
                    continue
                if rng.random() < 0.04:
                    given.append(answer(item, not_applicable=True))
                else:
                    given.append(answer(item, value=_rating(rng, level)))
            drive += profile.nps_weight * (level - 1) / 4
            weight += profile.nps_weight
        experience = drive / weight if weight else 0.6
        if "nps" in side.items:
            nps = round(3.0 + 8.5 * experience + rng.gauss(0.0, 1.3))
            given.append(answer(side.items["nps"], value=max(0, min(10, nps))))
        if "overall" in side.items:
            given.append(answer(side.items["overall"], value=_rating(rng, 1 + 4 * experience)))
        if side.comment is not None and rng.random() < 0.08:
            tone = "low" if experience < 0.5 else "high"
            given.append(answer(side.comment, text=rng.choice(COMMENTS[tone])))
        answers.append(given)

    for team, size in TEAMS.items():
        for _ in range(size):
            day = today - timedelta(days=rng.randrange(DAYS))
            response(Audience.EMPLOYEE, day, {"team": team}, "Employees")
            side = sides[Audience.EMPLOYEE]
            optimism = rng.gauss(0.0, 0.35)
            given = []
            for tp in touchpoints:
                profile = profiles[tp.pk]
                if tp.pk in side.screening:
                    given.append(answer(side.screening[tp.pk], choices=["yes"]))
                level = profile.employee + optimism + rng.gauss(0.0, 0.5)
                for dimension in ("effectiveness", "ease", "emotion"):
                    item = side.items.get(f"tp:{tp.pk}:{dimension}")
                    if item is None:
                        continue
                    if rng.random() < 0.08:
                        given.append(answer(item, not_applicable=True))
                    else:
                        given.append(answer(item, value=_rating(rng, level)))
            if "nps" in side.items:
                estimate = round(rng.gauss(8.3, 1.2))
                given.append(answer(side.items["nps"], value=max(0, min(10, estimate))))
            if "overall" in side.items:
                given.append(answer(side.items["overall"], value=_rating(rng, 3.9 + optimism)))
            answers.append(given)

    Response.objects.bulk_create(responses, batch_size=500)
    PendingResponse.objects.bulk_create(
        [PendingResponse(organization=organization, response=stored) for stored in responses],
        batch_size=500,
    )
    # Tens of thousands of answers: plain executemany, the ORM's per-row work would take seconds.
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {Answer._meta.db_table} (organization_id, response_id, item_id, "  # noqa: S608
            "value, not_applicable, text, choices) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            [
                (organization.pk, stored.pk, *row)
                for stored, given in zip(responses, answers, strict=True)
                for row in given
            ],
        )
    while responses_process(organization_id=organization.pk, limit=1000):
        pass
    return len(responses)
