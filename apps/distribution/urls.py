"""Link web URLs under /o/<org_slug>/links/."""

from django.urls import path

from . import views

app_name = "distribution"

urlpatterns = [
    path("", views.LinkListView.as_view(), name="list"),
    path("new/<int:questionnaire_id>/", views.LinkCreateView.as_view(), name="create"),
    path(
        "attributes/new/<int:questionnaire_id>/",
        views.ContextAttributeCreateView.as_view(),
        name="attribute_create",
    ),
    path(
        "attributes/<int:attribute_id>/delete/",
        views.ContextAttributeDeleteView.as_view(),
        name="attribute_delete",
    ),
    path("<int:pk>/", views.LinkDetailView.as_view(), name="detail"),
    path("<int:pk>/qr.svg", views.LinkQRView.as_view(kind="svg"), name="qr_svg"),
    path("<int:pk>/qr.png", views.LinkQRView.as_view(kind="png"), name="qr_png"),
    path("<int:pk>/<slug:verb>/", views.LinkActionView.as_view(), name="action"),
]
