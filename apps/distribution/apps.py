"""Public survey links, their QR codes and kiosk mode."""

from django.apps import AppConfig


class DistributionConfig(AppConfig):
    name = "apps.distribution"
    label = "distribution"
