"""REST endpoints for privacy: the retention period, subject access and erasure (admins and
read-write API keys). Organisation deletion is web-only: it asks for the owner's password."""

from typing import Any

from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.audit.services import audit_record
from apps.core.errors import ValidationFailed
from apps.organizations.base import OrganizationAPIView, client_ip
from apps.organizations.permissions import Action

from . import selectors, services


def _valid(serializer: serializers.Serializer) -> dict[str, Any]:
    if not serializer.is_valid():
        fields = {name: [str(e) for e in errors] for name, errors in serializer.errors.items()}
        raise ValidationFailed(f"Invalid input: {', '.join(sorted(fields))}.", fields=fields)
    return dict(serializer.validated_data)


class RetentionSerializer(serializers.Serializer):
    retention_months = serializers.IntegerField(min_value=1, max_value=120)


class SubjectSerializer(serializers.Serializer):
    email = serializers.EmailField()


class ErasureSerializer(SubjectSerializer):
    confirm = serializers.BooleanField()


class RetentionView(OrganizationAPIView):
    """The retention period (months) after which personal data is anonymised or deleted."""

    actions = {"GET": Action.PRIVACY_MANAGE, "PUT": Action.PRIVACY_MANAGE}

    @extend_schema(responses=RetentionSerializer)
    def get(self, request: Request, org_slug: str) -> Response:
        return Response({"retention_months": selectors.retention_months_of(self.organization)})

    @extend_schema(request=RetentionSerializer, responses=RetentionSerializer)
    def put(self, request: Request, org_slug: str) -> Response:
        data = _valid(RetentionSerializer(data=request.data))
        settings = services.retention_settings_update(
            organization=self.organization,
            actor=self.principal,
            retention_months=data["retention_months"],
        )
        return Response({"retention_months": settings.retention_months})


class SubjectAccessView(OrganizationAPIView):
    """Everything in the organisation linked to an email address, as JSON."""

    actions = {"POST": Action.PRIVACY_MANAGE}

    @extend_schema(
        request=SubjectSerializer,
        responses=inline_serializer("PersonalData", {"email": serializers.EmailField()}),
    )
    def post(self, request: Request, org_slug: str) -> Response:
        email = _valid(SubjectSerializer(data=request.data))["email"]
        audit_record(
            organization=self.organization,
            actor=self.principal,
            action="privacy.access_exported",
            target_label=f"subject {services.email_hash(email)}",
            data={"subject_hash": services.email_hash(email)},
            ip_address=client_ip(request),
        )
        found = selectors.personal_data_find(organization=self.organization, email=email)
        return Response(found, headers={"Cache-Control": "no-store"})


class ErasureView(OrganizationAPIView):
    """Erase or anonymise everything linked to an email address; `confirm` must be true."""

    actions = {"POST": Action.PRIVACY_MANAGE}

    @extend_schema(
        request=ErasureSerializer,
        responses=inline_serializer("ErasureCounts", {"erased": serializers.DictField()}),
    )
    def post(self, request: Request, org_slug: str) -> Response:
        data = _valid(ErasureSerializer(data=request.data))
        counts = services.personal_data_erase(
            organization=self.organization,
            actor=self.principal,
            email=data["email"],
            confirm=data["confirm"],
        )
        return Response({"erased": counts})
