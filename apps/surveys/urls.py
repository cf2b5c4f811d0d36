"""Questionnaire web URLs under /o/<org_slug>/questionnaires/."""

from django.urls import path

from . import views

app_name = "surveys"

urlpatterns = [
    path(
        "generate/<int:journey_pk>/",
        views.QuestionnaireGenerateView.as_view(),
        name="generate",
    ),
    path("<int:pk>/", views.QuestionnaireDetailView.as_view(), name="detail"),
    path("<int:pk>/preview/", views.PreviewView.as_view(), name="preview"),
    path("<int:pk>/items/new/", views.ItemCreateView.as_view(), name="item_create"),
    path("<int:pk>/<slug:verb>/", views.QuestionnaireActionView.as_view(), name="action"),
    path("items/<int:pk>/", views.ItemEditView.as_view(), name="item_edit"),
    path("items/<int:pk>/<slug:verb>/", views.ItemActionView.as_view(), name="item_action"),
]
