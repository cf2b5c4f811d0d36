"""REST endpoints for paired questionnaires and their items.

Reads need `journey.view`; writes are checked by the services against the questionnaire's
journey (`journey.edit`), so the journey's owner may edit whatever their role.
"""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import validated
from apps.journeys import selectors as journey_selectors
from apps.organizations.base import OrganizationViewSet, client_ip
from apps.organizations.permissions import Action

from . import selectors, services
from .models import Audience, Dimension, Item, ItemKind, Questionnaire, QuestionnaireVersion

_EDIT = {"GET": Action.JOURNEY_VIEW, "*": Action.JOURNEY_VIEW}


class ItemSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)
    # Blank for screening and free-text items (read-only model fields lose allow_blank).
    dimension = serializers.ChoiceField(choices=Dimension.choices, allow_blank=True, read_only=True)

    class Meta:
        model = Item
        fields = (
            "id", "version", "audience", "kind", "key", "touchpoint", "dimension", "scale_lo",
            "scale_hi", "allow_not_applicable", "required", "position", "texts", "choices",
        )  # fmt: skip
        read_only_fields = fields


class VersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = QuestionnaireVersion
        fields = ("number", "languages", "published_at", "created_at")
        read_only_fields = fields


class QuestionnaireSerializer(serializers.ModelSerializer):
    published_version = serializers.IntegerField(
        source="published_version.number", read_only=True, default=None
    )

    class Meta:
        model = Questionnaire
        fields = ("id", "journey", "name", "status", "published_version", "created_at", "closed_at")
        read_only_fields = fields


class SidesSerializer(serializers.Serializer):
    customer = ItemSerializer(many=True)
    employee = ItemSerializer(many=True)


class QuestionnaireDetailSerializer(QuestionnaireSerializer):
    """The questionnaire with one version's items, side by side, and pairing problems."""

    version = serializers.SerializerMethodField()
    versions = serializers.SerializerMethodField()
    items = serializers.SerializerMethodField()
    unpaired = serializers.SerializerMethodField()

    class Meta(QuestionnaireSerializer.Meta):
        fields = (*QuestionnaireSerializer.Meta.fields, "version", "versions", "items", "unpaired")
        read_only_fields = fields

    def _items(self) -> list[Item]:
        return self.context["items"]

    @extend_schema_field(VersionSerializer)
    def get_version(self, obj: Questionnaire) -> dict[str, Any]:
        return dict(VersionSerializer(self.context["version"]).data)

    @extend_schema_field(VersionSerializer(many=True))
    def get_versions(self, obj: Questionnaire) -> list[dict[str, Any]]:
        return list(VersionSerializer(self.context["versions"], many=True).data)

    @extend_schema_field(SidesSerializer)
    def get_items(self, obj: Questionnaire) -> dict[str, Any]:
        return {
            audience: ItemSerializer(
                [i for i in self._items() if i.audience == audience], many=True
            ).data
            for audience in Audience.values
        }

    def get_unpaired(self, obj: Questionnaire) -> list[str]:
        return [problem.describe() for problem in selectors.unpaired_items(items=self._items())]


class GenerateSerializer(serializers.Serializer):
    journey = serializers.IntegerField()
    name = serializers.CharField(required=False, allow_blank=True, max_length=200)
    languages = serializers.ListField(child=serializers.CharField(), required=False)
    scale_lo = serializers.IntegerField(required=False, default=1)
    scale_hi = serializers.IntegerField(required=False, default=5)
    comments = serializers.BooleanField(required=False, default=True)


class RenameSerializer(serializers.Serializer):
    name = serializers.CharField(allow_blank=True, max_length=200)


class LanguageSerializer(serializers.Serializer):
    language = serializers.CharField()


class ItemCreateSerializer(serializers.Serializer):
    audience = serializers.ChoiceField(choices=Audience.choices)
    kind = serializers.ChoiceField(
        choices=ItemKind.choices,
        help_text="rating, single_choice, multiple_choice or text (the rest are generated).",
    )
    texts = serializers.JSONField(help_text='{"en": "...", "fi": "..."}')
    touchpoint = serializers.IntegerField(required=False, allow_null=True)
    dimension = serializers.ChoiceField(choices=Dimension.choices, required=False, allow_blank=True)
    scale_lo = serializers.IntegerField(required=False, allow_null=True)
    scale_hi = serializers.IntegerField(required=False, allow_null=True)
    choices = serializers.JSONField(required=False, allow_null=True)
    required = serializers.BooleanField(required=False, default=False)
    allow_not_applicable = serializers.BooleanField(required=False, default=False)
    create_twin = serializers.BooleanField(
        required=False,
        allow_null=True,
        default=None,
        help_text="Also add the twin on the other side (default: yes for mapped items).",
    )
    twin_texts = serializers.JSONField(required=False, allow_null=True)


