"""REST endpoints for journeys, their stages and touchpoints, owners, and starter templates.

Every request needs only `journey.view` at the door; writes are checked on the object by the
services (`journey.edit` on the journey), so a journey owner with the viewer role may edit the
journey they own, and nobody else's.
"""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import validated
from apps.organizations.base import OrganizationViewSet, client_ip
from apps.organizations.permissions import Action

from . import selectors, services
from .models import Channel, Journey, JourneyStatus, Stage, Touchpoint
from .templates_data import TEMPLATES

_EDIT = {"GET": Action.JOURNEY_VIEW, "*": Action.JOURNEY_VIEW}


class TouchpointSerializer(serializers.ModelSerializer):
    owner_email = serializers.EmailField(
        source="owner.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Touchpoint
        fields = (
            "id", "journey", "stage", "name", "description", "translations", "channel",
            "importance", "owner", "owner_email", "is_active", "archived_at", "position",
        )  # fmt: skip
        read_only_fields = fields


class StageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Stage
        fields = ("id", "journey", "name", "description", "translations", "position")
        read_only_fields = fields


class StageWithTouchpointsSerializer(StageSerializer):
    touchpoints = TouchpointSerializer(many=True, read_only=True)

    class Meta(StageSerializer.Meta):
        fields = (*StageSerializer.Meta.fields, "touchpoints")
        read_only_fields = fields


class JourneySerializer(serializers.ModelSerializer):
    owner_email = serializers.EmailField(
        source="owner.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Journey
        fields = (
            "id", "name", "description", "translations", "language", "status", "owner",
            "owner_email", "template", "created_at", "updated_at",
        )  # fmt: skip
        read_only_fields = fields


class JourneyMapSerializer(JourneySerializer):
    stages = StageWithTouchpointsSerializer(many=True, read_only=True)

    class Meta(JourneySerializer.Meta):
        fields = (*JourneySerializer.Meta.fields, "stages")
        read_only_fields = fields


class JourneyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    language = serializers.CharField(required=False)
    template = serializers.ChoiceField(choices=sorted(TEMPLATES), required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=JourneyStatus.choices, required=False)


class JourneyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    status = serializers.ChoiceField(choices=JourneyStatus.choices, required=False)
    translations = serializers.JSONField(required=False)


class OwnerSerializer(serializers.Serializer):
    owner = serializers.IntegerField(allow_null=True, help_text="A member's user id, or null.")


class StageCreateSerializer(serializers.Serializer):
    journey = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    translations = serializers.JSONField(required=False)
    position = serializers.IntegerField(required=False, min_value=0)


class StageUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    translations = serializers.JSONField(required=False)


class MoveSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0, help_text="0 is first.")
    stage = serializers.IntegerField(required=False, help_text="Touchpoints: another stage.")


class TouchpointCreateSerializer(serializers.Serializer):
    stage = serializers.IntegerField()
    name = serializers.CharField(allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    importance = serializers.IntegerField(required=False)
    owner = serializers.IntegerField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    translations = serializers.JSONField(required=False)
    position = serializers.IntegerField(required=False, min_value=0)


class TouchpointUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    description = serializers.CharField(required=False, allow_blank=True)
    channel = serializers.ChoiceField(choices=Channel.choices, required=False)
    importance = serializers.IntegerField(required=False)
    owner = serializers.IntegerField(required=False, allow_null=True)
    is_active = serializers.BooleanField(required=False)
    translations = serializers.JSONField(required=False)


def _journey_id_param(request: Request) -> int | None:
    raw = request.query_params.get("journey")
    if raw in (None, ""):
        return None
    if not str(raw).isdigit():
        raise Http404
    return int(raw)


JOURNEY_FILTER = OpenApiParameter("journey", int, description="Only this journey's rows.")


class JourneyViewSet(OrganizationViewSet):
    """Journeys of the organisation; the detail is the journey map (stages with touchpoints)."""

    actions = _EDIT
    serializer_class = JourneySerializer
    lookup_value_regex = r"\d+"

    def _journey(self, pk: str) -> Journey:
        journey = selectors.journey_get(organization=self.organization, journey_id=int(pk))
        if journey is None:
            raise Http404
        return journey

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=JourneyStatus.values)],
        responses=JourneySerializer(many=True),
    )
    def list(self, request: Request, org_slug: str) -> Response:
        queryset = selectors.journeys(
            organization=self.organization, status=request.query_params.get("status")
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(JourneySerializer(page, many=True).data)

    @extend_schema(request=JourneyCreateSerializer, responses={201: JourneyMapSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(JourneyCreateSerializer, request.data)
        journey = services.journey_create(
            organization=self.organization, actor=self.principal, ip_address=client_ip(request),
            **data,
        )  # fmt: skip
        journey = selectors.journey_map(organization=self.organization, journey_id=journey.pk)
        return Response(JourneyMapSerializer(journey).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=JourneyMapSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        journey = selectors.journey_map(organization=self.organization, journey_id=int(pk))
        if journey is None:
            raise Http404
        return Response(JourneyMapSerializer(journey).data)

    @extend_schema(request=JourneyUpdateSerializer, responses=JourneySerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        journey = self._journey(pk)
        data = validated(JourneyUpdateSerializer, request.data)
        journey = services.journey_update(
            organization=self.organization, actor=self.principal, journey=journey,
            ip_address=client_ip(request), **data,
        )  # fmt: skip
        return Response(JourneySerializer(journey).data)

    @extend_schema(request=OwnerSerializer, responses=JourneySerializer)
    @action(detail=True, methods=["post", "put"], url_path="owner")
    def owner(self, request: Request, org_slug: str, pk: str) -> Response:
        """Assign the journey's owner (admins and owners); the new owner gets an email."""
        journey = self._journey(pk)
        data = validated(OwnerSerializer, request.data)
        journey = services.journey_assign_owner(
            organization=self.organization, actor=self.principal, journey=journey,
            owner_id=data["owner"], ip_address=client_ip(request),
        )  # fmt: skip
        journey = self._journey(pk)
        return Response(JourneySerializer(journey).data)


class StageViewSet(OrganizationViewSet):
    """Stages, ordered by `position` within their journey; filter with ?journey=<id>."""

    actions = _EDIT
    serializer_class = StageSerializer
    lookup_value_regex = r"\d+"

    def _stage(self, pk: str) -> Stage:
        stage = selectors.stages(organization=self.organization).filter(pk=int(pk)).first()
        if stage is None:
            raise Http404
        return stage

    @extend_schema(parameters=[JOURNEY_FILTER], responses=StageSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        queryset = selectors.stages(
            organization=self.organization, journey_id=_journey_id_param(request)
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(StageSerializer(page, many=True).data)

    @extend_schema(request=StageCreateSerializer, responses={201: StageSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(StageCreateSerializer, request.data)
        journey = selectors.journey_get(
            organization=self.organization, journey_id=data.pop("journey")
        )
        if journey is None:
            raise Http404
        stage = services.stage_create(
            organization=self.organization, actor=self.principal, journey=journey,
            ip_address=client_ip(request), **data,
        )  # fmt: skip
        return Response(StageSerializer(stage).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=StageSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(StageSerializer(self._stage(pk)).data)

    @extend_schema(request=StageUpdateSerializer, responses=StageSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        stage = services.stage_update(
            organization=self.organization, actor=self.principal, stage=self._stage(pk),
            ip_address=client_ip(request), **validated(StageUpdateSerializer, request.data),
        )  # fmt: skip
        return Response(StageSerializer(stage).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        services.stage_delete(
            organization=self.organization, actor=self.principal, stage=self._stage(pk),
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=MoveSerializer, responses=StageSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, org_slug: str, pk: str) -> Response:
        data = validated(MoveSerializer, request.data)
        stage = services.stage_move(
            organization=self.organization, actor=self.principal, stage=self._stage(pk),
            position=data["position"], ip_address=client_ip(request),
        )  # fmt: skip
        return Response(StageSerializer(stage).data)


def _owner_field(data: dict[str, Any]) -> dict[str, Any]:
    if "owner" in data:
        data["owner_id"] = data.pop("owner")
    return data


class TouchpointViewSet(OrganizationViewSet):
    """Touchpoints; filter with ?journey=<id>. Deleting one that has answers archives it."""

    actions = _EDIT
    serializer_class = TouchpointSerializer
    lookup_value_regex = r"\d+"

    def _touchpoint(self, pk: str) -> Touchpoint:
        touchpoint = (
            selectors.touchpoints(organization=self.organization).filter(pk=int(pk)).first()
        )
        if touchpoint is None:
            raise Http404
        return touchpoint

    @extend_schema(parameters=[JOURNEY_FILTER], responses=TouchpointSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        queryset = selectors.touchpoints(
            organization=self.organization, journey_id=_journey_id_param(request)
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(TouchpointSerializer(page, many=True).data)

    @extend_schema(request=TouchpointCreateSerializer, responses={201: TouchpointSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = _owner_field(validated(TouchpointCreateSerializer, request.data))
        stage = (
            selectors.stages(organization=self.organization).filter(pk=data.pop("stage")).first()
        )
        if stage is None:
            raise Http404
        touchpoint = services.touchpoint_create(
            organization=self.organization, actor=self.principal, stage=stage,
            ip_address=client_ip(request), **data,
        )  # fmt: skip
        return Response(TouchpointSerializer(touchpoint).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=TouchpointSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(TouchpointSerializer(self._touchpoint(pk)).data)

    @extend_schema(request=TouchpointUpdateSerializer, responses=TouchpointSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        touchpoint = services.touchpoint_update(
            organization=self.organization, actor=self.principal,
            touchpoint=self._touchpoint(pk), ip_address=client_ip(request),
            **_owner_field(validated(TouchpointUpdateSerializer, request.data)),
        )  # fmt: skip
        return Response(TouchpointSerializer(self._touchpoint(str(touchpoint.pk))).data)

    @extend_schema(
        responses={200: inline_serializer("TouchpointDeleted", {"result": serializers.CharField()})}
    )
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        """Deletes the touchpoint, or archives it when answers refer to it ("archived")."""
        result = services.touchpoint_delete(
            organization=self.organization, actor=self.principal,
            touchpoint=self._touchpoint(pk), ip_address=client_ip(request),
        )  # fmt: skip
        return Response({"result": result})

    @extend_schema(request=MoveSerializer, responses=TouchpointSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, org_slug: str, pk: str) -> Response:
        data = validated(MoveSerializer, request.data)
        touchpoint = services.touchpoint_move(
            organization=self.organization, actor=self.principal,
            touchpoint=self._touchpoint(pk), position=data["position"],
            stage_id=data.get("stage"), ip_address=client_ip(request),
        )  # fmt: skip
        return Response(TouchpointSerializer(touchpoint).data)


class JourneyTemplateSerializer(serializers.Serializer):
    slug = serializers.CharField()
    names = serializers.DictField(child=serializers.CharField())
    touchpoints = serializers.IntegerField()


class JourneyTemplateViewSet(OrganizationViewSet):
    """The starter journeys a new journey can be copied from."""

    actions = {"GET": Action.JOURNEY_VIEW}
    serializer_class = JourneyTemplateSerializer

    @extend_schema(responses=JourneyTemplateSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        rows = [
            {"slug": t.slug, "names": {lang: texts[0] for lang, texts in t.texts.items()},
             "touchpoints": sum(len(s.touchpoints) for s in t.stages)}
            for t in TEMPLATES.values()
        ]  # fmt: skip
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(JourneyTemplateSerializer(page, many=True).data)
