"""Public respondent URLs: /s/<token>/ (the form) and /s/<token>/thanks/.

The token alone names the link; nothing in these URLs names the organisation or the survey.
"""

from django.urls import path

from . import views

app_name = "responses"

urlpatterns = [
    path("<str:token>/", views.respond, name="respond"),
    path("<str:token>/thanks/", views.thanks, name="thanks"),
]
