"""Results API: gap report, touchpoint series, NPS, staff calibration and rescoring requests.

Every endpoint: a viewer may read, another organisation's member and another organisation's ids
get 404, bad filters a 400 naming the parameter, and the numbers equal those computed straight
from the raw answers of a small dataset stored and processed by the pipeline."""

import random
from datetime import timedelta
from statistics import fmean, variance

import pytest
from django.urls import reverse

from apps.audit.models import AuditEntry
from apps.scoring import api
from apps.scoring.models import ScoringState
from apps.scoring.services import responses_process
from tests.factories import JourneyFactory, TouchpointFactory
from tests.scoring.conftest import DAY, DIMENSIONS, NA, ResponseRow, rating_key

pytestmark = pytest.mark.django_db

FROM, TO = DAY - timedelta(days=20), DAY + timedelta(days=20)
PERIOD = {"from": FROM.isoformat(), "to": TO.isoformat()}
# Raw means (1-5) per touchpoint: customers, employees: a blind spot, a hidden strength, aligned.
PROFILE = [(2.2, 4.4), (4.3, 2.5), (3.5, 3.5)]


def _rating(rng: random.Random, mean: float) -> int:
    return max(1, min(5, round(rng.gauss(mean, 0.8))))


@pytest.fixture
def rows(scoring_journey, response_store) -> list[ResponseRow]:
    """40 customers in three stores and 14 employees in two teams (one of 3 people), processed."""
    rng = random.Random(11)  # noqa: S311 - reproducible test data
    tps = scoring_journey.touchpoints_in_order
    rows = []
    for index in range(54):
        audience = "customer" if index < 40 else "employee"
        answers: dict[str, int | str] = {}
        for tp, means in zip(tps, PROFILE, strict=True):
            mean = means[0] if audience == "customer" else means[1]
            for dimension in DIMENSIONS:
                answer = _rating(rng, mean)
                answers[rating_key(tp, dimension)] = NA if rng.random() < 0.1 else answer
        answers["nps"] = rng.randrange(11)
        answers["overall"] = _rating(rng, 3.5)
        if audience == "customer":
            segment = {"store": rng.choice(["Helsinki", "Tampere", "Turku"])}
        else:
            segment = {"team": "logistics" if index < 43 else "sales"}
        day = DAY + timedelta(days=rng.randrange(-15, 15))
        rows.append(ResponseRow(audience, answers, segment, day))
    response_store.add_many(rows)
    while responses_process(organization_id=response_store.organization_id):
        pass
    return rows


def url(name: str, org_slug: str = "acme", **kwargs) -> str:
    return reverse(f"api:journey-{name}", kwargs={"org_slug": org_slug, **kwargs})


def raw_scores(rows, audience, tp, where=lambda row: True) -> list[float]:
    scores = []
    for row in rows:
        if row.audience != audience or not where(row):
            continue
        values = [row.answers[rating_key(tp, d)] for d in DIMENSIONS]
        values = [100 * (v - 1) / 4 for v in values if v != NA]
        if values:
            scores.append(fmean(values))
    return scores


def assert_fields_match(data, serializer) -> None:
    """The response has exactly the fields the schema documents, all the way down."""
    from rest_framework import serializers

    if isinstance(serializer, serializers.ListSerializer):
        for item in data:
            assert_fields_match(item, serializer.child)
        return
    if not isinstance(serializer, serializers.Serializer) or data is None:
        return
    fields = serializer.fields
    assert set(data) == set(fields), (type(serializer).__name__, set(data) ^ set(fields))
    for name, field in fields.items():
        assert_fields_match(data[name], field)


# --- gap report -------------------------------------------------------------------------------


