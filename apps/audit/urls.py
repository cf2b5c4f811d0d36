"""Audit log web URLs, mounted under /o/<org_slug>/audit/."""

from django.urls import path

from . import views

app_name = "audit"

urlpatterns = [
    path("", views.AuditLogView.as_view(), name="log"),
]
