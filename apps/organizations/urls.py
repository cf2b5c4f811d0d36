"""Organisation web URLs under /o/."""

from django.urls import path

from . import views

app_name = "organizations"

urlpatterns = [
    path("", views.organization_choose, name="choose"),
    path("new/", views.organization_create, name="create"),
    path("<slug:org_slug>/", views.OrganizationHomeView.as_view(), name="home"),
    path("<slug:org_slug>/settings/", views.OrganizationSettingsView.as_view(), name="settings"),
]
