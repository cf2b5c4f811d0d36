"""Alert web URLs under /o/<org_slug>/alerts/."""

from django.urls import path

from . import views

app_name = "alerts"

urlpatterns = [
    path("", views.InboxView.as_view(), name="inbox"),
    path("<int:pk>/", views.AlertView.as_view(), name="detail"),
    path("settings/", views.SettingsView.as_view(), name="settings"),
    path("journeys/<int:journey_id>/rules/", views.RulesView.as_view(), name="rules"),
    path(
        "questionnaires/<int:questionnaire_id>/contact-questions/",
        views.ContactQuestionsView.as_view(),
        name="contact_questions",
    ),
]
