"""Gap reports for report tests: real touchpoints in the database, figures built by the scoring
arithmetic from counts (apps.scoring.report.build_gap_report), no aggregates needed."""

from apps.scoring.arithmetic import moments_from_counts
from apps.scoring.figures import (
    GapReport,
    GapReportInput,
    ItemInfo,
    Moments,
    ScoringSettings,
    TouchpointInfo,
    ValueCounts,
)
from apps.scoring.report import build_gap_report
from tests.factories import JourneyFactory, StageFactory, TouchpointFactory

DIMENSIONS = ("effectiveness", "ease", "emotion")


def counts(values: dict[int, int], lo: int = 1, hi: int = 5) -> ValueCounts:
    return ValueCounts({(lo, hi, value): n for value, n in values.items()})


def shape(
    organization,
    *,
    touchpoints=(
        ("Discover", "Web shop"),
        ("Buy", "Delivery"),
        ("Buy", "Invoice"),
        ("Use", "Support call"),
    ),
    journey_name="Home delivery",
):
    """A journey with stages and touchpoints (in order); returns (journey, [touchpoint])."""
    journey = JourneyFactory(organization=organization, name=journey_name)
    stages = {}
    made = []
    for position, (stage_name, tp_name) in enumerate(touchpoints):
        if stage_name not in stages:
            stages[stage_name] = StageFactory(
                journey=journey,
                organization=organization,
                name=stage_name,
                position=len(stages),
            )
        made.append(
            TouchpointFactory(
                stage=stages[stage_name],
                journey=journey,
                organization=organization,
                name=tp_name,
                position=position,
                importance=3,
            )
        )
    return journey, made


# Per touchpoint: customer and employee answers per dimension (1-5), derived importance.
BLIND = ({1: 8, 2: 20, 3: 14, 4: 6, 5: 2}, {3: 2, 4: 12, 5: 16})
ALIGNED = ({2: 4, 3: 12, 4: 22, 5: 12}, {2: 2, 3: 8, 4: 12, 5: 8})
STRENGTH = ({3: 6, 4: 20, 5: 24}, {1: 4, 2: 10, 3: 12, 4: 4})
SPARSE = ({3: 2, 4: 3}, {4: 2})


def _touchpoint_moments(pair: tuple[dict, dict], audience: int) -> Moments:
    # The touchpoint score per respondent is the mean of their dimensions; the tests use one
    # answer pattern for all three dimensions, so the per-respondent means are those answers.
    return moments_from_counts(counts(pair[audience]))


def gap_report(
    journey, touchpoints, patterns=None, *, settings=None, nps=True, rho=None, with_trend=False
) -> GapReport:
    patterns = patterns or [BLIND, ALIGNED, STRENGTH, SPARSE][: len(touchpoints)]
    settings = settings or ScoringSettings()
    infos, items, item_cells, tp_cells, importance = [], [], {}, {}, {}
    for position, (tp, pattern) in enumerate(zip(touchpoints, patterns, strict=True)):
        infos.append(TouchpointInfo(tp.pk, tp.name, tp.stage.name, position, tp.importance))
        for dimension in DIMENSIONS:
            key = f"tp:{tp.pk}:{dimension}"
            items.append(ItemInfo(key, "rating", tp.pk, dimension))
            item_cells[(key, "customer")] = counts(pattern[0])
            item_cells[(key, "employee")] = counts(pattern[1])
        tp_cells[(tp.pk, "customer")] = _touchpoint_moments(pattern, 0)
        tp_cells[(tp.pk, "employee")] = _touchpoint_moments(pattern, 1)
        importance[tp.pk] = (rho if rho is not None else 0.41 - 0.1 * position, 120)
    if nps:
        items.append(ItemInfo("nps", "nps", None, ""))
        item_cells[("nps", "customer")] = counts({0: 3, 5: 6, 7: 10, 8: 10, 9: 12, 10: 9}, 0, 10)
        item_cells[("nps", "employee")] = counts({6: 2, 8: 10, 9: 10, 10: 8}, 0, 10)
    previous = None
    if with_trend:
        previous = {key: m for key, m in tp_cells.items()}
    return build_gap_report(
        GapReportInput(
            settings=settings,
            touchpoints=infos,
            items=items,
            item_cells=item_cells,
            touchpoint_cells=tp_cells,
            derived_importance=importance,
            previous_touchpoint_cells=previous,
        )
    )


def empty_report(journey, touchpoints) -> GapReport:
    infos = [
        TouchpointInfo(tp.pk, tp.name, tp.stage.name, i, tp.importance)
        for i, tp in enumerate(touchpoints)
    ]
    items = [
        ItemInfo(f"tp:{tp.pk}:{d}", "rating", tp.pk, d) for tp in touchpoints for d in DIMENSIONS
    ]
    return build_gap_report(
        GapReportInput(
            settings=ScoringSettings(),
            touchpoints=infos,
            items=items,
            item_cells={},
            touchpoint_cells={},
            derived_importance={},
        )
    )