def test_a_viewer_reads_the_gap_report_with_the_raw_answers_numbers(
    viewer_api, scoring_journey, rows
):
    response = viewer_api.get(url("gap-report", journey_id=scoring_journey.pk), PERIOD)
    assert response.status_code == 200, response.json()
    data = response.json()
    assert_fields_match(data, api.GapReportSerializer())
    assert data["filter"] == {"from": PERIOD["from"], "to": PERIOD["to"], "attributes": {},
                              "questionnaire": None}  # fmt: skip
    tps = scoring_journey.touchpoints_in_order
    assert [t["touchpoint_id"] for t in data["touchpoints"]] == [tp.pk for tp in tps]
    for row, tp in zip(data["touchpoints"], tps, strict=True):
        customers = raw_scores(rows, "customer", tp)
        employees = raw_scores(rows, "employee", tp)
        assert row["customer"]["n"] == len(customers)
        assert row["customer"]["mean"] == pytest.approx(fmean(customers), abs=1e-9)
        assert row["customer"]["variance"] == pytest.approx(variance(customers), abs=1e-9)
        assert row["employee"]["n"] == len(employees)
        assert row["gap"]["gap"] == pytest.approx(fmean(employees) - fmean(customers), abs=1e-9)
        ease = next(d for d in row["dimensions"] if d["dimension"] == "ease")
        answers = [r.answers[rating_key(tp, "ease")] for r in rows if r.audience == "customer"]
        answers = [a for a in answers if a != NA]
        assert ease["customer"]["distribution"] == {str(v): answers.count(v) for v in range(1, 6)}
    assert [t["gap"]["classification"] for t in data["touchpoints"]] == [
        "blind_spot", "hidden_strength", "aligned",
    ]  # fmt: skip
    nps = next(o for o in data["outcomes"] if o["item_key"] == "nps")
    raw = [r.answers["nps"] for r in rows if r.audience == "customer"]
    assert nps["customer_nps"]["promoters"] == sum(v >= 9 for v in raw)
    assert nps["customer_nps"]["detractors"] == sum(v <= 6 for v in raw)
    assert data["importance"]["outcome"] == "nps"
    assert set(data["importance"]["derived"]) | set(data["importance"]["declared"]) == {
        tp.pk for tp in tps
    }


def test_suppressed_employee_cells_are_marked_not_zero(viewer_api, scoring_journey, rows):
    response = viewer_api.get(
        url("gap-report", journey_id=scoring_journey.pk), {**PERIOD, "attr.team": "logistics"}
    )
    assert response.status_code == 200
    data = response.json()
    employee = data["touchpoints"][0]["employee"]
    assert employee["suppressed"] is True
    assert employee["n"] is None and employee["mean"] is None
    assert data["touchpoints"][0]["gap"]["classification"] == "insufficient_data"
    assert data["suppressed_cells"] > 0
    assert data["filter"]["attributes"] == {"team": ["logistics"]}


def test_segment_filter_in_the_api(viewer_api, scoring_journey, rows):
    params = {**PERIOD, "attr.store": ["Helsinki", "Turku"]}
    data = viewer_api.get(url("gap-report", journey_id=scoring_journey.pk), params).json()
    tp = scoring_journey.touchpoints_in_order[1]
    customers = raw_scores(rows, "customer", tp, lambda r: r.segment.get("store") != "Tampere")
    assert data["touchpoints"][1]["customer"]["n"] == len(customers)
    assert data["touchpoints"][1]["customer"]["mean"] == pytest.approx(fmean(customers))


def test_trend_on_request(viewer_api, scoring_journey, rows):
    endpoint = url("gap-report", journey_id=scoring_journey.pk)
    assert viewer_api.get(endpoint, PERIOD).json()["touchpoints"][0]["trend"] is None
    trend = viewer_api.get(endpoint, {**PERIOD, "trend": "true"}).json()["touchpoints"][0]["trend"]
    assert trend["status"] == "insufficient_data"  # nothing in the previous period


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"from": "2026-03-10", "to": "2026-03-01"}, "to"),
        ({"from": "yesterday"}, "from"),
        ({"attr.colour": "red"}, "attr.colour"),
        ({"questionnaire": "x"}, "questionnaire"),
    ],
)
def test_bad_filters_are_a_400_naming_the_parameter(
    viewer_api, scoring_journey, rows, params, field
):
    response = viewer_api.get(url("gap-report", journey_id=scoring_journey.pk), params)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


def test_another_journeys_questionnaire_is_a_400(viewer_api, org, scoring_journey, rows):
    from apps.surveys.models import Questionnaire

    other = Questionnaire.objects.create(
        organization=org, journey=JourneyFactory(organization=org), name="Other"
    )
    response = viewer_api.get(
        url("gap-report", journey_id=scoring_journey.pk), {"questionnaire": other.pk}
    )
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["questionnaire"]


def test_strangers_and_foreign_journeys_get_404(
    stranger_api, viewer_api, other_org, scoring_journey, rows
):
    for name in ("gap-report", "nps", "calibration"):
        assert stranger_api.get(url(name, journey_id=scoring_journey.pk)).status_code == 404
        foreign = JourneyFactory(organization=other_org)
        assert viewer_api.get(url(name, journey_id=foreign.pk)).status_code == 404
        assert viewer_api.get(url(name, "rival", journey_id=foreign.pk)).status_code == 404


