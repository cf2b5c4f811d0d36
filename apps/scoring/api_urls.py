"""Results API URLs under /api/v1/o/<org_slug>/journeys/<journey_id>/."""

from django.urls import path

from . import api

_JOURNEY = "o/<slug:org_slug>/journeys/<int:journey_id>/"

urlpatterns = [
    path(f"{_JOURNEY}gap-report/", api.GapReportView.as_view(), name="journey-gap-report"),
    path(
        f"{_JOURNEY}touchpoints/<int:touchpoint_id>/series/",
        api.TouchpointSeriesView.as_view(),
        name="journey-touchpoint-series",
    ),
    path(f"{_JOURNEY}nps/", api.NpsView.as_view(), name="journey-nps"),
    path(f"{_JOURNEY}calibration/", api.CalibrationView.as_view(), name="journey-calibration"),
    path(f"{_JOURNEY}rescore/", api.RescoreView.as_view(), name="journey-rescore"),
]
