"""REST endpoints for alerts (the inbox with its filters, one alert, working it) and a journey's
alert rules.

Reading needs `alert.view`; working an alert (`PATCH`) needs `alert.work` on that alert, which a
viewer has on the alerts of a touchpoint they own or that are assigned to them (the services
check it on the object).
"""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import ValidationFailed
from apps.journeys import selectors as journey_selectors
from apps.journeys.models import Journey
from apps.organizations.base import OrganizationAPIView, OrganizationViewSet, client_ip
from apps.organizations.permissions import Action, can

from . import selectors, services
from .models import Alert, AlertOutcome, AlertRuleSet

READ = {"GET": Action.ALERT_VIEW, "PATCH": Action.ALERT_VIEW, "PUT": Action.ALERT_VIEW}


class AlertSerializer(serializers.ModelSerializer):
    journey_name = serializers.CharField(source="journey.name", read_only=True)
    touchpoint_name = serializers.SerializerMethodField()
    assignee_email = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    # Blank until resolved (read-only model fields lose allow_blank; found by the schema fuzz).
    outcome = serializers.ChoiceField(
        choices=AlertOutcome.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = Alert
        fields = (
            "id",
            "response",
            "journey",
            "journey_name",
            "touchpoint",
            "touchpoint_name",
            "triggers",
            "status",
            "assignee",
            "assignee_email",
            "outcome",
            "resolution_note",
            "created_at",
            "due_at",
            "first_action_at",
            "resolved_at",
            "overdue",
        )
        read_only_fields = fields

    def get_touchpoint_name(self, obj: Alert) -> str | None:
        return obj.touchpoint.name if obj.touchpoint else None

    def get_assignee_email(self, obj: Alert) -> str | None:
        return obj.assignee.email if obj.assignee else None

    def get_overdue(self, obj: Alert) -> bool:
        return obj.is_overdue()


class AlertContactSerializer(serializers.Serializer):
    name = serializers.CharField()
    email = serializers.CharField()
    phone = serializers.CharField()


class AlertAnswerLineSerializer(serializers.Serializer):
    question = serializers.CharField()
    answer = serializers.CharField()


class AlertDetailSerializer(AlertSerializer):
    trigger_texts = serializers.ListField(child=serializers.CharField(), read_only=True)
    answers = AlertAnswerLineSerializer(many=True, read_only=True)
    comments = AlertAnswerLineSerializer(many=True, read_only=True)
    contact = AlertContactSerializer(
        read_only=True,
        allow_null=True,
        help_text="Only when the customer agreed to be contacted; null otherwise.",
    )

    class Meta(AlertSerializer.Meta):
        fields = (*AlertSerializer.Meta.fields, "trigger_texts", "answers", "comments", "contact")
        read_only_fields = fields


class AlertUpdateSerializer(serializers.Serializer):
    status = serializers.CharField(
        required=False, help_text="`in_progress` (take it) or `resolved` (with outcome and note)."
    )
    assignee = serializers.IntegerField(
        required=False, allow_null=True, help_text="A member's user id; null: nobody."
    )
    outcome = serializers.ChoiceField(choices=AlertOutcome.choices, required=False)
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)


def _detail_data(alert: Alert, detail: selectors.AlertDetail) -> dict[str, Any]:
    alert.trigger_texts = detail.triggers  # type: ignore[attr-defined]
    alert.answers = detail.answers  # type: ignore[attr-defined]
    alert.comments = detail.comments  # type: ignore[attr-defined]
    alert.contact = detail.contact  # type: ignore[attr-defined]
    return dict(AlertDetailSerializer(alert).data)


_FILTER_PARAMETERS = [
    OpenApiParameter("status", str, description="new, in_progress, resolved or open"),
    OpenApiParameter("journey", int),
    OpenApiParameter("touchpoint", int),
    OpenApiParameter("assignee", str, description="A user id, `me` or `none`."),
    OpenApiParameter("overdue", bool, description="First action overdue (or not)."),
]