def test_a_read_only_api_key_reads_results_but_may_not_rescore(org, owner, scoring_journey, rows):
    from rest_framework.test import APIClient

    from apps.organizations.api_keys import api_key_create
    from apps.organizations.models import Membership
    from apps.organizations.permissions import Principal

    actor = Principal.for_membership(Membership.objects.for_organization(org).get(user=owner))
    _key, plaintext = api_key_create(organization=org, actor=actor, name="BI", access="read_only")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
    assert client.get(url("gap-report", journey_id=scoring_journey.pk)).status_code == 200
    assert client.post(url("rescore", journey_id=scoring_journey.pk)).status_code == 403


# --- series -----------------------------------------------------------------------------------


def test_touchpoint_series(viewer_api, scoring_journey, rows):
    tp = scoring_journey.touchpoints_in_order[0]
    response = viewer_api.get(
        url("touchpoint-series", journey_id=scoring_journey.pk, touchpoint_id=tp.pk),
        {**PERIOD, "interval": "week"},
    )
    assert response.status_code == 200
    data = response.json()
    assert_fields_match(data, api.SeriesSerializer())
    assert data["interval"] == "week" and data["touchpoint"] == tp.pk
    assert sum(p["customer"]["n"] for p in data["points"]) == len(raw_scores(rows, "customer", tp))
    for point in data["points"]:
        start, end = point["period_start"], point["period_end"]
        customers = raw_scores(rows, "customer", tp, lambda r, s=start, e=end: s <= str(r.day) <= e)
        assert point["customer"]["n"] == len(customers)
        if customers:
            assert point["customer"]["mean"] == pytest.approx(fmean(customers))
        # Weeks are shorter than the staff blocks (whole months at least): a week's staff
        # figures against the next week's would single out a few employees by difference.
        assert point["employee"] == {
            **point["employee"],
            "suppressed": True,
            "suppressed_reason": "period",
            "n": None,
            "mean": None,
        }


def test_series_checks_the_touchpoint_and_the_interval(
    viewer_api, stranger_api, org, other_org, scoring_journey, rows
):
    tp = scoring_journey.touchpoints_in_order[0]
    endpoint = url("touchpoint-series", journey_id=scoring_journey.pk, touchpoint_id=tp.pk)
    response = viewer_api.get(endpoint, {"interval": "year"})
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["interval"]
    assert viewer_api.get(endpoint, {"interval": "month"}).status_code == 200
    assert stranger_api.get(endpoint).status_code == 404
    elsewhere = TouchpointFactory(stage__journey__organization=org)  # another journey's
    foreign = TouchpointFactory(stage__journey__organization=other_org)
    for touchpoint in (elsewhere, foreign):
        response = viewer_api.get(
            url("touchpoint-series", journey_id=scoring_journey.pk, touchpoint_id=touchpoint.pk)
        )
        assert response.status_code == 404


# --- NPS --------------------------------------------------------------------------------------


def test_nps(viewer_api, scoring_journey, rows):
    response = viewer_api.get(url("nps", journey_id=scoring_journey.pk), PERIOD)
    assert response.status_code == 200
    data = response.json()
    assert_fields_match(data, api.NpsSerializer())
    for audience in ("customer", "employee"):
        raw = [r.answers["nps"] for r in rows if r.audience == audience]
        split = data["nps"][f"{audience}_nps"]
        assert split["n"] == len(raw)
        assert split["promoters"] == sum(v >= 9 for v in raw)
        assert split["passives"] == sum(7 <= v <= 8 for v in raw)
        assert split["detractors"] == sum(v <= 6 for v in raw)
        assert split["nps"] == pytest.approx(
            100 * (split["promoters"] - split["detractors"]) / len(raw)
        )
    narrowed = viewer_api.get(
        url("nps", journey_id=scoring_journey.pk), {**PERIOD, "attr.team": "logistics"}
    ).json()
    assert narrowed["nps"]["employee_nps"]["suppressed"] is True
    assert narrowed["nps"]["employee_nps"]["nps"] is None


def test_nps_of_a_journey_without_questionnaire_is_empty(viewer_api, org):
    journey = JourneyFactory(organization=org)
    response = viewer_api.get(url("nps", journey_id=journey.pk))
    assert response.status_code == 200 and response.json()["nps"] is None


# --- calibration ------------------------------------------------------------------------------


