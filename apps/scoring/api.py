"""REST endpoints for results: the gap report, touchpoint series, NPS, staff calibration, and
a request to rescore a journey from its raw answers.

Reads need `results.view` (viewers included); the journey (and touchpoint) must be the
organisation's, else 404 as for a missing one. Filters are query parameters (`from`, `to`,
`questionnaire`, `attr.<name>=<value>`, see apps/scoring/filters.py); a bad one is a 400 naming
it. Figures are exact (rounding is for display); withheld employee cells say `suppressed` and
why (`suppressed_reason`). Employee figures cover whole months and staff blocks
(`employee_from`..`employee_to`) and are released only when no difference with another filter's
figures can single out fewer employees than the anonymity threshold (apps/scoring/anonymity.py).
"""

import dataclasses
from typing import Any

from django.db import transaction
from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import audit_record
from apps.core.errors import ValidationFailed
from apps.journeys import selectors as journey_selectors
from apps.journeys.models import Journey, Touchpoint
from apps.organizations.base import OrganizationAPIView, client_ip
from apps.organizations.permissions import Action, require
from apps.surveys import selectors as survey_selectors

from . import selectors
from .arithmetic import DERIVED_IMPORTANCE_MIN_PAIRS
from .figures import GapReport
from .filters import ReportFilter, report_filter_parse
from .report import calibration_to_dict, report_to_dict
from .tasks import journey_rescore_task

_READ = {"GET": Action.RESULTS_VIEW}
# Rescoring is checked on the journey (journey.edit: analysts, admins, the journey's owner).
_RESCORE = {"POST": Action.RESULTS_VIEW}

# --- schema -----------------------------------------------------------------------------------

_FLOAT = {"allow_null": True, "required": False}


class FilterSerializer(serializers.Serializer):
    """The filter the figures are under, echoed (defaults filled in)."""

    def get_fields(self) -> dict[str, serializers.Field]:
        return {  # `from` is a keyword: no class attribute can carry the name
            "from": serializers.DateField(help_text="First day, included."),
            "to": serializers.DateField(help_text="Last day, included."),
            "attributes": serializers.DictField(
                child=serializers.ListField(child=serializers.CharField())
            ),
            "questionnaire": serializers.IntegerField(allow_null=True),
        }


class CellStatsSerializer(serializers.Serializer):
    n = serializers.IntegerField(allow_null=True, help_text="None when suppressed.")
    mean = serializers.FloatField(**_FLOAT)
    variance = serializers.FloatField(**_FLOAT)
    se = serializers.FloatField(**_FLOAT)
    ci_low = serializers.FloatField(**_FLOAT)
    ci_high = serializers.FloatField(**_FLOAT)
    distribution = serializers.DictField(
        child=serializers.IntegerField(),
        allow_null=True,
        help_text="Raw scale point -> answers (item cells only).",
    )
    top_box = serializers.FloatField(**_FLOAT)
    bottom_box = serializers.FloatField(**_FLOAT)
    suppressed = serializers.BooleanField(
        help_text=(
            "Employee figures withheld: fewer employees than the anonymity threshold, or a "
            "difference with another filter's figures could single out fewer."
        )
    )
    suppressed_reason = serializers.CharField(
        help_text=(
            "Why an employee cell is withheld: too_few (under the anonymity threshold), "
            "difference (would reveal a group smaller than the threshold by difference with "
            "another filter), period (a series period shorter than the staff blocks); "
            "empty when shown."
        )
    )


class GapStatsSerializer(serializers.Serializer):
    gap = serializers.FloatField(**_FLOAT, help_text="Employee mean - customer mean.")
    t = serializers.FloatField(**_FLOAT)
    df = serializers.FloatField(**_FLOAT)
    p_value = serializers.FloatField(**_FLOAT)
    ci_low = serializers.FloatField(**_FLOAT)
    ci_high = serializers.FloatField(**_FLOAT)
    classification = serializers.ChoiceField(
        choices=["blind_spot", "hidden_strength", "aligned", "insufficient_data"]
    )


class DimensionRowSerializer(serializers.Serializer):
    item_key = serializers.CharField()
    dimension = serializers.CharField()
    customer = CellStatsSerializer()
    employee = CellStatsSerializer()
    gap = GapStatsSerializer()


