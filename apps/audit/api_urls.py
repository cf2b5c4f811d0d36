"""Audit API URLs under /api/v1/o/<org_slug>/audit/."""

from django.urls import path

from . import api

urlpatterns = [
    path("o/<slug:org_slug>/audit/", api.AuditEntryListView.as_view(), name="audit-log"),
]
