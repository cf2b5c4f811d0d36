"""REST endpoints for organisations: the caller's organisations, and one organisation's settings."""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from . import selectors, services
from .base import OrganizationAPIView, client_ip
from .models import Organization
from .permissions import Action


class OrganizationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Organization
        fields = (
            "slug",
            "name",
            "time_zone",
            "default_language",
            "min_n",
            "gap_threshold",
            "alpha",
            "employee_anonymity_min",
            "top_priorities",
            "created_at",
        )
        read_only_fields = ("slug", "created_at")


class MyOrganizationSerializer(serializers.Serializer):
    slug = serializers.CharField(source="organization.slug")
    name = serializers.CharField(source="organization.name")
    role = serializers.CharField()


class MyOrganizationsView(APIView):
    """The organisations the signed-in person belongs to, with their role in each."""

    permission_classes = (IsAuthenticated,)

    @extend_schema(responses=MyOrganizationSerializer(many=True))
    def get(self, request: Request) -> Response:
        memberships = selectors.memberships_of(user=request.user)
        return Response(MyOrganizationSerializer(memberships, many=True).data)


class OrganizationDetailView(OrganizationAPIView):
    """The organisation in the URL: read by any member, settings changed by admins and owners."""

    actions = {"GET": Action.ORG_VIEW, "PATCH": Action.ORG_EDIT}
    serializer_class = OrganizationSerializer

    @extend_schema(responses=OrganizationSerializer)
    def get(self, request: Request, org_slug: str) -> Response:
        return Response(OrganizationSerializer(self.organization).data)

    @extend_schema(request=OrganizationSerializer, responses=OrganizationSerializer)
    def patch(self, request: Request, org_slug: str) -> Response:
        serializer = OrganizationSerializer(self.organization, data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        organization = services.organization_update(
            organization=self.organization,
            actor=self.principal,
            ip_address=client_ip(request),
            **changes,
        )
        return Response(OrganizationSerializer(organization).data)
