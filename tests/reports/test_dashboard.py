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


STORES = [f"store-{i:02d}" for i in range(15)]  # more than the old cap of 12 compared values


@pytest.fixture
def many_segments(org, scoring_journey, response_store):
    """15 stores with 8-45 customers each (derived importance from 30 pairs in some stores,
    declared in the others) and 0-12 store employees (withheld under 5, shown from 5, counted in
    the journey score from 10); staff also carry a team, one team too small to be shown."""
    web, support, invoice = scoring_journey.touchpoints_in_order
    rng = random.Random(11)  # noqa: S311 - test data
    rows = []
    for index, store in enumerate(STORES):
        region = "south" if index % 3 else "north"
        for _ in range(8 + (index * 37) % 38):
            experience = rng.randint(1, 5)
            answers = {
                rating_key(web, "ease"): experience,
                rating_key(web, "effectiveness"): rng.choice([experience, rng.randint(1, 5)]),
                rating_key(support, "ease"): rng.randint(1 + index % 3, 5),
                rating_key(invoice, "ease"): rng.randint(2, 5),
                "nps": min(10, max(0, 2 * experience + rng.randint(-1, 1))),
            }
            segment = {"store": store, "region": region}
            rows.append(ResponseRow("customer", answers, segment, DAY))
        for staff in range(12 if index % 3 == 1 else (7 if index == 2 else index % 5)):
            answers = {
                rating_key(web, "ease"): rng.randint(3, 5),
                rating_key(support, "ease"): rng.randint(2, 5),
                rating_key(invoice, "ease"): rng.randint(1, 5),
            }
            team = "small" if staff == 0 and index < 3 else ("north" if staff % 2 else "south")
            rows.append(ResponseRow("employee", answers, {"store": store, "team": team}, DAY))
    response_store.add_many(rows)
    responses_process_pending(organization_id=org.pk)
    return scoring_journey


def same(mine, theirs):
    """Equal, or both None; sums of the same float moments in another order may differ in the
    last bits."""
    if theirs is None:
        return mine is None
    return mine == pytest.approx(theirs, rel=1e-12, abs=1e-9)


def test_segments_equal_each_segments_own_gap_report(viewer_client, org, many_segments):
    """Every value's scores are its own gap report's; staff under the anonymity minimum stay
    withheld; the calibration is staff_calibration's."""
    from apps.scoring import selectors
    from apps.scoring.comparison import narrowed

    url = dashboard_url(org, many_segments, compare="store", unit="team")
    context = viewer_client.get(url).context
    flt = context["filter"]
    segments = context["segments"]
    assert [row.value for row in segments] == STORES
    withheld = derived = 0
    for row in segments:
        own = selectors.gap_report(
            organization=org, journey=many_segments, report_filter=narrowed(flt, "store", row.value)
        )
        assert same(row.customer, own.journey_cx_customer)
        assert same(row.employee, own.journey_cx_employee)
        if own.journey_cx_employee is None:
            assert row.gap is None
            withheld += own.suppressed_cells > 0
        elif own.journey_cx_customer is not None:
            assert same(row.gap, own.journey_cx_employee - own.journey_cx_customer)
        derived += any(tp.importance_source == "derived" for tp in own.touchpoints)
    assert withheld >= 3 and sum(row.employee is not None for row in segments) >= 3
    assert sum(row.customer is None for row in segments) >= 1  # too few customers
    assert 3 <= derived < len(segments)  # both kinds of importance are compared
    # The same again from the importance cache.
    again = viewer_client.get(url).context["segments"]
    assert [(r.customer, r.employee) for r in again] == [(r.customer, r.employee) for r in segments]

    expected = selectors.staff_calibration(
        organization=org, journey=many_segments, report_filter=flt, attribute="team"
    )
    calibration = context["calibration"]
    assert [(c.unit, c.suppressed, c.touchpoints_compared) for c in calibration] == [
        (c.unit, c.suppressed, c.touchpoints_compared) for c in expected
    ]
    # The small team is pooled with the smallest other one, withheld too: else everyone minus
    # the shown teams would be the small team.
    assert [c.unit for c in calibration if c.suppressed] == ["small", "south"]
    for mine, theirs in zip(calibration, expected, strict=True):
        assert same(mine.mean_abs_gap, theirs.mean_abs_gap)


