"""Alert API URLs under /api/v1/o/<org_slug>/: alerts/ and alerts/rules/<journey_id>/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register(r"o/(?P<org_slug>[-\w]+)/alerts", api.AlertViewSet, basename="alert")

urlpatterns = [
    path(
        "o/<slug:org_slug>/alerts/rules/<int:journey_id>/",
        api.AlertRulesView.as_view(),
        name="alert-rules",
    ),
    *router.urls,
]
