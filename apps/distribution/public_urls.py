"""Public opt-out URL: /unsubscribe/<token>/ (the token names the invitation, nothing else)."""

from django.urls import path

from . import public_views

app_name = "distribution_public"

urlpatterns = [path("<str:token>/", public_views.unsubscribe, name="unsubscribe")]
