"""REST endpoints for webhook endpoints: create (the secret is in that answer only), list, read,
change, delete, rotate the secret, send a test event, and the delivery log. Admins only."""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import validated
from apps.organizations.base import OrganizationViewSet, client_ip
from apps.organizations.permissions import Action

from . import selectors, services
from .models import EventType, WebhookAttempt, WebhookDelivery, WebhookEndpoint

MANAGE = {"GET": Action.WEBHOOKS_MANAGE, "*": Action.WEBHOOKS_MANAGE}


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookEndpoint
        fields = (
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "consecutive_failures",
            "disabled_at",
            "disabled_reason",
            "secret_rotated_at",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    secret = serializers.CharField(
        read_only=True, help_text="Signs every delivery. Shown in this answer only."
    )

    class Meta(EndpointSerializer.Meta):
        fields = (*EndpointSerializer.Meta.fields, "secret")
        read_only_fields = fields


class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.CharField(max_length=2000, help_text="Where events are POSTed.")
    events = serializers.ListField(
        child=serializers.CharField(max_length=64),
        allow_empty=True,
        help_text=f"Any of: {', '.join(EventType.values)}.",
    )
    description = serializers.CharField(required=False, allow_blank=True, max_length=200)


class EndpointUpdateSerializer(EndpointCreateSerializer):
    is_active = serializers.BooleanField(
        required=False, help_text="false disables; true re-enables (failure count from zero)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False


class AttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = WebhookAttempt
        fields = (
            "number",
            "started_at",
            "status_code",
            "duration_ms",
            "response_body",
            "error",
            "retry_in",
        )
        read_only_fields = fields


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.UUIDField(source="event.id", read_only=True)
    event_type = serializers.CharField(source="event.type", read_only=True)
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta:
        model = WebhookDelivery
        fields = (
            "id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "created_at",
            "finished_at",
            "attempt_log",
        )
        read_only_fields = fields


class WebhookPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class WebhookEndpointViewSet(OrganizationViewSet):
    """An organisation's webhook endpoints (admins and owners)."""

    actions = MANAGE
    pagination_class = WebhookPagination
    serializer_class = EndpointSerializer
    lookup_value_regex = r"\d+"

    def _endpoint(self, pk: str) -> WebhookEndpoint:
        endpoint = selectors.endpoint_get(organization=self.organization, endpoint_id=int(pk))
        if endpoint is None:
            raise Http404
        return endpoint

    @extend_schema(responses=EndpointSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        page = self.paginate_queryset(selectors.endpoints(organization=self.organization))
        return self.get_paginated_response(EndpointSerializer(page, many=True).data)

    @extend_schema(request=EndpointCreateSerializer, responses={201: EndpointWithSecretSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(EndpointCreateSerializer, request.data)
        endpoint, secret = services.webhook_endpoint_create(
            organization=self.organization,
            actor=self.principal,
            ip_address=client_ip(request),
            **data,
        )
        body = EndpointSerializer(endpoint).data | {"secret": secret}
        return Response(body, status=status.HTTP_201_CREATED, headers={"Cache-Control": "no-store"})

    @extend_schema(responses=EndpointSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(EndpointSerializer(self._endpoint(pk)).data)

    @extend_schema(request=EndpointUpdateSerializer, responses=EndpointSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        endpoint = self._endpoint(pk)
        changes = validated(EndpointUpdateSerializer, request.data)
        endpoint = services.webhook_endpoint_update(
            organization=self.organization,
            actor=self.principal,
            endpoint_id=endpoint.pk,
            ip_address=client_ip(request),
            **changes,
        )
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        services.webhook_endpoint_delete(
            organization=self.organization,
            actor=self.principal,
            endpoint_id=self._endpoint(pk).pk,
            ip_address=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=EndpointWithSecretSerializer)
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request: Request, org_slug: str, pk: str) -> Response:
        """A new secret, in force at once; this answer is the only place it is shown."""
        endpoint, secret = services.webhook_endpoint_rotate_secret(
            organization=self.organization,
            actor=self.principal,
            endpoint_id=self._endpoint(pk).pk,
            ip_address=client_ip(request),
        )
        body = EndpointSerializer(endpoint).data | {"secret": secret}
        return Response(body, headers={"Cache-Control": "no-store"})

    @extend_schema(request=None, responses={202: WebhookDeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request: Request, org_slug: str, pk: str) -> Response:
        """Send a `webhook.test` event to this endpoint now."""
        delivery = services.webhook_endpoint_send_test(
            organization=self.organization,
            actor=self.principal,
            endpoint_id=self._endpoint(pk).pk,
            ip_address=client_ip(request),
        )
        fresh = (
            selectors.deliveries(organization=self.organization, endpoint=delivery.endpoint)
            .filter(pk=delivery.pk)
            .first()
        )
        return Response(WebhookDeliverySerializer(fresh).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(responses=WebhookDeliverySerializer(many=True))
    @action(detail=True, methods=["get"])
    def deliveries(self, request: Request, org_slug: str, pk: str) -> Response:
        """The delivery log, newest first, each with its attempts."""
        rows = selectors.deliveries(organization=self.organization, endpoint=self._endpoint(pk))
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
