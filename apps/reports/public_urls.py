"""Public report URLs under /r/: unsubscribing from a schedule (the token is the credential)."""

from django.urls import path

from . import views

app_name = "reports_public"

urlpatterns = [
    path("unsubscribe/<str:token>/", views.unsubscribe, name="unsubscribe"),
]
