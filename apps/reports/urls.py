"""Report web URLs under /o/<org_slug>/reports/."""

from django.urls import path

from . import views

app_name = "reports"

urlpatterns = [
    path("journeys/<int:journey_id>/", views.JourneyReportsView.as_view(), name="journey"),
    path(
        "journeys/<int:journey_id>/schedules/new/",
        views.ScheduleCreateView.as_view(),
        name="schedule_create",
    ),
    path("schedules/<int:pk>/", views.ScheduleView.as_view(), name="schedule"),
    path("schedules/<int:pk>/delete/", views.ScheduleDeleteView.as_view(), name="schedule_delete"),
    path("schedules/<int:pk>/send/", views.ScheduleSendView.as_view(), name="schedule_send"),
    path("files/<str:file_token>/", views.FileView.as_view(), name="file"),
    path("files/<str:file_token>/status/", views.FileStatusView.as_view(), name="file_status"),
    path(
        "files/<str:file_token>/download/", views.FileDownloadView.as_view(), name="file_download"
    ),
]