def test_calibration(viewer_api, scoring_journey, rows):
    response = viewer_api.get(
        url("calibration", journey_id=scoring_journey.pk), {**PERIOD, "attribute": "team"}
    )
    assert response.status_code == 200
    data = response.json()
    assert_fields_match(data, api.CalibrationSerializer())
    units = {u["unit"]: u for u in data["units"]}
    assert units["logistics"]["suppressed"] is True and units["logistics"]["mean_abs_gap"] is None
    # Sales is the only other team: showing it would give logistics as everyone minus sales.
    assert units["sales"]["suppressed"] is True and units["sales"]["mean_abs_gap"] is None
    # Narrowing the filter to sales does not get round it.
    sales_only = {**PERIOD, "attribute": "team", "attr.team": "sales"}
    response = viewer_api.get(url("calibration", journey_id=scoring_journey.pk), sales_only)
    assert [u["suppressed"] for u in response.json()["units"]] == [True]


@pytest.mark.parametrize(
    ("params", "field"), [({}, "attribute"), ({"attribute": "x"}, "attribute")]
)
def test_calibration_needs_a_known_attribute(viewer_api, scoring_journey, rows, params, field):
    response = viewer_api.get(url("calibration", journey_id=scoring_journey.pk), params)
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == [field]


# --- rescoring --------------------------------------------------------------------------------


def test_an_analyst_queues_a_rescoring_on_commit(
    analyst_api, analyst, org, scoring_journey, rows, django_capture_on_commit_callbacks
):
    before = ScoringState.objects.for_organization(org).get(journey=scoring_journey).version
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = analyst_api.post(url("rescore", journey_id=scoring_journey.pk))
    assert response.status_code == 202
    assert response.json() == {"journey": scoring_journey.pk, "status": "queued"}
    assert len(callbacks) == 1
    state = ScoringState.objects.for_organization(org).get(journey=scoring_journey)
    assert state.version == before and state.rescored_at is None  # nothing before the commit
    callbacks[0]()  # the task runs eagerly in tests
    state.refresh_from_db()
    assert state.version == before + 1 and state.rescored_at is not None
    actions = set(
        AuditEntry.objects.for_organization(org)
        .filter(target_id=str(scoring_journey.pk))
        .values_list("action", flat=True)
    )
    assert {"journey.rescore_requested", "journey.rescored"} <= actions
    # The numbers are the same after rescoring.
    data = analyst_api.get(url("gap-report", journey_id=scoring_journey.pk), PERIOD).json()
    tp = scoring_journey.touchpoints_in_order[0]
    assert data["touchpoints"][0]["customer"]["mean"] == pytest.approx(
        fmean(raw_scores(rows, "customer", tp))
    )


def test_a_viewer_may_not_rescore_but_the_journey_owner_may(
    viewer_api, viewer, scoring_journey, scoring_questionnaire, django_capture_on_commit_callbacks
):
    endpoint = url("rescore", journey_id=scoring_journey.pk)
    with django_capture_on_commit_callbacks() as callbacks:
        assert viewer_api.post(endpoint).status_code == 403
    assert callbacks == []
    scoring_journey.owner = viewer
    scoring_journey.save(update_fields=["owner"])
    with django_capture_on_commit_callbacks() as callbacks:
        assert viewer_api.post(endpoint).status_code == 202
    assert len(callbacks) == 1


def test_rescoring_a_journey_without_questionnaire_is_a_400(
    analyst_api, org, django_capture_on_commit_callbacks
):
    journey = JourneyFactory(organization=org)
    with django_capture_on_commit_callbacks() as callbacks:
        response = analyst_api.post(url("rescore", journey_id=journey.pk))
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["journey"]
    assert callbacks == []
    assert (
        not AuditEntry.objects.for_organization(org)
        .filter(action="journey.rescore_requested")
        .exists()
    )


def test_rescoring_another_organisations_journey_is_a_404(analyst_api, stranger_api, other_org,
                                                          scoring_journey):  # fmt: skip
    foreign = JourneyFactory(organization=other_org)
    assert analyst_api.post(url("rescore", journey_id=foreign.pk)).status_code == 404
    assert stranger_api.post(url("rescore", journey_id=scoring_journey.pk)).status_code == 404


def test_the_schema_documents_the_results_endpoints():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    paths = [p for p in schema["paths"] if "/journeys/{journey_id}/" in p]
    assert {p.rsplit("/", 2)[-2] for p in paths} == {
        "gap-report", "series", "nps", "calibration", "rescore",
    }  # fmt: skip
