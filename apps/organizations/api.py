"""REST endpoints for organisations: the caller's organisations, one organisation's settings, its
members, invitations and API keys."""

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from apps.core.api import paginated

from . import api_keys, selectors, services
from .base import OrganizationAPIView, OrganizationViewSet, client_ip
from .models import ApiAccess, ApiKey, Invitation, Membership, Organization, Role
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
    pagination_class = api_settings.DEFAULT_PAGINATION_CLASS

    @extend_schema(responses=MyOrganizationSerializer(many=True))
    def get(self, request: Request) -> Response:
        memberships = selectors.memberships_of(user=request.user)
        return paginated(
            self, request, memberships, lambda page: MyOrganizationSerializer(page, many=True).data
        )


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


# --- Members ------------------------------------------------------------------------------------


class MemberSerializer(serializers.ModelSerializer):
    user_id = serializers.IntegerField(read_only=True)
    email = serializers.EmailField(source="user.email", read_only=True)
    full_name = serializers.CharField(source="user.full_name", read_only=True)

    class Meta:
        model = Membership
        fields = ("id", "user_id", "email", "full_name", "role", "created_at")
        read_only_fields = fields


class MemberRoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class MemberViewSet(OrganizationViewSet):
    """The organisation's members and their roles. Only owners grant or take the owner role, and
    the last owner can neither be demoted nor removed."""

    actions = {
        "GET": Action.MEMBERS_VIEW,
        "PATCH": Action.MEMBERS_MANAGE,
        "DELETE": Action.MEMBERS_MANAGE,
    }
    serializer_class = MemberSerializer

    def get_queryset(self) -> QuerySet[Membership]:
        if getattr(self, "swagger_fake_view", False):
            return Membership.unscoped.none()
        return selectors.members(organization=self.organization)

    @extend_schema(responses=MemberSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(MemberSerializer(page, many=True).data)

    @extend_schema(responses=MemberSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: int) -> Response:
        return Response(MemberSerializer(self.get_object()).data)

    @extend_schema(request=MemberRoleSerializer, responses=MemberSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: int) -> Response:
        serializer = MemberRoleSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = services.membership_change_role(
            organization=self.organization,
            actor=self.principal,
            membership_id=int(pk),
            role=serializer.validated_data["role"],
            ip_address=client_ip(request),
        )
        return Response(MemberSerializer(membership).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: int) -> Response:
        services.membership_remove(
            organization=self.organization,
            actor=self.principal,
            membership_id=int(pk),
            ip_address=client_ip(request),
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Invitations --------------------------------------------------------------------------------


class InvitationSerializer(serializers.ModelSerializer):
    status = serializers.CharField(read_only=True)
    invited_by = serializers.EmailField(source="invited_by.email", read_only=True, default=None)

    class Meta:
        model = Invitation
        fields = (
            "id",
            "email",
            "role",
            "status",
            "invited_by",
            "created_at",
            "expires_at",
            "last_sent_at",
            "send_count",
            "accepted_at",
            "revoked_at",
        )
        read_only_fields = fields


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class InvitationViewSet(OrganizationViewSet):
    """Invitations by email: the link in the email is valid for 7 days; resending mails a new
    link (the old one stops working). Only owners invite owners."""

    actions = {
        "GET": Action.MEMBERS_MANAGE,
        "POST": Action.MEMBERS_MANAGE,
        "DELETE": Action.MEMBERS_MANAGE,
    }
    serializer_class = InvitationSerializer

    def get_queryset(self) -> QuerySet[Invitation]:
        if getattr(self, "swagger_fake_view", False):
            return Invitation.unscoped.none()
        return selectors.invitations(organization=self.organization)

    @extend_schema(responses=InvitationSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(InvitationSerializer(page, many=True).data)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        serializer = InvitationCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        invitation = services.invitation_create(
            organization=self.organization,
            actor=self.principal,
            ip_address=client_ip(request),
            **serializer.validated_data,
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=InvitationSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: int) -> Response:
        return Response(InvitationSerializer(self.get_object()).data)

    @extend_schema(request=None, responses=InvitationSerializer, summary="Revoke an invitation")
    def destroy(self, request: Request, org_slug: str, pk: int) -> Response:
        invitation = services.invitation_revoke(
            organization=self.organization,
            actor=self.principal,
            invitation_id=int(pk),
            ip_address=client_ip(request),
        )
        return Response(InvitationSerializer(invitation).data)

    @extend_schema(request=None, responses=InvitationSerializer, summary="Send again, new link")
    def resend(self, request: Request, org_slug: str, pk: int) -> Response:
        invitation = services.invitation_resend(
            organization=self.organization,
            actor=self.principal,
            invitation_id=int(pk),
            ip_address=client_ip(request),
        )
        return Response(InvitationSerializer(invitation).data)


# --- API keys -----------------------------------------------------------------------------------


class ApiKeySerializer(serializers.ModelSerializer):
    created_by = serializers.EmailField(source="created_by.email", read_only=True, default=None)
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiKey
        fields = (
            "id",
            "name",
            "prefix",
            "access",
            "status",
            "created_by",
            "created_at",
            "last_used_at",
            "revoked_at",
        )
        read_only_fields = fields

    def get_status(self, key: ApiKey) -> str:
        return "active" if key.is_active else "revoked"


class ApiKeyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    access = serializers.ChoiceField(choices=ApiAccess.choices, default=ApiAccess.READ_ONLY)


class ApiKeyCreatedSerializer(ApiKeySerializer):
    key = serializers.CharField(
        read_only=True, help_text="The key itself: shown in this response only, never again."
    )

    class Meta(ApiKeySerializer.Meta):
        fields = (*ApiKeySerializer.Meta.fields, "key")
        read_only_fields = fields


class ApiKeyViewSet(OrganizationViewSet):
    """The organisation's API keys (admins and owners, signed in: a key cannot manage keys)."""

    actions = {
        "GET": Action.API_KEYS_MANAGE,
        "POST": Action.API_KEYS_MANAGE,
        "DELETE": Action.API_KEYS_MANAGE,
    }
    serializer_class = ApiKeySerializer

    def get_queryset(self) -> QuerySet[ApiKey]:
        if getattr(self, "swagger_fake_view", False):
            return ApiKey.unscoped.none()
        return selectors.api_keys(organization=self.organization)

    @extend_schema(responses=ApiKeySerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(ApiKeySerializer(page, many=True).data)

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        serializer = ApiKeyCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        key, plaintext = api_keys.api_key_create(
            organization=self.organization,
            actor=self.principal,
            ip_address=client_ip(request),
            **serializer.validated_data,
        )
        key.key = plaintext  # type: ignore[attr-defined]
        response = Response(ApiKeyCreatedSerializer(key).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(responses=ApiKeySerializer)
    def retrieve(self, request: Request, org_slug: str, pk: int) -> Response:
        return Response(ApiKeySerializer(self.get_object()).data)

    @extend_schema(request=None, responses=ApiKeySerializer, summary="Revoke an API key")
    def destroy(self, request: Request, org_slug: str, pk: int) -> Response:
        key = api_keys.api_key_revoke(
            organization=self.organization,
            actor=self.principal,
            key_id=int(pk),
            ip_address=client_ip(request),
        )
        return Response(ApiKeySerializer(key).data)
