"""The journey dashboard and touchpoint drill-down, read from processed responses."""

import random

import pytest
from django.urls import reverse

from apps.scoring.services import responses_process_pending
from tests.scoring.conftest import DAY, ResponseRow, rating_key


@pytest.fixture
def planted(org, scoring_journey, response_store):
    """Web shop is a blind spot (staff 5s, customers 1-2s); Invoice gets too few employees to
    be shown; Support is aligned."""
    web, support, invoice = scoring_journey.touchpoints_in_order
    rng = random.Random(7)  # noqa: S311 - test data
    rows = []
    for i in range(30):
        answers = {
            rating_key(web, "ease"): rng.choice([1, 2]),
            rating_key(web, "effectiveness"): rng.choice([1, 2, 3]),
            rating_key(support, "ease"): rng.choice([3, 4]),
            rating_key(invoice, "ease"): rng.choice([3, 4, 5]),
            "nps": rng.choice([2, 5, 9, 10]),
            f"tp:{web.pk}:comment": f"Checkout kept failing #{i}",
        }
        rows.append(ResponseRow("customer", answers, {"store": "espoo" if i % 2 else "turku"}, DAY))
    for _ in range(12):
        rows.append(
            ResponseRow(
                "employee",
                {
                    rating_key(web, "ease"): rng.choice([4, 5]),
                    rating_key(web, "effectiveness"): rng.choice([4, 5]),
                    rating_key(support, "ease"): rng.choice([3, 4]),
                },
                {"team": "north"},
                DAY,
            )
        )
    rows.append(ResponseRow("employee", {rating_key(invoice, "ease"): 2}, {"team": "north"}, DAY))
    response_store.add_many(rows)
    responses_process_pending(organization_id=org.pk)
    return scoring_journey


def dashboard_url(org, journey, **query):
    url = reverse("dashboards:journey", args=[org.slug, journey.pk])
    params = {"from": "2026-03-01", "to": "2026-03-31", "preset": "custom", **query}
    return url + "?" + "&".join(f"{k}={v}" for k, v in params.items())


def test_a_viewer_sees_the_blind_spot_and_what_to_work_on(viewer_client, org, planted):
    response = viewer_client.get(dashboard_url(org, planted))
    assert response.status_code == 200
    page = response.content.decode()
    report = response.context["report"]
    web = next(r for r in report.touchpoints if r.name == "Web shop")
    assert web.gap.classification == "blind_spot"
    assert response.context["priorities"][0].touchpoint.name == "Web shop"
    assert "Blind spot: Web shop" in page
    assert page.count('role="img"') >= 2  # the dual curve and the matrix
    assert "Show the figures as a table" in page
    invoice = next(r for r in report.touchpoints if r.name == "Invoice")
    assert invoice.employee.suppressed  # one employee answered: withheld, not shown


def test_segments_side_by_side_and_staff_calibration(viewer_client, org, planted):
    response = viewer_client.get(dashboard_url(org, planted, compare="store", unit="team"))
    segments = {row.value: row for row in response.context["segments"]}
    assert set(segments) == {"espoo", "turku"}
    assert all(row.customer is not None for row in segments.values())
    [north] = response.context["calibration"]
    assert north.unit == "north" and north.mean_abs_gap is not None


def test_bad_filters_are_shown_on_the_fields_and_the_default_period_is_used(
    viewer_client, org, planted
):
    response = viewer_client.get(dashboard_url(org, planted, **{"from": "2026-04-01"}))
    assert response.status_code == 200
    assert "to" in response.context["filter_errors"]
    assert 'aria-invalid="true"' in response.content.decode()


def test_the_dashboard_reads_aggregates_in_few_queries(
    viewer_client, org, planted, django_assert_max_num_queries
):
    viewer_client.get(dashboard_url(org, planted))  # warm the importance cache and the session
    with django_assert_max_num_queries(25):
        viewer_client.get(dashboard_url(org, planted))


def test_another_organisation_cannot_see_the_dashboard(stranger_client, org, planted):
    assert stranger_client.get(dashboard_url(org, planted)).status_code == 404


def test_an_empty_journey_says_what_to_do_next(viewer_client, org, scoring_journey):
    response = viewer_client.get(dashboard_url(org, scoring_journey))
    assert response.status_code == 200
    assert "No responses in this period yet." in response.content.decode()


def test_touchpoint_drill_down_with_comments(viewer_client, org, planted):
    web = planted.touchpoints_in_order[0]
    url = reverse("dashboards:touchpoint", args=[org.slug, planted.pk, web.pk])
    base = url + "?from=2026-03-01&to=2026-03-31&preset=custom"
    response = viewer_client.get(base)
    assert response.status_code == 200
    page = response.content.decode()
    assert response.context["row"].name == "Web shop"
    assert len(response.context["distributions"]) == 2  # ease and effectiveness answered
    comments = response.context["comments"]
    assert comments.total == 30 and comments.pages == 2 and len(comments.items) == 20
    assert "Checkout kept failing" in page
    found = viewer_client.get(base + "&q=%2317").context["comments"]
    assert [c.text for c in found.items] == ["Checkout kept failing #17"]
    assert viewer_client.get(base + "&page=2").context["comments"].items


def test_touchpoint_of_another_journey_is_404(viewer_client, org, planted):
    from tests.factories import TouchpointFactory

    other = TouchpointFactory(stage__journey__organization=org)
    url = reverse("dashboards:touchpoint", args=[org.slug, planted.pk, other.pk])
    assert viewer_client.get(url).status_code == 404
