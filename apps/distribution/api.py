"""REST endpoints for public survey links: list, create, read, change (pause, close, context).

Reads need `journey.view`; writes are checked by the services against the questionnaire's
journey (`journey.edit`). A link is never deleted (responses point at it): close it.
"""

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import validated
from apps.journeys.views import VIEW
from apps.organizations.base import OrganizationViewSet, client_ip
from apps.surveys import selectors as survey_selectors
from apps.surveys.models import Audience

from . import selectors, services
from .models import ContextAttribute, LinkStatus, SurveyLink
from .views import public_url


class LinkSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()
    context = serializers.SerializerMethodField()
    touchpoint = serializers.SerializerMethodField(help_text="The touchpoint in focus (an id).")

    class Meta:
        model = SurveyLink
        fields = (
            "id", "questionnaire", "audience", "name", "status", "ends_at", "context",
            "touchpoint", "kiosk", "one_response_per_device", "url", "created_at",
        )  # fmt: skip
        read_only_fields = fields

    def get_url(self, obj: SurveyLink) -> str:
        return public_url(self.context["request"], obj)

    @extend_schema_field(serializers.DictField(child=serializers.CharField()))
    def get_context(self, obj: SurveyLink) -> dict[str, str]:
        return services.link_attributes(obj.context)

    def get_touchpoint(self, obj: SurveyLink) -> int | None:
        focus = obj.context.get(services.FOCUS_KEY)
        return int(focus) if focus else None


class LinkCreateSerializer(serializers.Serializer):
    questionnaire = serializers.IntegerField()
    audience = serializers.ChoiceField(choices=Audience.choices)
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    context = serializers.DictField(child=serializers.CharField(), required=False)
    touchpoint = serializers.IntegerField(
        required=False, allow_null=True, help_text="A touchpoint of the journey to put in focus."
    )
    kiosk = serializers.BooleanField(required=False, default=False)
    one_response_per_device = serializers.BooleanField(required=False, default=False)


class LinkUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    status = serializers.ChoiceField(choices=LinkStatus.choices, required=False)
    ends_at = serializers.DateTimeField(required=False, allow_null=True)
    context = serializers.DictField(child=serializers.CharField(), required=False)
    touchpoint = serializers.IntegerField(
        required=False, allow_null=True, help_text="A touchpoint in focus; null for none."
    )
    kiosk = serializers.BooleanField(required=False)
    one_response_per_device = serializers.BooleanField(required=False)


class LinkViewSet(OrganizationViewSet):
    """Public links to one side of a published questionnaire."""

    actions = VIEW | {"PATCH": VIEW["POST"]}
    serializer_class = LinkSerializer
    lookup_value_regex = r"\d+"

    def _link(self, pk: str) -> SurveyLink:
        link = selectors.link_get(organization=self.organization, link_id=int(pk))
        if link is None:
            raise Http404
        return link

    @extend_schema(
        parameters=[OpenApiParameter("questionnaire", int, description="Only this one's.")],
        responses=LinkSerializer(many=True),
    )
    def list(self, request: Request, org_slug: str) -> Response:
        questionnaire = request.query_params.get("questionnaire")
        if questionnaire is not None and not questionnaire.isdigit():
            raise Http404
        links = selectors.links_for_organization(
            organization=self.organization,
            questionnaire_id=int(questionnaire) if questionnaire else None,
        )
        page = self.paginate_queryset(links)
        serializer = LinkSerializer(page, many=True, context={"request": request})
        return self.get_paginated_response(serializer.data)

    @extend_schema(request=LinkCreateSerializer, responses={201: LinkSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(LinkCreateSerializer, request.data)
        questionnaire = survey_selectors.questionnaire_get(
            organization=self.organization, questionnaire_id=data.pop("questionnaire")
        )
        if questionnaire is None:
            raise Http404
        link = services.link_create(
            organization=self.organization, actor=self.principal, questionnaire=questionnaire,
            ip_address=client_ip(request), **data,
        )  # fmt: skip
        body = LinkSerializer(link, context={"request": request}).data
        return Response(body, status=status.HTTP_201_CREATED)

    @extend_schema(responses=LinkSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(LinkSerializer(self._link(pk), context={"request": request}).data)

    @extend_schema(request=LinkUpdateSerializer, responses=LinkSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        """Rename, pause (`status: paused`), resume, close for good, set end date, context or
        the touchpoint in focus."""
        link = services.link_update(
            organization=self.organization, actor=self.principal, link=self._link(pk),
            ip_address=client_ip(request), **validated(LinkUpdateSerializer, request.data),
        )  # fmt: skip
        return Response(LinkSerializer(link, context={"request": request}).data)


class ContextAttributeSerializer(serializers.ModelSerializer):
    class Meta:
        model = ContextAttribute
        fields = ("id", "questionnaire", "name", "label", "allowed_values")
        read_only_fields = fields


class ContextAttributeCreateSerializer(serializers.Serializer):
    questionnaire = serializers.IntegerField()
    name = serializers.CharField(max_length=40)
    label = serializers.CharField(required=False, allow_blank=True, max_length=100)
    allowed_values = serializers.ListField(
        child=serializers.CharField(max_length=100), required=False
    )


class ContextAttributeViewSet(OrganizationViewSet):
    """The context whitelist: attributes a questionnaire's links may carry (store, region...)."""

    actions = VIEW | {"DELETE": VIEW["POST"]}
    serializer_class = ContextAttributeSerializer
    lookup_value_regex = r"\d+"

    @extend_schema(
        parameters=[OpenApiParameter("questionnaire", int, description="Only this one's.")],
        responses=ContextAttributeSerializer(many=True),
    )
    def list(self, request: Request, org_slug: str) -> Response:
        questionnaire = request.query_params.get("questionnaire")
        if questionnaire is not None and not questionnaire.isdigit():
            raise Http404
        attributes = ContextAttribute.objects.for_organization(self.organization)
        if questionnaire:
            attributes = attributes.filter(questionnaire_id=int(questionnaire))
        page = self.paginate_queryset(attributes)
        return self.get_paginated_response(ContextAttributeSerializer(page, many=True).data)

    @extend_schema(
        request=ContextAttributeCreateSerializer, responses={201: ContextAttributeSerializer}
    )
    def create(self, request: Request, org_slug: str) -> Response:
        """Add an attribute, or change the label and allowed values of one with that name."""
        data = validated(ContextAttributeCreateSerializer, request.data)
        questionnaire = survey_selectors.questionnaire_get(
            organization=self.organization, questionnaire_id=data.pop("questionnaire")
        )
        if questionnaire is None:
            raise Http404
        attribute = services.context_attribute_set(
            organization=self.organization, actor=self.principal, questionnaire=questionnaire,
            ip_address=client_ip(request), **data,
        )  # fmt: skip
        return Response(ContextAttributeSerializer(attribute).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ContextAttributeSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(ContextAttributeSerializer(self._attribute(pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        services.context_attribute_delete(
            organization=self.organization, actor=self.principal,
            attribute=self._attribute(pk), ip_address=client_ip(request),
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)

    def _attribute(self, pk: str) -> ContextAttribute:
        attribute = selectors.context_attribute_get(
            organization=self.organization, attribute_id=int(pk)
        )
        if attribute is None:
            raise Http404
        return attribute