class TrendRowSerializer(serializers.Serializer):
    change = serializers.FloatField(**_FLOAT)
    p_value = serializers.FloatField(**_FLOAT)
    status = serializers.ChoiceField(
        choices=["improved", "declined", "stable", "insufficient_data"]
    )


_SOURCES = ["derived", "declared"]
PRIORITY_KINDS = ["blind_spot", "opportunity"]


class TouchpointRowSerializer(serializers.Serializer):
    touchpoint_id = serializers.IntegerField()
    name = serializers.CharField()
    stage_name = serializers.CharField()
    position = serializers.IntegerField()
    customer = CellStatsSerializer()
    employee = CellStatsSerializer()
    gap = GapStatsSerializer()
    dimensions = DimensionRowSerializer(many=True)
    importance = serializers.FloatField()
    importance_source = serializers.ChoiceField(choices=_SOURCES)
    spearman_rho = serializers.FloatField(**_FLOAT)
    importance_pairs = serializers.IntegerField()
    priority = serializers.FloatField(**_FLOAT)
    priority_kind = serializers.ChoiceField(choices=PRIORITY_KINDS, allow_null=True)
    weak_link = serializers.BooleanField()
    trend = TrendRowSerializer(allow_null=True, help_text="With `trend=true` only.")


class PrioritySerializer(serializers.Serializer):
    touchpoint_id = serializers.IntegerField()
    # Not a ChoiceField: its enum would collide with the items' `kind` in the schema.
    kind = serializers.CharField(help_text="blind_spot or opportunity (as priority_kind).")
    priority = serializers.FloatField()
    gap = serializers.FloatField(**_FLOAT)
    customer_score = serializers.FloatField(**_FLOAT)
    importance = serializers.FloatField()
    importance_source = serializers.ChoiceField(choices=_SOURCES)


class NpsStatsSerializer(serializers.Serializer):
    n = serializers.IntegerField(allow_null=True)
    promoters = serializers.IntegerField(allow_null=True)
    passives = serializers.IntegerField(allow_null=True)
    detractors = serializers.IntegerField(allow_null=True)
    nps = serializers.FloatField(**_FLOAT)
    suppressed = serializers.BooleanField()


class OutcomeRowSerializer(serializers.Serializer):
    item_key = serializers.CharField()
    customer = CellStatsSerializer()
    employee = CellStatsSerializer()
    gap = GapStatsSerializer()
    customer_nps = NpsStatsSerializer(allow_null=True)
    employee_nps = NpsStatsSerializer(allow_null=True, help_text="The staff's estimate of NPS.")


class ScoringSettingsSerializer(serializers.Serializer):
    min_n = serializers.IntegerField()
    gap_threshold = serializers.FloatField()
    alpha = serializers.FloatField()
    employee_anonymity_min = serializers.IntegerField()
    top_priorities = serializers.IntegerField()


class ImportanceSerializer(serializers.Serializer):
    outcome = serializers.CharField(
        allow_null=True, help_text="The outcome item derived importance correlates with."
    )
    min_pairs = serializers.IntegerField()
    derived = serializers.ListField(child=serializers.IntegerField(), help_text="Touchpoint ids.")
    declared = serializers.ListField(child=serializers.IntegerField(), help_text="Touchpoint ids.")


class GapReportSerializer(serializers.Serializer):
    filter = FilterSerializer()
    importance = ImportanceSerializer()
    settings = ScoringSettingsSerializer()
    touchpoints = TouchpointRowSerializer(many=True)
    outcomes = OutcomeRowSerializer(many=True)
    journey_cx_customer = serializers.FloatField(**_FLOAT)
    journey_cx_employee = serializers.FloatField(**_FLOAT)
    consistency = serializers.FloatField(**_FLOAT)
    journey_mean = serializers.FloatField(**_FLOAT)
    top_priorities = PrioritySerializer(many=True)
    suppressed_cells = serializers.IntegerField()
    withheld_by_difference = serializers.IntegerField(
        help_text=(
            "Of the withheld employee cells, those withheld because a difference with another "
            "filter's figures would single out fewer employees than the anonymity threshold."
        )
    )
    employee_from = serializers.DateField(
        allow_null=True,
        help_text=(
            "First day the employee figures cover: the period snapped outwards to whole "
            "calendar months and staff blocks, so that no two periods differ by fewer "
            "employees than the anonymity threshold."
        ),
    )
    employee_to = serializers.DateField(
        allow_null=True, help_text="Last day the employee figures cover (included)."
    )