def test_segments_under_a_segment_filter(viewer_client, org, many_segments):
    from apps.scoring import selectors
    from apps.scoring.comparison import narrowed

    url = dashboard_url(org, many_segments, compare="store", **{"attr.region": "north"})
    context = viewer_client.get(url).context
    shown = {row.value for row in context["segments"] if row.customer is not None}
    assert shown == {s for i, s in enumerate(STORES) if i % 3 == 0 and i}  # store-00: 8 answers
    for row in context["segments"]:
        own = selectors.gap_report(
            organization=org,
            journey=many_segments,
            report_filter=narrowed(context["filter"], "store", row.value),
        )
        assert same(row.customer, own.journey_cx_customer)
        assert same(row.employee, own.journey_cx_employee)


def test_previous_period_nps_and_choices_are_the_selectors(
    org, analyst, many_segments, scoring_questionnaire
):
    from apps.distribution.services import context_attribute_set
    from apps.scoring import comparison, selectors
    from apps.scoring.filters import ReportFilter
    from apps.scoring.models import AttributeSet
    from tests.journeys.helpers import principal

    for name, allowed in (("store", ["store-99", "store-00"]), ("channel", [])):
        context_attribute_set(
            organization=org,
            actor=principal(org, analyst),
            questionnaire=scoring_questionnaire,
            name=name,
            allowed_values=allowed,
        )

    flt = ReportFilter(date_from=DAY, date_to=DAY, attributes={"region": ["north"]})
    choices = comparison.segment_choices(organization=org, journey=many_segments)
    mine = comparison.customer_nps(
        organization=org, journey=many_segments, report_filter=flt, choices=choices
    )
    summary = selectors.nps_summary(organization=org, journey=many_segments, report_filter=flt)
    assert mine == summary.customer_nps and mine.n
    assert choices.values == selectors.attribute_values(organization=org, journey=many_segments)
    assert "store-99" in choices.values["store"] and choices.values["channel"] == []
    stored = AttributeSet.objects.for_organization(org).values_list("pk", "values")
    assert choices.sets == dict(stored) and len(choices.sets) > len(STORES)


@pytest.mark.parametrize(
    ("query", "cold", "warm"),
    # The closed-loop panels (alerts, improvement actions) share one query; the journey's
    # questionnaires and ScoringState ride along with the attribute sets. Derived importance
    # and the employee units (apps.scoring.anonymity) are cached until new data arrives.
    [
        ({}, 13, 11),
        ({"compare": "store", "unit": "team"}, 15, 12),
        # The filter's attribute sets come from the sets the page has read anyway. The compared
        # stores are the region's sets, and March is settled: their importance pairs come from
        # the cache the report's read has just filled (selectors.pair_counts_by_set). Read
        # again, the region's item counts of the settled period and of the previous one (its
        # NPS) come from the cache too (selectors.customer_item_cells).
        ({"compare": "store", "unit": "team", "attr.region": "south"}, 14, 10),
    ],
)
def test_the_dashboard_reads_aggregates_in_few_queries(
    viewer_client, org, many_segments, query, cold, warm, django_assert_num_queries
):
    """At most 15 queries whatever the number of segment values (15 stores compared here)
    once derived importance and the employee units are cached; the first read after new data
    also reads them (one query for the report's importance, one for all the compared values,
    one for the employee units)."""
    from django.core.cache import cache

    url = dashboard_url(org, many_segments, **query)
    viewer_client.get(url)  # the session
    cache.clear()
    with django_assert_num_queries(cold):
        viewer_client.get(url)
    with django_assert_num_queries(warm):
        response = viewer_client.get(url)
    assert len(response.context["segments"]) == (len(STORES) if "compare" in query else 0)


