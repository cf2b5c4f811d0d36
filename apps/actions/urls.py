"""Improvement action pages under /o/<org_slug>/actions/."""

from django.urls import path

from . import views

app_name = "actions"

urlpatterns = [
    path("", views.ActionListView.as_view(), name="list"),
    path("new/", views.ActionCreateView.as_view(), name="create"),
    path("<int:action_id>/", views.ActionDetailView.as_view(), name="detail"),
    path("<int:action_id>/edit/", views.ActionEditView.as_view(), name="edit"),
]
