"""Differencing attacks on employee figures, end to end: through the API, the dashboard, the
PDF and the responses export, no two views may differ by fewer than k employees.

Employees (k = 5): in March 2026 teams a (2), b (6), c (6), d (7); in November 2025 two of
team c, in December 2025 five each of c and d."""

from datetime import date
from itertools import combinations

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from apps.reports import exports, gap_pdf
from apps.scoring import selectors
from apps.scoring.filters import ReportFilter
from apps.scoring.services import responses_process
from tests.scoring.conftest import ResponseRow, rating_key

pytestmark = pytest.mark.django_db

K = 5
TEAMS = ("a", "b", "c", "d")
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}


@pytest.fixture
def staff(org, scoring_journey, response_store):
    """The employees as (number, team, day, ease answer); customers to compare with."""
    tp = scoring_journey.touchpoints_in_order[0]
    ease = rating_key(tp, "ease")
    people = []
    plan = [("a", 2, date(2026, 3, 2)), ("b", 6, date(2026, 3, 3)), ("c", 6, date(2026, 3, 4))]
    plan += [("d", 7, date(2026, 3, 5)), ("c", 2, date(2025, 11, 10))]
    plan += [("c", 5, date(2025, 12, 10)), ("d", 5, date(2025, 12, 11))]
    for team, count, day in plan:
        for index in range(count):
            people.append((len(people), team, day, 1 + (len(people) * 7 + index) % 5))
    rows = [
        ResponseRow("employee", {ease: value, "nps": value * 2}, {"team": team}, day)
        for _n, team, day, value in people
    ]
    rows += [
        ResponseRow("customer", {ease: 1 + i % 5, "nps": i % 11}, {"team": "c"}, day)
        for i, day in enumerate([date(2026, 3, 2)] * 30 + [date(2025, 12, 2)] * 30)
    ]
    response_store.add_many(rows)
    while responses_process(organization_id=org.pk):
        pass
    return people


def gap_report(api, journey, params):
    url = reverse("api:journey-gap-report", kwargs={"org_slug": "acme", "journey_id": journey.pk})
    response = api.get(url, params)
    assert response.status_code == 200
    return response.json()


def covered(people, teams, first, last):
    return {n for n, team, day, _v in people if team in teams and first <= day <= last}


def test_all_units_against_all_but_one_through_the_api(viewer_api, scoring_journey, staff):
    everyone = gap_report(viewer_api, scoring_journey, MARCH)["touchpoints"][0]["employee"]
    assert everyone["n"] == 21 and not everyone["suppressed"]
    all_but_a = {**MARCH, "attr.team": ["b", "c", "d"]}
    data = gap_report(viewer_api, scoring_journey, all_but_a)
    cell = data["touchpoints"][0]["employee"]
    assert cell["suppressed"] and cell["suppressed_reason"] == "difference" and cell["n"] is None
    assert data["touchpoints"][0]["gap"]["gap"] is None
    assert data["withheld_by_difference"] > 0
    nps = next(o for o in data["outcomes"] if o["item_key"] == "nps")
    assert (
        nps["employee_nps"]["suppressed"] and nps["employee"]["suppressed_reason"] == "difference"
    )


def test_no_two_released_views_differ_by_fewer_than_k(viewer_api, scoring_journey, staff):
    """Every team subset over several periods: the employees a released figure covers are
    exactly those its window and teams select, and any two such groups differ by none or k+;
    the shown single teams' sum against everyone too."""
    periods = [
        MARCH,
        {"from": "2026-03-02", "to": "2026-03-31"},  # 30 days
        {"from": "2026-03-03", "to": "2026-03-31"},  # 29 days
        {"from": "2025-12-01", "to": "2025-12-31"},
        {"from": "2025-11-01", "to": "2025-12-31"},
        {"from": "2025-11-01", "to": "2026-03-31"},
    ]
    subsets = [None] + [list(c) for r in range(1, 4) for c in combinations(TEAMS, r)]
    released = []
    for period in periods:
        singles = 0
        total = None
        for teams in subsets:
            params = {**period, **({"attr.team": teams} if teams else {})}
            data = gap_report(viewer_api, scoring_journey, params)
            cell = data["touchpoints"][0]["employee"]
            first = date.fromisoformat(data["employee_from"])
            last = date.fromisoformat(data["employee_to"])
            assert first.day == 1 and first <= date.fromisoformat(period["from"])
            group = covered(staff, teams or TEAMS, first, last)
            if cell["suppressed"]:
                assert cell["n"] is None and cell["mean"] is None
                continue
            assert cell["n"] == len(group)
            values = [100 * (v - 1) / 4 for n, _t, _d, v in staff if n in group]
            assert cell["mean"] == pytest.approx(sum(values) / len(values))
            released.append(group)
            if teams is None:
                total = len(group)
            elif len(teams) == 1:
                singles += len(group)
        assert total is not None
        assert total - singles == 0 or total - singles >= K
    assert len(released) > 20
    for one, other in combinations(released, 2):
        for part in (one - other, other - one, one & other):
            assert len(part) == 0 or len(part) >= K


