"""Core app: shared building blocks (errors, tenancy context, health, logging)."""

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"
