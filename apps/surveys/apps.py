"""Paired questionnaires generated from journeys: items, translations, versions, publishing."""

from django.apps import AppConfig


class SurveysConfig(AppConfig):
    name = "apps.surveys"
    label = "surveys"
