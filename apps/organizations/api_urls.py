"""Organisation API URLs: /api/v1/organizations/ and /api/v1/o/<org_slug>/..."""

from django.urls import path

from . import api

members = api.MemberViewSet.as_view({"get": "list"})
member = api.MemberViewSet.as_view(
    {"get": "retrieve", "patch": "partial_update", "delete": "destroy"}
)
invitations = api.InvitationViewSet.as_view({"get": "list", "post": "create"})
invitation = api.InvitationViewSet.as_view({"get": "retrieve", "delete": "destroy"})
invitation_resend = api.InvitationViewSet.as_view({"post": "resend"})
api_keys = api.ApiKeyViewSet.as_view({"get": "list", "post": "create"})
api_key = api.ApiKeyViewSet.as_view({"get": "retrieve", "delete": "destroy"})

urlpatterns = [
    path("organizations/", api.MyOrganizationsView.as_view(), name="my-organizations"),
    path("o/<slug:org_slug>/", api.OrganizationDetailView.as_view(), name="organization-detail"),
    path("o/<slug:org_slug>/members/", members, name="member-list"),
    path("o/<slug:org_slug>/members/<int:pk>/", member, name="member-detail"),
    path("o/<slug:org_slug>/invitations/", invitations, name="invitation-list"),
    path("o/<slug:org_slug>/invitations/<int:pk>/", invitation, name="invitation-detail"),
    path(
        "o/<slug:org_slug>/invitations/<int:pk>/resend/",
        invitation_resend,
        name="invitation-resend",
    ),
    path("o/<slug:org_slug>/api-keys/", api_keys, name="api-key-list"),
    path("o/<slug:org_slug>/api-keys/<int:pk>/", api_key, name="api-key-detail"),
]
