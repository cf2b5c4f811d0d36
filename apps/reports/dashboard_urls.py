"""Dashboards under /o/<org_slug>/dashboards/."""

from django.urls import path

from . import dashboard

app_name = "dashboards"

urlpatterns = [
    path("<int:journey_id>/", dashboard.JourneyDashboard.as_view(), name="journey"),
    path(
        "<int:journey_id>/touchpoints/<int:touchpoint_id>/",
        dashboard.TouchpointDashboard.as_view(),
        name="touchpoint",
    ),
]
