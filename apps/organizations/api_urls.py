"""Organisation API URLs: /api/v1/organizations/ and /api/v1/o/<org_slug>/..."""

from django.urls import path

from . import api

urlpatterns = [
    path("organizations/", api.MyOrganizationsView.as_view(), name="my-organizations"),
    path("o/<slug:org_slug>/", api.OrganizationDetailView.as_view(), name="organization-detail"),
]
