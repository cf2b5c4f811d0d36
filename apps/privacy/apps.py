"""Privacy: retention of personal data, subject access and erasure, organisation deletion."""

from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "apps.privacy"
    label = "privacy"
