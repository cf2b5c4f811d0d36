"""The gap report and staff calibration (SCORING.md sections 4-7) on hand-computed inputs."""

import json
import math
from collections import Counter

import pytest

from apps.scoring import arithmetic
from apps.scoring.figures import (
    GapReportInput,
    ItemInfo,
    Moments,
    ScoringSettings,
    TouchpointInfo,
    ValueCounts,
)
from apps.scoring.report import (
    build_calibration,
    build_gap_report,
    calibration_to_dict,
    report_to_dict,
)

DEFAULTS = ScoringSettings()


def counts_of(lo: int, hi: int, values: list[int]) -> ValueCounts:
    return ValueCounts({(lo, hi, v): c for v, c in Counter(values).items()})


def moments(n: int, mean: float, var: float) -> Moments:
    return Moments(n=n, total=n * mean, total_sq=(n - 1) * var + n * mean * mean)


def tp(id: int, position: int, declared: int = 3) -> TouchpointInfo:
    return TouchpointInfo(
        id=id,
        name=f"Touchpoint {id}",
        stage_name="Stage",
        position=position,
        declared_importance=declared,
    )


def rating(touchpoint_id: int, dimension: str) -> ItemInfo:
    return ItemInfo(f"tp:{touchpoint_id}:{dimension}", "rating", touchpoint_id, dimension)


def journey_input(**overrides) -> GapReportInput:
    """Four touchpoints, hand-computed in the tests below.

    11: blind spot (gap 20, derived importance 0.6); 12: aligned, declared 0.5;
    13: employees withheld (n 3), derived rho negative -> 0; 14: too few customers (n 5).
    """
    values = {
        "settings": DEFAULTS,
        "touchpoints": [tp(11, 0, 5), tp(12, 1, 3), tp(13, 2, 5), tp(14, 3, 1)],
        "items": [
            rating(11, "ease"),
            rating(11, "emotion"),
            rating(13, "ease"),
            ItemInfo("nps", "nps", None, ""),
            ItemInfo("overall", "overall", None, ""),
        ],
        "item_cells": {
            ("tp:11:ease", "customer"): counts_of(1, 5, [2, 3, 3, 4, 2] * 2),
            ("tp:11:ease", "employee"): counts_of(1, 5, [4, 5, 4, 4, 5] * 2),
            ("tp:11:emotion", "customer"): counts_of(1, 5, [3, 3, 4, 4, 5, 1]),
            ("tp:11:emotion", "employee"): counts_of(1, 5, [5, 5, 4, 4]),
            ("tp:13:ease", "customer"): counts_of(1, 5, [4] * 12),
            ("nps", "customer"): counts_of(0, 10, [10, 9, 8, 7, 6, 0, 10, 10, 9, 3]),
            ("nps", "employee"): counts_of(0, 10, [10, 10, 9, 8, 9, 10]),
            ("overall", "customer"): counts_of(1, 5, [4, 4, 5, 3]),
            ("overall", "employee"): counts_of(1, 5, [5, 5]),
        },
        "touchpoint_cells": {
            (11, "customer"): moments(40, 50.0, 100.0),
            (11, "employee"): moments(20, 70.0, 100.0),
            (12, "customer"): moments(40, 80.0, 100.0),
            (12, "employee"): moments(20, 80.0, 100.0),
            (13, "customer"): moments(40, 60.0, 100.0),
            (13, "employee"): moments(3, 60.0, 100.0),
            (14, "customer"): moments(5, 20.0, 100.0),
            (14, "employee"): moments(20, 40.0, 100.0),
        },
        "derived_importance": {11: (0.6, 50), 13: (-0.2, 40), 14: (0.5, 29)},
    }
    values.update(overrides)
    return GapReportInput(**values)


@pytest.fixture
def report():
    return build_gap_report(journey_input())


def row(report, touchpoint_id):
    return next(r for r in report.touchpoints if r.touchpoint_id == touchpoint_id)


def test_touchpoints_keep_journey_order_and_classification(report):
    assert [r.touchpoint_id for r in report.touchpoints] == [11, 12, 13, 14]
    assert row(report, 11).gap.classification == "blind_spot"
    assert row(report, 11).gap.gap == pytest.approx(20.0)
    assert row(report, 12).gap.classification == "aligned"
    assert row(report, 13).gap.classification == "insufficient_data"
    assert row(report, 14).gap.classification == "insufficient_data"
    assert row(report, 14).gap.gap == pytest.approx(20.0)  # shown, just not classified


