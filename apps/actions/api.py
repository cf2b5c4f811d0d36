"""REST endpoints for improvement actions: list (filters, paginated), retrieve (with progress
against the baseline), create, update (fields, status, a note).

Reading needs `actions.view`; creating and editing are checked on the journey or the action
(`actions.manage`) and the workflow on the action (`actions.work`) by the services.
"""

from typing import Any

from django.http import Http404
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import validated
from apps.core.errors import ValidationFailed
from apps.journeys import selectors as journey_selectors
from apps.organizations.base import OrganizationViewSet, client_ip
from apps.organizations.permissions import Action
from apps.scoring.filters import organization_today

from . import selectors, services
from .models import ActionSource, ActionStatus, ImprovementAction


class CellFiguresSerializer(serializers.Serializer):
    date_from = serializers.DateField()
    date_to = serializers.DateField()
    customer_n = serializers.IntegerField()
    customer_score = serializers.FloatField(allow_null=True)
    customer_variance = serializers.FloatField(allow_null=True)
    employee_n = serializers.IntegerField(allow_null=True)
    employee_score = serializers.FloatField(allow_null=True)
    employee_withheld = serializers.BooleanField()
    gap = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    classification = serializers.CharField()


class ChangeSerializer(serializers.Serializer):
    score_change = serializers.FloatField(allow_null=True)
    gap_change = serializers.FloatField(allow_null=True)
    p_value = serializers.FloatField(allow_null=True)
    status = serializers.ChoiceField(
        choices=["improved", "declined", "stable", "insufficient_data"],
        help_text="Customers' score since the start against the baseline (SCORING.md 7).",
    )


class ProgressSerializer(serializers.Serializer):
    baseline = CellFiguresSerializer()
    since_start = CellFiguresSerializer(source="current")
    change = ChangeSerializer()


class ActionSerializer(serializers.ModelSerializer):
    touchpoint_name = serializers.CharField(source="touchpoint.name", read_only=True)
    owner_name = serializers.SerializerMethodField()
    overdue = serializers.SerializerMethodField()
    baseline = serializers.SerializerMethodField()

    class Meta:
        model = ImprovementAction
        fields = (
            "id",
            "journey",
            "touchpoint",
            "touchpoint_name",
            "dimension",
            "title",
            "description",
            "owner",
            "owner_name",
            "due_date",
            "overdue",
            "status",
            "source",
            "started_on",
            "baseline",
            "created_at",
            "updated_at",
            "closed_at",
        )
        read_only_fields = fields

    def get_owner_name(self, obj: ImprovementAction) -> str:
        return (obj.owner.full_name or obj.owner.email) if obj.owner else ""

    def get_overdue(self, obj: ImprovementAction) -> bool:
        today = self.context.get("today")
        return bool(obj.is_open and today is not None and obj.due_date < today)

    @extend_schema_field(CellFiguresSerializer)
    def get_baseline(self, obj: ImprovementAction) -> dict[str, Any]:
        return dict(CellFiguresSerializer(selectors.stored_baseline(obj)).data)


class ActionDetailSerializer(ActionSerializer):
    progress = serializers.SerializerMethodField()

    class Meta(ActionSerializer.Meta):
        fields = (*ActionSerializer.Meta.fields, "progress")
        read_only_fields = fields

    @extend_schema_field(ProgressSerializer)
    def get_progress(self, obj: ImprovementAction) -> dict[str, Any]:
        progress = selectors.action_progress(
            organization=self.context["organization"], action=obj, today=self.context["today"]
        )
        return dict(ProgressSerializer(progress).data)


