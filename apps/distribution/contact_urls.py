"""Contact list web URLs under /o/<org_slug>/contacts/."""

from django.urls import path

from . import contact_views as views

app_name = "contacts"

urlpatterns = [
    path("", views.ContactListsView.as_view(), name="lists"),
    path("<int:list_id>/", views.ContactListView.as_view(), name="list"),
    path("<int:list_id>/delete/", views.ContactListDeleteView.as_view(), name="list_delete"),
    path("<int:list_id>/export.csv", views.ContactListExportView.as_view(), name="export"),
    path("<int:list_id>/import/", views.ImportUploadView.as_view(), name="upload"),
    path("imports/<int:import_id>/", views.ImportView.as_view(), name="import"),
    path(
        "imports/<int:import_id>/rejected.csv",
        views.ImportRejectedView.as_view(),
        name="import_rejected",
    ),
    path("people/<int:contact_id>/", views.ContactEditView.as_view(), name="contact"),
    path(
        "people/<int:contact_id>/delete/", views.ContactDeleteView.as_view(), name="contact_delete"
    ),
    path("suppressions/", views.SuppressionsView.as_view(), name="suppressions"),
    path(
        "suppressions/<int:suppression_id>/delete/",
        views.SuppressionDeleteView.as_view(),
        name="suppression_delete",
    ),
]