def test_touchpoint_cells_match_cell_statistics(report):
    r = row(report, 11)
    assert r.customer == arithmetic.cell_stats(moments(40, 50.0, 100.0))
    assert r.customer.distribution is None
    expected_gap = arithmetic.gap_stats(
        moments(40, 50.0, 100.0), moments(20, 70.0, 100.0), DEFAULTS
    )
    assert r.gap == expected_gap


def test_withheld_touchpoint_employee_cell(report):
    r = row(report, 13)
    assert r.employee.suppressed and r.employee.n is None and r.employee.mean is None
    assert r.gap.gap is None and r.gap.p_value is None


def test_importance_source(report):
    assert (row(report, 11).importance, row(report, 11).importance_source) == (0.6, "derived")
    assert row(report, 11).spearman_rho == 0.6 and row(report, 11).importance_pairs == 50
    assert (row(report, 12).importance, row(report, 12).importance_source) == (0.5, "declared")
    assert row(report, 12).spearman_rho is None and row(report, 12).importance_pairs == 0
    assert (row(report, 13).importance, row(report, 13).importance_source) == (0.0, "derived")
    assert (row(report, 14).importance, row(report, 14).importance_source) == (0.0, "declared")


def test_priorities(report):
    assert row(report, 11).priority_kind == "blind_spot"
    assert row(report, 11).priority == pytest.approx(0.6 * 20.0)
    assert row(report, 12).priority_kind == "opportunity"
    assert row(report, 12).priority == pytest.approx(0.5 * (100 - 80.0))
    assert row(report, 13).priority_kind == "opportunity"
    assert row(report, 13).priority == 0.0
    # Fewer customers than min_n: neither a blind spot nor an opportunity.
    assert row(report, 14).priority is None and row(report, 14).priority_kind is None


def test_top_priorities(report):
    top = report.top_priorities
    assert [(p.touchpoint_id, p.kind) for p in top] == [(11, "blind_spot"), (12, "opportunity")]
    assert top[0].priority == pytest.approx(12.0)
    assert top[0].gap == pytest.approx(20.0)
    assert top[0].customer_score == pytest.approx(50.0)
    assert (top[0].importance, top[0].importance_source) == (0.6, "derived")


def test_journey_cx_scores(report):
    # Customers: 11 (50, w 0.6), 12 (80, w 0.5), 13 (60, w 0); 14 has n 5 < min_n.
    assert report.journey_cx_customer == pytest.approx((0.6 * 50 + 0.5 * 80) / 1.1)
    # Employees: 11 (70, 0.6), 12 (80, 0.5), 14 (40, 0); 13 is withheld.
    assert report.journey_cx_employee == pytest.approx((0.6 * 70 + 0.5 * 80) / 1.1)


def test_consistency_and_weak_links(report):
    assert report.journey_mean == pytest.approx(190 / 3)
    assert report.consistency == pytest.approx(math.sqrt(1400 / 9))
    # 50 < 63.33 - 12.47; 14's customer score is lower still but not counted (n 5).
    assert [r.touchpoint_id for r in report.touchpoints if r.weak_link] == [11]


def test_dimension_rows(report):
    dims = row(report, 11).dimensions
    assert [(d.item_key, d.dimension) for d in dims] == [
        ("tp:11:ease", "ease"),
        ("tp:11:emotion", "emotion"),
    ]
    ease = dims[0]
    assert ease.customer.n == 10 and ease.customer.mean == pytest.approx(45.0)
    assert ease.customer.distribution == {1: 0, 2: 4, 3: 4, 4: 2, 5: 0}
    assert ease.employee.mean == pytest.approx(85.0)
    assert ease.employee.top_box == pytest.approx(100.0)
    assert ease.gap.gap == pytest.approx(40.0)
    assert ease.gap.classification == "blind_spot"
    emotion = dims[1]
    assert emotion.employee.suppressed and emotion.employee.distribution is None
    assert emotion.gap.classification == "insufficient_data" and emotion.gap.gap is None
    assert row(report, 12).dimensions == []
    (tp13_ease,) = row(report, 13).dimensions
    assert tp13_ease.customer.variance == 0.0
    assert tp13_ease.employee.suppressed  # nobody answered: withheld all the same


