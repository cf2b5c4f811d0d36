"""Journeys: stages, touchpoints and their owners."""

from django.apps import AppConfig


class JourneysConfig(AppConfig):
    name = "apps.journeys"
    label = "journeys"