def test_the_alerts_and_actions_panels_are_their_selectors_read_together(
    viewer_client, org, analyst, viewer, planted
):
    """One query serves both closed-loop panels; each equals its own selector's figures."""
    from datetime import date, timedelta

    from apps.actions.selectors import dashboard_panel
    from apps.actions.services import action_create
    from apps.alerts.models import Alert
    from apps.alerts.selectors import dashboard_figures
    from apps.alerts.services import alert_resolve, alert_start
    from tests.journeys.helpers import principal

    web, support, _invoice = planted.touchpoints_in_order
    actor = principal(org, analyst)
    alerts = list(Alert.objects.for_organization(org).order_by("id"))
    assert len(alerts) >= 3  # the unhappy web shop customers
    t0 = alerts[0].created_at
    alert_start(organization=org, actor=actor, alert=alerts[0], now=t0 + timedelta(hours=2))
    alert_resolve(organization=org, actor=actor, alert=alerts[1], outcome="recovered",
                  note="ok", now=t0 + timedelta(hours=5))  # fmt: skip
    for touchpoint, due in ((web, date(2026, 3, 10)), (support, date(2099, 1, 1))):
        action_create(organization=org, actor=actor, journey=planted, touchpoint_id=touchpoint.pk,
                      title=f"Fix {touchpoint.name}", owner_id=analyst.pk, due_date=due,
                      today=date(2026, 3, 1))  # fmt: skip

    response = viewer_client.get(dashboard_url(org, planted))
    alerts_panel = response.context["alerts_panel"]
    actions_panel = response.context["actions_panel"]
    touchpoints = [(row.touchpoint_id, row.name) for row in response.context["report"].touchpoints]
    alone = dashboard_figures(organization=org, journey=planted, touchpoints=touchpoints)
    assert alerts_panel == alone
    assert alerts_panel.journey.total == len(alerts) and alerts_panel.journey.resolved == 1
    assert alerts_panel.journey.median_hours_to_first_action is not None
    mine = dashboard_panel(organization=org, principal=principal(org, viewer), journey=planted)
    assert actions_panel == mine
    assert (actions_panel.total, actions_panel.overdue) == (2, 1)
    assert actions_panel.open_touchpoints == {web.pk, support.pk}


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


def test_the_segment_choices_carry_the_questionnaires_and_the_scoring_state(
    org, scoring_journey, many_segments, django_assert_num_queries
):
    """The journey's questionnaires (in `journey_questionnaires`' order, oldest first, not by
    id) and its ScoringState ride along in the attribute sets' query; the employee units read
    with that state are those read without it."""
    from datetime import timedelta

    from apps.scoring import comparison, selectors
    from apps.surveys.models import Questionnaire

    newer = Questionnaire.objects.create(organization=org, journey=many_segments, name="Older")
    Questionnaire.objects.for_organization(org).filter(pk=newer.pk).update(
        created_at=newer.created_at - timedelta(days=400)
    )
    with django_assert_num_queries(1):
        choices = comparison.segment_choices(organization=org, journey=many_segments)
    listed = selectors.journey_questionnaires(organization=org, journey=many_segments)
    assert len(listed) == 2 and listed[0].pk == newer.pk
    assert [(q.pk, q.name) for q in choices.questionnaires] == [(q.pk, q.name) for q in listed]
    state = selectors.journey_state(organization=org, journey=many_segments)
    assert choices.state == state and state[0] > 0 and state[1]
    read = selectors.staff_data(organization=org, journey=many_segments)
    # The same cache key either way: the state given, the cached units are used.
    with django_assert_num_queries(0):
        given = selectors.staff_data(organization=org, journey=many_segments, state=choices.state)
    assert given == read


def test_a_journey_without_data_has_the_empty_scoring_state(org, scoring_journey):
    from apps.scoring import comparison, selectors

    choices = comparison.segment_choices(organization=org, journey=scoring_journey)
    assert (
        choices.state
        == (0, None, 0)
        == selectors.journey_state(organization=org, journey=scoring_journey)
    )
    assert [q.pk for q in choices.questionnaires] == [
        q.pk for q in selectors.journey_questionnaires(organization=org, journey=scoring_journey)
    ]


def test_a_segment_filter_matching_no_customers_shows_an_empty_page(
    viewer_client, org, many_segments
):
    """A value no set carries (a region nobody answered from): nothing to read, no error; the
    compared stores and the staff units show nothing either."""
    url = dashboard_url(
        org, many_segments, compare="store", unit="team", **{"attr.region": "nowhere"}
    )
    response = viewer_client.get(url)
    assert response.status_code == 200
    context = response.context
    assert not context["filter_errors"] and context["filter"].attributes == {"region": ["nowhere"]}
    assert context["report"].journey_cx_customer is None
    assert all(row.customer is None for row in context["segments"])