def test_outcomes_and_nps(report):
    assert [o.item_key for o in report.outcomes] == ["nps", "overall"]
    nps, overall = report.outcomes
    assert nps.customer_nps.n == 10
    assert (nps.customer_nps.promoters, nps.customer_nps.passives) == (5, 2)
    assert nps.customer_nps.detractors == 3
    assert nps.customer_nps.nps == pytest.approx(20.0)
    assert nps.employee_nps.nps == pytest.approx(100 * 5 / 6)
    assert nps.customer.mean == pytest.approx(72.0)
    assert overall.customer_nps is None and overall.employee_nps is None
    assert overall.employee.suppressed
    assert overall.gap.classification == "insufficient_data"


def test_employee_nps_estimate_is_withheld_with_its_cell():
    cells = dict(journey_input().item_cells)
    cells[("nps", "employee")] = counts_of(0, 10, [10, 9])
    report = build_gap_report(journey_input(item_cells=cells))
    nps = report.outcomes[0]
    assert nps.employee.suppressed
    assert nps.employee_nps.suppressed and nps.employee_nps.nps is None
    assert nps.employee_nps.n is None


def test_suppressed_cells_are_counted(report):
    # tp 13 touchpoint, tp:11:emotion, tp:13:ease (nobody) and overall.
    assert report.suppressed_cells == 4


def test_no_trend_without_a_previous_period(report):
    assert all(r.trend is None for r in report.touchpoints)


def test_trend_per_touchpoint():
    previous = {
        (11, "customer"): moments(40, 40.0, 100.0),  # +10, significant: improved
        (12, "customer"): moments(40, 79.0, 100.0),  # +1: stable
        (13, "customer"): moments(40, 70.0, 100.0),  # -10: declined
        (14, "customer"): moments(40, 20.0, 100.0),  # current n 5: insufficient
    }
    report = build_gap_report(journey_input(previous_touchpoint_cells=previous))
    statuses = [(r.touchpoint_id, r.trend.status) for r in report.touchpoints]
    assert statuses == [
        (11, "improved"),
        (12, "stable"),
        (13, "declined"),
        (14, "insufficient_data"),
    ]
    assert row(report, 11).trend.change == pytest.approx(10.0)
    assert row(report, 11).trend.p_value < 0.05


def test_trend_with_no_previous_answers_is_insufficient():
    report = build_gap_report(journey_input(previous_touchpoint_cells={}))
    assert {r.trend.status for r in report.touchpoints} == {"insufficient_data"}
    assert row(report, 11).trend.change is None


def simple_input(scores: dict[int, tuple[float, int]], **settings) -> GapReportInput:
    """Touchpoints in position order with only customer cells: id -> (mean, declared)."""
    touchpoints = [
        tp(tid, pos, declared) for pos, (tid, (_, declared)) in enumerate(scores.items())
    ]
    cells = {(tid, "customer"): moments(30, mean, 100.0) for tid, (mean, _) in scores.items()}
    return GapReportInput(
        settings=ScoringSettings(**settings),
        touchpoints=touchpoints,
        items=[],
        item_cells={},
        touchpoint_cells=cells,
        derived_importance={},
    )


def test_top_priorities_ties_go_to_the_earlier_touchpoint():
    inp = simple_input({1: (60.0, 3), 2: (60.0, 3), 3: (60.0, 3)})
    assert [p.touchpoint_id for p in build_gap_report(inp).top_priorities] == [1, 2]
    # Position decides, not the order the rows happen to arrive in.
    reversed_input = GapReportInput(
        **{**inp.__dict__, "touchpoints": list(reversed(inp.touchpoints))}
    )
    assert [p.touchpoint_id for p in build_gap_report(reversed_input).top_priorities] == [1, 2]


def test_blind_spots_come_before_larger_opportunities_then_fill_by_priority():
    inp = simple_input({1: (10.0, 5), 2: (60.0, 2), 3: (50.0, 3), 4: (30.0, 4)}, top_priorities=3)
    cells = dict(inp.touchpoint_cells)
    cells[(2, "employee")] = moments(30, 80.0, 100.0)  # gap 20 x 0.25 = 5
    cells[(3, "employee")] = moments(30, 62.0, 100.0)  # gap 12 x 0.5 = 6
    report = build_gap_report(GapReportInput(**{**inp.__dict__, "touchpoint_cells": cells}))
    assert row(report, 2).gap.classification == "blind_spot"
    assert row(report, 3).gap.classification == "blind_spot"
    top = report.top_priorities
    assert [(p.touchpoint_id, p.kind) for p in top] == [
        (3, "blind_spot"),
        (2, "blind_spot"),
        (1, "opportunity"),  # 1.0 x 90 beats 4's 0.75 x 70
    ]
    assert [p.priority for p in top] == pytest.approx([6.0, 5.0, 90.0])
    # Blind spots are not opportunities too.
    assert row(report, 4).priority == pytest.approx(0.75 * 70)


