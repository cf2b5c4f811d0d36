"""Privacy API URLs under /api/v1/o/<org_slug>/privacy/."""

from django.urls import path

from . import api

urlpatterns = [
    path("o/<slug:org_slug>/privacy/retention/", api.RetentionView.as_view(),
         name="privacy-retention"),
    path("o/<slug:org_slug>/privacy/subject-access/", api.SubjectAccessView.as_view(),
         name="privacy-subject-access"),
    path("o/<slug:org_slug>/privacy/erasure/", api.ErasureView.as_view(),
         name="privacy-erasure"),
]  # fmt: skip
