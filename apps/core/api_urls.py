"""REST API v1 root: each app mounts its routes here."""

from django.urls import include, path

app_name = "api"

urlpatterns = [
    path("", include("apps.organizations.api_urls")),
    path("", include("apps.audit.api_urls")),
    path("", include("apps.journeys.api_urls")),
    path("", include("apps.surveys.api_urls")),
    path("", include("apps.distribution.api_urls")),
    path("", include("apps.scoring.api_urls")),
    path("", include("apps.reports.api_urls")),
    path("", include("apps.actions.api_urls")),
    path("", include("apps.webhooks.api_urls")),
    path("", include("apps.alerts.api_urls")),
    path("", include("apps.privacy.api_urls")),
]