def test_top_priorities_setting_bounds_the_list():
    inp = simple_input({1: (60.0, 3), 2: (50.0, 3)}, top_priorities=5)
    assert len(build_gap_report(inp).top_priorities) == 2
    inp = simple_input({1: (60.0, 3), 2: (50.0, 3)}, top_priorities=0)
    assert build_gap_report(inp).top_priorities == []


def test_journey_cx_falls_back_to_the_plain_mean_when_every_importance_is_zero():
    report = build_gap_report(simple_input({1: (60.0, 1), 2: (30.0, 1), 3: (90.0, 1)}))
    assert report.journey_cx_customer == pytest.approx(60.0)
    assert report.journey_cx_employee is None


def test_empty_journey():
    report = build_gap_report(simple_input({}))
    assert report.touchpoints == [] and report.top_priorities == []
    assert report.journey_cx_customer is None and report.consistency is None
    assert report.journey_mean is None and report.suppressed_cells == 0


def test_equal_scores_have_no_weak_link():
    report = build_gap_report(simple_input({1: (60.0, 3), 2: (60.0, 3)}))
    assert report.consistency == 0.0
    assert not any(r.weak_link for r in report.touchpoints)


def test_report_to_dict_is_json_ready_and_exact(report):
    data = report_to_dict(report)
    assert json.loads(json.dumps(data)) == data
    first = data["touchpoints"][0]
    assert first["customer"]["mean"] == report.touchpoints[0].customer.mean
    assert first["gap"]["p_value"] == report.touchpoints[0].gap.p_value
    ease = first["dimensions"][0]
    assert ease["customer"]["distribution"] == {"1": 0, "2": 4, "3": 4, "4": 2, "5": 0}
    withheld = data["touchpoints"][2]["employee"]
    assert withheld["suppressed"] is True and withheld["suppressed_reason"] == "too_few"
    figures = {k: v for k, v in withheld.items() if k not in ("suppressed", "suppressed_reason")}
    assert figures == dict.fromkeys(withheld.keys() - {"suppressed", "suppressed_reason"})
    assert data["settings"]["min_n"] == 10
    assert data["top_priorities"][0]["touchpoint_id"] == 11
    assert data["suppressed_cells"] == 4


def test_calibration_per_unit():
    touchpoints = [tp(1, 0), tp(2, 1), tp(3, 2)]
    customers = {
        1: moments(20, 50.0, 100.0),
        2: moments(20, 70.0, 100.0),
        3: moments(4, 10.0, 100.0),  # too few customers: never compared
    }
    units = {
        "store-b": {1: moments(6, 60.0, 9.0), 2: moments(8, 64.0, 9.0), 3: moments(9, 90.0, 9.0)},
        "store-a": {1: moments(3, 90.0, 9.0), 2: moments(4, 90.0, 9.0)},  # all under 5
        "store-c": {1: moments(5, 45.0, 9.0), 2: moments(2, 10.0, 9.0)},  # 2 withheld
        "store-d": {3: moments(12, 40.0, 9.0)},  # only where customers are too few
    }
    result = build_calibration(DEFAULTS, touchpoints, customers, units)
    assert [c.unit for c in result] == ["store-a", "store-b", "store-c", "store-d"]
    a, b, c, d = result
    assert a.suppressed and a.mean_abs_gap is None and a.touchpoints_compared == 0
    assert not b.suppressed and b.touchpoints_compared == 2
    assert b.mean_abs_gap == pytest.approx((10 + 6) / 2)
    assert (c.mean_abs_gap, c.touchpoints_compared) == (pytest.approx(5.0), 1)
    assert not d.suppressed and d.mean_abs_gap is None and d.touchpoints_compared == 0
    data = calibration_to_dict(result)
    assert json.loads(json.dumps(data)) == data
    assert data[0] == {
        "unit": "store-a",
        "mean_abs_gap": None,
        "touchpoints_compared": 0,
        "suppressed": True,
    }