class SeriesPointSerializer(serializers.Serializer):
    period_start = serializers.DateField()
    period_end = serializers.DateField()
    customer = CellStatsSerializer()
    employee = CellStatsSerializer()


class SeriesSerializer(serializers.Serializer):
    filter = FilterSerializer()
    touchpoint = serializers.IntegerField()
    interval = serializers.ChoiceField(choices=list(selectors.INTERVALS))
    points = SeriesPointSerializer(many=True)


class NpsSerializer(serializers.Serializer):
    filter = FilterSerializer()
    nps = OutcomeRowSerializer(allow_null=True, help_text="None when the journey asks no NPS.")


class UnitCalibrationSerializer(serializers.Serializer):
    unit = serializers.CharField()
    mean_abs_gap = serializers.FloatField(**_FLOAT)
    touchpoints_compared = serializers.IntegerField()
    suppressed = serializers.BooleanField()


class CalibrationSerializer(serializers.Serializer):
    filter = FilterSerializer()
    attribute = serializers.CharField()
    units = UnitCalibrationSerializer(many=True)


_FILTERS = [
    OpenApiParameter(
        "from", OpenApiTypes.DATE, description="First day (organisation's time zone)."
    ),
    OpenApiParameter(
        "to", OpenApiTypes.DATE, description="Last day, included. Default: the last 90 days."
    ),
    OpenApiParameter("questionnaire", int, description="Only this questionnaire's answers."),
    OpenApiParameter(
        "attr.<name>",
        str,
        description=(
            "Segment attribute, e.g. `attr.store=Helsinki`; repeat for several values (OR), "
            "combine attributes (AND)."
        ),
    ),
]


# --- views ------------------------------------------------------------------------------------


def _jsonable(value: Any) -> Any:
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


class _JourneyResultsView(OrganizationAPIView):
    actions = _READ

    def journey(self, journey_id: int) -> Journey:
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=journey_id
        )
        if journey is None:
            raise Http404
        return journey

    def report_filter(self, request: Request, journey: Journey) -> ReportFilter:
        return report_filter_parse(
            organization=self.organization, journey=journey, params=request.query_params
        )


def _importance(report: GapReport, outcome: str | None) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "min_pairs": DERIVED_IMPORTANCE_MIN_PAIRS,
        "derived": [
            r.touchpoint_id for r in report.touchpoints if r.importance_source == "derived"
        ],
        "declared": [
            r.touchpoint_id for r in report.touchpoints if r.importance_source == "declared"
        ],
    }


class GapReportView(_JourneyResultsView):
    """Per touchpoint and dimension, both audiences' figures, the gap and its classification,
    importance and priority; journey-level figures and the top priorities."""

    @extend_schema(
        parameters=[
            *_FILTERS,
            OpenApiParameter(
                "trend", bool, description="Add each touchpoint's change from the previous period."
            ),
        ],
        responses=GapReportSerializer,
    )
    def get(self, request: Request, org_slug: str, journey_id: int) -> Response:
        journey = self.journey(journey_id)
        report_filter = self.report_filter(request, journey)
        with_trend = request.query_params.get("trend", "").lower() in ("1", "true", "yes")
        report = selectors.gap_report(
            organization=self.organization,
            journey=journey,
            report_filter=report_filter,
            with_trend=with_trend,
        )
        outcomes = {o.item_key for o in report.outcomes}
        outcome = next((key for key in selectors.OUTCOME_KEYS if key in outcomes), None)
        body = {
            "filter": report_filter.canonical(),
            "importance": _importance(report, outcome),
            **report_to_dict(report),
        }
        return Response(body)