class AlertViewSet(OrganizationViewSet):
    """Alerts for unhappy customers: list (filtered, paginated), retrieve, and work them."""

    actions = READ
    serializer_class = AlertSerializer
    lookup_value_regex = r"\d+"

    def _alert(self, pk: Any) -> Alert:
        alert = selectors.alert_get(organization=self.organization, alert_id=int(pk))
        if alert is None or not can(self.principal, Action.ALERT_VIEW, alert):
            raise Http404
        return alert

    @extend_schema(parameters=_FILTER_PARAMETERS, responses=AlertSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        alert_filter, errors = selectors.alert_filter_parse(
            request.query_params, me=self.principal.user_id
        )
        if errors:
            raise ValidationFailed(
                "Invalid filters: " + ", ".join(sorted(errors)) + ".", fields=errors
            )
        page = self.paginate_queryset(
            selectors.alerts(organization=self.organization, alert_filter=alert_filter)
        )
        return self.get_paginated_response(AlertSerializer(page, many=True).data)

    @extend_schema(responses=AlertDetailSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        alert = self._alert(pk)
        language = self.organization.default_language or "en"
        detail = selectors.alert_detail(
            organization=self.organization, alert=alert, language=language
        )
        return Response(_detail_data(alert, detail))

    @extend_schema(request=AlertUpdateSerializer, responses=AlertSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        alert = self._alert(pk)
        serializer = AlertUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        fields = {k: v for k, v in serializer.validated_data.items() if k in request.data}
        updated = services.alert_update(
            organization=self.organization,
            actor=self.principal,
            alert=alert,
            fields=fields,
            ip_address=client_ip(request),
        )
        return Response(
            AlertSerializer(
                selectors.alert_get(organization=self.organization, alert_id=updated.pk)
            ).data
        )


class AlertRulesSerializer(serializers.ModelSerializer):
    class Meta:
        model = AlertRuleSet
        fields = ("journey", *services.RULE_FIELDS, "updated_at")
        read_only_fields = ("journey", "updated_at")


class AlertRulesUpdateSerializer(serializers.Serializer):
    enabled = serializers.BooleanField(required=False)
    rating_enabled = serializers.BooleanField(required=False)
    rating_threshold = serializers.IntegerField(
        required=False, allow_null=True, help_text="A raw scale value; null: bottom box."
    )
    nps_enabled = serializers.BooleanField(required=False)
    nps_threshold = serializers.IntegerField(required=False)
    overall_enabled = serializers.BooleanField(required=False)
    overall_threshold = serializers.IntegerField(required=False, allow_null=True)
    keywords = serializers.ListField(child=serializers.CharField(max_length=60), required=False)
    sla_hours = serializers.IntegerField(required=False)


class AlertRulesView(OrganizationAPIView):
    """A journey's alert rules: thresholds (raw values on the items' scale), keywords, SLA."""

    actions = {"GET": Action.ALERT_VIEW, "PATCH": Action.ALERT_VIEW}

    def _journey(self, journey_id: int) -> Journey:
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=journey_id
        )
        if journey is None:
            raise Http404
        return journey

    @extend_schema(responses=AlertRulesSerializer)
    def get(self, request: Request, org_slug: str, journey_id: int) -> Response:
        journey = self._journey(journey_id)
        rules = selectors.alert_rules_get(organization=self.organization, journey=journey)
        return Response(AlertRulesSerializer(rules).data)

    @extend_schema(request=AlertRulesUpdateSerializer, responses=AlertRulesSerializer)
    def patch(self, request: Request, org_slug: str, journey_id: int) -> Response:
        journey = self._journey(journey_id)
        serializer = AlertRulesUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        rules = services.alert_rules_update(
            organization=self.organization,
            actor=self.principal,
            journey=journey,
            values=dict(serializer.validated_data),
            ip_address=client_ip(request),
        )
        return Response(AlertRulesSerializer(rules).data)
