"""Report API URLs under /api/v1/o/<org_slug>/: report-schedules/ and report-files/."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from . import api

router = SimpleRouter()
router.register(
    r"o/(?P<org_slug>[-\w]+)/report-schedules",
    api.ReportScheduleViewSet,
    basename="report-schedule",
)

urlpatterns = [
    path("o/<slug:org_slug>/report-files/", api.ReportFilesView.as_view(), name="report-files"),
    path(
        "o/<slug:org_slug>/report-files/<str:file_token>/",
        api.ReportFileView.as_view(),
        name="report-file",
    ),
    path(
        "o/<slug:org_slug>/report-files/<str:file_token>/download/",
        api.ReportFileDownloadView.as_view(),
        name="report-file-download",
    ),
    *router.urls,
]
