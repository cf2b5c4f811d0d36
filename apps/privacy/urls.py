"""Privacy pages, mounted under /o/<org_slug>/privacy/."""

from django.urls import path

from . import views

app_name = "privacy"

urlpatterns = [
    path("", views.PrivacyView.as_view(), name="settings"),
    path("subject/", views.SubjectView.as_view(), name="subject"),
    path("erase/", views.ErasureView.as_view(), name="erase"),
    path("delete-organisation/", views.OrganizationDeleteView.as_view(), name="delete"),
]