class ActionCreateSerializer(serializers.Serializer):
    journey = serializers.IntegerField()
    touchpoint = serializers.IntegerField()
    dimension = serializers.CharField(
        required=False, allow_blank=True, max_length=32,
        help_text="effectiveness, ease or emotion; empty: the touchpoint as a whole.",
    )  # fmt: skip
    title = serializers.CharField(max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    owner = serializers.IntegerField(help_text="The user id of a member of the organisation.")
    due_date = serializers.DateField(help_text="Today or later (the organisation's time zone).")
    source = serializers.ChoiceField(
        choices=ActionSource.choices, required=False, default=ActionSource.MANUAL
    )


class ActionUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(required=False, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True, max_length=4000)
    owner = serializers.IntegerField(required=False)
    due_date = serializers.DateField(required=False)
    status = serializers.ChoiceField(
        choices=ActionStatus.choices,
        required=False,
        help_text="planned -> in_progress -> done; planned or in_progress -> cancelled.",
    )
    note = serializers.CharField(required=False, allow_blank=True, max_length=4000)


def _flag(raw: str | None, name: str) -> bool | None:
    if raw is None or raw == "":
        return None
    if raw.lower() in ("true", "1"):
        return True
    if raw.lower() in ("false", "0"):
        return False
    raise ValidationFailed(
        _("Invalid filter: %(names)s.") % {"names": name}, fields={name: [_("Give true or false.")]}
    )


def _id(raw: str | None, name: str) -> int | None:
    if raw is None or raw == "":
        return None
    if not raw.isdigit() or len(raw) > 12:
        raise ValidationFailed(
            _("Invalid filter: %(names)s.") % {"names": name}, fields={name: [_("Give an id.")]}
        )
    return int(raw)


class ImprovementActionViewSet(OrganizationViewSet):
    """Improvement actions on touchpoints, with their baseline and progress."""

    actions = {
        "GET": Action.ACTIONS_VIEW,
        "POST": Action.ACTIONS_VIEW,
        "PATCH": Action.ACTIONS_VIEW,
    }
    serializer_class = ActionSerializer
    lookup_value_regex = r"\d+"
    http_method_names = ["get", "post", "patch", "head", "options"]

    def _action(self, pk: str) -> ImprovementAction:
        action = selectors.action_get(organization=self.organization, action_id=int(pk))
        if action is None:
            raise Http404
        return action

    def _context(self) -> dict[str, Any]:
        return {"organization": self.organization, "today": organization_today(self.organization)}

    @extend_schema(
        parameters=[
            OpenApiParameter("journey", int, description="Only this journey's actions."),
            OpenApiParameter("touchpoint", int, description="Only this touchpoint's actions."),
            OpenApiParameter("status", str, enum=ActionStatus.values),
            OpenApiParameter("owner", int, description="Only actions this user owns."),
            OpenApiParameter("overdue", bool, description="Open and due before today."),
        ],
        responses=ActionSerializer(many=True),
    )
    def list(self, request: Request, org_slug: str) -> Response:
        params = request.query_params
        status_filter = params.get("status") or None
        if status_filter is not None and status_filter not in ActionStatus.values:
            raise ValidationFailed(
                _("Invalid filter: %(names)s.") % {"names": "status"},
                fields={"status": [_("Unknown status.")]},
            )
        context = self._context()
        rows = selectors.actions(
            organization=self.organization,
            journey_id=_id(params.get("journey"), "journey"),
            touchpoint_id=_id(params.get("touchpoint"), "touchpoint"),
            status=status_filter,
            owner_id=_id(params.get("owner"), "owner"),
            overdue=_flag(params.get("overdue"), "overdue"),
            today=context["today"],
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(ActionSerializer(page, many=True, context=context).data)

    @extend_schema(responses=ActionDetailSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(ActionDetailSerializer(self._action(pk), context=self._context()).data)

    @extend_schema(request=ActionCreateSerializer, responses={201: ActionSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(ActionCreateSerializer, request.data)
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=data.pop("journey")
        )
        if journey is None:
            raise ValidationFailed(
                _("The action was not created: %(fields)s.") % {"fields": "journey"},
                fields={"journey": [_("No such journey in this organisation.")]},
            )
        action = services.action_create(
            organization=self.organization,
            actor=self.principal,
            journey=journey,
            touchpoint_id=data.pop("touchpoint"),
            owner_id=data.pop("owner"),
            ip_address=client_ip(request),
            **data,
        )
        fresh = selectors.action_get(organization=self.organization, action_id=action.pk)
        return Response(
            ActionSerializer(fresh, context=self._context()).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=ActionUpdateSerializer, responses=ActionSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        action = self._action(pk)
        changes = validated(ActionUpdateSerializer, request.data)
        if "owner" in changes:
            changes["owner_id"] = changes.pop("owner")
        services.action_update(
            organization=self.organization,
            actor=self.principal,
            action=action,
            ip_address=client_ip(request),
            **changes,
        )
        return Response(ActionSerializer(self._action(pk), context=self._context()).data)
