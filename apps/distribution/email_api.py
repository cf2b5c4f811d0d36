"""REST endpoints for email distribution: contact lists, contacts, imports, campaigns and the
suppression list (the same services as the web pages).

Contacts and imports need `contacts.manage`; campaigns are read with `campaigns.view` and
changed with `campaigns.manage`; the suppression list needs `delivery.admin`.
"""

from typing import Any

from django.http import Http404
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from apps.core.api import validated
from apps.core.errors import ValidationFailed
from apps.organizations.base import OrganizationViewSet, client_ip
from apps.organizations.permissions import Action, require
from apps.surveys import selectors as survey_selectors
from apps.surveys.models import Audience

from . import campaign_selectors, campaign_services, contact_selectors, contact_services
from .models import (
    Campaign,
    Contact,
    ContactImport,
    ContactList,
    InvitationStatus,
    Suppression,
    SurveyInvitation,
)

CONTACTS = {"GET": Action.CONTACTS_MANAGE, "*": Action.CONTACTS_MANAGE}
CAMPAIGNS = {"GET": Action.CAMPAIGNS_VIEW, "*": Action.CAMPAIGNS_MANAGE}
SUPPRESSIONS = {"GET": Action.DELIVERY_ADMIN, "*": Action.DELIVERY_ADMIN}


def _int(value: Any) -> int:
    if not str(value).isdigit():
        raise Http404
    return int(value)


# --- contact lists and contacts ---------------------------------------------------------------


class ContactListSerializer(serializers.ModelSerializer):
    contact_count = serializers.IntegerField(read_only=True, default=0)

    class Meta:
        model = ContactList
        fields = ("id", "name", "audience", "attribute_names", "contact_count", "created_at")
        read_only_fields = fields


class ContactListCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    audience = serializers.ChoiceField(choices=Audience.choices)


