"""The project's URLs plus /bench/baseline/, the bench's one-INSERT comparison view."""

from django.urls import path

from cxplatform.urls import urlpatterns as project_urlpatterns

from .baseline import baseline

urlpatterns = [path("bench/baseline/", baseline, name="bench-baseline"), *project_urlpatterns]