class ItemCreatedSerializer(ItemSerializer):
    twin = ItemSerializer(read_only=True, allow_null=True)

    class Meta(ItemSerializer.Meta):
        fields = (*ItemSerializer.Meta.fields, "twin")
        read_only_fields = fields


class ItemUpdateSerializer(serializers.Serializer):
    texts = serializers.JSONField(required=False)
    required = serializers.BooleanField(required=False)
    allow_not_applicable = serializers.BooleanField(required=False)
    scale_lo = serializers.IntegerField(required=False)
    scale_hi = serializers.IntegerField(required=False)
    choices = serializers.JSONField(required=False)


class ItemMoveSerializer(serializers.Serializer):
    position = serializers.IntegerField(min_value=0, help_text="0 is first.")


def _detail(questionnaire: Questionnaire, version: QuestionnaireVersion | None = None) -> dict:
    version = version or selectors.current_version(questionnaire=questionnaire)
    context = {
        "version": version,
        "versions": list(selectors.versions(questionnaire=questionnaire)),
        "items": selectors.version_items(version=version) if version else [],
    }
    return dict(QuestionnaireDetailSerializer(questionnaire, context=context).data)


class QuestionnaireViewSet(OrganizationViewSet):
    """Paired questionnaires: generate from a journey, edit, publish (new version), close."""

    actions = _EDIT
    serializer_class = QuestionnaireSerializer
    lookup_value_regex = r"\d+"

    def _questionnaire(self, pk: str) -> Questionnaire:
        questionnaire = selectors.questionnaire_get(
            organization=self.organization, questionnaire_id=int(pk)
        )
        if questionnaire is None:
            raise Http404
        return questionnaire

    @extend_schema(
        parameters=[OpenApiParameter("journey", int, description="Only this journey's.")],
        responses=QuestionnaireSerializer(many=True),
    )
    def list(self, request: Request, org_slug: str) -> Response:
        queryset = Questionnaire.objects.for_organization(self.organization).select_related(
            "published_version"
        )
        journey = request.query_params.get("journey")
        if journey:
            if not journey.isdigit():
                raise Http404
            queryset = queryset.filter(journey_id=int(journey))
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(QuestionnaireSerializer(page, many=True).data)

    @extend_schema(request=GenerateSerializer, responses={201: QuestionnaireDetailSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        """Generate a paired questionnaire from a journey (draft, version 1)."""
        data = validated(GenerateSerializer, request.data)
        journey = journey_selectors.journey_get(
            organization=self.organization, journey_id=data.pop("journey")
        )
        if journey is None:
            raise Http404
        questionnaire = services.questionnaire_generate(
            organization=self.organization, actor=self.principal, journey=journey,
            ip_address=client_ip(request), **data,
        )  # fmt: skip
        return Response(_detail(questionnaire), status=status.HTTP_201_CREATED)

    @extend_schema(
        parameters=[OpenApiParameter("version", int, description="A version number.")],
        responses=QuestionnaireDetailSerializer,
    )
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        """The questionnaire with the items of its current version (or ?version=<number>)."""
        questionnaire = self._questionnaire(pk)
        version = None
        number = request.query_params.get("version")
        if number:
            version = (
                selectors.versions(questionnaire=questionnaire)
                .filter(number=int(number) if number.isdigit() else -1)
                .first()
            )
            if version is None:
                raise Http404
        return Response(_detail(questionnaire, version))

    @extend_schema(request=RenameSerializer, responses=QuestionnaireDetailSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        questionnaire = services.questionnaire_rename(
            organization=self.organization, actor=self.principal,
            questionnaire=self._questionnaire(pk), ip_address=client_ip(request),
            **validated(RenameSerializer, request.data),
        )  # fmt: skip
        return Response(_detail(questionnaire))

    @extend_schema(request=None, responses=QuestionnaireDetailSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, org_slug: str, pk: str) -> Response:
        """Publish the draft version; refused while a mapped item lacks its twin."""
        questionnaire = self._questionnaire(pk)
        services.questionnaire_publish(
            organization=self.organization, actor=self.principal, questionnaire=questionnaire,
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(_detail(self._questionnaire(pk)))

    @extend_schema(request=None, responses=QuestionnaireDetailSerializer)
    @action(detail=True, methods=["post"])
    def close(self, request: Request, org_slug: str, pk: str) -> Response:
        questionnaire = services.questionnaire_close(
            organization=self.organization, actor=self.principal,
            questionnaire=self._questionnaire(pk), ip_address=client_ip(request),
        )  # fmt: skip
        return Response(_detail(questionnaire))

    @extend_schema(request=LanguageSerializer, responses=QuestionnaireDetailSerializer)
    @action(detail=True, methods=["post"])
    def languages(self, request: Request, org_slug: str, pk: str) -> Response:
        """Add a language to the version being edited."""
        questionnaire = self._questionnaire(pk)
        services.questionnaire_add_language(
            organization=self.organization, actor=self.principal, questionnaire=questionnaire,
            ip_address=client_ip(request), **validated(LanguageSerializer, request.data),
        )  # fmt: skip
        return Response(_detail(questionnaire))

    @extend_schema(request=None, responses=QuestionnaireDetailSerializer)
    @action(detail=True, methods=["post"], url_path="add-touchpoints")
    def add_touchpoints(self, request: Request, org_slug: str, pk: str) -> Response:
        """Add standard items for touchpoints added to the journey since generation."""
        questionnaire = self._questionnaire(pk)
        services.questionnaire_add_touchpoints(
            organization=self.organization, actor=self.principal, questionnaire=questionnaire,
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(_detail(questionnaire))

    @extend_schema(request=ItemCreateSerializer, responses={201: ItemCreatedSerializer})
    @action(detail=True, methods=["post"])
    def items(self, request: Request, org_slug: str, pk: str) -> Response:
        """Add a custom item (to the draft version; a published questionnaire gets a new one)."""
        data = validated(ItemCreateSerializer, request.data)
        data["touchpoint_id"] = data.pop("touchpoint", None)
        item = services.item_create(
            organization=self.organization, actor=self.principal,
            questionnaire=self._questionnaire(pk), ip_address=client_ip(request), **data,
        )  # fmt: skip
        return Response(ItemCreatedSerializer(item).data, status=status.HTTP_201_CREATED)


class ItemViewSet(OrganizationViewSet):
    """One item. Changing an item of a published version edits its copy in a new draft version."""

    actions = _EDIT
    serializer_class = ItemSerializer
    lookup_value_regex = r"\d+"

    def _item(self, pk: str) -> Item:
        item = (
            Item.objects.for_organization(self.organization)
            .select_related("version__questionnaire__journey")
            .filter(pk=int(pk))
            .first()
        )
        if item is None:
            raise Http404
        return item

    @extend_schema(responses=ItemSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(ItemSerializer(self._item(pk)).data)

    @extend_schema(request=ItemUpdateSerializer, responses=ItemSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        item = services.item_update(
            organization=self.organization, actor=self.principal, item=self._item(pk),
            ip_address=client_ip(request), **validated(ItemUpdateSerializer, request.data),
        )  # fmt: skip
        return Response(ItemSerializer(item).data)

    @extend_schema(
        parameters=[OpenApiParameter("with_twin", bool, description="Default true.")],
        responses={204: None},
    )
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        services.item_delete(
            organization=self.organization, actor=self.principal, item=self._item(pk),
            with_twin=request.query_params.get("with_twin", "true").lower() != "false",
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ItemMoveSerializer, responses=ItemSerializer)
    @action(detail=True, methods=["post"])
    def move(self, request: Request, org_slug: str, pk: str) -> Response:
        item = services.item_move(
            organization=self.organization, actor=self.principal, item=self._item(pk),
            position=validated(ItemMoveSerializer, request.data)["position"],
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(ItemSerializer(item).data)

    @extend_schema(request=None, responses={201: ItemSerializer})
    @action(detail=True, methods=["post"])
    def twin(self, request: Request, org_slug: str, pk: str) -> Response:
        """Create the missing twin of an unpaired item on the other side."""
        twin = services.item_create_twin(
            organization=self.organization, actor=self.principal, item=self._item(pk),
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(ItemSerializer(twin).data, status=status.HTTP_201_CREATED)