def test_month_windows_cannot_be_told_apart(viewer_api, scoring_journey, staff):
    def employee(period):
        data = gap_report(viewer_api, scoring_journey, period)
        return data["employee_from"], data["employee_to"], data["touchpoints"][0]["employee"]

    # November's two employees join December's block: "Nov-Dec" and "Dec" are the same figures.
    december = employee({"from": "2025-12-01", "to": "2025-12-31"})
    assert december == employee({"from": "2025-11-01", "to": "2025-12-31"})
    assert december[:2] == ("2025-11-01", "2025-12-31") and december[2]["n"] == 12
    # 30 days against 29 days: the same whole month.
    assert employee({"from": "2026-03-02", "to": "2026-03-31"}) == employee(
        {"from": "2026-03-03", "to": "2026-03-31"}
    )


def test_two_overlapping_or_filters(viewer_api, scoring_journey, staff):
    def shown(teams):
        data = gap_report(viewer_api, scoring_journey, {**MARCH, "attr.team": teams})
        return not data["touchpoints"][0]["employee"]["suppressed"]

    # a (2) pools with b (the smallest other team): {a, b} shows, {b} and {b, c} do not.
    assert shown(["a", "b"]) and shown(["c", "d"]) and shown(["c"])
    assert not shown(["b"]) and not shown(["b", "c"]) and not shown(["a"])


def test_dashboard_comparison_and_calibration_with_one_small_unit(
    viewer_client, org, scoring_journey, staff
):
    # Journey scores count touchpoints with min_n answers: let the teams of 6 and 7 count.
    org.min_n = 5
    org.save(update_fields=["min_n"])
    url = reverse("dashboards:journey", args=[org.slug, scoring_journey.pk])
    params = "?preset=custom&from=2026-03-01&to=2026-03-31&compare=team&unit=team"
    response = viewer_client.get(url + params)
    segments = {row.value: row for row in response.context["segments"]}
    assert segments["a"].employee is None and segments["b"].employee is None
    assert segments["c"].employee is not None and segments["d"].employee is not None
    calibration = {c.unit: c for c in response.context["calibration"]}
    assert calibration["a"].suppressed and calibration["b"].suppressed
    assert not calibration["c"].suppressed and not calibration["d"].suppressed
    page = response.content.decode()
    assert "Staff figures cover 2026-03-01 to 2026-03-31" in page

    attacked = viewer_client.get(url + "?preset=custom&from=2026-03-01&to=2026-03-31"
                                 "&attr.team=b&attr.team=c&attr.team=d")  # fmt: skip
    report = attacked.context["report"]
    assert report.touchpoints[0].employee.suppressed
    assert report.touchpoints[0].employee.suppressed_reason == "difference"
    assert report.journey_cx_employee is None
    assert "by difference" in attacked.content.decode()


def test_the_pdf_says_why_and_which_months(org, scoring_journey, staff):
    flt = ReportFilter(date(2026, 3, 1), date(2026, 3, 31), {"team": ["b", "c", "d"]})
    report = selectors.gap_report(organization=org, journey=scoring_journey, report_filter=flt)

    def pdf_html(language: str) -> str:
        with translation.override(language):
            context = gap_pdf.gap_report_context(
                organization=org,
                journey=scoring_journey,
                report=report,
                period=(flt.date_from, flt.date_to),
                language=language,
                filters_description="team: b, c, d",
            )
            return " ".join(render_to_string(gap_pdf.TEMPLATE, context).split())

    html = pdf_html("en")
    assert "Staff figures cover 2026-03-01 to 2026-03-31" in html
    assert "reveal a few employees by difference" in html
    assert "by difference" in html and "1 staff figure is withheld" not in html
    html = pdf_html("fi")
    assert "Henkilöstön luvut kattavat ajan 2026-03-01 \u2013 2026-03-31" in html
    assert "paljastaisivat erotuksena muutaman työntekijän" in html
    assert "henkilöstön lukua jätetään näyttämättä" in html


def test_the_export_cannot_be_differenced(org, scoring_journey, staff):
    everyone = exports.responses_export(
        organization=org,
        journey=scoring_journey,
        report_filter=ReportFilter(date(2026, 3, 1), date(2026, 3, 31)),
    )
    rows = [dict(zip(everyone.table.headers, row, strict=True)) for row in everyone.table.rows]
    employees = [row for row in rows if row["audience"] == "employee"]
    assert everyone.employees == len(employees) == 21
    # Team a (2) is pooled with b: their rows show no team, and no day.
    teams = [row["segment.team"] for row in employees]
    assert teams.count(None) == 8 and "a" not in teams and "b" not in teams
    assert {row["submitted_on"] for row in employees} == {"2026-03-01/2026-03-31"}
    assert {row["version"] for row in employees} == {None}

    all_but_a = exports.responses_export(
        organization=org,
        journey=scoring_journey,
        report_filter=ReportFilter(date(2026, 3, 2), date(2026, 3, 31), {"team": ["b", "c", "d"]}),
    )
    assert all_but_a.employees_withheld and all_but_a.employees_withheld_reason == "difference"
    assert all(row[0] == "customer" for row in all_but_a.table.rows)
    c_and_d = exports.responses_export(
        organization=org,
        journey=scoring_journey,
        report_filter=ReportFilter(date(2026, 3, 5), date(2026, 3, 6), {"team": ["c", "d"]}),
    )
    assert c_and_d.employees == 13 and not c_and_d.employees_withheld
