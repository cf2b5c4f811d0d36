"""Audit: the append-only log of who changed what in an organisation."""

from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "apps.audit"
    label = "audit"
