"""URL root: health probes, accounts, the web app, the REST API and its schema."""

from allauth.account.decorators import secure_admin_login
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from apps.core import views as core_views
from apps.organizations import views as organization_views

# The operator admin signs in through allauth: the same two-factor step and login rate limits.
admin.site.login = secure_admin_login(admin.site.login)  # type: ignore[method-assign]

urlpatterns = [
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("o/<slug:org_slug>/audit/", include("apps.audit.urls")),
    path("o/<slug:org_slug>/journeys/", include("apps.journeys.urls")),
    path("o/<slug:org_slug>/questionnaires/", include("apps.surveys.urls")),
    path("o/<slug:org_slug>/links/", include("apps.distribution.urls")),
    path("o/<slug:org_slug>/reports/", include("apps.reports.urls")),
    path("o/<slug:org_slug>/dashboards/", include("apps.reports.dashboard_urls")),
    path("o/<slug:org_slug>/contacts/", include("apps.distribution.contact_urls")),
    path("o/<slug:org_slug>/campaigns/", include("apps.distribution.campaign_urls")),
    path("o/<slug:org_slug>/actions/", include("apps.actions.urls")),
    path("o/<slug:org_slug>/settings/webhooks/", include("apps.webhooks.urls")),
    path("o/<slug:org_slug>/alerts/", include("apps.alerts.urls")),
    path("o/<slug:org_slug>/privacy/", include("apps.privacy.urls")),
    path("o/", include("apps.organizations.urls")),
    path("invitations/<str:token>/", organization_views.invitation, name="invitation"),
    path("s/", include("apps.responses.urls")),
    path("r/", include("apps.reports.public_urls")),
    path("unsubscribe/", include("apps.distribution.public_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("api/v1/", include("apps.core.api_urls")),
    path("", core_views.home, name="home"),
]
