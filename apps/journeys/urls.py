"""Journey web URLs under /o/<org_slug>/journeys/."""

from django.urls import path

from . import views

app_name = "journeys"

urlpatterns = [
    path("", views.JourneyListView.as_view(), name="list"),
    path("<int:pk>/", views.JourneyDetailView.as_view(), name="detail"),
    path("<int:pk>/edit/", views.JourneyEditView.as_view(), name="edit"),
    path("<int:pk>/owner/", views.JourneyOwnerView.as_view(), name="owner"),
    path("<int:pk>/stages/new/", views.StageCreateView.as_view(), name="stage_create"),
    path("stages/<int:pk>/", views.StageEditView.as_view(), name="stage_edit"),
    path("stages/<int:pk>/move/", views.StageMoveView.as_view(), name="stage_move"),
    path("stages/<int:pk>/delete/", views.StageDeleteView.as_view(), name="stage_delete"),
    path(
        "stages/<int:pk>/touchpoints/new/",
        views.TouchpointCreateView.as_view(),
        name="touchpoint_create",
    ),
    path("touchpoints/<int:pk>/", views.TouchpointEditView.as_view(), name="touchpoint_edit"),
    path("touchpoints/<int:pk>/move/", views.TouchpointMoveView.as_view(), name="touchpoint_move"),
    path(
        "touchpoints/<int:pk>/delete/",
        views.TouchpointDeleteView.as_view(),
        name="touchpoint_delete",
    ),
]