class ContactListViewSet(OrganizationViewSet):
    """Lists of people to invite by email (customers or employees)."""

    actions = CONTACTS
    serializer_class = ContactListSerializer
    lookup_value_regex = r"\d+"

    def _list(self, pk: Any) -> ContactList:
        found = contact_selectors.contact_lists(organization=self.organization).filter(pk=_int(pk))
        contact_list = found.first()
        if contact_list is None:
            raise Http404
        return contact_list

    @extend_schema(responses=ContactListSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        page = self.paginate_queryset(
            contact_selectors.contact_lists(organization=self.organization)
        )
        return self.get_paginated_response(ContactListSerializer(page, many=True).data)

    @extend_schema(request=ContactListCreateSerializer, responses={201: ContactListSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        created = contact_services.contact_list_create(
            organization=self.organization, actor=self.principal, ip_address=client_ip(request),
            **validated(ContactListCreateSerializer, request.data),
        )  # fmt: skip
        return Response(ContactListSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ContactListSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(ContactListSerializer(self._list(pk)).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        contact_services.contact_list_delete(
            organization=self.organization, actor=self.principal, contact_list=self._list(pk),
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)


class ContactSerializer(serializers.ModelSerializer):
    opted_out = serializers.BooleanField(read_only=True, default=False)

    class Meta:
        model = Contact
        fields = ("id", "contact_list", "email", "name", "language", "attributes", "opted_out",
                  "created_at", "updated_at")  # fmt: skip
        read_only_fields = fields


class ContactWriteSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254, required=False)
    name = serializers.CharField(max_length=200, required=False, allow_blank=True)
    language = serializers.CharField(max_length=8, required=False, allow_blank=True)
    attributes = serializers.DictField(child=serializers.CharField(allow_blank=True),
                                       required=False)  # fmt: skip


class ContactCreateSerializer(ContactWriteSerializer):
    contact_list = serializers.IntegerField()
    email = serializers.CharField(max_length=254)


class ContactViewSet(OrganizationViewSet):
    """People on the lists; `?list=<id>` (required for listing) and `?q=` to search."""

    actions = CONTACTS
    serializer_class = ContactSerializer
    lookup_value_regex = r"\d+"

    def _contact(self, pk: Any) -> Contact:
        contact = contact_selectors.contact_get(organization=self.organization, contact_id=_int(pk))
        if contact is None:
            raise Http404
        return contact

    def _contact_list(self, pk: Any) -> ContactList:
        found = contact_selectors.contact_list_get(organization=self.organization, list_id=_int(pk))
        if found is None:
            raise Http404
        return found

    @extend_schema(
        parameters=[
            OpenApiParameter("list", int, required=True, description="The contact list."),
            OpenApiParameter("q", str, description="Part of an address, name or attribute."),
        ],
        responses=ContactSerializer(many=True),
    )
    def list(self, request: Request, org_slug: str) -> Response:
        if "list" not in request.query_params:
            raise ValidationFailed("Give the list.", fields={"list": ["Give the list's id."]})
        contacts = contact_selectors.contacts_search(
            organization=self.organization,
            contact_list=self._contact_list(request.query_params["list"]),
            query=request.query_params.get("q", "")[:100],
        )
        page = self.paginate_queryset(contacts)
        return self.get_paginated_response(ContactSerializer(page, many=True).data)

    @extend_schema(request=ContactCreateSerializer, responses={201: ContactSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(ContactCreateSerializer, request.data)
        contact = contact_services.contact_create(
            organization=self.organization, actor=self.principal,
            contact_list=self._contact_list(data.pop("contact_list")),
            ip_address=client_ip(request), **data,
        )  # fmt: skip
        return Response(ContactSerializer(contact).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ContactSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(ContactSerializer(self._contact(pk)).data)

    @extend_schema(request=ContactWriteSerializer, responses=ContactSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        contact = contact_services.contact_update(
            organization=self.organization, actor=self.principal, contact=self._contact(pk),
            ip_address=client_ip(request), **validated(ContactWriteSerializer, request.data),
        )  # fmt: skip
        return Response(ContactSerializer(contact).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        contact_services.contact_delete(
            organization=self.organization, actor=self.principal, contact=self._contact(pk),
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- imports ------------------------------------------------------------------------------------


class ContactImportSerializer(serializers.ModelSerializer):
    percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = ContactImport
        fields = (
            "id", "contact_list", "file_name", "file_format", "encoding", "delimiter",
            "columns", "mapping", "status", "total_rows", "processed_rows", "percent",
            "created_rows", "updated_rows", "rejected_rows", "rejected", "error",
            "created_at", "finished_at",
        )  # fmt: skip
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    contact_list = serializers.IntegerField()
    file = serializers.FileField()


class ImportStartSerializer(serializers.Serializer):
    mapping = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        help_text='Column index -> "email", "name", "language", "attr:<name>" or "".',
    )


class ContactImportViewSet(OrganizationViewSet):
    """Import a CSV or XLSX file: upload (the columns, a guessed mapping and the first rows
    come back), then start with a mapping; the import runs in a worker (poll its status)."""

    actions = CONTACTS
    serializer_class = ContactImportSerializer
    lookup_value_regex = r"\d+"
    parser_classes = (MultiPartParser, FormParser, JSONParser)

    def _import(self, pk: Any) -> ContactImport:
        found = contact_selectors.contact_import_get(
            organization=self.organization, import_id=_int(pk)
        )
        if found is None:
            raise Http404
        return found

    @extend_schema(request={"multipart/form-data": ImportUploadSerializer},
                   responses={201: ContactImportSerializer})  # fmt: skip
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(ImportUploadSerializer, request.data)
        contact_list = contact_selectors.contact_list_get(
            organization=self.organization, list_id=data["contact_list"]
        )
        if contact_list is None:
            raise Http404
        upload = data["file"]
        created = contact_services.contact_import_upload(
            organization=self.organization, actor=self.principal, contact_list=contact_list,
            file_name=upload.name, content=upload.read(), ip_address=client_ip(request),
        )  # fmt: skip
        return Response(ContactImportSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=ContactImportSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(ContactImportSerializer(self._import(pk)).data)

    @extend_schema(request=ImportStartSerializer, responses={202: ContactImportSerializer})
    @action(detail=True, methods=["post"])
    def start(self, request: Request, org_slug: str, pk: str) -> Response:
        started = contact_services.contact_import_start(
            organization=self.organization, actor=self.principal,
            contact_import=self._import(pk), ip_address=client_ip(request),
            mapping=validated(ImportStartSerializer, request.data)["mapping"],
        )  # fmt: skip
        return Response(ContactImportSerializer(started).data, status=status.HTTP_202_ACCEPTED)


# --- campaigns ------------------------------------------------------------------------------


class FiguresSerializer(serializers.Serializer):
    total = serializers.IntegerField()
    counts = serializers.DictField(child=serializers.IntegerField())
    delivered = serializers.IntegerField()
    reminders = serializers.IntegerField()
    responded = serializers.IntegerField()
    response_rate = serializers.FloatField(allow_null=True)


class CampaignSerializer(serializers.ModelSerializer):
    figures = serializers.SerializerMethodField()

    class Meta:
        model = Campaign
        fields = (
            "id", "name", "questionnaire", "audience", "contact_list", "filters", "subjects",
            "bodies", "default_language", "status", "scheduled_at", "started_at",
            "finished_at", "reminder_after_days", "reminder_max", "error", "created_at",
            "figures",
        )  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(FiguresSerializer)
    def get_figures(self, obj: Campaign) -> dict[str, Any]:
        figures = campaign_selectors.campaign_figures(obj)
        return {
            "total": figures.total, "counts": figures.counts, "delivered": figures.delivered,
            "reminders": figures.reminders, "responded": figures.responded,
            "response_rate": figures.response_rate,
        }  # fmt: skip


class CampaignCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    questionnaire = serializers.IntegerField()
    contact_list = serializers.IntegerField()
    filters = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                    required=False)  # fmt: skip
    subjects = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    bodies = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    default_language = serializers.CharField(max_length=8, required=False)
    reminder_after_days = serializers.IntegerField(required=False, allow_null=True)
    reminder_max = serializers.IntegerField(required=False)


class CampaignUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    filters = serializers.DictField(child=serializers.ListField(child=serializers.CharField()),
                                    required=False)  # fmt: skip
    subjects = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    bodies = serializers.DictField(child=serializers.CharField(allow_blank=True), required=False)
    default_language = serializers.CharField(max_length=8, required=False)
    reminder_after_days = serializers.IntegerField(required=False, allow_null=True)
    reminder_max = serializers.IntegerField(required=False)


class CampaignSendSerializer(serializers.Serializer):
    send_at = serializers.DateTimeField(required=False, allow_null=True,
                                        help_text="Later; leave out to send now.")  # fmt: skip


class CampaignTestSerializer(serializers.Serializer):
    language = serializers.CharField(max_length=8)


class CampaignInvitationSerializer(serializers.ModelSerializer):
    class Meta:
        model = SurveyInvitation
        fields = ("id", "email", "language", "status", "sent_count", "last_sent_at", "error")
        read_only_fields = fields


class CampaignViewSet(OrganizationViewSet):
    """Email campaigns: personal invitations to one side of a questionnaire, with reminders."""

    actions = CAMPAIGNS
    serializer_class = CampaignSerializer
    lookup_value_regex = r"\d+"

    def _campaign(self, pk: Any) -> Campaign:
        found = campaign_selectors.campaign_get(
            organization=self.organization, campaign_id=_int(pk)
        )
        if found is None:
            raise Http404
        return found

    def _kwargs(self, request: Request) -> dict[str, Any]:
        return {"organization": self.organization, "actor": self.principal,
                "ip_address": client_ip(request)}  # fmt: skip

    @extend_schema(responses=CampaignSerializer(many=True))
    def list(self, request: Request, org_slug: str) -> Response:
        page = self.paginate_queryset(campaign_selectors.campaigns(organization=self.organization))
        return self.get_paginated_response(CampaignSerializer(page, many=True).data)

    @extend_schema(request=CampaignCreateSerializer, responses={201: CampaignSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        data = validated(CampaignCreateSerializer, request.data)
        questionnaire = survey_selectors.questionnaire_get(
            organization=self.organization, questionnaire_id=data.pop("questionnaire")
        )
        contact_list = contact_selectors.contact_list_get(
            organization=self.organization, list_id=data.pop("contact_list")
        )
        if questionnaire is None or contact_list is None:
            raise Http404
        created = campaign_services.campaign_create(
            questionnaire=questionnaire, contact_list=contact_list, **self._kwargs(request), **data
        )
        return Response(CampaignSerializer(created).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses=CampaignSerializer)
    def retrieve(self, request: Request, org_slug: str, pk: str) -> Response:
        return Response(CampaignSerializer(self._campaign(pk)).data)

    @extend_schema(request=CampaignUpdateSerializer, responses=CampaignSerializer)
    def partial_update(self, request: Request, org_slug: str, pk: str) -> Response:
        """A draft changes freely; a sent campaign only its name and reminders."""
        updated = campaign_services.campaign_update(
            campaign=self._campaign(pk), **self._kwargs(request),
            **validated(CampaignUpdateSerializer, request.data),
        )  # fmt: skip
        return Response(CampaignSerializer(updated).data)

    @extend_schema(request=CampaignSendSerializer, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def send(self, request: Request, org_slug: str, pk: str) -> Response:
        """Send now, or schedule with `send_at`."""
        data = validated(CampaignSendSerializer, request.data)
        sent = campaign_services.campaign_send(
            campaign=self._campaign(pk), send_at=data.get("send_at"), **self._kwargs(request)
        )
        return Response(CampaignSerializer(sent).data)

    @extend_schema(
        request=CampaignTestSerializer,
        responses=inline_serializer("CampaignTestSent", {"sent_to": serializers.EmailField()}),
    )
    @action(detail=True, methods=["post"])
    def test(self, request: Request, org_slug: str, pk: str) -> Response:
        """Send the message in one language to your own address."""
        address = campaign_services.campaign_test_send(
            campaign=self._campaign(pk), **self._kwargs(request),
            **validated(CampaignTestSerializer, request.data),
        )  # fmt: skip
        return Response({"sent_to": address})

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def unschedule(self, request: Request, org_slug: str, pk: str) -> Response:
        done = campaign_services.campaign_unschedule(
            campaign=self._campaign(pk), **self._kwargs(request)
        )
        return Response(CampaignSerializer(done).data)

    @extend_schema(request=None, responses=CampaignSerializer)
    @action(detail=True, methods=["post"])
    def stop(self, request: Request, org_slug: str, pk: str) -> Response:
        done = campaign_services.campaign_stop(campaign=self._campaign(pk), **self._kwargs(request))
        return Response(CampaignSerializer(done).data)

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=InvitationStatus.values),
                    OpenApiParameter("q", str), OpenApiParameter("page", int)],
        responses=CampaignInvitationSerializer(many=True),
    )  # fmt: skip
    @action(detail=True, methods=["get"])
    def invitations(self, request: Request, org_slug: str, pk: str) -> Response:
        """The people invited and their status (addresses: `contacts.manage`)."""
        require(self.principal, Action.CONTACTS_MANAGE)
        status_filter = request.query_params.get("status", "")
        rows = campaign_selectors.campaign_invitations(
            campaign=self._campaign(pk),
            status=status_filter if status_filter in InvitationStatus.values else "",
            query=request.query_params.get("q", "")[:100],
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(CampaignInvitationSerializer(page, many=True).data)


# --- the suppression list ---------------------------------------------------------------------


class SuppressionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Suppression
        fields = ("id", "email", "reason", "campaign", "created_at")
        read_only_fields = fields


class SuppressionCreateSerializer(serializers.Serializer):
    email = serializers.CharField(max_length=254)


class SuppressionViewSet(OrganizationViewSet):
    """Addresses the organisation never emails (opted out, bounced, added by an admin)."""

    actions = SUPPRESSIONS
    serializer_class = SuppressionSerializer
    lookup_value_regex = r"\d+"

    @extend_schema(parameters=[OpenApiParameter("q", str)],
                   responses=SuppressionSerializer(many=True))  # fmt: skip
    def list(self, request: Request, org_slug: str) -> Response:
        rows = contact_selectors.suppressions(
            organization=self.organization, query=request.query_params.get("q", "")[:100]
        )
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(SuppressionSerializer(page, many=True).data)

    @extend_schema(request=SuppressionCreateSerializer, responses={201: SuppressionSerializer})
    def create(self, request: Request, org_slug: str) -> Response:
        entry = contact_services.suppression_add(
            organization=self.organization, actor=self.principal, ip_address=client_ip(request),
            **validated(SuppressionCreateSerializer, request.data),
        )  # fmt: skip
        return Response(SuppressionSerializer(entry).data, status=status.HTTP_201_CREATED)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, org_slug: str, pk: str) -> Response:
        """Lift an admin's entry or a bounce (a person's own opt-out stays: 409)."""
        entry = contact_selectors.suppression_get(
            organization=self.organization, suppression_id=_int(pk)
        )
        if entry is None:
            raise Http404
        contact_services.suppression_remove(
            organization=self.organization, actor=self.principal, suppression=entry,
            ip_address=client_ip(request),
        )  # fmt: skip
        return Response(status=status.HTTP_204_NO_CONTENT)
