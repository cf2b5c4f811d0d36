"""Webhook pages under /o/<org_slug>/settings/webhooks/."""

from django.urls import path

from . import views

app_name = "webhooks"

urlpatterns = [
    path("", views.EndpointListView.as_view(), name="list"),
    path("<int:webhook_id>/", views.EndpointDetailView.as_view(), name="detail"),
    path("<int:webhook_id>/test/", views.EndpointTestView.as_view(), name="test"),
    path(
        "<int:webhook_id>/rotate-secret/",
        views.EndpointRotateSecretView.as_view(),
        name="rotate_secret",
    ),
    path("<int:webhook_id>/enable/", views.EndpointEnableView.as_view(), name="enable"),
    path("<int:webhook_id>/disable/", views.EndpointDisableView.as_view(), name="disable"),
    path("<int:webhook_id>/delete/", views.EndpointDeleteView.as_view(), name="delete"),
]