class TouchpointSeriesView(_JourneyResultsView):
    """A touchpoint's customer and employee score per day, week or month of the period."""

    @extend_schema(
        parameters=[
            *_FILTERS,
            OpenApiParameter(
                "interval", str, enum=list(selectors.INTERVALS), description="Default: week."
            ),
        ],
        responses=SeriesSerializer,
    )
    def get(self, request: Request, org_slug: str, journey_id: int, touchpoint_id: int) -> Response:
        journey = self.journey(journey_id)
        touchpoint = (
            Touchpoint.objects.for_organization(self.organization)
            .filter(pk=touchpoint_id, journey=journey)
            .first()
        )
        if touchpoint is None:
            raise Http404
        interval = request.query_params.get("interval", "week")
        if interval not in selectors.INTERVALS:
            raise ValidationFailed(
                _("Invalid filter: %(names)s.") % {"names": "interval"},
                fields={"interval": [_("Choose day, week or month.")]},
            )
        report_filter = self.report_filter(request, journey)
        points = selectors.touchpoint_series(
            organization=self.organization,
            journey=journey,
            touchpoint=touchpoint,
            report_filter=report_filter,
            interval=interval,  # type: ignore[arg-type]
        )
        return Response(
            {
                "filter": report_filter.canonical(),
                "touchpoint": touchpoint.pk,
                "interval": interval,
                "points": [_jsonable(point) for point in points],
            }
        )


class NpsView(_JourneyResultsView):
    """Customers' NPS with promoters, passives and detractors, and the staff's estimate."""

    @extend_schema(parameters=_FILTERS, responses=NpsSerializer)
    def get(self, request: Request, org_slug: str, journey_id: int) -> Response:
        journey = self.journey(journey_id)
        report_filter = self.report_filter(request, journey)
        row = selectors.nps_summary(
            organization=self.organization, journey=journey, report_filter=report_filter
        )
        return Response(
            {"filter": report_filter.canonical(), "nps": _jsonable(row) if row else None}
        )


class CalibrationView(_JourneyResultsView):
    """Staff calibration: per employee unit, how far its estimates are from customers."""

    @extend_schema(
        parameters=[
            *_FILTERS,
            OpenApiParameter(
                "attribute",
                str,
                required=True,
                description="The employees' unit attribute, e.g. `team`.",
            ),
        ],
        responses=CalibrationSerializer,
    )
    def get(self, request: Request, org_slug: str, journey_id: int) -> Response:
        journey = self.journey(journey_id)
        attribute = (request.query_params.get("attribute") or "").strip()
        if not attribute or attribute not in selectors.attribute_names(
            organization=self.organization
        ):
            raise ValidationFailed(
                _("Invalid filter: %(names)s.") % {"names": "attribute"},
                fields={
                    "attribute": [
                        _("Name a segment attribute the responses carry.")
                        if attribute
                        else _("Name the employees' unit attribute, e.g. team.")
                    ]
                },
            )
        report_filter = self.report_filter(request, journey)
        units = selectors.staff_calibration(
            organization=self.organization,
            journey=journey,
            report_filter=report_filter,
            attribute=attribute,
        )
        return Response(
            {
                "filter": report_filter.canonical(),
                "attribute": attribute,
                "units": calibration_to_dict(units),
            }
        )


class RescoreView(_JourneyResultsView):
    """Rebuild the journey's aggregates from its raw answers, in the background."""

    actions = _RESCORE

    @extend_schema(
        request=None,
        responses={
            202: inline_serializer(
                "RescoreQueued",
                {"journey": serializers.IntegerField(), "status": serializers.CharField()},
            )
        },
    )
    def post(self, request: Request, org_slug: str, journey_id: int) -> Response:
        journey = self.journey(journey_id)
        require(self.principal, Action.JOURNEY_EDIT, journey)
        if not survey_selectors.questionnaires_for_journey(
            organization=self.organization, journey=journey
        ).exists():
            raise ValidationFailed(
                _("This journey has no questionnaire, so there is nothing to rescore."),
                fields={"journey": [_("Create a questionnaire for this journey first.")]},
            )
        organization_id, actor_id = self.organization.pk, self.principal.user_id
        with transaction.atomic():
            audit_record(
                organization=self.organization,
                actor=self.principal,
                action="journey.rescore_requested",
                target=journey,
                ip_address=client_ip(request),
            )
            transaction.on_commit(
                lambda: journey_rescore_task.delay(
                    organization_id=organization_id, journey_id=journey.pk, actor_id=actor_id
                )
            )
        return Response(
            {"journey": journey.pk, "status": "queued"}, status=status.HTTP_202_ACCEPTED
        )
