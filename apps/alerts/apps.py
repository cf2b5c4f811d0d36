"""Alerts: closed-loop follow-up of unhappy customers, their rules and their workflow."""

from django.apps import AppConfig


class AlertsConfig(AppConfig):
    name = "apps.alerts"
    label = "alerts"
