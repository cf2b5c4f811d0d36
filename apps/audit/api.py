"""REST endpoint for the audit log: the same filters as the web page, as query parameters."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.errors import ValidationFailed
from apps.organizations.base import OrganizationGenericAPIView
from apps.organizations.permissions import Action

from .formatting import data_summary
from .forms import AuditFilterForm
from .models import AuditEntry
from .selectors import audit_entries


class AuditEntrySerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_label")
    target = serializers.CharField(source="target_label")
    summary = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = ("id", "created_at", "actor", "action", "target_type", "target_id", "target",
                  "ip_address", "data", "summary")  # fmt: skip

    def get_summary(self, entry: AuditEntry) -> str:
        return data_summary(entry.data)


_FILTERS = [
    OpenApiParameter("action", str, description="Entries whose action starts with this."),
    OpenApiParameter("q", str, description="Text in the actor, the action or the target."),
    OpenApiParameter("actor", str, description="Text in the actor (email or API key name)."),
    OpenApiParameter(
        "since", OpenApiTypes.DATE, description="First day, in the organisation's time zone."
    ),
    OpenApiParameter(
        "until", OpenApiTypes.DATE, description="Last day (included), same time zone."
    ),
]


class AuditEntryListView(OrganizationGenericAPIView):
    """The organisation's audit log, newest first (admins, owners and API keys)."""

    actions = {"GET": Action.AUDIT_VIEW}
    serializer_class = AuditEntrySerializer

    @extend_schema(parameters=_FILTERS, responses=AuditEntrySerializer(many=True))
    def get(self, request: Request, org_slug: str) -> Response:
        filters = AuditFilterForm(request.query_params)
        if not filters.is_valid():
            fields = {name: [str(e) for e in errors] for name, errors in filters.errors.items()}
            raise ValidationFailed(
                f"Invalid query parameters: {', '.join(sorted(fields))}.", fields=fields
            )
        entries = audit_entries(
            organization=self.organization, **filters.selection(self.organization)
        )
        page = self.paginate_queryset(entries)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)
